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

/// The trust base, shared by every node's store. It grows only when a re-organisation is
/// signed (`Sim::reorganise`): its entries are then verified by the real import into the
/// shared directory first.
pub type SharedTrust = Rc<std::cell::RefCell<TrustBase>>;

impl TrustBase {
    /// Adds trust entries already accepted by the import.
    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for e in entries {
            let h = e.hash();
            if !self.index.contains_key(&h) {
                self.index.insert(h, self.entries.len());
                self.entries.push(e);
            }
        }
    }
}

/// One node's entries.
#[derive(Debug)]
pub struct SimStore {
    trust: SharedTrust,
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
    pub fn new(trust: SharedTrust, interner: Interner) -> Self {
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
        if self.entries.contains_key(&h) || self.trust.borrow().index.contains_key(&h) {
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
        self.entries.contains_key(h) || self.trust.borrow().index.contains_key(h)
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
            .borrow()
            .index
            .get(hash)
            .and_then(|i| self.trust.borrow().entries.get(*i).cloned()))
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
        Ok(self.trust.borrow().entries.clone())
    }
    fn records(&self) -> Result<Vec<RecordId>, StoreError> {
        Ok(self.by_record.keys().copied().collect())
    }
    fn hashes(&self) -> Result<Vec<EntryHash>, StoreError> {
        let mut v: Vec<EntryHash> = self.entries.keys().copied().collect();
        v.extend(self.trust.borrow().index.keys().copied());
        v.sort();
        Ok(v)
    }
    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.entries.len() + self.trust.borrow().entries.len())
    }
}

/// A read-only view of a [`SimStore`] for the end-of-run audit that leaves out the trust base.
///
/// Every node shares one [`TrustBase`] (the same `Rc`), so re-checking its ~128,500 certificate
/// signatures at each audited node would verify the same bytes again and again: the audit checks
/// the trust base once, through the first audited store, and every other store through this view.
pub struct RecordsOnly<'a>(pub &'a SimStore);

impl EntryLookup for RecordsOnly<'_> {
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        self.0.entry(hash)
    }
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        self.0.record_entries(record)
    }
    fn change_entry(&self, change: &ChangeHash) -> Result<Option<EntryHash>, StoreError> {
        self.0.change_entry(change)
    }
}

impl EntryStore for RecordsOnly<'_> {
    fn insert_batch(&mut self, _entries: &[VerifiedEntry]) -> Result<(), StoreError> {
        Err(StoreError(
            "the audit view of a simulated store is read-only".into(),
        ))
    }
    fn contains(&self, hash: &EntryHash) -> Result<bool, StoreError> {
        Ok(self.0.holds(hash))
    }
    fn trust_entries(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(Vec::new())
    }
    fn records(&self) -> Result<Vec<RecordId>, StoreError> {
        self.0.records()
    }
    fn hashes(&self) -> Result<Vec<EntryHash>, StoreError> {
        self.0.hashes()
    }
    fn len(&self) -> Result<usize, StoreError> {
        self.0.len()
    }
}

/// A node's sorted sync keys towards one neighbour, kept incrementally.
///
/// A session takes a snapshot by cloning the `Rc` (no copy); an insert or removal while a
/// session still holds the snapshot copies the vector once (copy on write). Rebuilding the list
/// from the store at each session start cost time proportional to the store, per session, and
/// dominated national runs.
#[derive(Debug, Default, Clone)]
pub struct KeySet(Rc<Vec<SyncKey>>);

impl KeySet {
    /// Adds a key; false if it was there.
    pub fn insert(&mut self, k: SyncKey) -> bool {
        match self.0.binary_search(&k) {
            Ok(_) => false,
            Err(i) => {
                Rc::make_mut(&mut self.0).insert(i, k);
                true
            }
        }
    }

    /// Removes a key; false if it was not there.
    pub fn remove(&mut self, k: &SyncKey) -> bool {
        match self.0.binary_search(k) {
            Ok(i) => {
                Rc::make_mut(&mut self.0).remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// A set of these keys (any order, duplicates dropped).
    pub fn from_keys(mut keys: Vec<SyncKey>) -> Self {
        keys.sort();
        keys.dedup();
        Self(Rc::new(keys))
    }

    /// The keys, sorted.
    pub fn keys(&self) -> &[SyncKey] {
        &self.0
    }

    /// A snapshot for a session: shares the vector until the next change.
    pub fn snapshot(&self) -> Rc<Vec<SyncKey>> {
        self.0.clone()
    }
}
