//! Opening the store and making it durable: the page cache, what an interrupted open leaves
//! behind, `fsync` of what changed.

use super::*;

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

/// How long an open waits for sled's lock before saying another process holds the store.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

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
        // sled closes its file, and so lets go of its lock, only when the last of its
        // background writes has finished: a store this process has just dropped can stay
        // locked for a moment (longer on a busy machine). Such a lock is waited for, briefly.
        let started = std::time::Instant::now();
        let db = loop {
            match sled::Config::new()
                .path(path)
                .cache_capacity(cache_bytes)
                .open()
            {
                Ok(db) => break db,
                // sled 0.34 says so only in words (`Config::try_lock`).
                Err(sled::Error::Io(io))
                    if io.to_string().starts_with("could not acquire lock") =>
                {
                    if started.elapsed() >= LOCK_WAIT {
                        return Err(OpenError::Locked {
                            path: path.to_owned(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(sled_err(e)),
            }
        };
        let mut trees = Vec::with_capacity(TREES.len());
        for name in TREES {
            trees.push(db.open_tree(name).map_err(sled_err)?);
        }
        // The report and listing index's own trees, after the store's (`report_index::t`).
        for name in crate::report_index::TREES {
            trees.push(db.open_tree(name).map_err(sled_err)?);
        }
        // The word, filter and inbox index's, after those (`search_index::t`).
        for name in crate::search_index::TREES {
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
            kept: Default::default(),
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
}

/// What `durable` last saw of a file: (size, mtime ns, ctime ns); of a directory: its names.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) enum Synced {
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
