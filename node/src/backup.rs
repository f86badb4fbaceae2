//! Backups: a consistent snapshot of a node's entries (and quarantine) in one file, and the
//! restore that rebuilds a node from it through the verified import.
//!
//! Entries are the truth: indexes, views and counters are not in a backup; a restore rebuilds
//! them by importing every entry. A backup is taken while no batch commits (the store's commit
//! lock, held shared), so it holds whole batches only; other readers and the node's work go
//! on, and writers wait for the length of the copy.
//!
//! ```text
//! magic "SKBACKUP" | version:u8=1 | node.json (u32 len | bytes) | federation.json (u32 | bytes)
//! | key (u32 len | bytes; 0 = not included) | (tag:u8 (1 entry, 2 quarantined) | u32 len | bytes)*
//! | tag 0 | BLAKE3 of everything before (32)
//! ```
//!
//! The unit's private key is left out unless asked for: a backup file travels to places a key
//! should not go. The file is created with mode 0600 (it may hold the key, and always holds the
//! unit's records) at a random temporary name beside it, never through a link, fsynced,
//! renamed, and the directory fsynced (`crate::durable`); success is reported only then.

use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sync_protocol::entry::{Entry, EntryBody};
use sync_protocol::ids::UnitId;
use sync_protocol::limits::{MAX_BATCH_ENTRIES, MAX_ENTRY_BYTES};

use crate::durable;
use crate::keys;
use crate::node::{
    FederationFile, Node, NodeError, NodeFile, FEDERATION_FILE, KEY_FILE, NODE_FILE,
};
use crate::sled_store::{err, t, SledStore};

const MAGIC: &[u8; 8] = b"SKBACKUP";
const VERSION: u8 = 1;
/// Largest config file or key section in a backup.
pub const MAX_BACKUP_SECTION_BYTES: u32 = 64 * 1024;

/// What a backup or restore did.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct BackupSummary {
    /// Entries written or read.
    pub entries: usize,
    /// Quarantined entries written or read.
    pub quarantined: usize,
    /// Whether the key is in the file.
    pub key_included: bool,
    /// Bytes of the file.
    pub bytes: u64,
}

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// IO.
    #[error("{path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// the cause
        source: std::io::Error,
    },
    /// Not a backup, truncated, or damaged.
    #[error("{path} is not a usable sangkien backup: {reason}")]
    Malformed {
        /// the file
        path: PathBuf,
        /// what is wrong
        reason: String,
    },
    /// The node.
    #[error(transparent)]
    Node(#[from] NodeError),
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
    bytes: u64,
}
impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn section(w: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    w.write_all(&(b.len() as u32).to_be_bytes())?;
    w.write_all(b)
}

/// Writes a backup of `node` to `file`.
pub fn write(node: &Node, file: &Path, include_key: bool) -> Result<BackupSummary, BackupError> {
    write_store(node.dir(), node.store(), file, include_key)
}

/// Writes a backup of the node in `dir`, whose store is `store`, to `file`: what a running
/// service does for `sangkien node backup` (it holds the store, not the node, so that a sync
/// session in progress goes on).
pub fn write_store(
    dir: &Path,
    store: &SledStore,
    file: &Path,
    include_key: bool,
) -> Result<BackupSummary, BackupError> {
    let io = |source| BackupError::Io {
        path: file.to_owned(),
        source,
    };
    let read = |name: &str| {
        let p = dir.join(name);
        fs::read(&p).map_err(|source| BackupError::Io { path: p, source })
    };
    let node_json = read(NODE_FILE)?;
    let fed_json = read(FEDERATION_FILE)?;
    let key = if include_key {
        keys::read(&dir.join(KEY_FILE)).map_err(NodeError::from)?;
        read(KEY_FILE)?
    } else {
        Vec::new()
    };
    let mut summary = BackupSummary {
        key_included: include_key,
        ..BackupSummary::default()
    };
    // Written privately (it may hold the key, and always holds the unit's records), whole or
    // not at all: see `crate::durable`.
    let mut failure: Option<BackupError> = None;
    let written = durable::replace(file, durable::PRIVATE_MODE, |f| {
        let mut w = HashingWriter {
            inner: BufWriter::new(f),
            hasher: blake3::Hasher::new(),
            bytes: 0,
        };
        let body: Result<(), BackupError> = store
            .quiescent(|| -> Result<(), BackupError> {
                w.write_all(MAGIC).map_err(io)?;
                w.write_all(&[VERSION]).map_err(io)?;
                section(&mut w, &node_json).map_err(io)?;
                section(&mut w, &fed_json).map_err(io)?;
                section(&mut w, &key).map_err(io)?;
                for kv in store.tree(t::ENTRIES).iter() {
                    let (_, v) = kv.map_err(|e| err("entries", e)).map_err(NodeError::from)?;
                    w.write_all(&[1]).map_err(io)?;
                    section(&mut w, &v).map_err(io)?;
                    summary.entries += 1;
                }
                for (e, _) in store.quarantined().map_err(NodeError::from)? {
                    w.write_all(&[2]).map_err(io)?;
                    section(&mut w, e.bytes()).map_err(io)?;
                    summary.quarantined += 1;
                }
                w.write_all(&[0]).map_err(io)?;
                Ok(())
            })
            .map_err(|e| BackupError::from(NodeError::from(e)))
            .and_then(|r| r);
        if let Err(e) = body {
            failure = Some(e);
            return Err(std::io::Error::other("backup body"));
        }
        let digest = w.hasher.finalize();
        w.inner.write_all(digest.as_bytes())?;
        summary.bytes = w.bytes + 32;
        w.inner.flush()
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let written = written.map_err(io)?;
    if written != summary.bytes {
        return Err(BackupError::Malformed {
            path: file.to_owned(),
            reason: format!(
                "{written} bytes on disk, {} written: the backup is incomplete",
                summary.bytes
            ),
        });
    }
    Ok(summary)
}

struct HashingReader<R: Read> {
    inner: R,
    hasher: blake3::Hasher,
}
impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Restores a backup into `dir` (which must not hold a node): writes the configuration files
/// (and the key, when the backup has it), then imports every entry through the verified path,
/// trust entries first, in batches. Returns the node and what was read.
pub fn restore(file: &Path, dir: &Path, now_ms: u64) -> Result<(Node, BackupSummary), BackupError> {
    let bad = |reason: String| BackupError::Malformed {
        path: file.to_owned(),
        reason,
    };
    let io = |source| BackupError::Io {
        path: file.to_owned(),
        source,
    };
    let f = fs::File::open(file).map_err(io)?;
    let mut r = HashingReader {
        inner: BufReader::new(f),
        hasher: blake3::Hasher::new(),
    };
    let mut magic = [0u8; 9];
    r.read_exact(&mut magic)
        .map_err(|_| bad("truncated".into()))?;
    if &magic[..8] != MAGIC || magic[8] != VERSION {
        return Err(bad("wrong magic or version".into()));
    }
    let read_section = |r: &mut HashingReader<_>, limit: u32| -> Result<Vec<u8>, BackupError> {
        let mut n = [0u8; 4];
        r.read_exact(&mut n).map_err(|_| bad("truncated".into()))?;
        let n = u32::from_be_bytes(n);
        if n > limit {
            return Err(bad(format!(
                "a section of {n} bytes is over its limit of {limit}"
            )));
        }
        let mut b = vec![0u8; n as usize];
        r.read_exact(&mut b).map_err(|_| bad("truncated".into()))?;
        Ok(b)
    };
    let node_json = read_section(&mut r, MAX_BACKUP_SECTION_BYTES)?;
    let fed_json = read_section(&mut r, MAX_BACKUP_SECTION_BYTES)?;
    let key = read_section(&mut r, MAX_BACKUP_SECTION_BYTES)?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut quarantined: Vec<Entry> = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        r.read_exact(&mut tag)
            .map_err(|_| bad("truncated".into()))?;
        if tag[0] == 0 {
            break;
        }
        let b = read_section(&mut r, MAX_ENTRY_BYTES as u32)?;
        let e = Entry::decode(&b).map_err(|e| bad(format!("entry {}: {e}", entries.len())))?;
        match tag[0] {
            1 => entries.push(e),
            2 => quarantined.push(e),
            t => return Err(bad(format!("unknown section tag {t}"))),
        }
    }
    let digest = r.hasher.finalize();
    let mut stored = [0u8; 32];
    r.inner
        .read_exact(&mut stored)
        .map_err(|_| bad("truncated".into()))?;
    if stored != *digest.as_bytes() {
        return Err(bad("checksum mismatch: the file is damaged".into()));
    }
    let nf: NodeFile =
        serde_json::from_slice(&node_json).map_err(|e| bad(format!("node.json: {e}")))?;
    let unit = UnitId::new(&nf.unit).map_err(|e| bad(format!("node.json: {e}")))?;
    // Write the configuration, then build the node from the genesis and import everything.
    if dir.join(NODE_FILE).exists() {
        return Err(NodeError::AlreadyANode(dir.to_owned()).into());
    }
    crate::node::create_private_dir(dir)?;
    let fed_path = dir.join(FEDERATION_FILE);
    durable::replace(&fed_path, durable::PUBLIC_MODE, |f| f.write_all(&fed_json)).map_err(
        |source| BackupError::Io {
            path: fed_path.clone(),
            source,
        },
    )?;
    let (ff, genesis): (FederationFile, Entry) = FederationFile::read(&fed_path)?;
    if !key.is_empty() {
        let text = std::str::from_utf8(&key).map_err(|_| bad("key section".into()))?;
        keys::write_raw_new(&dir.join(KEY_FILE), text.trim()).map_err(NodeError::from)?;
    }
    let mut node = Node::create_restored(dir, &ff, genesis, unit, now_ms)?;
    entries.sort_by_key(|e| (trust_first(e), e.time_ms(), e.hash()));
    let source = format!("restore:{}", file.display());
    for chunk in entries.chunks(MAX_BATCH_ENTRIES) {
        node.import_from(&source, chunk.to_vec(), now_ms)?;
    }
    for chunk in quarantined.chunks(MAX_BATCH_ENTRIES) {
        node.import_from(&source, chunk.to_vec(), now_ms)?;
    }
    let summary = BackupSummary {
        entries: entries.len(),
        quarantined: quarantined.len(),
        key_included: !key.is_empty(),
        bytes: fs::metadata(file).map(|m| m.len()).unwrap_or(0),
    };
    Ok((node, summary))
}

fn trust_first(e: &Entry) -> u8 {
    match e.body() {
        EntryBody::Genesis(_) => 0,
        EntryBody::Revocation(_) | EntryBody::Certificate(_) | EntryBody::UnitEnd(_) => 1,
        _ => 2,
    }
}
