//! The simulated node's store: the real [`EntryStore`] traits over shared, interned entries,
//! with durability modelled. What an import accepted is visible at once but stays *pending*
//! until the node's flush (the moment a real node fsyncs and acknowledges); a crash drops the
//! pending part; a restore replaces the store with an older snapshot.
//!
//! Trust entries (genesis, certificates) are provisioned at enrolment and shared by every node
//! ([`TrustBase`]): at national scale a copy per node would cost 128,500² entries.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use sync_protocol::entry::{Entry, EntryBody};
use sync_protocol::ids::{ChangeHash, EntryHash, RecordId};
use sync_protocol::store::{EntryLookup, EntryStore, StoreError};
use sync_protocol::sync::SyncKey;
use sync_protocol::verify::VerifiedEntry;

/// Every entry of a run, one shared copy each.
pub type Interner = Rc<std::cell::RefCell<BTreeMap<EntryHash, Rc<Entry>>>>;

/// The genesis and certificates every node was enrolled with.
#[derive(Debug, Default)]
pub struct TrustBase {
    /// The entries, in signing order.
    pub entries: Vec<Entry>,
    /// Their hashes.
    pub index: BTreeMap<EntryHash, usize>,
}

/// One node's entries.
#[derive(Debug)]
pub struct SimStore {
    trust: Rc<TrustBase>,
    entries: BTreeMap<EntryHash, Rc<Entry>>,
    by_record: BTreeMap<RecordId, BTreeSet<EntryHash>>,
    by_change: BTreeMap<ChangeHash, EntryHash>,
    pending: Vec<EntryHash>,
    /// Set when the store inserts: an entry arriving through [`EntryStore::insert_batch`] is
    /// looked up here to share one copy of each entry between nodes.
    interner: Option<Interner>,
}

impl SimStore {
    /// An empty store over the shared trust base and entry interner.
    pub fn new(trust: Rc<TrustBase>, interner: Interner) -> Self {
        Self {
            trust,
            entries: BTreeMap::new(),
            by_record: BTreeMap::new(),
            by_change: BTreeMap::new(),
            pending: Vec::new(),
            interner: Some(interner),
        }
    }

    /// Inserts one entry (already verified), pending until [`SimStore::flush`].
    pub fn insert_rc(&mut self, e: Rc<Entry>) -> bool {
        let h = e.hash();
        if self.entries.contains_key(&h) || self.trust.index.contains_key(&h) {
            return false;
        }
        if let EntryBody::RecordChange(c) = e.body() {
            self.by_change.insert(c.change.hash(), h);
        }
        if let Some(r) = e.body().record() {
            self.by_record.entry(r).or_default().insert(h);
        }
        self.entries.insert(h, e);
        self.pending.push(h);
        true
    }

    /// Removes one entry (crash of a pending write, restore, or the insecure drop).
    pub fn remove(&mut self, h: &EntryHash) -> Option<Rc<Entry>> {
        let e = self.entries.remove(h)?;
        if let EntryBody::RecordChange(c) = e.body() {
            self.by_change.remove(&c.change.hash());
        }
        if let Some(r) = e.body().record() {
            if let Some(s) = self.by_record.get_mut(&r) {
                s.remove(h);
                if s.is_empty() {
                    self.by_record.remove(&r);
                }
            }
        }
        Some(e)
    }

    /// Makes the pending entries durable; returns them.
    pub fn flush(&mut self) -> Vec<EntryHash> {
        std::mem::take(&mut self.pending)
    }

    /// Drops what was not flushed (a crash); returns what was dropped.
    pub fn drop_pending(&mut self) -> Vec<Rc<Entry>> {
        let pending = std::mem::take(&mut self.pending);
        pending.iter().filter_map(|h| self.remove(h)).collect()
    }

    /// The node's own entries (not the trust base), by hash.
    pub fn own(&self) -> &BTreeMap<EntryHash, Rc<Entry>> {
        &self.entries
    }

    /// Whether an entry (own or trust) is held.
    pub fn holds(&self, h: &EntryHash) -> bool {
        self.entries.contains_key(h) || self.trust.index.contains_key(h)
    }

    /// The entries of one record held here.
    pub fn record_hashes(&self, r: &RecordId) -> Option<&BTreeSet<EntryHash>> {
        self.by_record.get(r)
    }

    /// The sync key of a held entry.
    pub fn key_of(e: &Entry) -> SyncKey {
        SyncKey {
            time_ms: e.time_ms(),
            hash: e.hash(),
        }
    }
}

impl EntryLookup for SimStore {
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        if let Some(e) = self.entries.get(hash) {
            return Ok(Some((**e).clone()));
        }
        Ok(self
            .trust
            .index
            .get(hash)
            .and_then(|i| self.trust.entries.get(*i))
            .cloned())
    }
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .by_record
            .get(record)
            .map(|s| {
                s.iter()
                    .filter_map(|h| self.entries.get(h).map(|e| (**e).clone()))
                    .collect()
            })
            .unwrap_or_default())
    }
    fn change_entry(&self, change: &ChangeHash) -> Result<Option<EntryHash>, StoreError> {
        Ok(self.by_change.get(change).copied())
    }
}

impl EntryStore for SimStore {
    fn insert_batch(&mut self, entries: &[VerifiedEntry]) -> Result<(), StoreError> {
        for v in entries {
            let e = v.entry();
            let shared = match &self.interner {
                Some(i) => i
                    .borrow_mut()
                    .entry(e.hash())
                    .or_insert_with(|| Rc::new(e.clone()))
                    .clone(),
                None => Rc::new(e.clone()),
            };
            self.insert_rc(shared);
        }
        Ok(())
    }
    fn contains(&self, hash: &EntryHash) -> Result<bool, StoreError> {
        Ok(self.holds(hash))
    }
    fn trust_entries(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(self.trust.entries.clone())
    }
    fn records(&self) -> Result<Vec<RecordId>, StoreError> {
        Ok(self.by_record.keys().copied().collect())
    }
    fn hashes(&self) -> Result<Vec<EntryHash>, StoreError> {
        let mut v: Vec<EntryHash> = self.entries.keys().copied().collect();
        v.extend(self.trust.index.keys().copied());
        v.sort();
        Ok(v)
    }
    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.entries.len() + self.trust.entries.len())
    }
}
