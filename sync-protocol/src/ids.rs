//! Identifiers and hashes: newtypes, never bare arrays or strings.

use std::fmt;

use crate::codec::DecodeError;
use crate::limits::MAX_UNIT_ID_BYTES;

/// The BLAKE3 hash of an entry's canonical encoding (signature included): its content address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryHash(pub [u8; 32]);

/// Identifies a federation: a hash of its genesis (root unit, name and key).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FederationId(pub [u8; 32]);

/// Identifies a record (an initiative, a programme, a target assignment) for its whole life.
/// Chosen at random by the node that creates the record.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub [u8; 16]);

/// An ed25519 public key of a unit, as its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitKey(pub [u8; 32]);

/// The hash of an Automerge change (a "head" when nothing depends on it yet).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChangeHash(pub [u8; 32]);

/// A BLAKE3 hash of an attachment blob or of a confidential initiative's private part.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub [u8; 32]);

macro_rules! hex_newtype {
    ($t:ident, $n:expr, $what:expr) => {
        impl $t {
            /// Lower-case hexadecimal.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// Parses lower- or upper-case hexadecimal of the exact length.
            pub fn from_hex(s: &str) -> Result<Self, DecodeError> {
                let mut a = [0u8; $n];
                hex::decode_to_slice(s.trim(), &mut a).map_err(|e| DecodeError::Invalid {
                    field: $what,
                    reason: format!("expected {} hexadecimal digits: {e}", $n * 2),
                })?;
                Ok(Self(a))
            }
            /// The first eight hexadecimal digits, for people.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.short())
            }
        }
    };
}
hex_newtype!(EntryHash, 32, "entry hash");
hex_newtype!(FederationId, 32, "federation id");
hex_newtype!(RecordId, 16, "record id");
hex_newtype!(UnitKey, 32, "unit key");
hex_newtype!(ChangeHash, 32, "change hash");
hex_newtype!(ContentHash, 32, "content hash");

/// A unit's stable id: lower-case ASCII letters, digits and `-`, 1 to 64 bytes, e.g.
/// `ldld-phu-yen`. Stable across re-parenting and key rotation; the unit's place in the tree
/// comes from its certificates, never from its id.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitId(String);

impl UnitId {
    /// Checks the id's alphabet and length.
    pub fn new(s: &str) -> Result<Self, DecodeError> {
        let invalid = |reason: String| DecodeError::Invalid {
            field: "unit id",
            reason,
        };
        if s.is_empty() || s.len() > MAX_UNIT_ID_BYTES {
            return Err(invalid(format!(
                "must be 1 to {MAX_UNIT_ID_BYTES} characters, is {}",
                s.len()
            )));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(invalid(format!(
                "{c:?} is not allowed: use a-z, 0-9 and '-' (e.g. ldld-phu-yen)"
            )));
        }
        Ok(Self(s.to_owned()))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for UnitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnitId({})", self.0)
    }
}
