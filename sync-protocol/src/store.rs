//! How the core reaches storage: the [`EntryStore`] trait, and [`MemStore`] for tests and the
//! simulator. The node's sled store implements the same trait.

use std::collections::{BTreeMap, BTreeSet};

use crate::entry::{Entry, EntryBody};
use crate::ids::{ChangeHash, EntryHash, RecordId};
use crate::verify::VerifiedEntry;

/// A storage failure, with what was being done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// Read access the verifier needs.
pub trait EntryLookup {
    /// An entry by hash.
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError>;
    /// Every entry of a record (changes, projections, decisions), in no particular order.
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError>;
    /// The entry that carries an Automerge change.
    fn change_entry(&self, change: &ChangeHash) -> Result<Option<EntryHash>, StoreError>;
}

/// A store of verified entries.
pub trait EntryStore: EntryLookup {
    /// Inserts verified entries, all or none. Entries already present are skipped.
    fn insert_batch(&mut self, entries: &[VerifiedEntry]) -> Result<(), StoreError>;
    /// Whether the entry is stored.
    fn contains(&self, hash: &EntryHash) -> Result<bool, StoreError>;
    /// Whether `entry` is stored. A store that reads a record's entries anyway (to verify the
    /// entry) may answer from those instead of a lookup by hash; the answer is the same.
    fn contains_entry(&self, entry: &Entry) -> Result<bool, StoreError> {
        self.contains(&entry.hash())
    }
    /// The genesis, certificates and revocations, for building the trust directory.
    fn trust_entries(&self) -> Result<Vec<Entry>, StoreError>;
    /// Every record id that has entries.
    fn records(&self) -> Result<Vec<RecordId>, StoreError>;
    /// Every entry hash, sorted.
    fn hashes(&self) -> Result<Vec<EntryHash>, StoreError>;
    /// How many entries are stored.
    fn len(&self) -> Result<usize, StoreError>;
    /// Whether the store is empty.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// An in-memory store: for tests, the simulator and overlays.
#[derive(Default, Clone, Debug)]
pub struct MemStore {
    entries: BTreeMap<EntryHash, Entry>,
    by_record: BTreeMap<RecordId, BTreeSet<EntryHash>>,
    by_change: BTreeMap<ChangeHash, EntryHash>,
    trust: BTreeSet<(u64, EntryHash)>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    pub(crate) fn insert_entry(&mut self, e: &Entry) {
        let h = e.hash();
        if self.entries.contains_key(&h) {
            return;
        }
        match e.body() {
            EntryBody::Genesis(_)
            | EntryBody::Certificate(_)
            | EntryBody::Revocation(_)
            | EntryBody::UnitEnd(_) => {
                self.trust.insert((e.time_ms(), h));
            }
            EntryBody::RecordChange(c) => {
                self.by_change.insert(c.change.hash(), h);
            }
            _ => {}
        }
        if let Some(r) = e.body().record() {
            self.by_record.entry(r).or_default().insert(h);
        }
        self.entries.insert(h, e.clone());
    }
}

impl EntryLookup for MemStore {
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        Ok(self.entries.get(hash).cloned())
    }
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .by_record
            .get(record)
            .map(|s| {
                s.iter()
                    .filter_map(|h| self.entries.get(h).cloned())
                    .collect()
            })
            .unwrap_or_default())
    }
    fn change_entry(&self, change: &ChangeHash) -> Result<Option<EntryHash>, StoreError> {
        Ok(self.by_change.get(change).copied())
    }
}

impl EntryStore for MemStore {
    fn insert_batch(&mut self, entries: &[VerifiedEntry]) -> Result<(), StoreError> {
        for e in entries {
            self.insert_entry(e.entry());
        }
        Ok(())
    }
    fn contains(&self, hash: &EntryHash) -> Result<bool, StoreError> {
        Ok(self.entries.contains_key(hash))
    }
    fn trust_entries(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .trust
            .iter()
            .filter_map(|(_, h)| self.entries.get(h).cloned())
            .collect())
    }
    fn records(&self) -> Result<Vec<RecordId>, StoreError> {
        Ok(self.by_record.keys().copied().collect())
    }
    fn hashes(&self) -> Result<Vec<EntryHash>, StoreError> {
        Ok(self.entries.keys().copied().collect())
    }
    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.entries.len())
    }
}
