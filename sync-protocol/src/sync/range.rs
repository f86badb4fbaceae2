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
    let mut sum = KeySum::default();
    for k in keys {
        sum.add_hash(&k.hash);
    }
    sum.fingerprint(keys.len() as u64)
}

/// The sum (mod 2^256) of entry hashes read as little-endian integers: what a fingerprint is
/// made of. Sums of disjoint sets add, and a subset's sum subtracts, so a store can keep partial
/// sums (per bucket, or running) and answer a range's fingerprint without reading its keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeySum(pub [u64; 4]);

impl KeySum {
    /// Adds one entry hash.
    pub fn add_hash(&mut self, hash: &EntryHash) {
        let mut lanes = [0u64; 4];
        for (i, lane) in lanes.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&hash.0[i * 8..i * 8 + 8]);
            *lane = u64::from_le_bytes(b);
        }
        self.add(&KeySum(lanes));
    }

    /// Adds another sum.
    pub fn add(&mut self, other: &KeySum) {
        let mut carry = 0u64;
        for (lane, o) in self.0.iter_mut().zip(other.0) {
            let (s1, c1) = lane.overflowing_add(o);
            let (s2, c2) = s1.overflowing_add(carry);
            *lane = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
    }

    /// Subtracts another sum (the sum of a subset).
    pub fn sub(&mut self, other: &KeySum) {
        let mut borrow = 0u64;
        for (lane, o) in self.0.iter_mut().zip(other.0) {
            let (s1, b1) = lane.overflowing_sub(o);
            let (s2, b2) = s1.overflowing_sub(borrow);
            *lane = s2;
            borrow = u64::from(b1) + u64::from(b2);
        }
    }

    /// The fingerprint of a set of `count` keys whose hashes sum to this.
    pub fn fingerprint(&self, count: u64) -> Fingerprint {
        let mut h = blake3::Hasher::new_derive_key("sangkien 2026 sync fingerprint v1");
        h.update(&count.to_le_bytes());
        for lane in self.0 {
            h.update(&lane.to_le_bytes());
        }
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.finalize().as_bytes()[..16]);
        Fingerprint(out)
    }

    /// 32 bytes, little-endian lanes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, lane) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&lane.to_le_bytes());
        }
        out
    }

    /// From [`KeySum::to_bytes`].
    pub fn from_bytes(b: &[u8; 32]) -> Self {
        let mut lanes = [0u64; 4];
        for (i, lane) in lanes.iter_mut().enumerate() {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i * 8..i * 8 + 8]);
            *lane = u64::from_le_bytes(x);
        }
        KeySum(lanes)
    }
}
