//! One Automerge change, bounded before Automerge sees it.
//!
//! Automerge decompresses a compressed change chunk without a limit, so a few kilobytes could
//! expand to gigabytes inside `Change::try_from`. Entries therefore carry changes only in the
//! uncompressed chunk form (type 1), checked against [`MAX_CHANGE_BYTES`] before parsing; a
//! compressed chunk (type 2) coming from Automerge is normalised by [`AutomergeChange::from_automerge_bytes`],
//! which inflates it through a reader capped at the same limit.

use std::io::Read;

use crate::ids::ChangeHash;
use crate::limits::MAX_CHANGE_BYTES;

/// Automerge's chunk magic bytes.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Chunk type of an uncompressed change.
const CHUNK_TYPE_CHANGE: u8 = 1;
/// Chunk type of a deflate-compressed change.
const CHUNK_TYPE_COMPRESSED: u8 = 2;
/// Magic (4) + checksum (4) + type (1).
const CHUNK_HEADER_FIXED_BYTES: usize = 9;

/// Why bytes are not an acceptable Automerge change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// Over [`MAX_CHANGE_BYTES`], compressed or not.
    #[error("automerge change is over the limit of {MAX_CHANGE_BYTES} bytes ({0})")]
    TooLarge(&'static str),
    /// Not an Automerge change chunk.
    #[error("not an automerge change chunk: {0}")]
    NotAChange(String),
    /// A compressed chunk inside an entry: entries carry the canonical, uncompressed form.
    #[error("compressed automerge change inside an entry: entries carry uncompressed changes")]
    CompressedInEntry,
}

/// An Automerge change in its uncompressed chunk form, parsed and checksum-verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutomergeChange {
    bytes: Vec<u8>,
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
}

impl AutomergeChange {
    /// Accepts the bytes carried in an entry: an uncompressed change chunk within the bound.
    pub fn from_entry_bytes(bytes: &[u8]) -> Result<Self, ChangeError> {
        if bytes.len() > MAX_CHANGE_BYTES {
            return Err(ChangeError::TooLarge("raw"));
        }
        match chunk_type(bytes)? {
            CHUNK_TYPE_CHANGE => Self::parse(bytes),
            CHUNK_TYPE_COMPRESSED => Err(ChangeError::CompressedInEntry),
            t => Err(ChangeError::NotAChange(format!("chunk type {t}"))),
        }
    }

    /// Accepts bytes as Automerge writes them (`Change::bytes()`, possibly compressed), inflating
    /// a compressed chunk through a reader capped at [`MAX_CHANGE_BYTES`].
    pub fn from_automerge_bytes(bytes: &[u8]) -> Result<Self, ChangeError> {
        if bytes.len() > MAX_CHANGE_BYTES {
            return Err(ChangeError::TooLarge("compressed"));
        }
        match chunk_type(bytes)? {
            CHUNK_TYPE_CHANGE => Self::parse(bytes),
            CHUNK_TYPE_COMPRESSED => {
                let (body_len, prefix_len) = read_uleb(&bytes[CHUNK_HEADER_FIXED_BYTES..])
                    .ok_or_else(|| ChangeError::NotAChange("bad chunk length".into()))?;
                let start = CHUNK_HEADER_FIXED_BYTES + prefix_len;
                let body = usize::try_from(body_len)
                    .ok()
                    .and_then(|n| bytes.get(start..start.checked_add(n)?))
                    .ok_or_else(|| ChangeError::NotAChange("truncated compressed chunk".into()))?;
                let mut inflated = Vec::new();
                flate2::read::DeflateDecoder::new(body)
                    .take(MAX_CHANGE_BYTES as u64 + 1)
                    .read_to_end(&mut inflated)
                    .map_err(|e| ChangeError::NotAChange(format!("deflate: {e}")))?;
                if inflated.len() > MAX_CHANGE_BYTES {
                    return Err(ChangeError::TooLarge("decompressed"));
                }
                // The inflated size is now known to be within the bound, so Automerge's own
                // unbounded inflation of this chunk is safe; keep its uncompressed form.
                Self::parse(bytes)
            }
            t => Err(ChangeError::NotAChange(format!("chunk type {t}"))),
        }
    }

    /// From a change Automerge made.
    pub fn from_automerge(change: &automerge::Change) -> Result<Self, ChangeError> {
        Self::from_entry_bytes(change.raw_bytes())
    }

    fn parse(bytes: &[u8]) -> Result<Self, ChangeError> {
        let change = automerge::Change::try_from(bytes)
            .map_err(|e| ChangeError::NotAChange(e.to_string()))?;
        // Automerge does not check a change chunk's checksum (the first four bytes of the change
        // hash, in both the plain and the compressed header) when it parses one change: without
        // this, one change would have 2^32 encodings.
        if bytes[4..CHUNK_HEADER_FIXED_BYTES - 1] != change.hash().0[..4] {
            return Err(ChangeError::NotAChange(
                "checksum does not match the change".into(),
            ));
        }
        Ok(Self {
            bytes: change.raw_bytes().to_vec(),
            hash: ChangeHash(change.hash().0),
            deps: change.deps().iter().map(|d| ChangeHash(d.0)).collect(),
        })
    }

    /// The uncompressed chunk bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The change's hash.
    pub fn hash(&self) -> ChangeHash {
        self.hash
    }
    /// The changes it depends on.
    pub fn deps(&self) -> &[ChangeHash] {
        &self.deps
    }
    /// As an Automerge change, for applying to a document.
    pub fn to_automerge(&self) -> automerge::Change {
        automerge::Change::try_from(&self.bytes[..])
            .expect("bytes were parsed by Automerge when this value was made")
    }
}

fn chunk_type(bytes: &[u8]) -> Result<u8, ChangeError> {
    if bytes.len() < CHUNK_HEADER_FIXED_BYTES || bytes[..4] != CHUNK_MAGIC {
        return Err(ChangeError::NotAChange("missing chunk magic".into()));
    }
    Ok(bytes[8])
}

fn read_uleb(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests;
