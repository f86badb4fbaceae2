//! `sangkien node check`: re-verifies every stored entry and recomputes everything derived from
//! the entries (indexes, views, heads, targets, counters, the counters' tree, the quarantine's
//! wait and arrival indexes), reporting each disagreement; `--repair` rewrites the derived trees from the
//! entries. Neither ever deletes an entry: entries are the truth.
//!
//! The walk streams: every expected row is compared with the stored one by key, and each
//! tree's length with the number of expected rows, so a check needs memory for the views
//! (about 100 bytes per record), not for the whole store.

use std::collections::BTreeSet;

use sync_protocol::audit::verify_record;
use sync_protocol::entry::{Entry, EntryBody};
use sync_protocol::store::{EntryStore, StoreError};
use sync_protocol::verify::{verify_entry, VerifyError, VerifyOptions};

use crate::counters::{self, Tally, View};
use crate::node::{place_of, Node, NodeError};
use crate::report_index;
use crate::sled_store::{self, err, index_rows, t, view_rows, TREES};

/// Every tree: the store's, then the report index's.
const ALL_TREES: usize = TREES.len() + report_index::TREES.len();

/// A tree's name.
fn tree_name(i: usize) -> &'static str {
    TREES
        .get(i)
        .copied()
        .or_else(|| report_index::TREES.get(i - TREES.len()).copied())
        .unwrap_or("?")
}

/// The derived trees: the store's and the report index's.
fn derived() -> impl Iterator<Item = usize> {
    t::DERIVED.into_iter().chain(report_index::t::ALL)
}

/// Most disagreements listed one by one; beyond, only counted.
pub const MAX_LISTED_PROBLEMS: usize = 200;

/// What a check found.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct CheckReport {
    /// Entries re-verified.
    pub entries: usize,
    /// Records recomputed.
    pub records: usize,
    /// Counters compared.
    pub counters: usize,
    /// Storage disagreements (the first [`MAX_LISTED_PROBLEMS`]).
    pub problems: Vec<String>,
    /// How many disagreements in all.
    pub problem_count: usize,
    /// Entries that are stored intact but no longer verify (e.g. signed by a key revoked since):
    /// reported by `sangkien verify`, not a storage fault.
    pub findings: usize,
    /// Whether the derived trees were rewritten.
    pub repaired: bool,
}

impl CheckReport {
    /// Whether everything agreed.
    pub fn is_clean(&self) -> bool {
        self.problem_count == 0
    }
    fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(p);
        }
    }
}

/// Where expected rows go: compared with the store, or written into it.
enum Sink<'a> {
    Compare {
        report: &'a mut CheckReport,
        counts: [usize; ALL_TREES],
        seen: BTreeSet<(usize, Vec<u8>)>,
    },
    Write(&'a sled_store::SledStore),
}

impl Sink<'_> {
    fn row(
        &mut self,
        store: &sled_store::SledStore,
        tree: usize,
        k: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<(), StoreError> {
        match self {
            Sink::Write(s) => {
                s.tree(tree)
                    .insert(k, v)
                    .map_err(|e| err(tree_name(tree), e))?;
            }
            Sink::Compare {
                report,
                counts,
                seen,
            } => {
                // Rows several entries share (a unit's path) count once.
                if tree == t::UNIT_PATHS && !seen.insert((tree, k.clone())) {
                    return Ok(());
                }
                counts[tree] += 1;
                let got = store
                    .tree(tree)
                    .get(&k)
                    .map_err(|e| err(tree_name(tree), e))?;
                match got {
                    None => report.problem(format!(
                        "{}: missing row {}",
                        tree_name(tree),
                        hex::encode(&k)
                    )),
                    Some(g) if g.as_ref() != v.as_slice() => report.problem(format!(
                        "{}: row {} differs",
                        tree_name(tree),
                        hex::encode(&k)
                    )),
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}

impl Sink<'_> {
    /// A `by_unit` row. Its path is the unit's path at the entry's time as the node knew it
    /// when it stored the entry; a certificate that arrived later (a re-parenting dated before
    /// the entry) may say otherwise now. A check therefore accepts the row under any path the
    /// unit has had; a repair writes it under the path known now. Returns the path used.
    fn by_unit(
        &mut self,
        store: &sled_store::SledStore,
        place: &sled_store::Place,
        k: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        if let Sink::Compare { .. } = self {
            let held = |key: &[u8]| {
                store
                    .tree(t::BY_UNIT)
                    .contains_key(key)
                    .map_err(|e| err("by_unit", e))
            };
            if !held(&k)? {
                let suffix = k[place.path.len()..].to_vec();
                for alt in store.paths_of(&place.unit)? {
                    let mut ak = alt.clone();
                    ak.extend_from_slice(&suffix);
                    if held(&ak)? {
                        self.row(store, t::BY_UNIT, ak, v)?;
                        return Ok(alt);
                    }
                }
            }
        }
        self.row(store, t::BY_UNIT, k, v)?;
        Ok(place.path.clone())
    }
}

/// Checks the node's store; with `repair`, rewrites every derived tree from the entries.
pub fn run(node: &mut Node, now_ms: u64, repair: bool) -> Result<CheckReport, NodeError> {
    let mut report = CheckReport::default();
    let mut check_sink = Sink::Compare {
        report: &mut report,
        counts: [0; ALL_TREES],
        seen: BTreeSet::new(),
    };
    walk(node, now_ms, &mut check_sink)?;
    let Sink::Compare { counts, .. } = check_sink else {
        unreachable!("a compare sink stays one")
    };
    let store = node.store().clone();
    for i in derived() {
        let held = store.tree(i).len();
        if held != counts[i] {
            report.problem(format!(
                "{}: {} rows held, {} expected from the entries",
                tree_name(i),
                held,
                counts[i]
            ));
        }
    }
    if store.meta(report_index::META_KEY)?.is_none() {
        report.problem("the report and listing index was never completed".into());
    }
    if store.meta("derived_stale")?.is_some() {
        report.problem("entries were stored without their derived state".into());
    }
    // The sync index (its own tree and meta key): compared with a rebuild from the entries.
    // When it alone disagrees, a repair rebuilds it alone.
    let others_clean = report.is_clean();
    let (index_problems, index_count) = crate::sync_index::check(&store, MAX_LISTED_PROBLEMS)?;
    let listed = index_problems.len();
    for p in index_problems {
        report.problem(p);
    }
    report.problem_count += index_count - listed;
    let sync_index_clean = index_count == 0;
    // The word index (its own trees and meta key): compared with a recount from the rows,
    // views and entries; rebuilt alone when only it disagrees.
    let (word_problems, word_count) =
        crate::search_index::check(&store, MAX_LISTED_PROBLEMS.saturating_sub(listed))?;
    let words_listed = word_problems.len();
    for p in word_problems {
        report.problem(p);
    }
    report.problem_count += word_count - words_listed;
    if repair && !report.is_clean() {
        if others_clean {
            if !sync_index_clean {
                crate::sync_index::rebuild(&store)?;
            }
            if word_count > 0 {
                crate::search_index::rebuild(&store)?;
            }
        } else {
            rebuild(node, now_ms)?;
        }
        report.repaired = true;
    }
    Ok(report)
}

/// Rewrites every derived tree from the entries and the quarantine, then makes it durable.
/// Entries are never removed. While it runs, `meta.rebuilding` is set, so an interrupted
/// rebuild is reported by the next check.
pub fn rebuild(node: &mut Node, now_ms: u64) -> Result<(), NodeError> {
    let store = node.store().clone();
    store.set_meta("rebuilding", &[1])?;
    for i in derived() {
        store.tree(i).clear().map_err(|e| err(tree_name(i), e))?;
    }
    // First the rows that need nothing but the entry (record, change, trust and kind
    // indexes): the directory and the unit paths of decisions are read through them.
    for kv in store.tree(t::ENTRIES).iter() {
        let (_, v) = kv.map_err(|e| err("entries", e))?;
        if let Ok(e) = Entry::decode(&v) {
            for (tree, k, v) in index_rows(&e, None) {
                store
                    .tree(tree)
                    .insert(k, v)
                    .map_err(|e| err(tree_name(tree), e))?;
            }
        }
    }
    node.reload_directory()?;
    walk(node, now_ms, &mut Sink::Write(&store))?;
    crate::sync_index::rebuild(&store)?;
    store.set_meta(report_index::META_KEY, &[1])?;
    crate::search_index::rebuild(&store)?;
    store.remove_meta("derived_stale")?;
    store.remove_meta("rebuilding")?;
    store.durable()?;
    Ok(())
}

/// Migrates a database of an older schema, then stores the current version. From schema 1:
/// rebuilds everything derived. From schema 2 (quarantine values without their arrival time):
/// rewrites the quarantine values only, with `now_ms` as their arrival. From schema 4 (`trust`
/// rows without the entry's bytes): fills those rows, one pass over the trust index.
pub fn migrate(node: &mut Node, now_ms: u64) -> Result<(), NodeError> {
    if node.store().needs_migration().is_some_and(|v| v < 2) {
        rebuild(node, now_ms)?;
    }
    node.store_mut().finish_migration(now_ms)?;
    Ok(())
}

/// Produces every derived row from the entries, the directory and the quarantine.
fn walk(node: &Node, now_ms: u64, sink: &mut Sink<'_>) -> Result<(), NodeError> {
    let store = node.store();
    let d = node.directory();
    let opts = VerifyOptions {
        local_unit: Some(node.unit()),
        now_ms,
        complete: true,
    };
    let mut findings = 0usize;
    let mut problems: Vec<String> = Vec::new();
    let mut entries = 0usize;
    // Entries: intact, and their index rows.
    for kv in store.tree(t::ENTRIES).iter() {
        let (k, v) = kv.map_err(|e| err("entries", e))?;
        entries += 1;
        let e = match Entry::decode(&v) {
            Ok(e) => e,
            Err(x) => {
                problems.push(format!("entry {}: {x}", hex::encode(&k)));
                continue;
            }
        };
        if e.hash().0.as_slice() != k.as_ref() {
            problems.push(format!(
                "entry stored under {} hashes to {}",
                hex::encode(&k),
                e.hash().to_hex()
            ));
            continue;
        }
        if matches!(
            e.body(),
            EntryBody::Certificate(_) | EntryBody::Revocation(_) | EntryBody::UnitEnd(_)
        ) {
            match verify_entry(store, d, &e, opts) {
                Ok(_) => {}
                Err(VerifyError::Store(s)) => return Err(s.into()),
                Err(_) => findings += 1,
            }
        }
        let place = place_of(d, store, &e)?;
        for (tree, k, v) in index_rows(&e, place.as_ref()) {
            match (tree, &place) {
                // Emitted below, with the path the entry is actually under.
                (t::UNIT_PATHS, _) => {}
                (t::BY_UNIT, Some(p)) => {
                    let used = sink.by_unit(store, p, k, v)?;
                    let mut uk = p.unit.as_str().as_bytes().to_vec();
                    uk.push(0);
                    uk.extend_from_slice(&used);
                    sink.row(store, t::UNIT_PATHS, uk, Vec::new())?;
                }
                _ => sink.row(store, tree, k, v)?,
            }
        }
    }
    // Records: views, heads, targets; then the counters from the views.
    let mut views: Vec<View> = Vec::new();
    let mut rows: Vec<report_index::Row> = Vec::new();
    let mut records = 0usize;
    for r in store.records()? {
        records += 1;
        let rep = verify_record(store, d, r, Some(node.unit()), now_ms)?;
        findings += rep.problems.iter().filter(|p| p.entry.is_some()).count();
        let view = counters::view_from_report(store, &rep)?;
        for (tree, k, v) in view_rows(r, view.as_ref()) {
            sink.row(store, tree, k, v)?;
        }
        if let Some(v) = view {
            views.push(v);
        }
        if rep.header.as_ref().map(|h| h.kind) == Some(sync_protocol::entry::RecordKind::Programme)
        {
            sink.row(
                store,
                report_index::t::LIST,
                report_index::programme_key(r),
                Vec::new(),
            )?;
        }
        if let Some(row) = report_index::row_from_report(store, &rep)? {
            sink.row(store, report_index::t::ROWS, r.0.to_vec(), row.encode())?;
            for k in [
                report_index::list_key(row.status, &row.origin, r),
                report_index::list_key(report_index::ALL, &row.origin, r),
            ] {
                sink.row(store, report_index::t::LIST, k, Vec::new())?;
            }
            // The series and counts need neither title nor text.
            rows.push(report_index::Row {
                title: String::new(),
                text: String::new(),
                ..row
            });
        }
    }
    for (k, n) in report_index::recount_sub(rows.iter(), |u| report_index::directory_chain(d, u))? {
        sink.row(
            store,
            report_index::t::SUB,
            k,
            report_index::count_value(n).to_vec(),
        )?;
    }
    let expected = counters::recount_counters(views.iter(), d)?;
    let counters_n = expected.len();
    for (k, tally) in expected {
        sink.row(store, t::COUNTERS, k, tally.encode().to_vec())?;
    }
    // The counters' tree: every unit's report parent (a merged unit under its successor).
    for u in d.units() {
        if let Some(p) = d.report_parent(&u) {
            sink.row(
                store,
                t::SHAPE,
                u.as_str().as_bytes().to_vec(),
                p.as_str().as_bytes().to_vec(),
            )?;
        }
    }
    // The quarantine's wait and arrival indexes.
    for (h, key) in store.quarantine_rows()? {
        let mut k = key;
        k.extend_from_slice(&h.0);
        sink.row(store, t::Q_WAIT, k, Vec::new())?;
    }
    for k in store.quarantine_since_rows()? {
        sink.row(store, t::Q_SINCE, k, Vec::new())?;
    }
    if let Sink::Compare { report, .. } = sink {
        report.entries = entries;
        report.records = records;
        report.counters = counters_n;
        report.findings = findings;
        for p in problems {
            report.problem(p);
        }
        // Damaged counter values are named as such.
        for kv in store.tree(t::COUNTERS).iter() {
            let (k, v) = kv.map_err(|e| err("counters", e))?;
            if Tally::decode(&v).is_none() {
                report.problem(format!(
                    "counters: row {} is not a counter",
                    hex::encode(&k)
                ));
            }
        }
        if store.meta("rebuilding")?.is_some() {
            report.problem("a rebuild was interrupted".into());
        }
    }
    Ok(())
}
