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

/// sled page cache per node by default: small, so that the demo can hold twenty nodes in one
/// process. A node holding a large subtree (a province, the national node) should set a larger
/// one ([`set_cache_bytes`]; `--cache-mb`, `SANGKIEN_CACHE_MB`, `cache_mb` in node.toml): with
/// random keys, every page that does not fit is read back from the log on each write.
pub const SLED_CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// Smallest page cache accepted, in MiB.
pub const MIN_CACHE_MB: u64 = 4;
/// Largest page cache accepted, in MiB (the machines in use have 24 GiB).
pub const MAX_CACHE_MB: u64 = 16 * 1024;

static CACHE_BYTES: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(SLED_CACHE_BYTES);

/// Sets the page cache of the stores this process opens from now on, in MiB, within
/// [`MIN_CACHE_MB`]..=[`MAX_CACHE_MB`]; returns the value refused otherwise.
pub fn set_cache_bytes(mb: u64) -> Result<(), u64> {
    if !(MIN_CACHE_MB..=MAX_CACHE_MB).contains(&mb) {
        return Err(mb);
    }
    CACHE_BYTES.store(mb * 1024 * 1024, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// The schema this code reads and writes.
pub const SCHEMA_VERSION: u32 = 5;
/// The oldest schema this code migrates from (by rebuilding everything derived from entries).
pub const OLDEST_MIGRATABLE_SCHEMA: u32 = 1;

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

/// Removes, before sled opens the database in `path`, the leftovers of an interrupted open or
/// creation that sled 0.34 would otherwise read as data and then refuse to open ever after:
///
/// - every `snap.<lsn>.generating`: sled writes a snapshot there, fsyncs it, and only then
///   renames it to `snap.<lsn>` (`pagecache/snapshot.rs`, `write_snapshot`); but it lists
///   snapshots by the prefix `snap.` alone and takes the last in sort order, which is the
///   `.generating` one. Such a file is never needed: the log it summarises is intact.
/// - a `conf` cut short (a strict prefix of what sled writes for the node's configuration): sled
///   writes it, unsynced, only when it creates the database, and writes it again (the same
///   defaults) when it is absent. A `conf` damaged otherwise is left for sled to refuse.
///
/// Done under sled's own lock (an exclusive `flock` on the `db` file), so the files of a
/// database open in another process are never touched: that is then [`OpenError::Locked`].
/// The directory is fsynced when anything was removed. Returns the file names removed.
pub fn clear_open_leftovers(path: &Path) -> Result<Vec<String>, OpenError> {
    let durable = |e: std::io::Error| OpenError::Durable {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let names: Vec<String> = match fs::read_dir(path) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(durable(e)),
    };
    let generating: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("snap.") && n.ends_with(".generating"))
        .collect();
    let conf = path.join("conf");
    let conf_damaged = names.iter().any(|n| n == "conf") && conf_is_cut_short(&conf);
    if generating.is_empty() && !conf_damaged {
        return Ok(Vec::new());
    }
    // sled locks the `db` file (fs2's `try_lock_exclusive`, an flock): take the same lock.
    let lock = match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.join("db"))
    {
        Ok(f) => match f.try_lock() {
            Ok(()) => Some(f),
            Err(fs::TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    path: path.to_owned(),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(durable(e)),
        },
        // No log yet: an interrupted creation, nothing acknowledged to protect.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(durable(e)),
    };
    let mut removed = Vec::new();
    for n in generating {
        fs::remove_file(path.join(n)).map_err(durable)?;
        removed.push(n.clone());
    }
    if conf_damaged {
        fs::remove_file(&conf).map_err(durable)?;
        removed.push("conf".to_owned());
    }
    fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(durable)?;
    drop(lock);
    Ok(removed)
}

/// What sled 0.34 writes to `conf` for the configuration the node uses (its defaults), before
/// the CRC-32 of it.
const SLED_CONF_TEXT: &str = "segment_size: 524288\nuse_compression: false\nversion: 0.34\n";

/// Whether sled's `conf` file at `path` is what an interrupted creation leaves: a strict prefix
/// (empty included) of the file sled writes for the node's configuration. Anything else, whole
/// or damaged, is left for sled to read or to refuse.
fn conf_is_cut_short(path: &Path) -> bool {
    let Ok(b) = fs::read(path) else {
        return false;
    };
    let mut whole = SLED_CONF_TEXT.as_bytes().to_vec();
    whole.extend_from_slice(&crc32fast::hash(SLED_CONF_TEXT.as_bytes()).to_le_bytes());
    b.len() < whole.len() && whole.starts_with(&b)
}

impl SledStore {
    /// Opens (creating if absent) the database in `path`, checking the schema version.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with(path, CACHE_BYTES.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// [`SledStore::open`] with another page cache size (benchmarks of a national node).
    pub fn open_with(path: &Path, cache_bytes: u64) -> Result<Self, OpenError> {
        let creating = !path.join("db").exists();
        let sled_err = |source| OpenError::Sled {
            path: path.to_owned(),
            source,
        };
        let removed = clear_open_leftovers(path)?;
        if !removed.is_empty() {
            tracing::warn!(
                path = %path.display(),
                removed = ?removed,
                "removed leftovers of an interrupted open"
            );
        }
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| match e {
                // sled 0.34 says so only in words (`Config::try_lock`).
                sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock") => {
                    OpenError::Locked {
                        path: path.to_owned(),
                    }
                }
                e => sled_err(e),
            })?;
        let mut trees = Vec::with_capacity(TREES.len());
        for name in TREES {
            trees.push(db.open_tree(name).map_err(sled_err)?);
        }
        let mut store = Self {
            path: path.to_owned(),
            db,
            trees,
            commit_lock: Default::default(),
            synced: Default::default(),
            migrate_from: None,
            durable_rounds: Default::default(),
        };
        let version = store.trees[t::META]
            .get("schema_version")
            .map_err(sled_err)?;
        match version {
            None if creating || store.trees[t::ENTRIES].is_empty() => {
                store.trees[t::META]
                    .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())
                    .map_err(sled_err)?;
                store.durable().map_err(|e| OpenError::Durable {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
                // The new `db` directory's own name, in its parent.
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    fs::File::open(parent)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| OpenError::Durable {
                            path: path.to_owned(),
                            reason: e.to_string(),
                        })?;
                }
            }
            None => {
                return Err(OpenError::Version {
                    path: path.to_owned(),
                    found: "none".into(),
                })
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .ok()
                    .map(u32::from_be_bytes)
                    .filter(|n| (OLDEST_MIGRATABLE_SCHEMA..=SCHEMA_VERSION).contains(n));
                match found {
                    Some(SCHEMA_VERSION) => {}
                    Some(old) => store.migrate_from = Some(old),
                    None => {
                        return Err(OpenError::Version {
                            path: path.to_owned(),
                            found: hex::encode(v),
                        })
                    }
                }
            }
        }
        Ok(store)
    }

    /// Runs `f` while no batch commits: a consistent view across trees (for backups).
    pub fn quiescent<T>(&self, f: impl FnOnce() -> T) -> Result<T, StoreError> {
        let _reading = self
            .commit_lock
            .read()
            .map_err(|_| err("backup", "a writer panicked earlier"))?;
        Ok(f())
    }

    /// The older schema found at open, which the node must migrate (rebuild) before use.
    pub fn needs_migration(&self) -> Option<u32> {
        self.migrate_from
    }

    /// Rewrites older quarantine values in the current format and stores the current schema
    /// version. Schema 1 values get the wait key `?`; schema 1 and 2 values get `now_ms` as
    /// their arrival in quarantine (the true one was not recorded), with its `q_since` row.
    /// Each value is rewritten with its row in one transaction, and the reader takes either
    /// format, so an interrupted migration is finished by the next open. For schema 1, the
    /// caller has rebuilt everything derived first. `trust` rows written before schema 5 get
    /// their entry's bytes.
    pub(crate) fn finish_migration(&mut self, now_ms: u64) -> Result<(), StoreError> {
        let schema1 = self.migrate_from == Some(1);
        for kv in self.trees[t::QUARANTINE].iter() {
            let (k, v) = kv.map_err(|e| err("quarantine", e))?;
            let Ok(h) = <[u8; 32]>::try_from(k.as_ref()).map(EntryHash) else {
                continue;
            };
            let (key, missing, bytes) = match self.split_any_quarantine(&v) {
                Some(parts)
                    if schema1 || quarantine::decode(&v).is_some_and(|q| q.since_ms.is_none()) =>
                {
                    parts
                }
                _ => continue,
            };
            let Ok(e) = Entry::decode(bytes) else {
                continue;
            };
            let nv = quarantine::encode(key, &String::from_utf8_lossy(missing), &e, now_ms, "");
            let sk = quarantine::since_key(now_ms, &h);
            let pair = [
                self.trees[t::QUARANTINE].clone(),
                self.trees[t::Q_SINCE].clone(),
            ];
            let r: Result<(), TransactionError<String>> = pair[..].transaction(|tx| {
                tx[0].insert(&k, nv.as_slice())?;
                tx[1].insert(sk.as_slice(), &[][..])?;
                Ok(())
            });
            r.map_err(|e| err("quarantine", format!("{e:?}")))?;
        }
        // Schema 4 retired two derived trees; emptying them is idempotent, so an interrupted
        // migration finishes at the next open.
        for i in t::RETIRED {
            self.trees[i].clear().map_err(|e| err(TREES[i], e))?;
        }
        // Schema 5 keeps the entry's bytes in its `trust` row; filling the rows left empty is
        // idempotent too.
        self.fill_trust_rows()?;
        self.trees[t::META]
            .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())
            .map_err(|e| err("meta", e))?;
        self.migrate_from = None;
        self.durable()
    }

    /// Writes the entry's bytes into every `trust` row that has none (rows written before
    /// schema 5). One pass over the trust index: O(certificates), not O(records).
    fn fill_trust_rows(&self) -> Result<(), StoreError> {
        let trust = &self.trees[t::TRUST];
        for kv in trust.iter() {
            let (k, v) = kv.map_err(|e| err("trust", e))?;
            if !v.is_empty() {
                continue;
            }
            let Some(h) = k.get(8..40) else { continue };
            if let Some(bytes) = self.trees[t::ENTRIES]
                .get(h)
                .map_err(|e| err("entries", e))?
            {
                trust.insert(&k, bytes).map_err(|e| err("trust", e))?;
            }
        }
        Ok(())
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

    /// Held while expiring quarantine entries: no batch commits and no backup reads meanwhile.
    pub(crate) fn write_guard(&self) -> Result<std::sync::RwLockWriteGuard<'_, ()>, StoreError> {
        self.commit_lock
            .write()
            .map_err(|_| err("write", "a writer panicked earlier"))
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A tree by its position in [`TREES`] (for check, repair and backup).
    pub fn tree(&self, i: usize) -> &sled::Tree {
        &self.trees[i]
    }

    /// The sled database (for export).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Makes everything written so far survive a power cut: sled's flush, then `fsync` of the
    /// log file (`db`) and of every other file or directory under the database directory that
    /// changed (size, mtime or ctime; a new or removed name for a directory) since the last
    /// call. Usually that is the log alone: one fsync per batch.
    pub fn durable(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| err("flush", e))?;
        let mut seen = self
            .synced
            .lock()
            .map_err(|_| err("fsync", "a writer panicked earlier"))?;
        sync_changed(&self.path, &mut seen)
            .map_err(|e| err(&format!("fsync {}", self.path.display()), e))?;
        self.durable_rounds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// How many times [`SledStore::durable`] has completed on this store.
    pub fn durable_rounds(&self) -> u64 {
        self.durable_rounds
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.trees[t::META]
            .get(key)
            .map_err(|e| err("meta", e))?
            .map(|v| v.to_vec()))
    }

    /// Sets a metadata value (durable on return).
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.trees[t::META]
            .insert(key, value)
            .map_err(|e| err("meta", e))?;
        self.durable()
    }

    /// Removes a metadata value (durable on return).
    pub fn remove_meta(&self, key: &str) -> Result<(), StoreError> {
        self.trees[t::META]
            .remove(key)
            .map_err(|e| err("meta", e))?;
        self.durable()
    }

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
        let r: Result<(), TransactionError<String>> =
            self.trees[..].transaction(|tx| self.apply(tx, c, &adds, &evicted, &buckets));
        r.map_err(|e| match e {
            TransactionError::Abort(s) => err("write", s),
            TransactionError::Storage(e) => self.storage_error(e),
        })?;
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
    ) -> TxResult<()> {
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

    fn split_any_quarantine<'a>(&self, v: &'a [u8]) -> Option<(&'a [u8], &'a [u8], &'a [u8])> {
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

/// What `durable` last saw of a file: (size, mtime ns, ctime ns); of a directory: its names.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Synced {
    File(u64, i64, i64),
    Dir(Vec<std::ffi::OsString>),
}

fn sync_changed(path: &Path, seen: &mut BTreeMap<PathBuf, Synced>) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut names = Vec::new();
    for item in fs::read_dir(path)? {
        let item = item?;
        names.push(item.file_name());
        let p = item.path();
        let meta = item.metadata()?;
        if meta.is_dir() {
            sync_changed(&p, seen)?;
        } else if meta.is_file() {
            let now = Synced::File(
                meta.len(),
                meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
                meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            );
            // The log is always synced: sled may rewrite it in place without changing its size,
            // and within one mtime tick.
            if item.file_name() == "db" || seen.get(&p) != Some(&now) {
                fs::File::open(&p)?.sync_all()?;
                seen.insert(p, now);
            }
        }
    }
    names.sort();
    let now = Synced::Dir(names);
    if seen.get(path) != Some(&now) {
        fs::File::open(path)?.sync_all()?;
        seen.insert(path.to_owned(), now);
    }
    Ok(())
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
