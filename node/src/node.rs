//! A node: one unit's data directory, its store, trust directory and key.
//!
//! Layout of a data directory:
//!
//! ```text
//! DIR/node.json        which unit and federation this node is (written once)
//! DIR/federation.json  the federation file: id, root unit, root key, genesis entry
//! DIR/unit.key         the unit's private key, 0600
//! DIR/db/              the sled database
//! DIR/control/         the running service's control socket, node.sock (see `control`)
//! ```
//!
//! Every entry enters the store through [`Node::import`], the verified path that bundles and
//! sync use too; a local write is signed and then imported like any other entry.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::author::Author;
use sync_protocol::directory::Directory;
use sync_protocol::entry::{Entry, EntryBody, Genesis};

use rayon::prelude::*;
use sync_protocol::ids::{ChangeHash, EntryHash, FederationId, RecordId, UnitId, UnitKey};
use sync_protocol::import::{
    directory_from_ordered, import_batch, import_batch_with, ImportError, ImportOutcome,
};
use sync_protocol::record::StateMemo;
use sync_protocol::scope;
use sync_protocol::store::{EntryLookup, EntryStore, StoreError};
use sync_protocol::sync::SyncKey;
use sync_protocol::verify::{record_header, VerifiedEntry};

use crate::counters;
use crate::keys::{self, KeyError};
use crate::sled_store::{self, Commit, OpenError, Place, SledStore};

/// File names inside a data directory.
pub const NODE_FILE: &str = "node.json";
/// The federation file.
pub const FEDERATION_FILE: &str = "federation.json";
/// The unit's key file.
pub const KEY_FILE: &str = "unit.key";
/// The database directory.
pub const DB_DIR: &str = "db";

/// Largest node.json or federation.json read.
const MAX_CONFIG_FILE_BYTES: u64 = 64 * 1024;

/// What can go wrong with a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The database.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A store operation.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key file.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A batch over its limit.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A file of the data directory.
    #[error("{path}: {reason}")]
    File {
        /// the file
        path: PathBuf,
        /// what is wrong
        reason: String,
    },
    /// Not a node directory.
    #[error("{0} is not a sangkien node (no node.json); create one with `sangkien federation init` or `sangkien unit enrol`")]
    NotANode(PathBuf),
    /// Already a node directory.
    #[error("{0} already holds a sangkien node; choose an empty directory")]
    AlreadyANode(PathBuf),
    /// A write this node made was refused by its own verification: the verifier's reason.
    #[error("refused: {0}")]
    Rejected(sync_protocol::verify::RejectReason),
    /// A write this node made cites something the node does not hold yet.
    #[error("refused: waiting for {0}")]
    Waiting(sync_protocol::verify::Missing),
    /// An officer's write that cannot be made here (checked before anything is signed).
    #[error("refused: {0}")]
    Write(#[from] crate::records::WriteRefusal),
    /// A record's content is wrong (checked before anything is signed).
    #[error("refused: {0}")]
    Content(sync_protocol::record::ContentError),
    /// Refused for another reason (a peer, the network, a write that cannot be made).
    #[error("refused: {0}")]
    Refused(String),
    /// The data directory (or its database directory) could be changed by another user, who
    /// could then replace the control socket, the key or the database.
    #[error("{path} is not private to its owner: {problem}")]
    UnsafeDir {
        /// the directory
        path: PathBuf,
        /// what is wrong, with the fix
        problem: DirProblem,
    },
}

/// Why a data directory is refused ([`NodeError::UnsafeDir`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DirProblem {
    /// Writable by its group or by everyone.
    #[error("it has mode {mode:o}, writable by others (run: chmod 700 on it)")]
    WritableByOthers {
        /// its permission bits
        mode: u32,
    },
    /// Owned by another user than the one running sangkien.
    #[error("it belongs to user {owner}, not to the user running sangkien ({me}) (run sangkien as its owner, or chown it)")]
    OwnedByOther {
        /// its owner's uid
        owner: u32,
        /// this process's effective uid
        me: u32,
    },
}

/// The effective uid of this process, as the kernel shows it: the owner of `/proc/self`
/// (`None` where there is no procfs).
fn effective_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Refuses a directory that another user could write to (group- or world-writable) or that
/// belongs to another user: whoever can write to a node's data directory can replace its
/// control socket, its key or its database. A directory that does not exist passes (it will
/// be created private).
pub fn check_private_dir(dir: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(NodeError::File {
                path: dir.to_owned(),
                reason: e.to_string(),
            })
        }
    };
    let unsafe_dir = |problem| NodeError::UnsafeDir {
        path: dir.to_owned(),
        problem,
    };
    if let Some(me) = effective_uid() {
        if meta.uid() != me {
            return Err(unsafe_dir(DirProblem::OwnedByOther {
                owner: meta.uid(),
                me,
            }));
        }
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(unsafe_dir(DirProblem::WritableByOthers { mode }));
    }
    Ok(())
}

/// Removes the temporary files an interrupted write of the node's own files left in `dir`
/// (`.NAME.<16 hex digits>.tmp`, see [`crate::durable`]): never read, only in the way.
fn remove_temporary_leftovers(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let mut removed = false;
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if crate::durable::is_temporary_name(&name) && fs::remove_file(e.path()).is_ok() {
            tracing::warn!(file = %name, "removed the leftover of an interrupted write");
            removed = true;
        }
    }
    if removed {
        let _ = crate::durable::sync_dir(dir);
    }
}

/// Checks the data directory and its database directory with [`check_private_dir`].
pub fn check_data_dir(dir: &Path) -> Result<(), NodeError> {
    check_private_dir(dir)?;
    check_private_dir(&dir.join(DB_DIR))
}

/// Creates a data directory (and its parents) private to its owner: mode 0700 whatever the
/// umask; an existing one must pass [`check_private_dir`].
pub fn create_private_dir(dir: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| NodeError::File {
                path: parent.to_owned(),
                reason: e.to_string(),
            })?;
        }
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(NodeError::File {
                    path: dir.to_owned(),
                    reason: e.to_string(),
                })
            }
        }
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = crate::durable::sync_dir(parent);
        }
    }
    check_private_dir(dir)
}

impl NodeError {
    /// Whether the database is held by another process (a running service, another command).
    pub fn is_locked(&self) -> bool {
        matches!(self, NodeError::Open(OpenError::Locked { .. }))
    }
}

/// `node.json`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct NodeFile {
    /// The unit this node is.
    pub unit: String,
    /// The federation id, hex.
    pub federation: String,
}

/// `federation.json`: what every node of a federation is configured with.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FederationFile {
    /// Federation id, hex.
    pub federation_id: String,
    /// Root unit id.
    pub root_unit: String,
    /// Root unit name.
    pub root_name: String,
    /// Root public key, hex.
    pub root_public_key: String,
    /// The genesis entry, hex of its canonical bytes.
    pub genesis: String,
}

impl FederationFile {
    /// Reads and checks a federation file: the genesis decodes, verifies, and agrees with the
    /// other fields.
    pub fn read(path: &Path) -> Result<(Self, Entry), NodeError> {
        let text = read_small(path)?;
        let f: FederationFile = serde_json::from_str(&text).map_err(|e| NodeError::File {
            path: path.to_owned(),
            reason: format!("not a federation file: {e}"),
        })?;
        let entry = Self::check(&f).map_err(|e| match e {
            NodeError::File { reason, .. } => NodeError::File {
                path: path.to_owned(),
                reason,
            },
            other => other,
        })?;
        Ok((f, entry))
    }

    /// Checks a federation file's content: the genesis decodes, verifies, and agrees with the
    /// other fields. Returns the genesis.
    pub fn check(f: &FederationFile) -> Result<Entry, NodeError> {
        let bad = |reason: String| NodeError::File {
            path: PathBuf::from(FEDERATION_FILE),
            reason,
        };
        let bytes = hex::decode(&f.genesis).map_err(|e| bad(format!("genesis: {e}")))?;
        let entry = Entry::decode(&bytes).map_err(|e| bad(format!("genesis: {e}")))?;
        let EntryBody::Genesis(g) = entry.body() else {
            return Err(bad("genesis entry is not a genesis".into()));
        };
        if g.federation_id().to_hex() != f.federation_id
            || entry.federation() != g.federation_id()
            || g.root_key.to_hex() != f.root_public_key
            || entry.key() != g.root_key
            || g.root_unit.as_str() != f.root_unit
        {
            return Err(bad(
                "the genesis does not match the federation id, root unit or root key".into(),
            ));
        }
        Ok(entry)
    }
}

fn read_small(path: &Path) -> Result<String, NodeError> {
    let meta = fs::metadata(path).map_err(|e| NodeError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if meta.len() > MAX_CONFIG_FILE_BYTES {
        return Err(NodeError::File {
            path: path.to_owned(),
            reason: format!(
                "{} bytes, over the limit of {MAX_CONFIG_FILE_BYTES}",
                meta.len()
            ),
        });
    }
    fs::read_to_string(path).map_err(|e| NodeError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), NodeError> {
    let text = serde_json::to_string_pretty(v).expect("config serialises");
    crate::durable::replace(path, crate::durable::PUBLIC_MODE, |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
    .map_err(|e| NodeError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(())
}

/// What an import did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportReport {
    /// Newly stored.
    pub accepted: usize,
    /// Already held.
    pub duplicates: usize,
    /// Released from quarantine by this import.
    pub released: usize,
    /// Now waiting in quarantine: entry and what it waits for.
    pub quarantined: Vec<(String, String)>,
    /// Refused: entry and reason.
    pub rejected: Vec<(String, String)>,
    /// The reasons of `rejected` as types, in the same order (for people's languages; not
    /// serialised: a report that crossed a process boundary has only the strings).
    #[serde(skip)]
    pub rejected_why: Vec<Refusal>,
    /// What each of `quarantined` waits for, as a type, in the same order (not serialised).
    #[serde(skip)]
    pub quarantined_why: Vec<sync_protocol::verify::Missing>,
}

/// Why an import refused an entry.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// The verifier's reason.
    Rejected(sync_protocol::verify::RejectReason),
    /// The entry waits for something, but the quarantine holds its maximum
    /// ([`sync_protocol::limits::MAX_QUARANTINE_ENTRIES`]).
    QuarantineFull,
}

/// One unit's node.
pub struct Node {
    dir: PathBuf,
    store: SledStore,
    directory: Directory,
    unit: UnitId,
    author: Option<Author>,
    /// Each unit's children in the tree the counters follow ([`TREE_TIME`]); rebuilt whenever
    /// certificates arrive, so that a report lists children in O(children).
    children: BTreeMap<UnitId, Vec<UnitId>>,
    /// Why the key file could not be used, when it could not (an encrypted key, no passphrase).
    key_problem: Option<String>,
    /// Where the entries being imported come from, recorded with those that wait in quarantine
    /// (see [`Node::import_from`]).
    import_source: Option<String>,
    /// The units' words search matches records by ([`crate::search_index`]).
    unit_words: crate::search_index::UnitWordsCache,
    /// The Automerge documents of the records written last (at most
    /// [`sync_protocol::limits::MAX_CACHED_RECORD_DOCS`]), kept from one write to the next so
    /// that editing a record with a long history (a target re-assigned all season) applies the
    /// new change to the document instead of replaying every change. A document is used only
    /// for the ancestry it holds ([`sync_protocol::record::record_state_at`]): an import,
    /// concurrent or refused, never makes it say more than the store holds.
    docs: StateMemo,
}

/// Children by parent at [`TREE_TIME`].
fn children_of(d: &Directory) -> BTreeMap<UnitId, Vec<UnitId>> {
    let mut out: BTreeMap<UnitId, Vec<UnitId>> = BTreeMap::new();
    for u in d.units() {
        if let Some(p) = d.report_parent(&u) {
            out.entry(p.clone()).or_default().push(u);
        }
    }
    // By id: the listing's depth-first order (`search::list_page`) depends on it.
    for c in out.values_mut() {
        c.sort();
    }
    out
}

impl Node {
    /// Creates the root node of a new federation in `dir`: key, genesis, federation file.
    pub fn create_root(
        dir: &Path,
        root_unit: UnitId,
        root_name: sync_protocol::text::Text,
        now_ms: u64,
    ) -> Result<Self, NodeError> {
        prepare_dir(dir)?;
        let key = keys::generate();
        keys::write_new(&dir.join(KEY_FILE), &key)?;
        let genesis = Genesis {
            root_unit: root_unit.clone(),
            root_name,
            root_key: UnitKey(key.verifying_key().to_bytes()),
        };
        let federation = genesis.federation_id();
        let author = Author::new(federation, root_unit.clone(), key);
        let g = author.sign(now_ms, EntryBody::Genesis(genesis.clone()));
        let ff = FederationFile {
            federation_id: federation.to_hex(),
            root_unit: root_unit.to_string(),
            root_name: genesis.root_name.to_string(),
            root_public_key: genesis.root_key.to_hex(),
            genesis: hex::encode(g.bytes()),
        };
        write_json(&dir.join(FEDERATION_FILE), &ff)?;
        Self::create(dir, &ff, g, root_unit, Some(author), Vec::new(), now_ms)
    }

    /// Creates a node for an enrolled unit in `dir`, with its key already written there, and
    /// imports the trust entries it needs (its chain of certificates).
    pub fn create_enrolled(
        dir: &Path,
        federation: &FederationFile,
        genesis: Entry,
        unit: UnitId,
        trust: Vec<Entry>,
        now_ms: u64,
    ) -> Result<Self, NodeError> {
        let key = keys::read(&dir.join(KEY_FILE))?;
        write_json(&dir.join(FEDERATION_FILE), federation)?;
        let author = Author::new(genesis.federation(), unit.clone(), key);
        Self::create(dir, federation, genesis, unit, Some(author), trust, now_ms)
    }

    /// Creates an empty node for `unit` in `dir` from the federation file (already written
    /// there) and its genesis, for a restore: the caller imports the entries. Uses the key file
    /// in `dir` when there is one.
    pub fn create_restored(
        dir: &Path,
        federation: &FederationFile,
        genesis: Entry,
        unit: UnitId,
        now_ms: u64,
    ) -> Result<Self, NodeError> {
        let key_path = dir.join(KEY_FILE);
        let author = if key_path.exists() {
            Some(Author::new(
                genesis.federation(),
                unit.clone(),
                keys::read(&key_path)?,
            ))
        } else {
            None
        };
        let node = Self::create(dir, federation, genesis, unit, author, Vec::new(), now_ms)?;
        Ok(node)
    }

    fn create(
        dir: &Path,
        ff: &FederationFile,
        genesis: Entry,
        unit: UnitId,
        author: Option<Author>,
        trust: Vec<Entry>,
        now_ms: u64,
    ) -> Result<Self, NodeError> {
        let EntryBody::Genesis(g) = genesis.body() else {
            return Err(NodeError::Refused("not a genesis entry".into()));
        };
        create_private_dir(dir)?;
        create_private_dir(&dir.join(DB_DIR))?;
        let store = SledStore::open(&dir.join(DB_DIR))?;
        // A new store: its sync index is complete (empty), and filed as entries are stored.
        crate::sync_index::ensure(&store)?;
        let mut directory = Directory::new(g.clone(), genesis.hash());
        let outcome = import_batch(&store, &mut directory, vec![genesis], Some(&unit), now_ms)?;
        store.set_meta("federation", ff.federation_id.as_bytes())?;
        store.set_meta("unit", unit.as_str().as_bytes())?;
        // A new node's report index starts complete (empty) and is kept with every batch.
        store.set_meta(crate::report_index::META_KEY, &[1])?;
        store.set_meta(crate::search_index::META_KEY, &[1])?;
        let mut node = Self {
            dir: dir.to_owned(),
            store,
            directory,
            unit: unit.clone(),
            author,
            children: BTreeMap::new(),
            key_problem: None,
            import_source: None,
            unit_words: Default::default(),
            docs: StateMemo::new(),
        };
        let commit = node.plan(outcome.accepted, &StateMemo::new(), now_ms)?;
        node.store.commit(&commit)?;
        write_json(
            &dir.join(NODE_FILE),
            &NodeFile {
                unit: unit.to_string(),
                federation: ff.federation_id.clone(),
            },
        )?;
        let report = node.import(trust, now_ms)?;
        if !report.rejected.is_empty() {
            return Err(NodeError::Refused(format!(
                "certificate chain: {}",
                report.rejected[0].1
            )));
        }
        Ok(node)
    }

    /// Opens an existing node.
    pub fn open(dir: &Path) -> Result<Self, NodeError> {
        let nf_path = dir.join(NODE_FILE);
        if !nf_path.exists() {
            return Err(NodeError::NotANode(dir.to_owned()));
        }
        check_data_dir(dir)?;
        let nf: NodeFile =
            serde_json::from_str(&read_small(&nf_path)?).map_err(|e| NodeError::File {
                path: nf_path.clone(),
                reason: e.to_string(),
            })?;
        let unit = UnitId::new(&nf.unit).map_err(|e| NodeError::File {
            path: nf_path.clone(),
            reason: e.to_string(),
        })?;
        let store = SledStore::open(&dir.join(DB_DIR))?;
        // The database's lock is held: no other process is writing these.
        remove_temporary_leftovers(dir);
        crate::blobs::remove_staging_leftovers(dir);
        let directory =
            directory_from_ordered(store.trust_iter())?.ok_or_else(|| NodeError::File {
                path: dir.join(DB_DIR),
                reason: "the database holds no genesis".into(),
            })?;
        if directory.federation().to_hex() != nf.federation {
            return Err(NodeError::File {
                path: nf_path,
                reason: "node.json names another federation than the database holds".into(),
            });
        }
        let key_path = dir.join(KEY_FILE);
        // An encrypted key without its passphrase leaves the node readable (check, backup,
        // reports) but unable to sign; `author()` then says why.
        let mut key_problem = None;
        let author = if key_path.exists() {
            match keys::read(&key_path) {
                Ok(k) => Some(Author::new(directory.federation(), unit.clone(), k)),
                Err(e @ KeyError::NeedPassphrase(_)) => {
                    key_problem = Some(e.to_string());
                    None
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let mut node = Self {
            dir: dir.to_owned(),
            store,
            directory,
            unit,
            author,
            children: BTreeMap::new(),
            key_problem,
            import_source: None,
            unit_words: Default::default(),
            docs: StateMemo::new(),
        };
        node.children = children_of(&node.directory);
        if let Some(old) = node.store.needs_migration() {
            tracing::warn!(
                from = old,
                to = sled_store::SCHEMA_VERSION,
                "migrating the database"
            );
            crate::check::migrate(&mut node, crate::now_ms())?;
        }
        // A node stored before the sync index, or stopped while filing a batch: built once.
        if crate::sync_index::ensure(&node.store)? {
            tracing::warn!("the sync index was built");
        }
        if crate::report_index::build_if_missing(&node.store, &node.directory)? {
            tracing::warn!("built the report and listing index");
        }
        if crate::search_index::build_if_missing(&node.store)? {
            tracing::warn!("built the word index");
        }
        Ok(node)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// This node's unit.
    pub fn unit(&self) -> &UnitId {
        &self.unit
    }
    /// The record documents kept from one write to the next (see
    /// [`sync_protocol::record::record_state_at`]).
    pub(crate) fn docs(&self) -> &StateMemo {
        &self.docs
    }
    /// The store.
    pub fn store(&self) -> &SledStore {
        &self.store
    }
    /// Rebuilds the trust directory from the store.
    pub(crate) fn reload_directory(&mut self) -> Result<(), NodeError> {
        if let Some(d) = directory_from_ordered(self.store.trust_iter())? {
            self.directory = d;
            self.children = children_of(&self.directory);
        }
        Ok(())
    }
    /// A unit's children in the tree the counters follow (every certificate held), by id.
    pub fn tree_children(&self, unit: &UnitId) -> &[UnitId] {
        self.children.get(unit).map(|v| v.as_slice()).unwrap_or(&[])
    }
    /// The store, for migration.
    pub(crate) fn store_mut(&mut self) -> &mut SledStore {
        &mut self.store
    }
    /// The words of units search matches records by, cached until the directory changes.
    pub fn unit_words(&self, now_ms: u64) -> std::sync::Arc<crate::search_index::UnitWords> {
        self.unit_words.get(&self.directory, now_ms)
    }

    /// The trust directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }
    /// The federation id.
    pub fn federation(&self) -> FederationId {
        self.directory.federation()
    }
    /// The signer of this node's unit.
    pub fn author(&self) -> Result<&Author, NodeError> {
        self.author.as_ref().ok_or_else(|| NodeError::File {
            path: self.dir.join(KEY_FILE),
            reason: self
                .key_problem
                .clone()
                .unwrap_or_else(|| "this node has no key file, so it cannot sign".into()),
        })
    }
    /// Reads the federation file.
    pub fn federation_file(&self) -> Result<(FederationFile, Entry), NodeError> {
        FederationFile::read(&self.dir.join(FEDERATION_FILE))
    }
    /// Replaces the signer after a key rotation (the key file was replaced).
    pub fn reload_key(&mut self) -> Result<(), NodeError> {
        let key = keys::read(&self.dir.join(KEY_FILE))?;
        self.author = Some(Author::new(self.federation(), self.unit.clone(), key));
        self.key_problem = None;
        Ok(())
    }

    /// Verifies and stores a batch from anywhere, together with what in quarantine it may
    /// release (found through the quarantine's wait index). Accepted entries are durable when
    /// this returns: one sled transaction and one fsync round for the whole batch.
    pub fn import(&mut self, entries: Vec<Entry>, now_ms: u64) -> Result<ImportReport, NodeError> {
        let memo = crate::ingest::memo_for(&entries);
        self.import_with(entries, &memo, now_ms)
    }

    /// [`Node::import`] with the batch's first-change states already computed
    /// ([`crate::ingest::prepare`] does that on every core).
    pub fn import_with(
        &mut self,
        entries: Vec<Entry>,
        memo: &StateMemo,
        now_ms: u64,
    ) -> Result<ImportReport, NodeError> {
        self.import_door(entries, memo, now_ms, Door::Import)
    }

    /// The one import path: every entry, from sync, a bundle or a local write, is verified
    /// here together with what waits in quarantine for it, and stored in one commit. A local
    /// write (`Door::LocalWrite`) is all or nothing: when the verifier refuses it or it would
    /// wait, nothing is stored (not even what it would have released) and the refusal is
    /// returned as an error.
    fn import_door(
        &mut self,
        entries: Vec<Entry>,
        memo: &StateMemo,
        now_ms: u64,
        door: Door,
    ) -> Result<ImportReport, NodeError> {
        let fresh: BTreeSet<EntryHash> = entries.iter().map(|e| e.hash()).collect();
        let room = sync_protocol::limits::MAX_BATCH_ENTRIES.saturating_sub(entries.len());
        let held: Vec<Entry> = self
            .store
            .quarantine_candidates(entries.iter().flat_map(sled_store::provides))?
            .into_iter()
            .filter(|e| !fresh.contains(&e.hash()))
            .take(room)
            .collect();
        let held_hashes: BTreeSet<EntryHash> = held.iter().map(|e| e.hash()).collect();
        // The documents kept of the records the batch writes go to the batch's memo (the
        // verifier and the views use each for the ancestry it holds) and come back after.
        let touched: BTreeSet<RecordId> =
            entries.iter().filter_map(|e| e.body().record()).collect();
        for r in &touched {
            if let Some(doc) = self.docs.take_doc(r) {
                memo.put_doc(*r, doc);
            }
        }
        let fresh_count = entries.len();
        let mut batch = entries;
        batch.extend(held);
        let lookup = BatchLookup::new(&self.store);
        let outcome = import_batch_with(
            &lookup,
            &mut self.directory,
            batch,
            Some(&self.unit),
            now_ms,
            memo,
        )?;
        let ImportOutcome {
            accepted,
            duplicates,
            waiting,
            rejected,
        } = outcome;
        if door == Door::LocalWrite {
            let refusal = rejected
                .iter()
                .find(|(h, _)| fresh.contains(h))
                .map(|(_, r)| NodeError::Rejected(r.clone()))
                .or_else(|| {
                    waiting
                        .iter()
                        .find(|(e, _)| fresh.contains(&e.hash()))
                        .map(|(_, m)| NodeError::Waiting(m.clone()))
                });
            if let Some(e) = refusal {
                drop(lookup);
                // The verifier may have added released trust entries to the directory.
                if let Some(d) = directory_from_ordered(self.store.trust_iter())? {
                    self.directory = d;
                    self.children = children_of(&self.directory);
                }
                return Err(e);
            }
        }
        let released = accepted
            .iter()
            .filter(|v| held_hashes.contains(&v.entry().hash()))
            .count();
        let mut commit = self.plan_with(&lookup, accepted, memo, now_ms)?;
        drop(lookup);

        commit.quarantine_remove = commit
            .accepted
            .iter()
            .map(|(v, _)| v.entry().hash())
            .chain(rejected.iter().map(|(h, _)| *h))
            .filter(|h| held_hashes.contains(h))
            .collect();
        commit.quarantine_add = waiting
            .iter()
            .map(|(e, m)| (e.clone(), sled_store::wait_key(m), m.to_string()))
            .collect();
        commit.quarantine_since_ms = Some(now_ms);
        commit.quarantine_source = self.import_source.clone().unwrap_or_default();
        let accepted_count = commit.accepted.len();
        let refused = self.commit_or_reload(&commit)?;
        for r in &touched {
            if let Some(doc) = memo.take_doc(r) {
                self.docs.put_doc(*r, doc);
            }
        }
        self.expire_quarantine_logged(now_ms);
        let mut report = ImportReport {
            accepted: accepted_count - released,
            duplicates: duplicates.min(fresh_count),
            released,
            quarantined: waiting
                .iter()
                .filter(|(e, _)| fresh.contains(&e.hash()) && !refused.contains(&e.hash()))
                .map(|(e, m)| (e.hash().to_hex(), m.to_string()))
                .collect(),
            rejected: rejected
                .iter()
                .map(|(h, r)| (h.to_hex(), r.to_string()))
                .collect(),
            rejected_why: rejected
                .iter()
                .map(|(_, r)| Refusal::Rejected(r.clone()))
                .collect(),
            quarantined_why: waiting
                .iter()
                .filter(|(e, _)| fresh.contains(&e.hash()) && !refused.contains(&e.hash()))
                .map(|(_, m)| m.clone())
                .collect(),
        };
        for h in &refused {
            report.rejected_why.push(Refusal::QuarantineFull);
            report.rejected.push((
                h.to_hex(),
                format!(
                    "refused: no room in quarantine for its signer (at most {} entries and {} \
                     bytes per signing key, {} entries and {} bytes in all); send it again once \
                     what it waits for has arrived",
                    sync_protocol::limits::MAX_QUARANTINE_SOURCE_ENTRIES,
                    sync_protocol::limits::MAX_QUARANTINE_SOURCE_BYTES_STORED,
                    sync_protocol::limits::MAX_QUARANTINE_ENTRIES,
                    sync_protocol::limits::MAX_QUARANTINE_BYTES,
                ),
            ));
        }
        for (h, r) in &report.rejected {
            tracing::warn!(entry = %h, reason = %r, "entry rejected");
        }
        Ok(report)
    }

    /// [`Node::import`], recording `source` (`peer:UNIT`, `bundle:FILE`, `restore:FILE`) with
    /// every entry of the batch that waits in quarantine, so that the operator sees where held
    /// entries came from (DESIGN §9.3).
    pub fn import_from(
        &mut self,
        source: &str,
        entries: Vec<Entry>,
        now_ms: u64,
    ) -> Result<ImportReport, NodeError> {
        let previous = self.set_import_source(Some(source.to_owned()));
        let r = self.import(entries, now_ms);
        self.import_source = previous;
        r
    }

    /// Sets where the next imports come from (see [`Node::import_from`]); returns the previous
    /// setting, for the caller to put back.
    pub fn set_import_source(&mut self, source: Option<String>) -> Option<String> {
        std::mem::replace(&mut self.import_source, source)
    }

    /// Expires what has waited in quarantine longer than
    /// [`sync_protocol::limits::MAX_QUARANTINE_AGE_MS`] at `now_ms` (logged, and recorded in
    /// the expired log). Run after every import and by the service on start and hourly.
    pub fn expire_quarantine(
        &self,
        now_ms: u64,
    ) -> Result<Vec<crate::quarantine::ExpiredInfo>, NodeError> {
        Ok(crate::quarantine::expire(&self.store, now_ms)?)
    }

    /// [`Node::expire_quarantine`] after an import: the import is stored and durable already,
    /// so a failure here is logged rather than turned into a failed import.
    fn expire_quarantine_logged(&self, now_ms: u64) {
        if let Err(e) = self.expire_quarantine(now_ms) {
            tracing::error!(error = %e, "quarantine expiry failed; retried at the next import");
        }
    }

    /// Writes a commit; when it fails, the trust directory (already updated by the
    /// verification) is rebuilt from the store so that it says only what the store holds.
    fn commit_or_reload(&mut self, commit: &Commit) -> Result<Vec<EntryHash>, NodeError> {
        match self.store.commit(commit) {
            Ok(r) => {
                if !commit.parents.is_empty() {
                    self.children = children_of(&self.directory);
                }
                Ok(r)
            }
            Err(e) => {
                if let Ok(Some(d)) = directory_from_ordered(self.store.trust_iter()) {
                    self.directory = d;
                    self.children = children_of(&self.directory);
                }
                Err(e.into())
            }
        }
    }

    /// What storing `accepted` changes: each entry's place in the unit tree, the views and
    /// heads of the records it touches (and, after a revocation or a key change, of every
    /// record of the unit's subtree), and the parents of units it certifies.
    pub(crate) fn plan(
        &self,
        accepted: Vec<VerifiedEntry>,
        memo: &StateMemo,
        now_ms: u64,
    ) -> Result<Commit, NodeError> {
        self.plan_with(&self.store, accepted, memo, now_ms)
    }

    /// [`Node::plan`], reading the store through `lookup` (a batch's [`BatchLookup`]).
    fn plan_with<L: EntryLookup + Sync>(
        &self,
        lookup: &L,
        accepted: Vec<VerifiedEntry>,
        memo: &StateMemo,
        now_ms: u64,
    ) -> Result<Commit, NodeError> {
        let overlay = Overlay::new(lookup, &accepted);
        let mut records: BTreeSet<RecordId> = accepted
            .iter()
            .filter_map(|v| v.entry().body().record())
            .collect();
        let mut parents = Vec::new();
        let mut affected: Vec<UnitId> = Vec::new();
        for v in &accepted {
            match v.entry().body() {
                EntryBody::Certificate(c) => {
                    parents.push((
                        c.unit.clone(),
                        self.directory.report_parent(&c.unit).cloned(),
                    ));
                    // A rotation may end the old key's validity, and a move may change
                    // which unit is an entry's superior at its time: re-verify the subtree.
                    if c.replaces.is_some() {
                        affected.push(c.unit.clone());
                    }
                }
                EntryBody::Revocation(r) => affected.push(r.unit.clone()),
                // A merged unit's history moves under its successor; an end also ends the
                // unit's keys, which may void what it signed after the end.
                EntryBody::UnitEnd(x) => {
                    parents.push((
                        x.unit.clone(),
                        self.directory.report_parent(&x.unit).cloned(),
                    ));
                    affected.push(x.unit.clone());
                }
                _ => {}
            }
        }
        // Records whose entries a trust change may have invalidated are fully re-verified;
        // the others' entries were all verified on acceptance.
        let mut reverify: BTreeSet<RecordId> = BTreeSet::new();
        if !affected.is_empty() {
            let mut prefixes = Vec::new();
            for u in &affected {
                prefixes.extend(self.store.paths_of(u)?);
            }
            reverify.extend(
                self.store
                    .under_paths(&prefixes)?
                    .into_iter()
                    .filter_map(|(_, r)| r),
            );
        }
        records.extend(reverify.iter().copied());
        let mut out = Commit {
            parents,
            ..Commit::default()
        };
        let records: Vec<RecordId> = records.into_iter().collect();
        let view = |r: RecordId| {
            if reverify.contains(&r) {
                counters::view_row_of(&overlay, &self.directory, r, Some(&self.unit), now_ms)
            } else {
                counters::view_row_of_verified(&overlay, r, memo)
            }
        };
        // Views on every core: a record with edits loads an Automerge document.
        let views = records
            .par_iter()
            .map(|r| {
                let (v, row, h) = view(*r)?;
                let doc = match &row {
                    Some(_) => crate::search_index::doc_of(
                        row.as_ref(),
                        v.as_ref(),
                        &overlay.record_entries(r)?,
                    ),
                    None => None,
                };
                Ok((*r, v, row, h, doc))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for (r, v, row, h, doc) in views {
            out.records.push((r, v, h));
            out.rows.push((r, row));
            out.search.push((r, doc));
        }
        for v in accepted {
            let place = place_of(&self.directory, &overlay, v.entry())?;
            out.accepted.push((v, place));
        }
        Ok(out)
    }

    /// Signs `body` as this node's unit and stores it through the verified import path.
    /// Nothing is stored when verification refuses it.
    pub fn write(&mut self, body: EntryBody, now_ms: u64) -> Result<Entry, NodeError> {
        let entry = self.author()?.sign(now_ms, body);
        self.write_signed(entry, now_ms)
    }

    /// Stores an entry this node signed (or had signed), refusing anything not accepted.
    /// It goes through the same door as sync and bundles ([`Node::import_with`]): the same
    /// checks, and what waited in quarantine for it is released in the same commit.
    pub fn write_signed(&mut self, entry: Entry, now_ms: u64) -> Result<Entry, NodeError> {
        let memo = crate::ingest::memo_for(std::slice::from_ref(&entry));
        self.import_door(vec![entry.clone()], &memo, now_ms, Door::LocalWrite)?;
        Ok(entry)
    }

    /// Stores entries this node signed as one whole (a re-organisation plan): every entry is
    /// verified first against a copy of the trust directory, and nothing is stored unless all
    /// are accepted; the first refusal (entry index, reason) is returned. Up to
    /// [`sync_protocol::limits::MAX_BATCH_ENTRIES`] entries are one sled transaction; a longer
    /// batch, verified whole, is then written in that many at a time, in order.
    pub fn write_signed_all(
        &mut self,
        entries: Vec<Entry>,
        now_ms: u64,
    ) -> Result<(), (usize, NodeError)> {
        let max = sync_protocol::limits::MAX_BATCH_ENTRIES;
        let mut directory = self.directory.clone();
        let mut accepted_all = Vec::with_capacity(entries.len());
        for (ci, chunk) in entries.chunks(max).enumerate() {
            let outcome = import_batch(
                &self.store,
                &mut directory,
                chunk.to_vec(),
                Some(&self.unit),
                now_ms,
            )
            .map_err(|e| (ci * max, NodeError::from(e)))?;
            let index_of =
                |h: &EntryHash| ci * max + chunk.iter().position(|e| e.hash() == *h).unwrap_or(0);
            if let Some((h, r)) = outcome.rejected.first() {
                return Err((index_of(h), NodeError::Rejected(r.clone())));
            }
            if let Some((e, m)) = outcome.waiting.first() {
                return Err((index_of(&e.hash()), NodeError::Waiting(m.clone())));
            }
            accepted_all.push(outcome.accepted);
        }
        self.directory = directory;
        for accepted in accepted_all {
            let commit = self
                .plan(accepted, &StateMemo::new(), now_ms)
                .map_err(|e| (0, e))?;
            self.commit_or_reload(&commit).map_err(|e| (0, e))?;
        }
        // The counters' tree is rebuilt once the whole batch is in.
        self.children = children_of(&self.directory);
        Ok(())
    }

    /// Every stored entry the node of `recipient` should hold, trust entries first, parents
    /// first (see [`Node::trust_entries_for`]).
    pub fn entries_for(&self, recipient: &UnitId, now_ms: u64) -> Result<Vec<Entry>, NodeError> {
        let mut records = Vec::new();
        // This node is the recipient's peer: its chain travels too (it signs bundles).
        let mut signers: BTreeSet<UnitId> = BTreeSet::from([self.unit.clone()]);
        // Owners of targets: a target names the owner's children, whose certificates its
        // verification needs.
        let mut target_owners: BTreeSet<UnitId> = BTreeSet::new();
        for record in self.store.records()? {
            let entries = self.store.record_entries(&record)?;
            let origin = record_header(&entries).map(|h| h.owner);
            for e in entries {
                if scope::in_scope(&self.directory, recipient, &e, origin.as_ref(), now_ms) {
                    if !signers.contains(e.author()) {
                        signers.insert(e.author().clone());
                    }
                    if let EntryBody::RecordChange(c) = e.body() {
                        if !signers.contains(&c.owner) {
                            signers.insert(c.owner.clone());
                        }
                        if c.kind == sync_protocol::entry::RecordKind::Target {
                            target_owners.insert(c.owner.clone());
                        }
                    }
                    records.push(e);
                }
            }
        }
        if !target_owners.is_empty() {
            signers.extend(scope::children_of(&self.directory, &target_owners, now_ms));
        }
        let mut out = self.trust_entries_for(recipient, &signers, now_ms)?;
        out.extend(records);
        Ok(out)
    }

    /// The trust entries the node of `recipient` needs ([`scope::TrustScope`]): its chain,
    /// its subtree's, and those of `others` (its peers, the signers of the records it holds or
    /// is sent) with their chains; sorted parents first, so that a receiver importing them in
    /// order (in one batch or several) parks nothing in quarantine.
    pub fn trust_entries_for(
        &self,
        recipient: &UnitId,
        others: &BTreeSet<UnitId>,
        now_ms: u64,
    ) -> Result<Vec<Entry>, NodeError> {
        let scope = scope::TrustScope::new(&self.directory, recipient, others, now_ms);
        let mut out: Vec<Entry> = self
            .store
            .trust_entries()?
            .into_iter()
            .filter(|e| scope.needs(&self.directory, e))
            .collect();
        scope::sort_parents_first(&self.directory, &mut out);
        Ok(out)
    }

    /// The sync keys of what [`Node::entries_for`] gives `recipient`, sorted, without
    /// duplicates, as a session is offered them: read from the sync index
    /// ([`crate::sync_index`]), not from the records.
    pub fn offer_keys(&self, recipient: &UnitId, now_ms: u64) -> Result<Vec<SyncKey>, NodeError> {
        use sync_protocol::sync::{Bound, SyncSource};
        let source = crate::sync_index::IndexSource::for_peer(self, recipient, now_ms)?;
        Ok(source.keys_in(None, &Bound::Infinity))
    }

    /// Every stored entry.
    pub fn all_entries(&self) -> Result<Vec<Entry>, NodeError> {
        let mut out = Vec::new();
        for h in self.store.hashes()? {
            if let Some(e) = self.store.entry(&h)? {
                out.push(e);
            }
        }
        Ok(out)
    }
}

/// Where entries enter [`Node::import_door`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Door {
    /// Sync, bundles, restores: what waits is parked in quarantine, what is refused reported.
    Import,
    /// A write of this node's own: all or nothing.
    LocalWrite,
}

/// Where an entry sits in the unit tree: its unit and that unit's path at the entry's time.
pub fn place_of<L: EntryLookup>(
    d: &Directory,
    lookup: &L,
    e: &Entry,
) -> Result<Option<Place>, StoreError> {
    let unit = match e.body() {
        EntryBody::Genesis(g) => g.root_unit.clone(),
        EntryBody::Certificate(c) => c.unit.clone(),
        EntryBody::Revocation(r) => r.unit.clone(),
        EntryBody::UnitEnd(x) => x.unit.clone(),
        EntryBody::RecordChange(c) => c.owner.clone(),
        EntryBody::Projection(_) => e.author().clone(),
        EntryBody::Decision(x) => match record_header(&lookup.record_entries(&x.record)?) {
            Some(h) => h.owner,
            None => return Ok(None),
        },
    };
    Ok(Some(Place {
        path: unit_path(d, &unit, e.time_ms()),
        unit,
    }))
}

/// A unit's path at `t_ms`: the ids from the root down to it, each followed by `/`.
pub fn unit_path(d: &Directory, unit: &UnitId, t_ms: u64) -> Vec<u8> {
    let mut chain = d.ancestors_at(unit, t_ms);
    chain.reverse();
    chain.push(unit.clone());
    let mut out = Vec::with_capacity(chain.len() * 16);
    for u in chain {
        out.extend_from_slice(u.as_str().as_bytes());
        out.push(b'/');
    }
    out
}

/// The store plus a batch not yet written: what views are computed against.
pub(crate) struct Overlay<'a, L> {
    store: &'a L,
    added: BTreeMap<EntryHash, Entry>,
    by_record: BTreeMap<RecordId, Vec<EntryHash>>,
    by_change: BTreeMap<ChangeHash, EntryHash>,
}

impl<'a, L: EntryLookup> Overlay<'a, L> {
    pub(crate) fn new(store: &'a L, batch: &[VerifiedEntry]) -> Self {
        let mut o = Self {
            store,
            added: BTreeMap::new(),
            by_record: BTreeMap::new(),
            by_change: BTreeMap::new(),
        };
        for v in batch {
            let e = v.entry();
            if let Some(r) = e.body().record() {
                o.by_record.entry(r).or_default().push(e.hash());
            }
            if let EntryBody::RecordChange(c) = e.body() {
                o.by_change.insert(c.change.hash(), e.hash());
            }
            o.added.insert(e.hash(), e.clone());
        }
        o
    }
}

impl<L: EntryLookup> EntryLookup for Overlay<'_, L> {
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        match self.added.get(hash) {
            Some(e) => Ok(Some(e.clone())),
            None => self.store.entry(hash),
        }
    }
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        let mut v = self.store.record_entries(record)?;
        if let Some(hs) = self.by_record.get(record) {
            for h in hs {
                if !v.iter().any(|e| e.hash() == *h) {
                    if let Some(e) = self.added.get(h) {
                        v.push(e.clone());
                    }
                }
            }
        }
        Ok(v)
    }
    fn change_entry(&self, change: &ChangeHash) -> Result<Option<EntryHash>, StoreError> {
        match self.by_change.get(change) {
            Some(h) => Ok(Some(*h)),
            None => self.store.change_entry(change),
        }
    }
}

/// The store as one batch's import reads it: each record's stored entries are read once and
/// remembered until the batch commits (nothing writes the store meanwhile: the node holds it
/// mutably), so verification, the scope check and the views share one read per record.
pub(crate) struct BatchLookup<'a> {
    store: &'a SledStore,
    records: std::sync::Mutex<std::collections::HashMap<RecordId, Vec<Entry>>>,
}

impl<'a> BatchLookup<'a> {
    pub(crate) fn new(store: &'a SledStore) -> Self {
        Self {
            store,
            records: Default::default(),
        }
    }
}

impl EntryLookup for BatchLookup<'_> {
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        self.store.entry(hash)
    }
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        if let Some(v) = self
            .records
            .lock()
            .map_err(|_| StoreError("a view thread panicked".into()))?
            .get(record)
        {
            return Ok(v.clone());
        }
        let v = self.store.record_entries_kept(record)?;
        self.records
            .lock()
            .map_err(|_| StoreError("a view thread panicked".into()))?
            .insert(*record, v.clone());
        Ok(v)
    }
    fn change_entry(&self, change: &ChangeHash) -> Result<Option<EntryHash>, StoreError> {
        self.store.change_entry(change)
    }
}

impl EntryStore for BatchLookup<'_> {
    fn insert_batch(&mut self, _: &[VerifiedEntry]) -> Result<(), StoreError> {
        Err(StoreError(
            "a batch's lookup is read-only: the node commits through SledStore::commit".into(),
        ))
    }
    fn contains(&self, hash: &EntryHash) -> Result<bool, StoreError> {
        self.store.contains(hash)
    }
    /// An entry of a record is stored exactly when it is among the record's stored entries,
    /// which verifying it reads anyway (once per batch): no lookup by hash.
    fn contains_entry(&self, entry: &Entry) -> Result<bool, StoreError> {
        match entry.body().record() {
            Some(r) => Ok(self
                .record_entries(&r)?
                .iter()
                .any(|e| e.hash() == entry.hash())),
            None => self.store.contains(&entry.hash()),
        }
    }
    fn trust_entries(&self) -> Result<Vec<Entry>, StoreError> {
        self.store.trust_entries()
    }
    fn records(&self) -> Result<Vec<RecordId>, StoreError> {
        self.store.records()
    }
    fn hashes(&self) -> Result<Vec<EntryHash>, StoreError> {
        self.store.hashes()
    }
    fn len(&self) -> Result<usize, StoreError> {
        self.store.len()
    }
}

fn prepare_dir(dir: &Path) -> Result<(), NodeError> {
    if dir.join(NODE_FILE).exists() || dir.join(KEY_FILE).exists() {
        return Err(NodeError::AlreadyANode(dir.to_owned()));
    }
    create_private_dir(dir)
}

/// Prepares a directory for a unit being enrolled: creates it and writes a fresh key.
pub fn prepare_enrolment(dir: &Path) -> Result<UnitKey, NodeError> {
    prepare_dir(dir)?;
    let key = keys::generate();
    keys::write_new(&dir.join(KEY_FILE), &key)?;
    Ok(UnitKey(key.verifying_key().to_bytes()))
}
