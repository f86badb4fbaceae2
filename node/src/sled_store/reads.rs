//! Reading the store: entries, the trust rows, the quarantine, counters, views, unit paths.

use super::*;

impl SledStore {
    /// The sync keys (time, hash) of the trust entries (genesis, certificates, revocations),
    /// sorted, read from the `trust` index alone.
    pub fn trust_keys(&self) -> Result<Vec<sync_protocol::sync::SyncKey>, StoreError> {
        let mut out = Vec::with_capacity(self.trees[t::TRUST].len());
        for k in self.trees[t::TRUST].iter().keys() {
            let k = k.map_err(|e| err("trust", e))?;
            if k.len() != 40 {
                return Err(err("trust", format!("a key of {} bytes", k.len())));
            }
            let mut time = [0u8; 8];
            time.copy_from_slice(&k[..8]);
            let mut h = [0u8; 32];
            h.copy_from_slice(&k[8..40]);
            out.push(sync_protocol::sync::SyncKey {
                time_ms: u64::from_be_bytes(time),
                hash: EntryHash(h),
            });
        }
        Ok(out)
    }

    /// The genesis, certificates and revocations in (time, hash) order, one at a time: one
    /// ordered read of `trust`, whose rows hold the entries' bytes (schema 5), so that opening
    /// a node costs O(certificates), never a random read per certificate across `entries`
    /// (which touches every page of that tree: O(records)). A row without its bytes (written
    /// by schema 4, before its migration) or whose bytes do not hash to its key is read from
    /// `entries` instead; `node check` reports such a row.
    pub fn trust_iter(&self) -> impl Iterator<Item = Result<Entry, StoreError>> + '_ {
        self.trees[t::TRUST].iter().filter_map(move |kv| {
            let (k, v) = match kv {
                Ok(kv) => kv,
                Err(e) => return Some(Err(err("trust", e))),
            };
            let h = <[u8; 32]>::try_from(k.get(8..40).unwrap_or_default())
                .map(EntryHash)
                .ok()?;
            if !v.is_empty() {
                if let Some(e) = self.decode(&v).ok().filter(|e| e.hash() == h) {
                    return Some(Ok(e));
                }
            }
            self.entry(&h).transpose()
        })
    }

    /// Every quarantined entry with its wait key (for check and repair).
    pub fn quarantine_rows(&self) -> Result<Vec<(EntryHash, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.trees[t::QUARANTINE].iter() {
            let (k, v) = kv.map_err(|e| err("quarantine", e))?;
            let Ok(h) = <[u8; 32]>::try_from(k.as_ref()) else {
                continue;
            };
            if let Some((key, _, _)) = self.split_any_quarantine(&v) {
                out.push((EntryHash(h), key.to_vec()));
            }
        }
        Ok(out)
    }

    /// The `q_since` row of every held entry whose arrival is recorded (for check and repair).
    pub fn quarantine_since_rows(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        for kv in self.trees[t::QUARANTINE].iter() {
            let (k, v) = kv.map_err(|e| err("quarantine", e))?;
            let Ok(h) = <[u8; 32]>::try_from(k.as_ref()) else {
                continue;
            };
            if let Some(since) = quarantine::decode(&v).and_then(|q| q.since_ms) {
                out.push(quarantine::since_key(since, &EntryHash(h)));
            }
        }
        Ok(out)
    }

    /// Everything in quarantine, with what it waits for.
    pub fn quarantined(&self) -> Result<Vec<(Entry, String)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.trees[t::QUARANTINE].iter() {
            let (_, v) = kv.map_err(|e| err("quarantine", e))?;
            if let Some((_, missing, bytes)) = self.split_any_quarantine(&v) {
                let entry = Entry::decode(bytes).map_err(|e| err("quarantine entry", e))?;
                out.push((entry, String::from_utf8_lossy(missing).into_owned()));
            }
        }
        Ok(out)
    }

    /// How many entries wait in quarantine.
    pub fn quarantine_len(&self) -> usize {
        self.trees[t::QUARANTINE].len()
    }

    pub(super) fn split_any_quarantine<'a>(
        &self,
        v: &'a [u8],
    ) -> Option<(&'a [u8], &'a [u8], &'a [u8])> {
        if self.migrate_from == Some(1) {
            // Schema 1: what it waits for ‖ 0 ‖ entry bytes.
            let split = v.iter().position(|b| *b == 0)?;
            return Some((b"?", &v[..split], &v[split + 1..]));
        }
        split_quarantine(v)
    }

    /// The quarantined entries that may be released by entries providing `keys`, and,
    /// transitively, by those: found through the wait index, not by re-verifying everything.
    /// Entries whose wait key is unknown (`?`) are always candidates.
    pub fn quarantine_candidates(
        &self,
        keys: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<Vec<Entry>, StoreError> {
        // Nothing held (the usual case): no lookups at all.
        if self.trees[t::Q_WAIT].is_empty() {
            return Ok(Vec::new());
        }
        let mut todo: Vec<Vec<u8>> = keys.into_iter().collect();
        todo.push(b"?".to_vec());
        let mut seen_keys: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut found: BTreeMap<EntryHash, Entry> = BTreeMap::new();
        while let Some(k) = todo.pop() {
            if !seen_keys.insert(k.clone()) {
                continue;
            }
            for kv in self.trees[t::Q_WAIT].scan_prefix(&k).keys() {
                let kv = kv.map_err(|e| err("q_wait", e))?;
                if kv.len() != k.len() + 32 {
                    continue;
                }
                let mut h = [0u8; 32];
                h.copy_from_slice(&kv[k.len()..]);
                let h = EntryHash(h);
                if found.contains_key(&h) {
                    continue;
                }
                let Some(v) = self.trees[t::QUARANTINE]
                    .get(h.0)
                    .map_err(|e| err("quarantine", e))?
                else {
                    continue;
                };
                let Some((_, _, bytes)) = split_quarantine(&v) else {
                    continue;
                };
                let e = Entry::decode(bytes).map_err(|e| err("quarantine entry", e))?;
                todo.extend(provides(&e));
                found.insert(h, e);
            }
        }
        Ok(found.into_values().collect())
    }

    /// The subtree counters of `unit` for a programme phase.
    pub fn subtree_tally(
        &self,
        unit: &UnitId,
        programme: RecordId,
        phase: u32,
    ) -> Result<Tally, StoreError> {
        self.tally(&counter_key(SUBTREE, unit, programme, phase))
    }

    /// The unit's own counters (initiatives whose origin it is) for a programme phase.
    pub fn own_tally(
        &self,
        unit: &UnitId,
        programme: RecordId,
        phase: u32,
    ) -> Result<Tally, StoreError> {
        self.tally(&counter_key(OWN, unit, programme, phase))
    }

    fn tally(&self, k: &[u8]) -> Result<Tally, StoreError> {
        match self.trees[t::COUNTERS]
            .get(k)
            .map_err(|e| err("counters", e))?
        {
            None => Ok(Tally::default()),
            Some(v) => Tally::decode(&v).ok_or_else(|| {
                err(
                    "counters",
                    format!(
                        "counter {} is damaged; run `sangkien node check --repair`",
                        hex::encode(k)
                    ),
                )
            }),
        }
    }

    /// Targets `assigner` assigned for a phase: child → count; when several target records
    /// assign the same child, the one with the greatest record id wins.
    pub fn targets_of(
        &self,
        programme: RecordId,
        phase: u32,
        assigner: &UnitId,
    ) -> Result<BTreeMap<UnitId, u64>, StoreError> {
        let mut out = BTreeMap::new();
        let prefix = counters::target_prefix(programme, phase, assigner);
        for kv in self.trees[t::TARGETS].scan_prefix(prefix) {
            let (_, v) = kv.map_err(|e| err("targets", e))?;
            if let Some(View::Target { assignments, .. }) = View::decode(&v) {
                out.extend(assignments);
            }
        }
        Ok(out)
    }

    /// The stored view of a record.
    pub fn view(&self, record: RecordId) -> Result<Option<View>, StoreError> {
        Ok(self.trees[t::VIEWS]
            .get(record.0)
            .map_err(|e| err("views", e))?
            .and_then(|v| View::decode(&v)))
    }

    /// Every path a unit has had in `by_unit`.
    pub fn paths_of(&self, unit: &UnitId) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut prefix = unit.as_str().as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for k in self.trees[t::UNIT_PATHS].scan_prefix(&prefix).keys() {
            let k = k.map_err(|e| err("unit_paths", e))?;
            out.push(k[prefix.len()..].to_vec());
        }
        Ok(out)
    }

    /// Entry hashes and record ids under the given path prefixes (each one key range of
    /// `by_unit`), oldest first within each range, without repeats.
    pub fn under_paths(
        &self,
        prefixes: &[Vec<u8>],
    ) -> Result<Vec<(EntryHash, Option<RecordId>)>, StoreError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut sorted: Vec<&Vec<u8>> = prefixes.iter().collect();
        sorted.sort();
        sorted.dedup();
        // A prefix inside another one is already covered.
        let mut kept: Vec<&Vec<u8>> = Vec::new();
        for p in sorted {
            if !kept.iter().any(|k| p.starts_with(k)) {
                kept.push(p);
            }
        }
        for p in kept {
            for kv in self.trees[t::BY_UNIT].scan_prefix(p) {
                let (k, v) = kv.map_err(|e| err("by_unit", e))?;
                let mut h = [0u8; 32];
                h.copy_from_slice(&k[k.len() - 32..]);
                if seen.insert(h) {
                    let r = <[u8; 16]>::try_from(v.as_ref()).ok().map(RecordId);
                    out.push((EntryHash(h), r));
                }
            }
        }
        Ok(out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Entry, StoreError> {
        // Verified before it was stored; `node check` re-verifies with `Entry::decode`.
        Entry::decode_stored_unchecked(bytes)
            .map_err(|e| err(&format!("stored entry in {}", self.path.display()), e))
    }
}

/// How many records [`SledStore::record_entries_kept`] keeps the decoded entries of.
pub const MAX_KEPT_RECORDS_COUNT: usize = 64;
/// How many decoded entries it keeps in all (a record with more is read, not kept).
pub const MAX_KEPT_ENTRIES_COUNT: usize = 32_768;

/// Decoded entries of recently written records, by record and entry hash. An entry is
/// immutable and named by its hash, so a kept entry is always the stored one; which entries a
/// record has is read from `by_record` on every call.
#[derive(Default)]
pub(crate) struct KeptRecords {
    records: BTreeMap<RecordId, (u64, BTreeMap<EntryHash, Entry>)>,
    clock: u64,
    entries: usize,
}

impl KeptRecords {
    fn evict_oldest(&mut self) -> bool {
        let Some(oldest) = self
            .records
            .iter()
            .min_by_key(|(_, (t, _))| *t)
            .map(|(r, _)| *r)
        else {
            return false;
        };
        if let Some((_, m)) = self.records.remove(&oldest) {
            self.entries -= m.len();
        }
        true
    }
}

impl SledStore {
    /// [`EntryLookup::record_entries`] for the write path: the record's entry hashes are read
    /// from `by_record` (its keys only), and only entries not decoded before are read and
    /// decoded; the record's decoded entries are kept (at most [`MAX_KEPT_RECORDS_COUNT`]
    /// records and [`MAX_KEPT_ENTRIES_COUNT`] entries, least recently used out first). Editing
    /// a record with a long history then decodes its new entries, not every entry again.
    pub fn record_entries_kept(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        let mut hashes = Vec::new();
        for k in self.trees[t::BY_RECORD].scan_prefix(record.0).keys() {
            let k = k.map_err(|e| err("by_record", e))?;
            let mut h = [0u8; 32];
            h.copy_from_slice(&k[16..48]);
            hashes.push(EntryHash(h));
        }
        let mut out: Vec<Option<Entry>> = {
            let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            let known = kept.records.get(record).map(|(_, m)| m);
            hashes
                .iter()
                .map(|h| known.and_then(|m| m.get(h)).cloned())
                .collect()
        };
        let mut fresh = Vec::new();
        for (h, slot) in hashes.iter().zip(out.iter_mut()) {
            if slot.is_none() {
                if let Some(e) = self.entry(h)? {
                    fresh.push(e.clone());
                    *slot = Some(e);
                }
            }
        }
        let out: Vec<Entry> = out.into_iter().flatten().collect();
        if out.len() <= MAX_KEPT_ENTRIES_COUNT {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.clock += 1;
            let clock = kept.clock;
            let had = kept.records.get(record).map_or(0, |(_, m)| m.len());
            let slot = kept.records.entry(*record).or_default();
            slot.0 = clock;
            for e in fresh {
                slot.1.insert(e.hash(), e);
            }
            let now = slot.1.len();
            kept.entries = kept.entries + now - had;
            while (kept.records.len() > MAX_KEPT_RECORDS_COUNT
                || kept.entries > MAX_KEPT_ENTRIES_COUNT)
                && kept.records.len() > 1
            {
                // The record just read is the most recent: never the one evicted.
                if !kept.evict_oldest() {
                    break;
                }
            }
        }
        Ok(out)
    }
}

impl EntryLookup for SledStore {
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        match self.trees[t::ENTRIES]
            .get(hash.0)
            .map_err(|e| err("entries", e))?
        {
            None => Ok(None),
            Some(b) => Ok(Some(self.decode(&b)?)),
        }
    }
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.trees[t::BY_RECORD].scan_prefix(record.0) {
            let (k, _) = kv.map_err(|e| err("by_record", e))?;
            let mut h = [0u8; 32];
            h.copy_from_slice(&k[16..48]);
            if let Some(e) = self.entry(&EntryHash(h))? {
                out.push(e);
            }
        }
        Ok(out)
    }
    fn change_entry(&self, change: &ChangeHash) -> Result<Option<EntryHash>, StoreError> {
        Ok(self.trees[t::BY_CHANGE]
            .get(change.0)
            .map_err(|e| err("by_change", e))?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok())
            .map(EntryHash))
    }
}

impl EntryStore for SledStore {
    /// Stores entries with their record and trust indexes only. The node never uses this: it
    /// writes through [`SledStore::commit`], which also keeps the unit index, views and
    /// counters. A store written here needs `sangkien node check --repair`, and says so.
    fn insert_batch(&mut self, batch: &[VerifiedEntry]) -> Result<(), StoreError> {
        let c = Commit {
            accepted: batch.iter().map(|v| (v.clone(), None)).collect(),
            ..Commit::default()
        };
        self.trees[t::META]
            .insert("derived_stale", &[1u8][..])
            .map_err(|e| err("meta", e))?;
        self.commit(&c).map(|_| ())
    }
    fn contains(&self, hash: &EntryHash) -> Result<bool, StoreError> {
        self.trees[t::ENTRIES]
            .contains_key(hash.0)
            .map_err(|e| err("entries", e))
    }
    fn trust_entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.trust_iter().collect()
    }
    fn records(&self) -> Result<Vec<RecordId>, StoreError> {
        let mut out: Vec<RecordId> = Vec::new();
        for kv in self.trees[t::BY_RECORD].iter() {
            let (k, _) = kv.map_err(|e| err("by_record", e))?;
            let mut r = [0u8; 16];
            r.copy_from_slice(&k[..16]);
            if out.last() != Some(&RecordId(r)) {
                out.push(RecordId(r));
            }
        }
        Ok(out)
    }
    fn hashes(&self) -> Result<Vec<EntryHash>, StoreError> {
        let mut out = Vec::new();
        for k in self.trees[t::ENTRIES].iter().keys() {
            let k = k.map_err(|e| err("entries", e))?;
            let mut h = [0u8; 32];
            h.copy_from_slice(&k);
            out.push(EntryHash(h));
        }
        Ok(out)
    }
    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.trees[t::ENTRIES].len())
    }
}
