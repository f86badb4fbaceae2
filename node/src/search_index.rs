//! The word, filter and inbox index: what makes a page of a search, of a filtered list and
//! of the inbox cost O(page), not O(records).
//!
//! Every key ends in the listing order's tail `L` = origin ‖ 0 ‖ record (16): the order of
//! `rx_list` ([`crate::report_index`]), so every stream below is sorted the same way and a
//! page is the intersection of a few sorted streams, walked by seeks (leapfrog).
//!
//! | tree      | key                                              | value |
//! |-----------|--------------------------------------------------|-------|
//! | `wx_keys` | `w` ‖ word length (2, BE) ‖ folded word ‖ `L`    | empty |
//! |           | `s` ‖ sector (1, index in [`Sector::ALL`]) ‖ `L` | empty |
//! |           | `p` ‖ programme (16) ‖ phase (4, BE) ‖ `L`       | empty |
//! |           | `o` ‖ `L` — waits for its origin to submit it     | empty |
//! |           | `f` ‖ unit ‖ 0 ‖ `L` — forwarded by `unit`, waits for its parent | empty |
//! |           | `n` ‖ `o` or `f` ‖ unit — how many such keys      | count (i64 BE) |
//! | `wx_docs` | record (16)                                      | the record's keys |
//!
//! The words are those of the record's row in the listing index (title, summary and authors,
//! folded by [`fold_for_search`]): a confidential initiative seen only through its projection
//! has only its public title and summary there, so search shows no more than the listing does.
//! The words of units (the origin's id and name, the names of the units above it) are not
//! stored per record: they are read from the trust directory into a per-node cache
//! ([`UnitWordsCache`], rebuilt when the directory changes) and a word found there stands
//! for every record of the units it names.
//!
//! The index is derived from the listing index's rows, the record views and the decision
//! chain, computed by the node with the batch ([`doc_of`]) and written in the batch's own
//! transaction ([`apply`]). Presence is marked by [`META_KEY`] in the meta tree: a node
//! without it builds it when it opens ([`build_if_missing`]); `node check` compares it with a
//! recount ([`check`]) and `--repair` rebuilds it ([`rebuild`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sync_protocol::entry::{DecisionKind, Entry, EntryBody, Sector};
use sync_protocol::ids::{EntryHash, RecordId, UnitId};
use sync_protocol::store::StoreError;
use sync_protocol::text::fold_for_search;

use crate::counters::View;
use crate::node::Node;
use crate::report_index::{self, Row};
use crate::sled_store::{err, SledStore};

/// The meta key that marks a complete index.
pub const META_KEY: &str = "index.words.v1";

/// The index's trees, opened after the listing index's (`SledStore::trees`).
pub const TREES: [&str; 2] = ["wx_keys", "wx_docs"];

/// Positions of the index's trees in `SledStore::trees`.
pub mod t {
    use crate::report_index::TREES as RX_TREES;
    use crate::sled_store::TREES as STORE_TREES;
    /// wx_keys
    pub const KEYS: usize = STORE_TREES.len() + RX_TREES.len();
    /// wx_docs
    pub const DOCS: usize = STORE_TREES.len() + RX_TREES.len() + 1;
}

/// How many matches a filtered page counts beyond its own end before it stops counting and
/// says "at least": the bound on a page's work when the filters match most records.
pub const MAX_COUNTED_MATCHES: u64 = 500;

const WORD: u8 = b'w';
const SECTOR: u8 = b's';
const PHASE: u8 = b'p';
const OWN: u8 = b'o';
const FROM: u8 = b'f';
const COUNT: u8 = b'n';

/// What the index holds of one initiative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    /// Origin unit.
    pub origin: UnitId,
    /// The folded words of its row (title, summary, authors).
    pub words: BTreeSet<String>,
    /// Sector (unknown for none).
    pub sector: Option<Sector>,
    /// Programme and phase.
    pub programme: Option<(RecordId, u32)>,
    /// Whose decision it waits for.
    pub waits: Option<Waits>,
}

/// Whose decision an initiative waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waits {
    /// Its origin's submission (new, or returned for revision).
    Origin,
    /// The parent of this unit, which submitted or approved it last.
    ParentOf(UnitId),
}

/// The last decision of an unforked chain and who signed it (`None` when there is none or
/// the chain forks), walked as [`crate::counters::view_row_of_verified`] walks it.
fn last_decision(entries: &[Entry]) -> Result<Option<(DecisionKind, UnitId)>, ()> {
    let mut children: BTreeMap<Option<EntryHash>, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        if let EntryBody::Decision(d) = e.body() {
            children.entry(d.previous).or_default().push(e);
        }
    }
    if children.values().any(|v| v.len() > 1) {
        return Err(());
    }
    let mut last = None;
    let mut seen: Vec<EntryHash> = Vec::new();
    let mut cursor: Option<EntryHash> = None;
    while let Some(next) = children.get(&cursor).and_then(|v| v.first()) {
        if seen.contains(&next.hash()) {
            break;
        }
        seen.push(next.hash());
        if let EntryBody::Decision(d) = next.body() {
            last = Some((d.kind, next.author().clone()));
        }
        cursor = Some(next.hash());
    }
    Ok(last)
}

/// The document of a record from its listing row, its view and its entries (`None`: not an
/// initiative listed here).
pub fn doc_of(row: Option<&Row>, view: Option<&View>, entries: &[Entry]) -> Option<Doc> {
    let row = row?;
    let sector = match view {
        Some(View::Initiative(f)) => Some(f.sector),
        _ => None,
    };
    let conflict = report_index::status_index("conflict") == Some(row.status);
    let waits = if conflict {
        None
    } else {
        match last_decision(entries) {
            Err(()) => None,
            Ok(None) | Ok(Some((DecisionKind::ReturnForRevision, _))) => Some(Waits::Origin),
            Ok(Some((DecisionKind::Submit | DecisionKind::Approve, by))) => {
                Some(Waits::ParentOf(by))
            }
            Ok(Some(_)) => None,
        }
    };
    Some(Doc {
        origin: row.origin.clone(),
        words: crate::search::words_of(&row.text)
            .filter(|w| w.len() <= u16::MAX as usize)
            .map(str::to_string)
            .collect(),
        sector,
        programme: row.programme,
        waits,
    })
}

/// The listing order's tail of a record's keys.
pub fn tail(origin: &UnitId, record: RecordId) -> Vec<u8> {
    let mut k = Vec::with_capacity(origin.as_str().len() + 17);
    k.extend_from_slice(origin.as_str().as_bytes());
    k.push(0);
    k.extend_from_slice(&record.0);
    k
}

fn word_prefix(w: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + w.len());
    k.push(WORD);
    k.extend_from_slice(&(w.len() as u16).to_be_bytes());
    k.extend_from_slice(w.as_bytes());
    k
}

fn sector_prefix(s: Sector) -> Vec<u8> {
    let i = Sector::ALL.iter().position(|x| *x == s).unwrap_or(0) as u8;
    vec![SECTOR, i]
}

fn phase_prefix(programme: RecordId, phase: u32) -> Vec<u8> {
    let mut k = vec![PHASE];
    k.extend_from_slice(&programme.0);
    k.extend_from_slice(&phase.to_be_bytes());
    k
}

fn from_prefix(unit: &UnitId) -> Vec<u8> {
    let mut k = vec![FROM];
    k.extend_from_slice(unit.as_str().as_bytes());
    k.push(0);
    k
}

fn own_prefix(unit: &UnitId) -> Vec<u8> {
    let mut k = vec![OWN];
    k.extend_from_slice(unit.as_str().as_bytes());
    k.push(0);
    k
}

fn count_key(kind: u8, unit: &UnitId) -> Vec<u8> {
    let mut k = vec![COUNT, kind];
    k.extend_from_slice(unit.as_str().as_bytes());
    k
}

impl Doc {
    /// Every key of the record in `wx_keys` (counts apart).
    pub fn keys(&self, record: RecordId) -> Vec<Vec<u8>> {
        let l = tail(&self.origin, record);
        let with = |mut p: Vec<u8>| {
            p.extend_from_slice(&l);
            p
        };
        let mut out: Vec<Vec<u8>> = self.words.iter().map(|w| with(word_prefix(w))).collect();
        if let Some(s) = self.sector {
            out.push(with(sector_prefix(s)));
        }
        if let Some((p, ph)) = self.programme {
            out.push(with(phase_prefix(p, ph)));
        }
        match &self.waits {
            Some(Waits::Origin) => out.push(with(vec![OWN])),
            Some(Waits::ParentOf(u)) => out.push(with(from_prefix(u))),
            None => {}
        }
        out
    }
}

/// The count key an inbox key adds to (`None` for other keys).
fn count_of_key(k: &[u8]) -> Option<Vec<u8>> {
    let kind = *k.first()?;
    if kind != OWN && kind != FROM {
        return None;
    }
    let rest = &k[1..];
    let end = rest.iter().position(|b| *b == 0)?;
    let mut c = vec![COUNT, kind];
    c.extend_from_slice(&rest[..end]);
    Some(c)
}

fn encode_keys(keys: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for k in keys {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
    }
    out
}

fn decode_keys(mut b: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return None;
        }
        let n = u32::from_be_bytes(b[..4].try_into().ok()?) as usize;
        b = &b[4..];
        if b.len() < n {
            return None;
        }
        out.push(b[..n].to_vec());
        b = &b[n..];
    }
    Some(out)
}

type TxResult<T> = Result<T, ConflictableTransactionError<String>>;

fn add_count(tx: &TransactionalTree, k: &[u8], d: i64) -> TxResult<()> {
    let cur = match tx.get(k)? {
        Some(v) => match <[u8; 8]>::try_from(v.as_ref()) {
            Ok(b) => i64::from_be_bytes(b),
            Err(_) => {
                return Err(ConflictableTransactionError::Abort(format!(
                    "word index count {} is damaged",
                    hex::encode(k)
                )))
            }
        },
        None => 0,
    };
    let n = cur + d;
    if n == 0 {
        tx.remove(k)?;
    } else {
        tx.insert(k, &n.to_be_bytes()[..])?;
    }
    Ok(())
}

/// Writes a batch's documents inside its transaction: the keys a record no longer has are
/// removed, the new ones inserted, the inbox counts moved.
pub fn apply(tx: &[TransactionalTree], docs: &[(RecordId, Option<Doc>)]) -> TxResult<()> {
    let keys = &tx[t::KEYS];
    let stored = &tx[t::DOCS];
    let mut counts: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for (record, doc) in docs {
        let old: BTreeSet<Vec<u8>> = match stored.get(record.0)? {
            Some(v) => match decode_keys(&v) {
                Some(k) => k.into_iter().collect(),
                None => {
                    return Err(ConflictableTransactionError::Abort(format!(
                        "word index of record {record} is damaged"
                    )))
                }
            },
            None => BTreeSet::new(),
        };
        let new_list = doc.as_ref().map(|d| d.keys(*record)).unwrap_or_default();
        let new: BTreeSet<Vec<u8>> = new_list.iter().cloned().collect();
        if old == new {
            continue;
        }
        for k in old.difference(&new) {
            keys.remove(k.as_slice())?;
            if let Some(c) = count_of_key(k) {
                *counts.entry(c).or_default() -= 1;
            }
        }
        for k in new.difference(&old) {
            keys.insert(k.as_slice(), &[][..])?;
            if let Some(c) = count_of_key(k) {
                *counts.entry(c).or_default() += 1;
            }
        }
        if new.is_empty() {
            stored.remove(&record.0)?;
        } else {
            stored.insert(&record.0, encode_keys(&new_list))?;
        }
    }
    for (k, d) in counts {
        if d != 0 {
            add_count(keys, &k, d)?;
        }
    }
    Ok(())
}

/// The document of a stored record, from the stored row, view and entries (the reference
/// [`check`] and [`rebuild`] use).
fn stored_doc(store: &SledStore, record: RecordId, row: &Row) -> Result<Option<Doc>, StoreError> {
    use sync_protocol::store::EntryLookup;
    let view = store.view(record)?;
    let entries = store.record_entries(&record)?;
    Ok(doc_of(Some(row), view.as_ref(), &entries))
}

/// Every stored row with its document, a chunk at a time, in parallel.
fn for_each_doc(
    store: &SledStore,
    mut f: impl FnMut(RecordId, Option<Doc>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    use rayon::prelude::*;
    let mut chunk: Vec<(RecordId, Row)> = Vec::with_capacity(4096);
    let mut run = |chunk: &mut Vec<(RecordId, Row)>| -> Result<(), StoreError> {
        let docs = chunk
            .par_iter()
            .map(|(r, row)| stored_doc(store, *r, row).map(|d| (*r, d)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        chunk.clear();
        for (r, d) in docs {
            f(r, d)?;
        }
        Ok(())
    };
    // A chunk's rows are read by a fresh range and that iterator dropped before the chunk is
    // handled: an iterator held across the build's writes keeps sled from freeing the pages
    // they replace (10 GB at 1,000,000 initiatives before this).
    let rows = store.tree(report_index::t::ROWS);
    let mut after: Option<Vec<u8>> = None;
    loop {
        let range = match &after {
            Some(k) => rows.range::<&[u8], _>((
                std::ops::Bound::Excluded(k.as_slice()),
                std::ops::Bound::Unbounded,
            )),
            None => rows.iter(),
        };
        let mut read = 0usize;
        for kv in range.take(4096) {
            let (k, v) = kv.map_err(|e| err("rx_rows", e))?;
            read += 1;
            after = Some(k.to_vec());
            let (Ok(r), Some(row)) = (<[u8; 16]>::try_from(k.as_ref()), Row::decode(&v)) else {
                continue;
            };
            chunk.push((RecordId(r), row));
        }
        run(&mut chunk)?;
        if read == 0 {
            return Ok(());
        }
    }
}

/// Rebuilds the index from the stored rows: clears the meta key and both trees, writes every
/// document, makes it durable, then sets the key (an interrupted rebuild is redone at the
/// next open).
pub fn rebuild(store: &SledStore) -> Result<(), StoreError> {
    store.remove_meta(META_KEY)?;
    store.durable()?;
    for i in [t::KEYS, t::DOCS] {
        store
            .tree(i)
            .clear()
            .map_err(|e| err(TREES[i - t::KEYS], e))?;
    }
    let mut counts: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    let mut keys = sled::Batch::default();
    let mut docs = sled::Batch::default();
    let mut pending = 0usize;
    let flush = |keys: &mut sled::Batch, docs: &mut sled::Batch| -> Result<(), StoreError> {
        store
            .tree(t::KEYS)
            .apply_batch(std::mem::take(keys))
            .map_err(|e| err("wx_keys", e))?;
        store
            .tree(t::DOCS)
            .apply_batch(std::mem::take(docs))
            .map_err(|e| err("wx_docs", e))
    };
    for_each_doc(store, |r, d| {
        let Some(d) = d else { return Ok(()) };
        let list = d.keys(r);
        for k in &list {
            keys.insert(k.as_slice(), &[][..]);
            if let Some(c) = count_of_key(k) {
                *counts.entry(c).or_default() += 1;
            }
        }
        pending += list.len();
        docs.insert(&r.0, encode_keys(&list));
        if pending > 100_000 {
            pending = 0;
            flush(&mut keys, &mut docs)?;
        }
        Ok(())
    })?;
    for (k, n) in counts {
        keys.insert(k, &n.to_be_bytes()[..]);
    }
    flush(&mut keys, &mut docs)?;
    store.durable()?;
    store.set_meta(META_KEY, &[1])?;
    Ok(())
}

/// Builds the index when [`META_KEY`] is missing (an older node, or an interrupted build).
/// Returns whether it built. The listing index must be complete first.
pub fn build_if_missing(store: &SledStore) -> Result<bool, StoreError> {
    if store.meta(META_KEY)?.is_some() {
        return Ok(false);
    }
    rebuild(store)?;
    Ok(true)
}

/// Compares the index with a recount from the stored rows, views and entries: up to `max`
/// problems in words, and how many there were in all.
pub fn check(store: &SledStore, max: usize) -> Result<(Vec<String>, usize), StoreError> {
    let mut problems = Vec::new();
    let mut count = 0usize;
    let mut problem = |p: String| {
        count += 1;
        if problems.len() < max {
            problems.push(p);
        }
    };
    if store.meta(META_KEY)?.is_none() {
        problem("the word index was never completed".into());
    }
    let keys = store.tree(t::KEYS);
    let docs = store.tree(t::DOCS);
    let mut counts: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    let mut expected_keys = 0usize;
    let mut expected_docs = 0usize;
    let mut found: Vec<String> = Vec::new();
    for_each_doc(store, |r, d| {
        let list = d.map(|d| d.keys(r)).unwrap_or_default();
        let held = docs.get(r.0).map_err(|e| err("wx_docs", e))?;
        let held: BTreeSet<Vec<u8>> = held
            .and_then(|v| decode_keys(&v))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let want: BTreeSet<Vec<u8>> = list.iter().cloned().collect();
        if !list.is_empty() {
            expected_docs += 1;
        }
        if held != want {
            found.push(format!("word index: record {r} is filed under other words"));
        }
        for k in &want {
            expected_keys += 1;
            if let Some(c) = count_of_key(k) {
                *counts.entry(c).or_default() += 1;
            }
            if !keys.contains_key(k).map_err(|e| err("wx_keys", e))? {
                found.push(format!("word index: record {r} is missing a key"));
                break;
            }
        }
        Ok(())
    })?;
    for p in found {
        problem(p);
    }
    for (k, n) in &counts {
        let held = keys
            .get(k)
            .map_err(|e| err("wx_keys", e))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(i64::from_be_bytes);
        if held != Some(*n) {
            problem(format!(
                "word index: inbox count {} is {held:?}, {n} expected",
                String::from_utf8_lossy(&k[2..])
            ));
        }
    }
    let held_keys = keys.len();
    if held_keys != expected_keys + counts.len() {
        problem(format!(
            "word index: {held_keys} keys held, {} expected",
            expected_keys + counts.len()
        ));
    }
    if docs.len() != expected_docs {
        problem(format!(
            "word index: {} records held, {expected_docs} expected",
            docs.len()
        ));
    }
    Ok((problems, count))
}

// ---- the units' words ----------------------------------------------------------------------

/// The words of every unit a search matches records by: each unit's id and name and the names
/// of the units above it (at the time it was built), folded; for each word, the units that
/// have it, in the listing order of units.
pub struct UnitWords {
    changes: u64,
    units: Vec<UnitId>,
    words: HashMap<String, Vec<u32>>,
}

/// A node's cached [`UnitWords`], rebuilt when its trust directory has changed.
#[derive(Default)]
pub struct UnitWordsCache(Mutex<Option<Arc<UnitWords>>>);

impl UnitWords {
    fn build(d: &sync_protocol::directory::Directory, now_ms: u64) -> Self {
        let mut units = d.units();
        units.sort_by(|a, b| a.as_str().as_bytes().cmp(b.as_str().as_bytes()));
        let index: HashMap<&UnitId, u32> = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u, i as u32))
            .collect();
        let fold = |s: &str| -> Vec<String> {
            crate::search::words_of(&fold_for_search(s))
                .map(str::to_string)
                .collect()
        };
        let name = |u: &UnitId| {
            d.name(u)
                .map(|n| n.to_string())
                .unwrap_or_else(|| u.to_string())
        };
        let names: Vec<Vec<String>> = units.iter().map(|u| fold(&name(u))).collect();
        let mut words: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, u) in units.iter().enumerate() {
            let mut mine: BTreeSet<&str> = BTreeSet::new();
            let id_words = fold(u.as_str());
            mine.extend(id_words.iter().map(String::as_str));
            mine.extend(names[i].iter().map(String::as_str));
            for a in d.ancestors_at(u, now_ms) {
                if a == *u {
                    continue;
                }
                match index.get(&a) {
                    Some(j) => mine.extend(names[*j as usize].iter().map(String::as_str)),
                    None => {
                        for w in fold(&name(&a)) {
                            words.entry(w).or_default().push(i as u32);
                        }
                    }
                }
            }
            for w in mine {
                words.entry(w.to_string()).or_default().push(i as u32);
            }
        }
        for v in words.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        UnitWords {
            changes: d.changes(),
            units,
            words,
        }
    }

    fn units_with(&self, word: &str) -> Vec<UnitId> {
        self.words
            .get(word)
            .map(|v| v.iter().map(|i| self.units[*i as usize].clone()).collect())
            .unwrap_or_default()
    }
}

impl UnitWordsCache {
    /// The node's unit words, built on first use and after every change of its directory.
    pub fn get(&self, d: &sync_protocol::directory::Directory, now_ms: u64) -> Arc<UnitWords> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = g.as_ref() {
            if w.changes == d.changes() {
                return w.clone();
            }
        }
        let w = Arc::new(UnitWords::build(d, now_ms));
        *g = Some(w.clone());
        w
    }
}

// ---- streams and pages ---------------------------------------------------------------------

/// A sorted stream of listing tails that can seek.
enum Stream {
    /// The keys of one prefix of a tree, with the tails read ahead of the last seek.
    Prefix {
        tree: sled::Tree,
        prefix: Vec<u8>,
        ahead: std::cell::RefCell<ReadAhead>,
    },
    /// The `rx_list` keys (of one status tag) of the records of these units (sorted by bytes).
    Units {
        list: sled::Tree,
        tag: u8,
        units: Vec<UnitId>,
    },
    /// Either of two.
    Either(Box<Stream>, Box<Stream>),
}

/// The tails a [`Stream::Prefix`] read past its last seek: a run of consecutive tails from
/// `from`, so that a seek that lands in it costs no new range. Grows while seeks land in it,
/// shrinks when they jump past it (a sparse stream leapfrogged by a dense one).
#[derive(Default)]
struct ReadAhead {
    from: Vec<u8>,
    tails: std::collections::VecDeque<Vec<u8>>,
    /// Whether the run reaches the end of the prefix.
    end: bool,
    size: usize,
}

/// Most tails read ahead at one seek.
const MAX_READ_AHEAD: usize = 64;

fn prefix_stream(tree: &sled::Tree, prefix: Vec<u8>) -> Stream {
    Stream::Prefix {
        tree: tree.clone(),
        prefix,
        ahead: std::cell::RefCell::new(ReadAhead {
            size: 2,
            ..ReadAhead::default()
        }),
    }
}

fn origin_of(tail: &[u8]) -> &[u8] {
    let end = tail.iter().position(|b| *b == 0).unwrap_or(tail.len());
    &tail[..end]
}

impl Stream {
    /// The first tail ≥ `from`.
    fn seek(&self, from: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Stream::Prefix {
                tree,
                prefix,
                ahead,
            } => {
                let mut a = ahead.borrow_mut();
                if a.from.as_slice() <= from && (!a.tails.is_empty() || a.end) {
                    while a.tails.front().is_some_and(|t| t.as_slice() < from) {
                        a.tails.pop_front();
                    }
                    if let Some(t) = a.tails.front() {
                        let t = t.clone();
                        a.size = (a.size * 2).min(MAX_READ_AHEAD);
                        return Ok(Some(t));
                    }
                    if a.end {
                        return Ok(None);
                    }
                    a.size = (a.size / 2).max(2);
                }
                let mut start = prefix.clone();
                start.extend_from_slice(from);
                a.from = from.to_vec();
                a.tails.clear();
                a.end = true;
                for kv in tree.range(start..).take(a.size) {
                    let (k, _) = kv.map_err(|e| err("index", e))?;
                    if !k.starts_with(prefix) {
                        break;
                    }
                    a.tails.push_back(k[prefix.len()..].to_vec());
                }
                if a.tails.len() == a.size {
                    a.end = false;
                }
                Ok(a.tails.front().cloned())
            }
            Stream::Units { list, tag, units } => {
                let origin = origin_of(from);
                let mut i = units.partition_point(|u| u.as_str().as_bytes() < origin);
                while let Some(u) = units.get(i) {
                    let prefix = report_index::list_prefix(*tag, u);
                    let start = if u.as_str().as_bytes() == origin {
                        let mut s = vec![*tag];
                        s.extend_from_slice(from);
                        s
                    } else {
                        prefix.clone()
                    };
                    if let Some(kv) = list.range(start..).next() {
                        let (k, _) = kv.map_err(|e| err("rx_list", e))?;
                        if k.starts_with(&prefix) {
                            return Ok(Some(k[1..].to_vec()));
                        }
                    }
                    i += 1;
                }
                Ok(None)
            }
            Stream::Either(a, b) => Ok(match (a.seek(from)?, b.seek(from)?) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, None) => x,
                (None, y) => y,
            }),
        }
    }
}

/// The first tail ≥ `from` present in every stream (leapfrog).
fn next_match(streams: &[Stream], from: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
    let mut cur = from;
    loop {
        let mut agreed = true;
        for s in streams {
            match s.seek(&cur)? {
                None => return Ok(None),
                Some(k) if k != cur => {
                    cur = k;
                    agreed = false;
                }
                Some(_) => {}
            }
        }
        if agreed {
            return Ok(Some(cur));
        }
    }
}

/// What a filtered page asks for; every part is optional and they combine (all must hold).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Folded query words (all must occur).
    pub words: Vec<String>,
    /// List status indexes ([`report_index::STATUS_CODES`]); any of them (none: all).
    pub statuses: Vec<u8>,
    /// Sector.
    pub sector: Option<Sector>,
    /// Programme and phase.
    pub phase: Option<(RecordId, u32)>,
    /// A unit whose subtree (the tree the counters follow) the origins must be in.
    pub unit: Option<UnitId>,
}

/// The records of one page of a filtered listing, in listing order, with how many match (up
/// to `skip + limit + MAX_COUNTED_MATCHES`) and whether that count is exact.
///
/// Cost: each result (and each skipped one) costs one seek per stream (a word, a filter), each
/// O(log n); a seek may pass over the streams' keys between two matches (a stream's own keys)
/// and, for a word found in unit names or a unit filter, over units with no record.
pub fn filtered(
    node: &Node,
    filter: &Filter,
    skip: u64,
    limit: usize,
    now_ms: u64,
) -> Result<(Vec<RecordId>, u64, bool), StoreError> {
    let store = node.store();
    let keys = store.tree(t::KEYS).clone();
    let list = store.tree(report_index::t::LIST).clone();
    let tags = if filter.statuses.is_empty() {
        vec![report_index::ALL]
    } else {
        filter.statuses.clone()
    };
    let mut streams: Vec<Stream> = Vec::new();
    let root = node.directory().root().clone();
    let units = match filter.unit.as_ref().filter(|u| **u != root) {
        Some(u) => {
            let mut units = vec![u.clone()];
            let mut i = 0;
            while i < units.len() {
                let c = node.tree_children(&units[i]).to_vec();
                units.extend(c);
                i += 1;
            }
            units.sort_by(|a, b| a.as_str().as_bytes().cmp(b.as_str().as_bytes()));
            units.dedup();
            Some(units)
        }
        None => None,
    };
    let base = tags
        .iter()
        .map(|tag| match &units {
            Some(units) => Stream::Units {
                list: list.clone(),
                tag: *tag,
                units: units.clone(),
            },
            None => prefix_stream(&list, vec![*tag]),
        })
        .reduce(|a, b| Stream::Either(Box::new(a), Box::new(b)));
    // Every word, sector and phase key is of a listed record: without a status or unit
    // filter, the listing itself need not be read.
    let filtered_base = !filter.statuses.is_empty() || units.is_some();
    let others = !filter.words.is_empty() || filter.sector.is_some() || filter.phase.is_some();
    if filtered_base || !others {
        streams.extend(base);
    }
    if let Some(s) = filter.sector {
        streams.push(prefix_stream(&keys, sector_prefix(s)));
    }
    if let Some((p, ph)) = filter.phase {
        streams.push(prefix_stream(&keys, phase_prefix(p, ph)));
    }
    if !filter.words.is_empty() {
        let uw = node.unit_words(now_ms);
        for w in &filter.words {
            let text = prefix_stream(&keys, word_prefix(w));
            let units = uw.units_with(w);
            streams.push(if units.is_empty() {
                text
            } else {
                Stream::Either(
                    Box::new(text),
                    Box::new(Stream::Units {
                        list: store.tree(report_index::t::LIST).clone(),
                        tag: report_index::ALL,
                        units,
                    }),
                )
            });
        }
    }
    // The most selective-looking stream first: words, then filters, then the base.
    streams.reverse();
    let mut out = Vec::with_capacity(limit);
    let mut n = 0u64;
    let stop = skip
        .saturating_add(limit as u64)
        .saturating_add(MAX_COUNTED_MATCHES);
    let mut cur = Vec::new();
    while n < stop {
        let Some(k) = next_match(&streams, cur)? else {
            return Ok((out, n, true));
        };
        if n >= skip && out.len() < limit {
            if let Ok(r) = <[u8; 16]>::try_from(&k[k.len().saturating_sub(16)..]) {
                out.push(RecordId(r));
            }
        }
        n += 1;
        cur = k;
        cur.push(0);
    }
    let more = next_match(&streams, cur)?.is_some();
    Ok((out, n, !more))
}

// ---- the inbox -----------------------------------------------------------------------------

fn count_at(tree: &sled::Tree, k: &[u8]) -> Result<u64, StoreError> {
    Ok(tree
        .get(k)
        .map_err(|e| err("wx_keys", e))?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(i64::from_be_bytes)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0))
}

/// The prefixes of `unit`'s inbox, in inbox order, with their counts: its own initiatives
/// waiting for its submission, then what each child (by id) submitted or approved.
fn inbox_parts(node: &Node, unit: &UnitId) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
    let keys = node.store().tree(t::KEYS);
    let mut out = vec![(own_prefix(unit), count_at(keys, &count_key(OWN, unit))?)];
    let mut children = node.tree_children(unit).to_vec();
    children.sort_by(|a, b| a.as_str().as_bytes().cmp(b.as_str().as_bytes()));
    for c in children {
        let n = count_at(keys, &count_key(FROM, &c))?;
        if n > 0 {
            out.push((from_prefix(&c), n));
        }
    }
    Ok(out)
}

/// How many initiatives wait for this node's unit's decision: O(children).
pub fn inbox_count(node: &Node) -> Result<u64, StoreError> {
    Ok(inbox_parts(node, node.unit())?.iter().map(|(_, n)| n).sum())
}

/// The records of one page of this node's inbox (what waits for its unit's decision: its own
/// initiatives to submit, and what its children submitted or approved), with the total.
/// O(children + page): whole parts are skipped by their counts.
pub fn inbox(node: &Node, skip: u64, limit: usize) -> Result<(Vec<RecordId>, u64), StoreError> {
    let parts = inbox_parts(node, node.unit())?;
    let total = parts.iter().map(|(_, n)| n).sum();
    let keys = node.store().tree(t::KEYS);
    let mut skip = skip;
    let mut out = Vec::with_capacity(limit);
    for (prefix, n) in parts {
        if out.len() >= limit {
            break;
        }
        if skip >= n {
            skip -= n;
            continue;
        }
        for k in keys.scan_prefix(&prefix).keys() {
            let k = k.map_err(|e| err("wx_keys", e))?;
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if let Ok(r) = <[u8; 16]>::try_from(&k[k.len().saturating_sub(16)..]) {
                out.push(RecordId(r));
            }
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok((out, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort_in_listing_order() {
        let keys = vec![vec![1, 2, 3], vec![], vec![0; 70]];
        assert_eq!(decode_keys(&encode_keys(&keys)), Some(keys));
        assert_eq!(decode_keys(&[0, 0, 0, 5, 1]), None);
        let a = UnitId::new("cdcs-a").unwrap();
        let ab = UnitId::new("cdcs-a-b").unwrap();
        // The tail orders by origin, then record, exactly as `rx_list` does.
        let (ta, tab) = (tail(&a, RecordId([9; 16])), tail(&ab, RecordId([0; 16])));
        assert!(ta < tab);
        assert_eq!(
            report_index::list_key(report_index::ALL, &a, RecordId([9; 16]))[1..],
            ta[..]
        );
        let mut k = from_prefix(&ab);
        k.extend_from_slice(&tab);
        assert_eq!(count_of_key(&k), Some(count_key(FROM, &ab)));
        assert_eq!(count_of_key(&word_prefix("x")), None);
    }
}
