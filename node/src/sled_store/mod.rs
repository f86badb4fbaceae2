//! The node's store over sled: entries, indexes, per-record views, materialised counters and
//! the quarantine, all changed together in one sled transaction per batch, then made durable.
//!
//! Key layout (an API boundary: changing it needs a schema version bump). `path` is a unit
//! path: the unit ids from the root down to the unit, each followed by `/`
//! (`tld/ldld-phu-yen/cdcs-a/`), as the certificates held say it was **at the entry's time**.
//!
//! | tree         | key                                          | value                      |
//! |--------------|----------------------------------------------|----------------------------|
//! | `entries`    | entry hash (32)                              | canonical entry bytes      |
//! | `by_record`  | record id (16) ‖ entry hash (32)             | empty                      |
//! | `by_change`  | automerge change hash (32)                   | entry hash (32)            |
//! | `trust`      | time ms (8, BE) ‖ hash (32)                  | canonical entry bytes (schema 5; empty before) |
//! | `by_kind`    | retired in schema 4 (nothing read it); emptied by the migration | |
//! | `by_unit`    | path ‖ 0 ‖ time ms (8, BE) ‖ hash (32)       | record id (16) or empty    |
//! | `unit_paths` | unit ‖ 0 ‖ path                              | empty (written once per unit and path) |
//! | `heads`      | retired in schema 4 (nothing read it); emptied by the migration | |
//! | `views`      | record id (16)                               | [`View`] encoding          |
//! | `counters`   | `o`/`s` ‖ unit ‖ 0 ‖ programme (16) ‖ phase (4) | [`Tally`] (fixed 144 bytes) |
//! | `targets`    | programme (16) ‖ phase (4) ‖ assigner ‖ 0 ‖ record (16) | [`View`] of the target |
//! | `shape`      | unit                                         | parent the counters use    |
//! | `quarantine` | entry hash (32)                              | 1 ‖ since ms (8) ‖ source length (1) ‖ source ‖ wait key length (2) ‖ wait key ‖ what it waits for ‖ 0 ‖ entry bytes (see [`crate::quarantine`]) |
//! | `q_wait`     | wait key ‖ entry hash (32)                   | empty                      |
//! | `meta`       | `schema_version`, `federation`, `unit`       | values                     |
//! | `q_since`    | since ms (8, BE) ‖ entry hash (32)           | empty                      |
//! | `q_expired`  | expired ms (8, BE) ‖ entry hash (32)         | JSON record of what expired (a log, not derived) |
//!
//! A subtree's entries are one key range of `by_unit` (the prefix of the unit's path), plus,
//! for units moved since, the ranges of their earlier paths (`unit_paths`). Entries are never
//! re-keyed when the tree changes: the path is derived from certificate history (DESIGN §9.6),
//! not copied into records.
//!
//! Wait keys: `c` ‖ unit ‖ 0 (a certificate of the unit), `e` ‖ hash (an entry), `m` ‖ change
//! hash, `r` ‖ record id, `?` (unknown: retried on every import; only entries quarantined by
//! schema version 1 have it).
//!
//! A batch is written in one sled transaction over all trees, then made durable: sled's
//! `flush()` (which ends in `sync_file_range` and so does not survive a power cut), then
//! `fsync` of every database file and of the directory, once per batch, before the caller
//! acknowledges.
//!
//! Before sled opens, [`clear_open_leftovers`] removes what an interrupted open or creation
//! can leave behind and sled 0.34 would take for data: a `snap.*.generating` file (sled writes
//! its snapshot there, fsyncs it and only then renames it, so such a file is never one it
//! needs; killed before the rename, sled would take it as the newest snapshot and refuse to
//! open ever after) and a `conf` cut short (written unsynced when the database is created).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use sync_protocol::entry::{Entry, EntryBody, Revocation, UnitEnd};
use sync_protocol::ids::{ChangeHash, EntryHash, RecordId, UnitId};
use sync_protocol::store::{EntryLookup, EntryStore, StoreError};
use sync_protocol::verify::{Missing, VerifiedEntry};

use crate::counters::{self, counter_key, Tally, View, OWN, SUBTREE};
use crate::quarantine;

mod commit;
mod open;
mod reads;
mod schema;

use open::Synced;
pub use open::{
    clear_open_leftovers, set_cache_bytes, MAX_CACHE_MB, MIN_CACHE_MB, SLED_CACHE_BYTES,
};
pub use schema::{OLDEST_MIGRATABLE_SCHEMA, SCHEMA_VERSION};

/// Tree names, in the order of [`SledStore::trees`].
pub const TREES: [&str; 17] = [
    "entries",
    "by_record",
    "by_change",
    "trust",
    "by_kind",
    "by_unit",
    "unit_paths",
    "heads",
    "views",
    "counters",
    "targets",
    "shape",
    "quarantine",
    "q_wait",
    "meta",
    "q_since",
    "q_expired",
];
/// Positions in [`TREES`].
pub mod t {
    /// entries
    pub const ENTRIES: usize = 0;
    /// by_record
    pub const BY_RECORD: usize = 1;
    /// by_change
    pub const BY_CHANGE: usize = 2;
    /// trust
    pub const TRUST: usize = 3;
    /// by_kind
    pub const BY_KIND: usize = 4;
    /// by_unit
    pub const BY_UNIT: usize = 5;
    /// unit_paths
    pub const UNIT_PATHS: usize = 6;
    /// heads
    pub const HEADS: usize = 7;
    /// views
    pub const VIEWS: usize = 8;
    /// counters
    pub const COUNTERS: usize = 9;
    /// targets
    pub const TARGETS: usize = 10;
    /// shape
    pub const SHAPE: usize = 11;
    /// quarantine
    pub const QUARANTINE: usize = 12;
    /// q_wait
    pub const Q_WAIT: usize = 13;
    /// meta
    pub const META: usize = 14;
    /// q_since
    pub const Q_SINCE: usize = 15;
    /// q_expired (a log, not derived)
    pub const Q_EXPIRED: usize = 16;
    /// Trees derived from entries (and the quarantine): rebuilt by `node check --repair`.
    pub const DERIVED: [usize; 11] = [
        BY_RECORD, BY_CHANGE, TRUST, BY_UNIT, UNIT_PATHS, VIEWS, COUNTERS, TARGETS, SHAPE, Q_WAIT,
        Q_SINCE,
    ];
    /// Trees schema 4 no longer writes (`by_kind`, `heads`: nothing read them, and each cost a
    /// random write per entry); the migration empties them.
    pub const RETIRED: [usize; 2] = [BY_KIND, HEADS];
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the database (sled locks it for one process: a running
    /// `sangkien node run`, or another command).
    #[error("the database at {path} is in use by another process (sled lets one process open it)")]
    Locked {
        /// the directory
        path: PathBuf,
    },
    /// sled refused the files: corrupt, truncated, or locked by another process.
    #[error("cannot open the database at {path}: {source} (the files were left untouched)")]
    Sled {
        /// the directory
        path: PathBuf,
        /// the cause
        source: sled::Error,
    },
    /// Another schema version.
    #[error("the database at {path} has schema version {found}; this sangkien reads version {SCHEMA_VERSION} (and migrates from {OLDEST_MIGRATABLE_SCHEMA})")]
    Version {
        /// the directory
        path: PathBuf,
        /// the version found
        found: String,
    },
    /// Making the new database durable failed.
    #[error("cannot make the database at {path} durable: {reason}")]
    Durable {
        /// the directory
        path: PathBuf,
        /// the cause
        reason: String,
    },
}

/// Entries, indexes, counters and quarantine in sled.
#[derive(Clone)]
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    trees: Vec<sled::Tree>,
    /// Held (shared) while a backup reads, (exclusive) while a batch commits: a backup sees
    /// whole batches only.
    commit_lock: std::sync::Arc<std::sync::RwLock<()>>,
    /// What the last `durable` synced (so that unchanged files are not synced again).
    synced: std::sync::Arc<std::sync::Mutex<BTreeMap<PathBuf, Synced>>>,
    /// Schema found at open, when older than [`SCHEMA_VERSION`]: the node migrates.
    migrate_from: Option<u32>,
    /// How many times [`SledStore::durable`] completed (tests: a batch acknowledged is
    /// covered by a sync).
    durable_rounds: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The decoded entries of the records written last ([`SledStore::record_entries_kept`]).
    kept: std::sync::Arc<std::sync::Mutex<reads::KeptRecords>>,
}

pub(crate) fn err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{what}: {e}"))
}

/// Where an entry sits in the unit tree: the unit and its path at the entry's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The unit (a record's owner; the unit a certificate or revocation is about; the root).
    pub unit: UnitId,
    /// Its path at the entry's time, `/`-terminated ids from the root.
    pub path: Vec<u8>,
}

/// Everything one batch changes, computed by the node before the transaction.
#[derive(Default)]
pub struct Commit {
    /// Verified entries, each with its place in the tree.
    pub accepted: Vec<(VerifiedEntry, Option<Place>)>,
    /// Records whose view or heads may have changed: new view and heads.
    pub records: Vec<(RecordId, Option<View>, Vec<ChangeHash>)>,
    /// The same records' rows in the report and listing index ([`crate::report_index`]).
    pub rows: Vec<(RecordId, Option<crate::report_index::Row>)>,
    /// The same records' documents in the word index ([`crate::search_index`]).
    pub search: Vec<(RecordId, Option<crate::search_index::Doc>)>,
    /// Units (re)certified by this batch, in acceptance order, with their parent at
    /// [`counters::TREE_TIME`] (`None` for the root).
    pub parents: Vec<(UnitId, Option<UnitId>)>,
    /// New quarantine entries: entry, wait key, what it waits for.
    pub quarantine_add: Vec<(Entry, Vec<u8>, String)>,
    /// Leaving quarantine (accepted or rejected).
    pub quarantine_remove: Vec<EntryHash>,
    /// When the new quarantine entries arrived (Unix ms); `None`: the wall clock at commit.
    /// An entry already held keeps its own.
    pub quarantine_since_ms: Option<u64>,
    /// Where they came from (`peer:UNIT`, `bundle:FILE`, …; empty when unknown).
    pub quarantine_source: String,
}

/// The wait key of what an entry waits for.
pub fn wait_key(m: &Missing) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    match m {
        Missing::Certificate { unit, .. } => {
            k.push(b'c');
            k.extend_from_slice(unit.as_str().as_bytes());
            k.push(0);
        }
        Missing::Entry(h) => {
            k.push(b'e');
            k.extend_from_slice(&h.0);
        }
        Missing::Change(c) => {
            k.push(b'm');
            k.extend_from_slice(&c.0);
        }
        Missing::Record(r) => {
            k.push(b'r');
            k.extend_from_slice(&r.0);
        }
    }
    k
}

/// The wait keys an entry satisfies when it is stored.
pub fn provides(e: &Entry) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(3);
    let mut k = vec![b'e'];
    k.extend_from_slice(&e.hash().0);
    out.push(k);
    match e.body() {
        EntryBody::Certificate(c) => {
            let mut k = vec![b'c'];
            k.extend_from_slice(c.unit.as_str().as_bytes());
            k.push(0);
            out.push(k);
        }
        // An ancestor's revocation can void a unit's self-revocation: what waits on the
        // unit's key is retried. An end names the unit too.
        EntryBody::Revocation(Revocation { unit, .. })
        | EntryBody::UnitEnd(UnitEnd { unit, .. }) => {
            let mut k = vec![b'c'];
            k.extend_from_slice(unit.as_str().as_bytes());
            k.push(0);
            out.push(k);
        }
        EntryBody::RecordChange(c) => {
            let mut k = vec![b'm'];
            k.extend_from_slice(&c.change.hash().0);
            out.push(k);
        }
        _ => {}
    }
    if let Some(r) = e.body().record() {
        let mut k = vec![b'r'];
        k.extend_from_slice(&r.0);
        out.push(k);
    }
    out
}

/// The index rows of one entry: (tree, key, value). Pure: used by the batch write and by the
/// rebuild, which `node check` compares.
pub fn index_rows(e: &Entry, place: Option<&Place>) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let h = e.hash();
    let mut rows = Vec::with_capacity(6);
    let record = e.body().record();
    if let Some(r) = record {
        let mut k = r.0.to_vec();
        k.extend_from_slice(&h.0);
        rows.push((t::BY_RECORD, k, Vec::new()));
    }
    let time = e.time_ms().to_be_bytes();
    match e.body() {
        EntryBody::RecordChange(c) => {
            rows.push((t::BY_CHANGE, c.change.hash().0.to_vec(), h.0.to_vec()));
        }
        EntryBody::Genesis(_)
        | EntryBody::Certificate(_)
        | EntryBody::Revocation(_)
        | EntryBody::UnitEnd(_) => {
            // The entry's bytes again (schema 5): opening a node builds its trust directory by
            // reading this one tree in order, instead of one random read per certificate in
            // `entries` (which touches every page of that tree, so costs O(records)).
            let mut k = time.to_vec();
            k.extend_from_slice(&h.0);
            rows.push((t::TRUST, k, e.bytes().to_vec()));
        }
        _ => {}
    }
    if let Some(p) = place {
        let mut k = p.path.clone();
        k.push(0);
        k.extend_from_slice(&time);
        k.extend_from_slice(&h.0);
        let v = record.map(|r| r.0.to_vec()).unwrap_or_default();
        rows.push((t::BY_UNIT, k, v));
        let mut k = p.unit.as_str().as_bytes().to_vec();
        k.push(0);
        k.extend_from_slice(&p.path);
        rows.push((t::UNIT_PATHS, k, Vec::new()));
    }
    rows
}

/// The rows a record's view makes: (tree, key, value).
pub fn view_rows(record: RecordId, view: Option<&View>) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let mut rows = Vec::with_capacity(2);
    if let Some(v) = view {
        rows.push((t::VIEWS, record.0.to_vec(), v.encode()));
        if let View::Target {
            assigner,
            programme,
            phase,
            ..
        } = v
        {
            rows.push((
                t::TARGETS,
                counters::target_key(*programme, *phase, assigner, record),
                v.encode(),
            ));
        }
    }
    rows
}

/// Splits a quarantine value (schema 3, or 2): wait key, what it waits for, entry bytes.
fn split_quarantine(v: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    quarantine::decode(v).map(|h| (h.key, h.missing, h.entry))
}
