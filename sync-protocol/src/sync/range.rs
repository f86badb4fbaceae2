//! Sync keys and range fingerprints.

use crate::ids::EntryHash;

/// The position of an entry in the reconciled key space: its time, then its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncKey {
    /// The entry's signed time, Unix milliseconds.
    pub time_ms: u64,
    /// The entry's hash.
    pub hash: EntryHash,
}

/// How many leading bytes of an entry hash name it in id lists and wants. 128 bits: two
/// different entries of one range share a prefix with probability 2^-128; the cost is half the
/// bytes of full hashes.
pub const ID_PREFIX_BYTES: usize = 16;

/// The leading [`ID_PREFIX_BYTES`] of an entry hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdPrefix(pub [u8; ID_PREFIX_BYTES]);

impl IdPrefix {
    /// The prefix of `hash`.
    pub fn of(hash: &EntryHash) -> Self {
        let mut p = [0u8; ID_PREFIX_BYTES];
        p.copy_from_slice(&hash.0[..ID_PREFIX_BYTES]);
        Self(p)
    }
}

/// A 16-byte fingerprint of a set of keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub [u8; 16]);

/// The fingerprint of a sorted slice of keys: BLAKE3 over the count and the sum (mod 2^256) of
/// the entry hashes read as little-endian integers. Order-independent and cheap to combine.
pub fn fingerprint(keys: &[SyncKey]) -> Fingerprint {
    let mut sum = [0u64; 4];
    for k in keys {
        let mut carry = 0u64;
        for (i, lane) in sum.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&k.hash.0[i * 8..i * 8 + 8]);
            let (s1, c1) = lane.overflowing_add(u64::from_le_bytes(b));
            let (s2, c2) = s1.overflowing_add(carry);
            *lane = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
    }
    let mut h = blake3::Hasher::new_derive_key("sangkien 2026 sync fingerprint v1");
    h.update(&(keys.len() as u64).to_le_bytes());
    for lane in sum {
        h.update(&lane.to_le_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    Fingerprint(out)
}
