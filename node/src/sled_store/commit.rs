//! Writing a batch: one sled transaction over every tree, then made durable.

use super::*;

type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

fn abort<T>(what: impl Into<String>) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(what.into()))
}

/// Adds `delta` to the counter at `key` inside a transaction.
fn add_counter(tx: &TransactionalTree, key: &[u8], delta: &Tally) -> TxResult<()> {
    let mut cur = match tx.get(key)? {
        Some(v) => match Tally::decode(&v) {
            Some(t) => t,
            None => return abort(format!("counter {} is damaged", hex::encode(key))),
        },
        None => Tally::default(),
    };
    cur.add(delta, 1);
    if cur.is_zero() {
        tx.remove(key)?;
    } else {
        tx.insert(key, &cur.encode()[..])?;
    }
    Ok(())
}

fn shape_parent(tx: &TransactionalTree, u: &UnitId) -> TxResult<Option<UnitId>> {
    Ok(tx.get(u.as_str().as_bytes())?.and_then(|v| {
        std::str::from_utf8(&v)
            .ok()
            .and_then(|s| UnitId::new(s).ok())
    }))
}

fn tx_chain(tx: &TransactionalTree, u: &UnitId) -> TxResult<Vec<UnitId>> {
    let mut out = vec![u.clone()];
    let mut cur = u.clone();
    while let Some(p) = shape_parent(tx, &cur)? {
        if out.contains(&p) || out.len() > sync_protocol::directory::MAX_TREE_DEPTH {
            break;
        }
        out.push(p.clone());
        cur = p;
    }
    Ok(out)
}

impl SledStore {
    /// Writes a batch in one transaction (entries, indexes, views, counters, quarantine) and
    /// makes it durable. Returns the quarantine candidates refused because the quarantine is
    /// full for their source (`quarantine::admit`: bounded per signing key and in all; when
    /// all is full the largest source's newest held entry is evicted for a smaller source's
    /// newcomer, and logged); the caller reports every refusal.
    pub fn commit(&self, c: &Commit) -> Result<Vec<EntryHash>, StoreError> {
        // Quarantine room, decided before the transaction: bounded per source and in all
        // (see `quarantine::admit`); the node is the only writer.
        let mut adds: Vec<&(Entry, Vec<u8>, String)> = Vec::new();
        let mut candidates = Vec::new();
        for q in &c.quarantine_add {
            let already = self.trees[t::QUARANTINE]
                .contains_key(q.0.hash().0)
                .map_err(|e| err("quarantine", e))?
                && !c.quarantine_remove.contains(&q.0.hash());
            if already {
                adds.push(q);
            } else {
                candidates.push((
                    q.0.hash(),
                    quarantine::signer_of(q.0.bytes()),
                    q.0.bytes().len(),
                ));
            }
        }
        let mut admission = quarantine::Admission::default();
        if !candidates.is_empty() {
            let leaving: BTreeSet<EntryHash> = c.quarantine_remove.iter().copied().collect();
            let mut held = Vec::new();
            for kv in self.trees[t::QUARANTINE].iter() {
                let (k, v) = kv.map_err(|e| err("quarantine", e))?;
                let mut h = [0u8; 32];
                if k.len() != 32 {
                    continue;
                }
                h.copy_from_slice(&k);
                let h = EntryHash(h);
                if leaving.contains(&h) {
                    continue;
                }
                if let Some(q) = quarantine::decode(&v) {
                    held.push((h, quarantine::signer_of(q.entry), q.entry.len()));
                }
            }
            admission = quarantine::admit(held, &candidates);
            for q in &c.quarantine_add {
                if admission.admitted.contains(&q.0.hash()) {
                    adds.push(q);
                }
            }
            for h in &admission.evicted {
                tracing::warn!(
                    entry = %h.to_hex(),
                    "quarantine full: held entry evicted for a smaller source's entry"
                );
            }
        }
        let refused = admission.refused.clone();
        let evicted = admission.evicted;
        // Buckets a moved unit may have subtree counters in (read before the transaction:
        // the transaction cannot scan; the node is the only writer).
        let mut buckets: BTreeSet<Vec<u8>> = BTreeSet::new();
        for (u, _) in &c.parents {
            let prefix = counters::counter_prefix(SUBTREE, u);
            for k in self.trees[t::COUNTERS].scan_prefix(&prefix).keys() {
                let k = k.map_err(|e| err("counters", e))?;
                buckets.insert(k[prefix.len()..].to_vec());
            }
        }
        for (_, v, _) in &c.records {
            if let Some(View::Initiative(f)) = v {
                let (p, ph) = f.bucket();
                let mut b = p.0.to_vec();
                b.extend_from_slice(&ph.to_be_bytes());
                buckets.insert(b);
            }
        }
        let rx_suffixes = crate::report_index::move_suffixes(
            &self.trees[crate::report_index::t::SUB],
            c.parents.iter().map(|(u, _)| u.clone()),
        )?;
        if c.accepted.is_empty()
            && c.records.is_empty()
            && adds.is_empty()
            && c.quarantine_remove.is_empty()
            && evicted.is_empty()
        {
            // Nothing new, and yet the caller acknowledges: what it found "already held" may
            // be a write of an earlier batch not yet synced (its sync failed, or another
            // session's is still running). Sync before the acknowledgement all the same.
            self.durable()?;
            return Ok(refused);
        }
        let _writing = self
            .commit_lock
            .write()
            .map_err(|_| err("write", "a writer panicked earlier"))?;
        // The sync index is filed with the transaction (beside it, or after it when units
        // move), before the batch is made durable; its marker says a batch may be half-filed
        // (see `sync_index`).
        crate::sync_index::begin(self)?;
        let transaction = || -> Result<(), TransactionError<String>> {
            self.trees[..]
                .transaction(|tx| self.apply(tx, c, &adds, &evicted, &buckets, &rx_suffixes))
        };
        let storage = |e| match e {
            TransactionError::Abort(s) => err("write", s),
            TransactionError::Storage(e) => self.storage_error(e),
        };
        if c.parents.is_empty() {
            // No unit moves: the index reads nothing the transaction writes (its own tree, and
            // the tree's shape, unchanged by this batch), so both are written at once, on two
            // cores. Should the transaction fail, the index has filed a batch that was not
            // stored: it is marked half-filed again and rebuilt (at the next open if not now).
            let (r, filed) = rayon::join(transaction, || crate::sync_index::apply(self, c));
            if let Err(e) = r {
                let _ = crate::sync_index::begin(self);
                if let Err(why) = crate::sync_index::rebuild(self) {
                    tracing::warn!(error = %why, "the sync index will be rebuilt at the next open");
                }
                return Err(storage(e));
            }
            filed?;
        } else {
            let r = transaction();
            if r.is_err() {
                // Nothing was written: the index is as whole as before.
                crate::sync_index::abandon(self);
            }
            r.map_err(storage)?;
            crate::sync_index::apply(self, c)?;
        }
        self.durable()?;
        Ok(refused)
    }

    fn apply(
        &self,
        tx: &[TransactionalTree],
        c: &Commit,
        adds: &[&(Entry, Vec<u8>, String)],
        evicted: &[EntryHash],
        buckets: &BTreeSet<Vec<u8>>,
        rx_suffixes: &BTreeSet<Vec<u8>>,
    ) -> TxResult<()> {
        let mut rx = crate::report_index::Pending::default();
        // Entries and their index rows. A unit's path row is the same for all its entries:
        // written only when new (a read is cheaper than a write in sled).
        let mut paths_seen: BTreeSet<Vec<u8>> = BTreeSet::new();
        for (v, place) in &c.accepted {
            let e = v.entry();
            let h = e.hash();
            if tx[t::ENTRIES].get(h.0)?.is_some() {
                continue;
            }
            tx[t::ENTRIES].insert(&h.0, e.bytes())?;
            for (tree, k, val) in index_rows(e, place.as_ref()) {
                if tree == t::UNIT_PATHS {
                    if paths_seen.contains(&k) {
                        continue;
                    }
                    paths_seen.insert(k.clone());
                    if tx[tree].get(&k)?.is_some() {
                        continue;
                    }
                }
                tx[tree].insert(k, val)?;
            }
        }
        // Quarantine.
        for h in c.quarantine_remove.iter().chain(evicted) {
            if let Some(v) = tx[t::QUARANTINE].remove(&h.0)? {
                if let Some((key, _, _)) = split_quarantine(&v) {
                    let mut k = key.to_vec();
                    k.extend_from_slice(&h.0);
                    tx[t::Q_WAIT].remove(k)?;
                }
                if let Some(since) = quarantine::decode(&v).and_then(|q| q.since_ms) {
                    tx[t::Q_SINCE].remove(quarantine::since_key(since, h))?;
                }
            }
        }
        for (e, key, missing) in adds {
            let h = e.hash();
            // An entry already held keeps when and whence it arrived: retries never reset its age.
            let mut since = c.quarantine_since_ms.unwrap_or_else(crate::now_ms);
            let mut source = c.quarantine_source.clone();
            if let Some(old) = tx[t::QUARANTINE].get(h.0)? {
                if let Some((okey, _, _)) = split_quarantine(&old) {
                    let mut k = okey.to_vec();
                    k.extend_from_slice(&h.0);
                    tx[t::Q_WAIT].remove(k)?;
                }
                if let Some(q) = quarantine::decode(&old) {
                    if let Some(s) = q.since_ms {
                        since = s;
                        source = String::from_utf8_lossy(q.source).into_owned();
                    }
                }
            }
            tx[t::QUARANTINE].insert(&h.0, quarantine::encode(key, missing, e, since, &source))?;
            tx[t::Q_SINCE].insert(quarantine::since_key(since, &h), &[][..])?;
            let mut k = key.clone();
            k.extend_from_slice(&h.0);
            tx[t::Q_WAIT].insert(k, &[][..])?;
        }
        // Tree moves: a re-parented unit's subtree counters move from its old ancestors to
        // its new ones.
        let mut deltas: BTreeMap<Vec<u8>, Tally> = BTreeMap::new();
        for (u, parent) in &c.parents {
            let old = shape_parent(&tx[t::SHAPE], u)?;
            if old == *parent {
                continue;
            }
            let old_chain = match &old {
                Some(p) => tx_chain(&tx[t::SHAPE], p)?,
                None => Vec::new(),
            };
            match parent {
                Some(p) => tx[t::SHAPE].insert(u.as_str().as_bytes(), p.as_str().as_bytes())?,
                None => tx[t::SHAPE].remove(u.as_str().as_bytes())?,
            };
            let new_chain = match parent {
                Some(p) => tx_chain(&tx[t::SHAPE], p)?,
                None => Vec::new(),
            };
            if old.is_none() {
                continue;
            }
            rx.move_unit(tx, u, &old_chain, &new_chain, rx_suffixes)?;
            // Pending deltas first, so that the moved totals are current.
            flush_deltas(&tx[t::COUNTERS], &mut deltas)?;
            for b in buckets {
                let mut k = counters::counter_prefix(SUBTREE, u);
                k.extend_from_slice(b);
                let Some(v) = tx[t::COUNTERS].get(&k)? else {
                    continue;
                };
                let Some(total) = Tally::decode(&v) else {
                    return abort(format!("counter {} is damaged", hex::encode(&k)));
                };
                for (chain, sign) in [(&old_chain, -1), (&new_chain, 1)] {
                    for a in chain {
                        let mut ak = counters::counter_prefix(SUBTREE, a);
                        ak.extend_from_slice(b);
                        deltas.entry(ak).or_default().add(&total, sign);
                    }
                }
            }
        }
        // Views: the difference between a record's old and new view goes into the counters.
        for (record, view, _heads) in &c.records {
            let old = match tx[t::VIEWS].get(record.0)? {
                Some(v) => match View::decode(&v) {
                    Some(v) => Some(v),
                    None => return abort(format!("view of record {record} is damaged")),
                },
                None => None,
            };
            if old.as_ref() == view.as_ref() {
                continue;
            }
            for (v, sign) in [(&old, -1i64), (view, 1)] {
                match v {
                    Some(View::Initiative(f)) => {
                        let (p, ph) = f.bucket();
                        deltas
                            .entry(counter_key(OWN, &f.origin, p, ph))
                            .or_default()
                            .count(f, sign);
                        for u in tx_chain(&tx[t::SHAPE], &f.origin)? {
                            deltas
                                .entry(counter_key(SUBTREE, &u, p, ph))
                                .or_default()
                                .count(f, sign);
                        }
                    }
                    Some(View::Target {
                        assigner,
                        programme,
                        phase,
                        ..
                    }) => {
                        let k = counters::target_key(*programme, *phase, assigner, *record);
                        if sign < 0 {
                            tx[t::TARGETS].remove(k)?;
                        } else if let Some(v) = v {
                            tx[t::TARGETS].insert(k, v.encode())?;
                        }
                    }
                    None => {}
                }
            }
            match view {
                Some(v) => tx[t::VIEWS].insert(&record.0, v.encode())?,
                None => tx[t::VIEWS].remove(&record.0)?,
            };
        }
        flush_deltas(&tx[t::COUNTERS], &mut deltas)?;
        rx.apply_rows(
            tx,
            &c.rows,
            c.accepted.iter().map(|(v, _)| v.entry()),
            |u| tx_chain(&tx[t::SHAPE], u),
        )?;
        crate::search_index::apply(tx, &c.search)?;
        Ok(())
    }

    /// A sled failure as a sentence; a full disk says so and that nothing of the batch was
    /// stored (the transaction is all or nothing).
    fn storage_error(&self, e: sled::Error) -> StoreError {
        match &e {
            sled::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => err(
                "write",
                format!(
                    "the disk holding {} is full: nothing of this batch was stored; free space and try again",
                    self.path.display()
                ),
            ),
            _ => err("write", e),
        }
    }
}

fn flush_deltas(
    counters: &TransactionalTree,
    deltas: &mut BTreeMap<Vec<u8>, Tally>,
) -> TxResult<()> {
    for (k, d) in std::mem::take(deltas) {
        if !d.is_zero() {
            add_counter(counters, &k, &d)?;
        }
    }
    Ok(())
}
