//! The sync index: what a peer's scope may receive, kept as a few key ranges with partial sums,
//! so that a sync session asks the store for counts, fingerprints, splits and ids at the cost
//! of what it reads, never a scan of the node's records.
//!
//! Every stored entry that has a place in the unit tree is filed, as its [`SyncKey`] (time,
//! hash), into a few *buckets* ([`sync_protocol::scope`] says who receives what):
//! - `A`: every node (targets, the genesis);
//! - `S<unit>`: the records' entries (non-confidential initiatives, programmes, projections,
//!   decisions) whose unit has `unit` as itself or an ancestor, at the entry's time or in the
//!   latest tree (both: a scope judges both);
//! - `C<unit>`: a confidential initiative's entries, for its origin and its direct superior
//!   (at the entry's time and in the latest tree);
//! - `P<unit>`: the programmes `unit` launched (they flow down its subtree);
//! - `T<unit>`: the trust entries about `unit`'s subtree (as `S`), and `U<unit>`: those about
//!   `unit` itself.
//!
//! A peer `u` receives `A`, `S<u>`, `C<u>` and `T<u>` (disjoint by kind: the *large* part,
//! answered from the index), plus `P<x>` for its ancestors `x` and `U<x>` for the units whose
//! chains it needs (the *small* part: a few entries, read when the session starts).
//!
//! Within a bucket keys are ordered as [`SyncKey`]s. They are cut into *chunks* of about
//! [`CHUNK_KEYS`] keys, each with its count and [`KeySum`], so a range's fingerprint adds the
//! chunks it covers and reads only the keys of the two chunks at its ends: O(range / chunk +
//! chunk) reads, whatever the store holds.
//!
//! Rows (one sled tree, `sync_index`):
//! - `k` bucket key(40) → (): the keys;
//! - `c` bucket start(40) → count(8, LE) sum(32): the chunks (a chunk runs to the next start);
//! - `r` hash(32) → buckets: where an entry is filed (membership, re-filing);
//! - `g` bucket unit → (): the signers (authors, owners) of a bucket's entries, except, in an
//!   `S` bucket, the units of that subtree (their chains are in `T`);
//! - `o` unit → (): the owners of targets (a target names the owner's children);
//! - `p` unit → parent: each unit's parent as filed, to re-file a moved unit's subtree.
//!
//! The index is written with each batch's transaction (at the same time on another core when
//! the batch moves no unit, after it otherwise) and before the batch is made durable; a
//! marker row (`~dirty`) is written before both and removed with the index's rows, so a crash
//! in between leaves the marker and the next open rebuilds the index.
//! Its presence is marked by [`META_KEY`] in the meta tree (not the schema number).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sync_protocol::entry::{Entry, EntryBody, RecordKind};
use sync_protocol::ids::{EntryHash, UnitId};
use sync_protocol::store::StoreError;
use sync_protocol::sync::{Bound, Fingerprint, IdPrefix, KeySum, SortedKeys, SyncKey, SyncSource};

use crate::sled_store::{err, t, Commit, Place, SledStore};

/// The meta key that says the sync index is complete (version 1 of its rows).
pub const META_KEY: &str = "index.sync.v1";
/// The sled tree of the sync index.
pub const TREE_NAME: &str = "sync_index";
/// The sled tree a check rebuilds the index into, to compare (dropped after).
const CHECK_TREE_NAME: &str = "sync_index_check";
/// The keys of one chunk, when chunks are cut; a chunk is cut again beyond twice this.
pub const CHUNK_KEYS: usize = 256;
/// A range of at most this many keys is split by reading its keys; a larger one by its chunks.
const SPLIT_BY_KEYS: usize = 4 * CHUNK_KEYS;
/// Rows written per batch while rebuilding.
const REBUILD_BATCH_ROWS: usize = 20_000;

const DIRTY: &[u8] = b"~dirty";
const KEY_BYTES: usize = 40;

fn tree(store: &SledStore) -> Result<sled::Tree, StoreError> {
    store
        .db()
        .open_tree(TREE_NAME)
        .map_err(|e| err(TREE_NAME, e))
}

/// A bucket's name: its kind byte, the unit's id, and a zero byte.
fn bucket(kind: u8, unit: Option<&UnitId>) -> Vec<u8> {
    let mut b = vec![kind];
    if let Some(u) = unit {
        b.extend_from_slice(u.as_str().as_bytes());
    }
    b.push(0);
    b
}

fn key_bytes(k: &SyncKey) -> [u8; KEY_BYTES] {
    let mut out = [0u8; KEY_BYTES];
    out[..8].copy_from_slice(&k.time_ms.to_be_bytes());
    out[8..].copy_from_slice(&k.hash.0);
    out
}

fn sync_key(b: &[u8]) -> SyncKey {
    let mut t8 = [0u8; 8];
    t8.copy_from_slice(&b[..8]);
    let mut h = [0u8; 32];
    h.copy_from_slice(&b[8..KEY_BYTES]);
    SyncKey {
        time_ms: u64::from_be_bytes(t8),
        hash: EntryHash(h),
    }
}

/// A bound as bytes that compare with [`key_bytes`] as the bound compares with keys.
fn bound_bytes(b: &Bound) -> Vec<u8> {
    match b {
        // Above every 40-byte key.
        Bound::Infinity => vec![0xff; KEY_BYTES + 1],
        Bound::Key { time_ms, prefix } => {
            let mut out = time_ms.to_be_bytes().to_vec();
            out.extend_from_slice(prefix);
            out
        }
    }
}

fn row(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![tag];
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn encode_chunk(count: u64, sum: &KeySum) -> Vec<u8> {
    let mut v = count.to_le_bytes().to_vec();
    v.extend_from_slice(&sum.to_bytes());
    v
}

fn decode_chunk(v: &[u8]) -> (u64, KeySum) {
    if v.len() != 40 {
        return (0, KeySum::default());
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(&v[..8]);
    let mut s = [0u8; 32];
    s.copy_from_slice(&v[8..40]);
    (u64::from_le_bytes(c), KeySum::from_bytes(&s))
}

/// The buckets listed in an `r` row.
fn split_buckets(v: &[u8]) -> Vec<Vec<u8>> {
    v.split_inclusive(|b| *b == 0).map(|b| b.to_vec()).collect()
}

/// The ids of a `/`-terminated path, root first.
fn path_units(path: &[u8]) -> Vec<UnitId> {
    path.split(|b| *b == b'/')
        .filter(|s| !s.is_empty())
        .filter_map(|s| std::str::from_utf8(s).ok())
        .filter_map(|s| UnitId::new(s).ok())
        .collect()
}

/// Each unit's chain in the latest tree (itself first, then its ancestors), read from the
/// store's `shape` tree and remembered.
struct Chains<'a> {
    store: &'a SledStore,
    memo: HashMap<UnitId, Vec<UnitId>>,
}

impl<'a> Chains<'a> {
    fn new(store: &'a SledStore) -> Self {
        Self {
            store,
            memo: HashMap::new(),
        }
    }
    fn parent(&self, u: &UnitId) -> Result<Option<UnitId>, StoreError> {
        Ok(self
            .store
            .tree(t::SHAPE)
            .get(u.as_str().as_bytes())
            .map_err(|e| err("shape", e))?
            .and_then(|v| {
                std::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| UnitId::new(s).ok())
            }))
    }
    fn chain(&mut self, u: &UnitId) -> Result<Vec<UnitId>, StoreError> {
        if let Some(c) = self.memo.get(u) {
            return Ok(c.clone());
        }
        let mut out = vec![u.clone()];
        let mut cur = u.clone();
        while let Some(p) = self.parent(&cur)? {
            if out.contains(&p) || out.len() > sync_protocol::directory::MAX_TREE_DEPTH {
                break;
            }
            out.push(p.clone());
            cur = p;
        }
        self.memo.insert(u.clone(), out.clone());
        Ok(out)
    }
}

/// Where one entry is filed, and the signers it adds to its record buckets.
struct Filing {
    buckets: Vec<Vec<u8>>,
    /// (bucket, signer)
    signers: Vec<(Vec<u8>, UnitId)>,
    target_owner: Option<UnitId>,
}

fn file(e: &Entry, place: &Place, chains: &mut Chains<'_>) -> Result<Filing, StoreError> {
    let mut buckets: Vec<Vec<u8>> = Vec::new();
    let mut signers = Vec::new();
    let mut target_owner = None;
    // The unit's ancestors-or-self at the entry's time and in the latest tree.
    let mut up: Vec<UnitId> = path_units(&place.path);
    for u in chains.chain(&place.unit)? {
        if !up.contains(&u) {
            up.push(u);
        }
    }
    if !up.contains(&place.unit) {
        up.push(place.unit.clone());
    }
    let record_buckets = |kind: u8, units: &[UnitId], buckets: &mut Vec<Vec<u8>>| {
        for u in units {
            let b = bucket(kind, Some(u));
            if !buckets.contains(&b) {
                buckets.push(b);
            }
        }
    };
    match e.body() {
        EntryBody::Genesis(_) => buckets.push(bucket(b'A', None)),
        EntryBody::Certificate(_) | EntryBody::Revocation(_) | EntryBody::UnitEnd(_) => {
            record_buckets(b'T', &up, &mut buckets);
            buckets.push(bucket(b'U', Some(&place.unit)));
        }
        EntryBody::RecordChange(c) => match c.kind {
            RecordKind::Target => {
                buckets.push(bucket(b'A', None));
                target_owner = Some(c.owner.clone());
            }
            RecordKind::Programme => {
                record_buckets(b'S', &up, &mut buckets);
                buckets.push(bucket(b'P', Some(&c.owner)));
            }
            RecordKind::Initiative if c.confidential => {
                let mut units = vec![c.owner.clone()];
                let at_t = path_units(&place.path);
                if at_t.len() >= 2 {
                    units.push(at_t[at_t.len() - 2].clone());
                }
                if let Some(p) = chains.chain(&c.owner)?.get(1) {
                    units.push(p.clone());
                }
                record_buckets(b'C', &units, &mut buckets);
            }
            RecordKind::Initiative => record_buckets(b'S', &up, &mut buckets),
        },
        EntryBody::Projection(_) | EntryBody::Decision(_) => {
            record_buckets(b'S', &up, &mut buckets)
        }
    }
    // Signers: the author, and a record change's owner.
    if !matches!(
        e.body(),
        EntryBody::Genesis(_)
            | EntryBody::Certificate(_)
            | EntryBody::Revocation(_)
            | EntryBody::UnitEnd(_)
    ) {
        let mut who = vec![e.author().clone()];
        if let EntryBody::RecordChange(c) = e.body() {
            if !who.contains(&c.owner) {
                who.push(c.owner.clone());
            }
        }
        for b in &buckets {
            for w in &who {
                if b[0] == b'S' {
                    // A unit of this subtree: its chain travels in `T` already.
                    let sub = &b[1..b.len() - 1];
                    if chains
                        .chain(w)?
                        .iter()
                        .any(|u| u.as_str().as_bytes() == sub)
                    {
                        continue;
                    }
                }
                signers.push((b.clone(), w.clone()));
            }
        }
    }
    Ok(Filing {
        buckets,
        signers,
        target_owner,
    })
}

fn encode_parent(p: Option<&UnitId>) -> Vec<u8> {
    p.map(|p| p.as_str().as_bytes().to_vec())
        .unwrap_or_default()
}

/// The chunk changes of one batch, applied after its keys are written.
#[derive(Default)]
struct ChunkDeltas {
    /// bucket → key → +1 (added) or -1 (removed)
    by_bucket: BTreeMap<Vec<u8>, Vec<([u8; KEY_BYTES], bool)>>,
}

impl ChunkDeltas {
    fn add(&mut self, b: &[u8], k: [u8; KEY_BYTES], added: bool) {
        self.by_bucket
            .entry(b.to_vec())
            .or_default()
            .push((k, added));
    }

    /// Updates the chunks the keys fall in (the keys are already written), then cuts any chunk
    /// grown beyond twice [`CHUNK_KEYS`] into chunks of [`CHUNK_KEYS`].
    fn apply(self, tree: &sled::Tree, batch: &mut sled::Batch) -> Result<(), StoreError> {
        for (b, mut keys) in self.by_bucket {
            keys.sort();
            let first = row(b'c', &[&b, &[0u8; KEY_BYTES]]);
            let end = row(b'c', &[&b, &[0xff; KEY_BYTES + 1]]);
            let mut touched: BTreeMap<Vec<u8>, (u64, KeySum)> = BTreeMap::new();
            // The chunk the last key fell in, and where the next chunk starts: sorted keys
            // (a batch's usually at the newest times) mostly fall in the same chunk.
            let mut current: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
            for (k, added) in keys {
                let upto = row(b'c', &[&b, &k]);
                let reuse = current
                    .as_ref()
                    .is_some_and(|(s, next)| *s <= upto && next.as_ref().is_none_or(|n| upto < *n));
                if !reuse {
                    let found = tree
                        .range(first.clone()..=upto.clone())
                        .next_back()
                        .transpose()
                        .map_err(|e| err(TREE_NAME, e))?;
                    let (start, agg) = match found {
                        Some((s, v)) => (s.to_vec(), decode_chunk(&v)),
                        None => (first.clone(), (0, KeySum::default())),
                    };
                    let next = tree
                        .range(row(b'c', &[&start[1..], &[0]])..end.clone())
                        .next()
                        .transpose()
                        .map_err(|e| err(TREE_NAME, e))?
                        .map(|(s, _)| s.to_vec());
                    touched.entry(start.clone()).or_insert(agg);
                    current = Some((start, next));
                }
                let start = current.as_ref().map(|c| c.0.clone()).unwrap_or_default();
                let slot = touched.entry(start).or_default();
                let mut one = KeySum::default();
                one.add_hash(&sync_key(&k).hash);
                if added {
                    slot.0 += 1;
                    slot.1.add(&one);
                } else {
                    slot.0 = slot.0.saturating_sub(1);
                    slot.1.sub(&one);
                }
            }
            for (start, (count, sum)) in touched {
                if count as usize <= 2 * CHUNK_KEYS {
                    batch.insert(start, encode_chunk(count, &sum));
                    continue;
                }
                // Cut: read the chunk's keys (from its start to the next chunk's).
                let end = tree
                    .range(row(b'c', &[&start[1..], &[0]])..row(b'c', &[&b, &[0xff; 41]]))
                    .next()
                    .transpose()
                    .map_err(|e| err(TREE_NAME, e))?
                    .map(|(s, _)| s[1 + b.len()..].to_vec())
                    .unwrap_or_else(|| vec![0xff; KEY_BYTES + 1]);
                let from = row(b'k', &[&start[1..]]);
                let to = row(b'k', &[&b, &end]);
                let mut n = 0u64;
                let mut s = KeySum::default();
                let mut cur = start.clone();
                for kv in tree.range(from..to) {
                    let (k, _) = kv.map_err(|e| err(TREE_NAME, e))?;
                    let key = &k[1 + b.len()..];
                    if n as usize == CHUNK_KEYS {
                        batch.insert(cur.clone(), encode_chunk(n, &s));
                        cur = row(b'c', &[&b, key]);
                        n = 0;
                        s = KeySum::default();
                    }
                    n += 1;
                    s.add_hash(&sync_key(key).hash);
                }
                batch.insert(cur, encode_chunk(n, &s));
            }
        }
        Ok(())
    }
}

/// Marks the index as being written (before a batch's transaction).
pub(crate) fn begin(store: &SledStore) -> Result<(), StoreError> {
    tree(store)?
        .insert(DIRTY, &[1u8][..])
        .map_err(|e| err(TREE_NAME, e))?;
    Ok(())
}

/// Clears the marker [`begin`] set, for a batch whose transaction wrote nothing.
pub(crate) fn abandon(store: &SledStore) {
    if let Ok(tree) = tree(store) {
        let _ = tree.remove(DIRTY);
    }
}

/// Files a committed batch's entries (after its transaction, before it is made durable), and
/// re-files the subtree of a unit whose parent changed. Clears the marker [`begin`] set.
pub(crate) fn apply(store: &SledStore, c: &Commit) -> Result<(), StoreError> {
    let tree = tree(store)?;
    let mut chains = Chains::new(store);
    let mut batch = sled::Batch::default();
    let mut deltas = ChunkDeltas::default();
    let mut filed: BTreeSet<EntryHash> = BTreeSet::new();
    for (v, place) in &c.accepted {
        let e = v.entry();
        let Some(place) = place else { continue };
        let h = e.hash();
        if !filed.insert(h)
            || tree
                .contains_key(row(b'r', &[&h.0]))
                .map_err(|e| err(TREE_NAME, e))?
        {
            continue;
        }
        add_rows(&tree, &mut batch, &mut deltas, e, place, &mut chains)?;
    }
    // Moved units: their subtree's entries are filed again under the new ancestors.
    let mut moved = Vec::new();
    for (u, parent) in &c.parents {
        let pk = row(b'p', &[u.as_str().as_bytes()]);
        let now = encode_parent(parent.as_ref());
        let old = tree.get(&pk).map_err(|e| err(TREE_NAME, e))?;
        if old.as_deref().is_some_and(|o| o != now.as_slice()) {
            moved.push(u.clone());
        }
        // As the `shape` tree: the root has no row.
        match parent {
            Some(_) => batch.insert(pk, now),
            None => batch.remove(pk),
        }
    }
    // Keys first (one atomic batch), then the chunks that count them.
    tree.apply_batch(batch).map_err(|e| err(TREE_NAME, e))?;
    let mut batch = sled::Batch::default();
    deltas.apply(&tree, &mut batch)?;
    tree.apply_batch(batch).map_err(|e| err(TREE_NAME, e))?;
    if !moved.is_empty() {
        refile_subtrees(store, &tree, &moved)?;
    }
    tree.remove(DIRTY).map_err(|e| err(TREE_NAME, e))?;
    Ok(())
}

fn add_rows(
    tree: &sled::Tree,
    batch: &mut sled::Batch,
    deltas: &mut ChunkDeltas,
    e: &Entry,
    place: &Place,
    chains: &mut Chains<'_>,
) -> Result<(), StoreError> {
    let h = e.hash();
    let f = file(e, place, chains)?;
    let k = key_bytes(&SyncKey {
        time_ms: e.time_ms(),
        hash: h,
    });
    for b in &f.buckets {
        batch.insert(row(b'k', &[b, &k]), &[][..]);
        deltas.add(b, k, true);
    }
    batch.insert(row(b'r', &[&h.0]), f.buckets.concat());
    for (b, u) in &f.signers {
        let gk = row(b'g', &[b, u.as_str().as_bytes()]);
        if !tree.contains_key(&gk).map_err(|e| err(TREE_NAME, e))? {
            batch.insert(gk, &[][..]);
        }
    }
    if let Some(o) = &f.target_owner {
        batch.insert(row(b'o', &[o.as_str().as_bytes()]), &[][..]);
    }
    Ok(())
}

/// The entries under `units`' paths (their subtrees, at any time), with their paths.
fn under(store: &SledStore, units: &[UnitId]) -> Result<Vec<(EntryHash, Place)>, StoreError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for u in units {
        for p in store.paths_of(u)? {
            for kv in store.tree(t::BY_UNIT).scan_prefix(&p) {
                let (k, _) = kv.map_err(|e| err("by_unit", e))?;
                if k.len() < 41 {
                    continue;
                }
                let path = k[..k.len() - 41].to_vec();
                let mut h = [0u8; 32];
                h.copy_from_slice(&k[k.len() - 32..]);
                let Some(unit) = path_units(&path).pop() else {
                    continue;
                };
                if seen.insert(h) {
                    out.push((EntryHash(h), Place { unit, path }));
                }
            }
        }
    }
    Ok(out)
}

fn refile_subtrees(
    store: &SledStore,
    tree: &sled::Tree,
    units: &[UnitId],
) -> Result<(), StoreError> {
    let mut chains = Chains::new(store);
    let mut batch = sled::Batch::default();
    let mut deltas = ChunkDeltas::default();
    for (h, place) in under(store, units)? {
        let Some(e) = crate::sync_index::stored_entry(store, &h)? else {
            continue;
        };
        let k = key_bytes(&SyncKey {
            time_ms: e.time_ms(),
            hash: h,
        });
        if let Some(old) = tree
            .get(row(b'r', &[&h.0]))
            .map_err(|e| err(TREE_NAME, e))?
        {
            for b in split_buckets(&old) {
                batch.remove(row(b'k', &[&b, &k]));
                deltas.add(&b, k, false);
            }
        }
        add_rows(tree, &mut batch, &mut deltas, &e, &place, &mut chains)?;
    }
    // Removals and additions of one key in one bucket cancel out in the chunk counts.
    tree.apply_batch(batch).map_err(|e| err(TREE_NAME, e))?;
    let mut batch = sled::Batch::default();
    deltas.apply(tree, &mut batch)?;
    tree.apply_batch(batch).map_err(|e| err(TREE_NAME, e))?;
    Ok(())
}

fn stored_entry(store: &SledStore, h: &EntryHash) -> Result<Option<Entry>, StoreError> {
    use sync_protocol::store::EntryLookup;
    store.entry(h)
}

/// Whether the index is complete: its meta key present and no batch half-filed.
pub fn is_ready(store: &SledStore) -> Result<bool, StoreError> {
    Ok(store.meta(META_KEY)?.is_some()
        && !tree(store)?
            .contains_key(DIRTY)
            .map_err(|e| err(TREE_NAME, e))?)
}

/// Builds the index when it is missing or was left half-written (an existing node is
/// migrated once; a crash during the build leaves no meta key, so the build starts again).
/// Returns whether it built.
pub fn ensure(store: &SledStore) -> Result<bool, StoreError> {
    if is_ready(store)? {
        return Ok(false);
    }
    tracing::info!("building the sync index");
    rebuild(store)?;
    Ok(true)
}

/// Rewrites the index from the stored entries (their places in `by_unit`) and marks it
/// complete.
pub fn rebuild(store: &SledStore) -> Result<(), StoreError> {
    store.remove_meta(META_KEY)?;
    let tree = tree(store)?;
    tree.clear().map_err(|e| err(TREE_NAME, e))?;
    fill(store, &tree, true)?;
    store.set_meta(META_KEY, &[1])?;
    Ok(())
}

/// Writes every row of the index into `tree` (empty): keys, memberships, signers, target
/// owners and parents, then, with `chunks`, the chunks cut from the keys in order.
fn fill(store: &SledStore, tree: &sled::Tree, chunks: bool) -> Result<(), StoreError> {
    let mut chains = Chains::new(store);
    let mut batch = sled::Batch::default();
    let mut rows = 0usize;
    let mut no_deltas = ChunkDeltas::default();
    let mut last: Option<EntryHash> = None;
    for kv in store.tree(t::BY_UNIT).iter() {
        let (k, _) = kv.map_err(|e| err("by_unit", e))?;
        if k.len() < 41 {
            continue;
        }
        let path = k[..k.len() - 41].to_vec();
        let mut h = [0u8; 32];
        h.copy_from_slice(&k[k.len() - 32..]);
        let h = EntryHash(h);
        // One row per entry in `by_unit`; a duplicate (another path) is filed once.
        if last == Some(h) {
            continue;
        }
        last = Some(h);
        if tree
            .contains_key(row(b'r', &[&h.0]))
            .map_err(|e| err(TREE_NAME, e))?
        {
            continue;
        }
        let Some(unit) = path_units(&path).pop() else {
            continue;
        };
        let Some(e) = stored_entry(store, &h)? else {
            continue;
        };
        add_rows(
            tree,
            &mut batch,
            &mut no_deltas,
            &e,
            &Place { unit, path },
            &mut chains,
        )?;
        rows += 1;
        if rows.is_multiple_of(REBUILD_BATCH_ROWS) {
            tree.apply_batch(std::mem::take(&mut batch))
                .map_err(|e| err(TREE_NAME, e))?;
        }
    }
    for kv in store.tree(t::SHAPE).iter() {
        let (u, p) = kv.map_err(|e| err("shape", e))?;
        batch.insert(row(b'p', &[&u]), p.to_vec());
    }
    tree.apply_batch(batch).map_err(|e| err(TREE_NAME, e))?;
    if !chunks {
        return Ok(());
    }
    // Chunks: every CHUNK_KEYS keys of a bucket, the first from the bucket's start.
    let mut batch = sled::Batch::default();
    let mut cur: Option<(Vec<u8>, Vec<u8>, u64, KeySum)> = None; // bucket, start, n, sum
    let mut written = 0usize;
    for kv in tree.scan_prefix([b'k']) {
        let (k, _) = kv.map_err(|e| err(TREE_NAME, e))?;
        let b = k[1..k.len() - KEY_BYTES].to_vec();
        let key = &k[k.len() - KEY_BYTES..];
        let same = cur.as_ref().is_some_and(|c| c.0 == b);
        if !same {
            if let Some((cb, start, n, s)) = cur.take() {
                batch.insert(row(b'c', &[&cb, &start]), encode_chunk(n, &s));
                written += 1;
            }
            cur = Some((b.clone(), vec![0u8; KEY_BYTES], 0, KeySum::default()));
        }
        let c = cur.as_mut().expect("set above");
        if c.2 as usize == CHUNK_KEYS {
            batch.insert(row(b'c', &[&c.0, &c.1]), encode_chunk(c.2, &c.3));
            written += 1;
            c.1 = key.to_vec();
            c.2 = 0;
            c.3 = KeySum::default();
        }
        c.2 += 1;
        c.3.add_hash(&sync_key(key).hash);
        if written >= REBUILD_BATCH_ROWS {
            tree.apply_batch(std::mem::take(&mut batch))
                .map_err(|e| err(TREE_NAME, e))?;
            written = 0;
        }
    }
    if let Some((cb, start, n, s)) = cur {
        batch.insert(row(b'c', &[&cb, &start]), encode_chunk(n, &s));
    }
    tree.apply_batch(batch).map_err(|e| err(TREE_NAME, e))?;
    Ok(())
}

/// Compares the index with the entries: every row but the chunks must equal what a rebuild
/// writes, and every chunk must count and sum the keys it covers. Returns the disagreements
/// (at most `max`) and how many in all.
pub fn check(store: &SledStore, max: usize) -> Result<(Vec<String>, usize), StoreError> {
    let mut problems = Vec::new();
    let mut count = 0usize;
    let mut problem = |p: String| {
        count += 1;
        if problems.len() < max {
            problems.push(p);
        }
    };
    if !is_ready(store)? {
        problem("sync index: missing or left half-written".into());
    }
    let live = tree(store)?;
    let expected = store
        .db()
        .open_tree(CHECK_TREE_NAME)
        .map_err(|e| err(CHECK_TREE_NAME, e))?;
    expected.clear().map_err(|e| err(CHECK_TREE_NAME, e))?;
    fill(store, &expected, false)?;
    let not_chunk = |kv: &Result<(sled::IVec, sled::IVec), sled::Error>| match kv {
        Ok((k, _)) => k.first() != Some(&b'c') && k.as_ref() != DIRTY,
        Err(_) => true,
    };
    let mut a = live.iter().filter(not_chunk).peekable();
    let mut b = expected.iter().filter(not_chunk).peekable();
    loop {
        let x = a
            .peek()
            .map(|r| r.as_ref().map(|(k, v)| (k.clone(), v.clone())));
        let y = b
            .peek()
            .map(|r| r.as_ref().map(|(k, v)| (k.clone(), v.clone())));
        match (x, y) {
            (None, None) => break,
            (Some(Err(e)), _) => return Err(err(TREE_NAME, e)),
            (_, Some(Err(e))) => return Err(err(CHECK_TREE_NAME, e)),
            (Some(Ok((k, _))), None) => {
                problem(format!("sync index: extra row {}", hex::encode(&k)));
                a.next();
            }
            (None, Some(Ok((k, _)))) => {
                problem(format!("sync index: missing row {}", hex::encode(&k)));
                b.next();
            }
            (Some(Ok((ka, va))), Some(Ok((kb, vb)))) => {
                if ka < kb {
                    problem(format!("sync index: extra row {}", hex::encode(&ka)));
                    a.next();
                } else if kb < ka {
                    problem(format!("sync index: missing row {}", hex::encode(&kb)));
                    b.next();
                } else {
                    if va != vb {
                        problem(format!("sync index: row {} differs", hex::encode(&ka)));
                    }
                    a.next();
                    b.next();
                }
            }
        }
    }
    drop(expected);
    let _ = store.db().drop_tree(CHECK_TREE_NAME);
    // Chunks: each counts and sums the keys from its start to the next chunk's.
    let mut chunk: Option<(Vec<u8>, u64, KeySum, Vec<u8>)> = None; // bucket, n, sum, row key
    let mut keys = live.scan_prefix([b'k']).peekable();
    let close = |c: &(Vec<u8>, u64, KeySum, Vec<u8>),
                 keys: &mut std::iter::Peekable<sled::Iter>,
                 end: Option<&[u8]>|
     -> Result<Option<String>, StoreError> {
        let (b, n, s, ck) = c;
        let start = &ck[1 + b.len()..];
        let from = row(b'k', &[b, start]);
        let to = match end {
            Some(e) => row(b'k', &[b, e]),
            None => row(b'k', &[b, &[0xff; KEY_BYTES + 1]]),
        };
        let mut got = 0u64;
        let mut sum = KeySum::default();
        while let Some(kv) = keys.peek() {
            let k = match kv {
                Ok((k, _)) => k.clone(),
                Err(e) => return Err(err(TREE_NAME, e)),
            };
            if k.as_ref() >= to.as_slice() {
                break;
            }
            keys.next();
            if k.as_ref() < from.as_slice() {
                continue;
            }
            got += 1;
            sum.add_hash(&sync_key(&k[k.len() - KEY_BYTES..]).hash);
        }
        Ok((got != *n || sum != *s).then(|| {
            format!(
                "sync index: chunk {} counts {n} keys, {got} held",
                hex::encode(ck)
            )
        }))
    };
    for kv in live.scan_prefix([b'c']) {
        let (k, v) = kv.map_err(|e| err(TREE_NAME, e))?;
        let b = k[1..k.len() - KEY_BYTES].to_vec();
        let start = k[k.len() - KEY_BYTES..].to_vec();
        let (n, s) = decode_chunk(&v);
        if let Some(prev) = chunk.take() {
            let end = (prev.0 == b).then_some(start.as_slice());
            if let Some(p) = close(&prev, &mut keys, end)? {
                problem(p);
            }
        }
        chunk = Some((b, n, s, k.to_vec()));
    }
    if let Some(prev) = chunk.take() {
        if let Some(p) = close(&prev, &mut keys, None)? {
            problem(p);
        }
    }
    Ok((problems, count))
}

/// The part of a peer's offer read from the index: a few buckets, each a key range with
/// chunk sums.
#[derive(Clone, Debug)]
struct Large {
    buckets: Vec<Vec<u8>>,
}

/// What a node offers one peer, answered from the sync index: the large buckets by their
/// chunks, the small ones (programmes flowing down, the trust entries of the units whose
/// chains the peer needs) read once into memory.
pub struct IndexSource {
    store: SledStore,
    tree: sled::Tree,
    large: Large,
    small: SortedKeys<Vec<SyncKey>>,
}

impl std::fmt::Debug for IndexSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexSource")
            .field("large", &self.large)
            .field("small", &self.small.keys().len())
            .finish()
    }
}

impl IndexSource {
    /// The offer of `node` to `peer`'s node: what [`crate::Node::entries_for`] gives it.
    pub fn for_peer(node: &crate::Node, peer: &UnitId, now_ms: u64) -> Result<Self, StoreError> {
        let store = node.store().clone();
        let tree = tree(&store)?;
        let d = node.directory();
        let large = Large {
            buckets: vec![
                bucket(b'A', None),
                bucket(b'S', Some(peer)),
                bucket(b'C', Some(peer)),
                bucket(b'T', Some(peer)),
            ],
        };
        let mut small_buckets: Vec<Vec<u8>> = Vec::new();
        let ancestors = d.ancestors_at(peer, now_ms);
        for x in &ancestors {
            small_buckets.push(bucket(b'P', Some(x)));
        }
        // The units whose chains the peer needs: this node, the signers of what it is
        // offered, the children of target owners.
        let mut others: BTreeSet<UnitId> = BTreeSet::from([node.unit().clone()]);
        let signer_buckets = [&large.buckets[0], &large.buckets[1], &large.buckets[2]]
            .into_iter()
            .chain(small_buckets.iter());
        for b in signer_buckets {
            for k in tree.scan_prefix(row(b'g', &[b])).keys() {
                let k = k.map_err(|e| err(TREE_NAME, e))?;
                if let Some(u) = std::str::from_utf8(&k[1 + b.len()..])
                    .ok()
                    .and_then(|s| UnitId::new(s).ok())
                {
                    others.insert(u);
                }
            }
        }
        let mut owners = Vec::new();
        for k in tree.scan_prefix([b'o']).keys() {
            let k = k.map_err(|e| err(TREE_NAME, e))?;
            if let Some(u) = std::str::from_utf8(&k[1..])
                .ok()
                .and_then(|s| UnitId::new(s).ok())
            {
                owners.push(u);
            }
        }
        // A target names the owner's children (in the tree the node follows).
        for o in &owners {
            others.extend(node.tree_children(o).iter().cloned());
        }
        let mut chains: BTreeSet<UnitId> = ancestors.iter().cloned().collect();
        for u in &others {
            if chains.insert(u.clone()) {
                chains.extend(d.ancestors_at(u, now_ms));
            }
        }
        for x in &chains {
            small_buckets.push(bucket(b'U', Some(x)));
        }
        // Read the small buckets; drop what the large part holds already.
        let mut small = Vec::new();
        for b in &small_buckets {
            for k in tree.scan_prefix(row(b'k', &[b])).keys() {
                let k = k.map_err(|e| err(TREE_NAME, e))?;
                let key = sync_key(&k[k.len() - KEY_BYTES..]);
                let in_large = tree
                    .get(row(b'r', &[&key.hash.0]))
                    .map_err(|e| err(TREE_NAME, e))?
                    .is_some_and(|v| split_buckets(&v).iter().any(|x| large.buckets.contains(x)));
                if !in_large {
                    small.push(key);
                }
            }
        }
        small.sort_unstable();
        small.dedup();
        Ok(Self {
            store,
            tree,
            large,
            small: SortedKeys::new(small),
        })
    }

    /// Whether the entry `hash` is offered.
    pub fn offers(&self, hash: &EntryHash) -> bool {
        let Ok(Some(v)) = self.tree.get(row(b'r', &[&hash.0])) else {
            return false;
        };
        let filed = split_buckets(&v);
        if filed.iter().any(|b| self.large.buckets.contains(b)) {
            return true;
        }
        // Small part: its keys hold the time; find it by the hash (through its id map, not a
        // scan per entry: a first sync asks for thousands).
        self.small.hash_of(&IdPrefix::of(hash)) == Some(*hash)
    }

    /// Count and sum of one bucket's keys in `[lo, hi)` (bytes as [`bound_bytes`]).
    fn bucket_sum(&self, b: &[u8], lo: &[u8], hi: &[u8]) -> (u64, KeySum) {
        let mut n = 0u64;
        let mut s = KeySum::default();
        if lo >= hi {
            return (0, s);
        }
        let first = row(b'c', &[b, &[0u8; KEY_BYTES]]);
        let chunk_end = row(b'c', &[b, &[0xff; KEY_BYTES + 1]]);
        // The chunk holding `lo`, then every chunk starting below `hi`.
        let mut starts: Vec<(Vec<u8>, u64, KeySum)> = Vec::new();
        let lo_row = row(b'c', &[b, lo]);
        if let Some(Ok((k, v))) = self.tree.range(first.clone()..=lo_row.clone()).next_back() {
            let (c, x) = decode_chunk(&v);
            starts.push((k[1 + b.len()..].to_vec(), c, x));
        }
        let hi_row = row(b'c', &[b, hi]);
        let upper = if hi_row < chunk_end {
            hi_row
        } else {
            chunk_end.clone()
        };
        for (k, v) in self.tree.range(lo_row..upper).flatten() {
            let start = k[1 + b.len()..].to_vec();
            if starts.last().is_some_and(|l| l.0 == start) {
                continue;
            }
            let (c, x) = decode_chunk(&v);
            starts.push((start, c, x));
        }
        // The chunk after the last one: its start ends the last chunk.
        let after_last = starts.last().and_then(|l| {
            self.tree
                .range(row(b'c', &[b, &l.0, &[0]])..chunk_end.clone())
                .next()
                .and_then(|r| r.ok())
                .map(|(k, _)| k[1 + b.len()..].to_vec())
        });
        for i in 0..starts.len() {
            let s0 = starts[i].0.as_slice();
            let e0: Option<&[u8]> = match starts.get(i + 1) {
                Some(next) => Some(next.0.as_slice()),
                None => after_last.as_deref(),
            };
            let whole = lo <= s0 && e0.is_some_and(|e| e <= hi);
            if whole {
                n += starts[i].1;
                s.add(&starts[i].2);
                continue;
            }
            // Read the keys of the overlap.
            let from = if lo > s0 { lo } else { s0 };
            let to: &[u8] = match e0 {
                Some(e) if e < hi => e,
                _ => hi,
            };
            if from >= to {
                continue;
            }
            for k in self
                .tree
                .range(row(b'k', &[b, from])..row(b'k', &[b, to]))
                .keys()
                .flatten()
            {
                n += 1;
                s.add_hash(&sync_key(&k[k.len() - KEY_BYTES..]).hash);
            }
        }
        (n, s)
    }

    fn bounds(lower: Option<&Bound>, upper: &Bound) -> (Vec<u8>, Vec<u8>) {
        let lo = lower.map(bound_bytes).unwrap_or_default();
        (lo, bound_bytes(upper))
    }

    fn large_keys(&self, lo: &[u8], hi: &[u8]) -> Vec<SyncKey> {
        let mut out = Vec::new();
        if lo >= hi {
            return out;
        }
        for b in &self.large.buckets {
            for k in self
                .tree
                .range(row(b'k', &[b, lo])..row(b'k', &[b, hi]))
                .keys()
                .flatten()
            {
                out.push(sync_key(&k[k.len() - KEY_BYTES..]));
            }
        }
        out
    }

    /// Chunk starts of the large buckets strictly inside `(lo, hi)`, with the count of the
    /// chunk each starts, sorted: where a big range may be cut.
    fn chunk_starts(&self, lo: &[u8], hi: &[u8]) -> Vec<([u8; KEY_BYTES], u64)> {
        let mut out = Vec::new();
        for b in &self.large.buckets {
            let end = row(b'c', &[b, &[0xff; KEY_BYTES + 1]]);
            let hi_row = row(b'c', &[b, hi]);
            let upper = if hi_row < end { hi_row } else { end };
            for (k, v) in self.tree.range(row(b'c', &[b, lo, &[0]])..upper).flatten() {
                let mut key = [0u8; KEY_BYTES];
                key.copy_from_slice(&k[k.len() - KEY_BYTES..]);
                out.push((key, decode_chunk(&v).0));
            }
        }
        out.sort();
        out
    }
}

impl SyncSource for IndexSource {
    fn summarize(&self, lower: Option<&Bound>, upper: &Bound) -> (usize, Fingerprint) {
        let (lo, hi) = Self::bounds(lower, upper);
        let mut n = 0u64;
        let mut s = KeySum::default();
        for b in &self.large.buckets {
            let (c, x) = self.bucket_sum(b, &lo, &hi);
            n += c;
            s.add(&x);
        }
        let small = self.small.keys_in(lower, upper);
        for k in &small {
            s.add_hash(&k.hash);
        }
        n += small.len() as u64;
        (n as usize, s.fingerprint(n))
    }

    fn keys_in(&self, lower: Option<&Bound>, upper: &Bound) -> Vec<SyncKey> {
        let (lo, hi) = Self::bounds(lower, upper);
        let mut out = self.large_keys(&lo, &hi);
        out.extend(self.small.keys_in(lower, upper));
        out.sort_unstable();
        out.dedup();
        out
    }

    fn split(&self, lower: Option<&Bound>, upper: &Bound, parts: usize) -> Vec<Bound> {
        let (count, _) = self.summarize(lower, upper);
        if count <= SPLIT_BY_KEYS.max(parts) {
            return sync_protocol::sync::split_sorted(&self.keys_in(lower, upper), parts);
        }
        // Cut at chunk starts, by the counts of the chunks before each (about equal parts:
        // each chunk is counted whole at its start).
        let (lo, hi) = Self::bounds(lower, upper);
        let starts = self.chunk_starts(&lo, &hi);
        let mut out: Vec<Bound> = Vec::with_capacity(parts);
        let mut before = 0u64;
        let mut next_part = 1usize;
        let total = count as u64;
        for (key, n) in starts {
            while next_part < parts && before >= total * next_part as u64 / parts as u64 {
                next_part += 1;
                let k = sync_key(&key);
                let b = Bound::Key {
                    time_ms: k.time_ms,
                    prefix: k.hash.0.to_vec(),
                };
                if out.last() != Some(&b) {
                    out.push(b);
                }
            }
            before += n;
        }
        // Keep only cuts that leave no part empty.
        let mut kept: Vec<Bound> = Vec::with_capacity(out.len());
        let mut prev: Option<Bound> = lower.cloned();
        for b in out {
            let (n, _) = self.summarize(prev.as_ref(), &b);
            if n > 0 {
                prev = Some(b.clone());
                kept.push(b);
            }
        }
        if let Some(last) = kept.last() {
            if self.summarize(Some(last), upper).0 == 0 {
                kept.pop();
            }
        }
        kept
    }

    fn hash_of(&self, id: &IdPrefix) -> Option<EntryHash> {
        for k in self
            .store
            .tree(t::ENTRIES)
            .scan_prefix(id.0)
            .keys()
            .flatten()
        {
            let mut h = [0u8; 32];
            if k.len() != 32 {
                continue;
            }
            h.copy_from_slice(&k);
            let h = EntryHash(h);
            if self.offers(&h) {
                return Some(h);
            }
        }
        None
    }

    fn entry_bytes(&self, hash: &EntryHash) -> Option<Vec<u8>> {
        if !self.offers(hash) {
            return None;
        }
        self.store
            .tree(t::ENTRIES)
            .get(hash.0)
            .ok()
            .flatten()
            .map(|v| v.to_vec())
    }
}
