//! What a side offers, as range queries the session drives; and [`SortedKeys`], the offer as a
//! sorted list in memory (tests, the simulator, small nodes).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::ids::EntryHash;

use super::message::Bound;
use super::range::{Fingerprint, IdPrefix, KeySum, SyncKey};

/// What a side offers: the keys of the entries it holds that the peer should hold, asked for
/// range by range, and their bytes. Scope is the source's business: it offers nothing the peer
/// should not hold. A range is `[lower, upper)`: the keys not below `lower` (`None`: from the
/// start) and below `upper`. The session asks for what it sends, so a source that answers
/// counts and fingerprints from partial sums makes a session cost what differs, not the store.
pub trait SyncSource {
    /// How many keys are offered in the range, and their fingerprint.
    fn summarize(&self, lower: Option<&Bound>, upper: &Bound) -> (usize, Fingerprint);
    /// The offered keys in the range, sorted. Asked for small ranges (id lists), or for the
    /// range of an id list the peer sent.
    fn keys_in(&self, lower: Option<&Bound>, upper: &Bound) -> Vec<SyncKey>;
    /// Up to `parts - 1` ascending bounds that cut the range (holding more than `parts` keys)
    /// into parts of about equal counts, each non-empty.
    fn split(&self, lower: Option<&Bound>, upper: &Bound, parts: usize) -> Vec<Bound> {
        split_sorted(&self.keys_in(lower, upper), parts)
    }
    /// The offered entry whose hash starts with `id`, if any.
    fn hash_of(&self, id: &IdPrefix) -> Option<EntryHash>;
    /// The canonical bytes of an offered entry; `None` for anything not offered.
    fn entry_bytes(&self, hash: &EntryHash) -> Option<Vec<u8>>;
}

/// The bounds that cut sorted `keys` into `parts` parts of about equal counts (the shortest
/// bound between the last key of a part and the first of the next).
pub fn split_sorted(keys: &[SyncKey], parts: usize) -> Vec<Bound> {
    let mut out = Vec::with_capacity(parts);
    let mut start = 0usize;
    for part in 1..parts {
        let end = keys.len() * part / parts;
        if end <= start || end >= keys.len() {
            continue;
        }
        out.push(Bound::between(Some(&keys[end - 1]), &keys[end]));
        start = end;
    }
    out
}

/// The position of the first key of sorted `keys` not below `bound`.
fn position(keys: &[SyncKey], bound: Option<&Bound>) -> usize {
    match bound {
        None => 0,
        Some(b) => keys.partition_point(|k| b.is_above(k)),
    }
}

/// An offer held as a sorted list of keys: counts and fingerprints of any range in O(log n)
/// (running sums, computed on first use), ids looked up through a map built on first use.
#[derive(Debug, Default)]
pub struct SortedKeys<K> {
    keys: K,
    sums: OnceLock<Vec<KeySum>>,
    ids: OnceLock<HashMap<IdPrefix, EntryHash>>,
}

impl<K: AsRef<[SyncKey]>> SortedKeys<K> {
    /// Wraps keys that are sorted and without duplicates.
    pub fn new(keys: K) -> Self {
        debug_assert!(keys.as_ref().windows(2).all(|w| w[0] < w[1]));
        Self {
            keys,
            sums: OnceLock::new(),
            ids: OnceLock::new(),
        }
    }

    /// The keys, sorted.
    pub fn keys(&self) -> &[SyncKey] {
        self.keys.as_ref()
    }

    /// Whether `key` is offered.
    pub fn contains(&self, key: &SyncKey) -> bool {
        self.keys().binary_search(key).is_ok()
    }

    fn range(&self, lower: Option<&Bound>, upper: &Bound) -> (usize, usize) {
        let keys = self.keys();
        let lo = position(keys, lower);
        let hi = lo + keys[lo..].partition_point(|k| upper.is_above(k));
        (lo, hi)
    }

    /// [`SyncSource::summarize`].
    pub fn summarize(&self, lower: Option<&Bound>, upper: &Bound) -> (usize, Fingerprint) {
        let (lo, hi) = self.range(lower, upper);
        let sums = self.sums.get_or_init(|| {
            let mut out = Vec::with_capacity(self.keys().len() + 1);
            let mut s = KeySum::default();
            out.push(s);
            for k in self.keys() {
                s.add_hash(&k.hash);
                out.push(s);
            }
            out
        });
        let mut s = sums[hi];
        s.sub(&sums[lo]);
        (hi - lo, s.fingerprint((hi - lo) as u64))
    }

    /// [`SyncSource::keys_in`].
    pub fn keys_in(&self, lower: Option<&Bound>, upper: &Bound) -> Vec<SyncKey> {
        let (lo, hi) = self.range(lower, upper);
        self.keys()[lo..hi].to_vec()
    }

    /// [`SyncSource::split`].
    pub fn split(&self, lower: Option<&Bound>, upper: &Bound, parts: usize) -> Vec<Bound> {
        let (lo, hi) = self.range(lower, upper);
        split_sorted(&self.keys()[lo..hi], parts)
    }

    /// [`SyncSource::hash_of`].
    pub fn hash_of(&self, id: &IdPrefix) -> Option<EntryHash> {
        self.ids
            .get_or_init(|| {
                self.keys()
                    .iter()
                    .map(|k| (IdPrefix::of(&k.hash), k.hash))
                    .collect()
            })
            .get(id)
            .copied()
    }
}
