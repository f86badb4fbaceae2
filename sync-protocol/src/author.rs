//! Signing entries as a unit: the one place entries are made.

use ed25519_dalek::SigningKey;

use crate::entry::{Entry, EntryBody, UnsignedEntry};
use crate::ids::{FederationId, UnitId, UnitKey};

/// A unit that signs entries with its current key.
#[derive(Clone)]
pub struct Author {
    federation: FederationId,
    unit: UnitId,
    key: SigningKey,
}

impl std::fmt::Debug for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        write!(f, "Author({} key {})", self.unit, self.public_key().short())
    }
}

impl Author {
    /// A signer for `unit` in `federation`.
    pub fn new(federation: FederationId, unit: UnitId, key: SigningKey) -> Self {
        Self {
            federation,
            unit,
            key,
        }
    }
    /// The unit.
    pub fn unit(&self) -> &UnitId {
        &self.unit
    }
    /// The federation.
    pub fn federation(&self) -> FederationId {
        self.federation
    }
    /// The public key.
    pub fn public_key(&self) -> UnitKey {
        UnitKey(self.key.verifying_key().to_bytes())
    }
    /// Signs a message that is not an entry (a bundle). The caller prefixes its own domain
    /// separation context, distinct from [`crate::entry::ENTRY_SIGNING_CONTEXT`].
    pub fn sign_message(&self, context: &[u8], message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        assert!(
            context != crate::entry::ENTRY_SIGNING_CONTEXT,
            "only entries are signed in the entry context"
        );
        let mut m = Vec::with_capacity(context.len() + message.len());
        m.extend_from_slice(context);
        m.extend_from_slice(message);
        self.key.sign(&m).to_bytes()
    }

    /// Signs `body` as of `time_ms` (the caller's wall clock).
    pub fn sign(&self, time_ms: u64, body: EntryBody) -> Entry {
        UnsignedEntry {
            federation: self.federation,
            author: self.unit.clone(),
            key: self.public_key(),
            time_ms,
            body,
        }
        .sign(&self.key)
    }
}
