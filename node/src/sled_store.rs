//! The node's store over sled.
//!
//! Key layout (an API boundary: changing it needs a schema version bump):
//!
//! | tree         | key                                  | value                  |
//! |--------------|--------------------------------------|------------------------|
//! | `entries`    | entry hash (32)                      | canonical entry bytes  |
//! | `by_record`  | record id (16) ‖ entry hash (32)     | empty                  |
//! | `by_change`  | automerge change hash (32)           | entry hash (32)        |
//! | `trust`      | time ms (8, big-endian) ‖ hash (32)  | empty                  |
//! | `quarantine` | entry hash (32)                      | what it waits for ‖ 0 ‖ entry bytes |
//! | `meta`       | `schema_version`, `federation`, `unit` | values               |
//!
//! A batch is written in one sled transaction over all trees, then made durable: sled's
//! `flush()` (which ends in `sync_file_range` and so does not survive a power cut), then
//! `fsync` of every database file and of the directory, before the caller acknowledges.

use std::fs;
use std::path::{Path, PathBuf};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use sync_protocol::entry::{Entry, EntryBody};
use sync_protocol::ids::{ChangeHash, EntryHash, RecordId};
use sync_protocol::limits::MAX_QUARANTINE_ENTRIES;
use sync_protocol::store::{EntryLookup, EntryStore, StoreError};
use sync_protocol::verify::VerifiedEntry;

/// sled page cache per node: small, so that the demo can hold twenty nodes in one process.
const SLED_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// The schema this code reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// sled refused the files: corrupt, truncated, or locked by another process.
    #[error("cannot open the database at {path}: {source} (the files were left untouched)")]
    Sled {
        /// the directory
        path: PathBuf,
        /// the cause
        source: sled::Error,
    },
    /// Another schema version.
    #[error("the database at {path} has schema version {found}; this sangkien reads version {SCHEMA_VERSION}")]
    Version {
        /// the directory
        path: PathBuf,
        /// the version found
        found: String,
    },
}

/// Entries, indexes and quarantine in sled.
#[derive(Clone)]
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    entries: sled::Tree,
    by_record: sled::Tree,
    by_change: sled::Tree,
    trust: sled::Tree,
    quarantine: sled::Tree,
    meta: sled::Tree,
}

fn err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{what}: {e}"))
}

impl SledStore {
    /// Opens (creating if absent) the database in `path`, checking the schema version.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let creating = !path.join("db").exists();
        let sled_err = |source| OpenError::Sled {
            path: path.to_owned(),
            source,
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(SLED_CACHE_BYTES)
            .open()
            .map_err(sled_err)?;
        let t = |name: &str| db.open_tree(name).map_err(sled_err);
        let store = Self {
            path: path.to_owned(),
            entries: t("entries")?,
            by_record: t("by_record")?,
            by_change: t("by_change")?,
            trust: t("trust")?,
            quarantine: t("quarantine")?,
            meta: t("meta")?,
            db,
        };
        match store.meta.get("schema_version").map_err(sled_err)? {
            None if creating || store.entries.is_empty() => {
                store
                    .meta
                    .insert("schema_version", &SCHEMA_VERSION.to_be_bytes())
                    .map_err(sled_err)?;
                store.durable().map_err(|e| OpenError::Version {
                    path: path.to_owned(),
                    found: e.to_string(),
                })?;
            }
            None => {
                return Err(OpenError::Version {
                    path: path.to_owned(),
                    found: "none".into(),
                })
            }
            Some(v) if v.as_ref() == SCHEMA_VERSION.to_be_bytes() => {}
            Some(v) => {
                return Err(OpenError::Version {
                    path: path.to_owned(),
                    found: hex::encode(v),
                })
            }
        }
        Ok(store)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes everything written so far survive a power cut: sled's flush, then fsync of every
    /// file under the database directory and of the directories themselves.
    pub fn durable(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| err("flush", e))?;
        fsync_tree(&self.path).map_err(|e| err("fsync", e))
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .meta
            .get(key)
            .map_err(|e| err("meta", e))?
            .map(|v| v.to_vec()))
    }

    /// Sets a metadata value (durable on return).
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(key, value).map_err(|e| err("meta", e))?;
        self.durable()
    }

    /// Puts entries in quarantine with what they wait for. Bounded by
    /// [`MAX_QUARANTINE_ENTRIES`]: when full, the oldest-keyed entries are refused, never
    /// silently dropped (the caller reports them).
    pub fn quarantine(&self, waiting: &[(Entry, String)]) -> Result<usize, StoreError> {
        if waiting.is_empty() {
            return Ok(0);
        }
        let mut refused = 0;
        for (e, missing) in waiting {
            if self.quarantine.len() >= MAX_QUARANTINE_ENTRIES {
                refused += 1;
                continue;
            }
            let mut v = missing.as_bytes().to_vec();
            v.push(0);
            v.extend_from_slice(e.bytes());
            self.quarantine
                .insert(e.hash().0, v)
                .map_err(|e| err("quarantine", e))?;
        }
        self.durable()?;
        Ok(refused)
    }

    /// Everything in quarantine, with what it waits for.
    pub fn quarantined(&self) -> Result<Vec<(Entry, String)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.quarantine.iter() {
            let (_, v) = kv.map_err(|e| err("quarantine", e))?;
            let Some(split) = v.iter().position(|b| *b == 0) else {
                continue;
            };
            let missing = String::from_utf8_lossy(&v[..split]).into_owned();
            let entry = Entry::decode(&v[split + 1..]).map_err(|e| err("quarantine entry", e))?;
            out.push((entry, missing));
        }
        Ok(out)
    }

    /// Removes entries from quarantine (accepted or rejected since).
    pub fn unquarantine(&self, hashes: &[EntryHash]) -> Result<(), StoreError> {
        if hashes.is_empty() {
            return Ok(());
        }
        for h in hashes {
            self.quarantine
                .remove(h.0)
                .map_err(|e| err("quarantine", e))?;
        }
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Entry, StoreError> {
        Entry::decode(bytes)
            .map_err(|e| err(&format!("stored entry in {}", self.path.display()), e))
    }
}

fn fsync_tree(path: &Path) -> std::io::Result<()> {
    for item in fs::read_dir(path)? {
        let item = item?;
        let ft = item.file_type()?;
        if ft.is_dir() {
            fsync_tree(&item.path())?;
        } else if ft.is_file() {
            fs::File::open(item.path())?.sync_all()?;
        }
    }
    fs::File::open(path)?.sync_all()
}

impl EntryLookup for SledStore {
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        match self.entries.get(hash.0).map_err(|e| err("entries", e))? {
            None => Ok(None),
            Some(b) => Ok(Some(self.decode(&b)?)),
        }
    }
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.by_record.scan_prefix(record.0) {
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
        Ok(self
            .by_change
            .get(change.0)
            .map_err(|e| err("by_change", e))?
            .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok())
            .map(EntryHash))
    }
}

impl EntryStore for SledStore {
    fn insert_batch(&mut self, batch: &[VerifiedEntry]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let r: Result<(), TransactionError<()>> =
            (&self.entries, &self.by_record, &self.by_change, &self.trust).transaction(
                |(entries, by_record, by_change, trust)| {
                    for v in batch {
                        let e = v.entry();
                        let h = e.hash();
                        if entries.get(h.0)?.is_some() {
                            continue;
                        }
                        entries.insert(&h.0, e.bytes())?;
                        if let Some(r) = e.body().record() {
                            let mut k = [0u8; 48];
                            k[..16].copy_from_slice(&r.0);
                            k[16..].copy_from_slice(&h.0);
                            by_record.insert(&k[..], &[][..])?;
                        }
                        match e.body() {
                            EntryBody::RecordChange(c) => {
                                by_change.insert(&c.change.hash().0, &h.0)?;
                            }
                            EntryBody::Genesis(_)
                            | EntryBody::Certificate(_)
                            | EntryBody::Revocation(_) => {
                                let mut k = [0u8; 40];
                                k[..8].copy_from_slice(&e.time_ms().to_be_bytes());
                                k[8..].copy_from_slice(&h.0);
                                trust.insert(&k[..], &[][..])?;
                            }
                            _ => {}
                        }
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        r.map_err(|e| err("insert", format!("{e:?}")))?;
        self.durable()
    }
    fn contains(&self, hash: &EntryHash) -> Result<bool, StoreError> {
        self.entries
            .contains_key(hash.0)
            .map_err(|e| err("entries", e))
    }
    fn trust_entries(&self) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.trust.iter() {
            let (k, _) = kv.map_err(|e| err("trust", e))?;
            let mut h = [0u8; 32];
            h.copy_from_slice(&k[8..40]);
            if let Some(e) = self.entry(&EntryHash(h))? {
                out.push(e);
            }
        }
        Ok(out)
    }
    fn records(&self) -> Result<Vec<RecordId>, StoreError> {
        let mut out: Vec<RecordId> = Vec::new();
        for kv in self.by_record.iter() {
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
        for k in self.entries.iter().keys() {
            let k = k.map_err(|e| err("entries", e))?;
            let mut h = [0u8; 32];
            h.copy_from_slice(&k);
            out.push(EntryHash(h));
        }
        Ok(out)
    }
    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.entries.len())
    }
}
