//! A node: one unit's data directory, its store, trust directory and key.
//!
//! Layout of a data directory:
//!
//! ```text
//! DIR/node.json        which unit and federation this node is (written once)
//! DIR/federation.json  the federation file: id, root unit, root key, genesis entry
//! DIR/unit.key         the unit's private key, 0600
//! DIR/db/              the sled database
//! ```
//!
//! Every entry enters the store through [`Node::import`], the verified path that bundles and
//! sync use too; a local write is signed and then imported like any other entry.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sync_protocol::author::Author;
use sync_protocol::directory::Directory;
use sync_protocol::entry::{Entry, EntryBody, Genesis};
use sync_protocol::ids::{EntryHash, FederationId, UnitId, UnitKey};
use sync_protocol::import::{directory_from_store, import_batch, ImportError};
use sync_protocol::scope;
use sync_protocol::store::{EntryLookup, EntryStore, StoreError};
use sync_protocol::verify::record_header;

use crate::keys::{self, KeyError};
use crate::sled_store::{OpenError, SledStore};

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
    /// A write this node made was refused by its own verification.
    #[error("refused: {0}")]
    Refused(String),
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
        let bad = |reason: String| NodeError::File {
            path: path.to_owned(),
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
        Ok((f, entry))
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
    let tmp = path.with_extension("json.tmp");
    let io = |e: std::io::Error| NodeError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    fs::write(&tmp, text).map_err(io)?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
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
}

/// One unit's node.
pub struct Node {
    dir: PathBuf,
    store: SledStore,
    directory: Directory,
    unit: UnitId,
    author: Option<Author>,
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
        let mut store = SledStore::open(&dir.join(DB_DIR))?;
        let mut directory = Directory::new(g.clone(), genesis.hash());
        let outcome = import_batch(&store, &mut directory, vec![genesis], Some(&unit), now_ms)?;
        store.insert_batch(&outcome.accepted)?;
        store.set_meta("federation", ff.federation_id.as_bytes())?;
        store.set_meta("unit", unit.as_str().as_bytes())?;
        write_json(
            &dir.join(NODE_FILE),
            &NodeFile {
                unit: unit.to_string(),
                federation: ff.federation_id.clone(),
            },
        )?;
        let mut node = Self {
            dir: dir.to_owned(),
            store,
            directory,
            unit,
            author,
        };
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
        let directory = directory_from_store(&store)?.ok_or_else(|| NodeError::File {
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
        let author = if key_path.exists() {
            Some(Author::new(
                directory.federation(),
                unit.clone(),
                keys::read(&key_path)?,
            ))
        } else {
            None
        };
        Ok(Self {
            dir: dir.to_owned(),
            store,
            directory,
            unit,
            author,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// This node's unit.
    pub fn unit(&self) -> &UnitId {
        &self.unit
    }
    /// The store.
    pub fn store(&self) -> &SledStore {
        &self.store
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
            reason: "this node has no key file, so it cannot sign".into(),
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
        Ok(())
    }

    /// Verifies and stores a batch from anywhere, together with what waited in quarantine.
    /// Accepted entries are durable when this returns.
    pub fn import(&mut self, entries: Vec<Entry>, now_ms: u64) -> Result<ImportReport, NodeError> {
        let held = self.store.quarantined()?;
        let held_hashes: Vec<EntryHash> = held.iter().map(|(e, _)| e.hash()).collect();
        let fresh = entries.len();
        let mut batch = entries;
        batch.extend(held.into_iter().map(|(e, _)| e));
        let outcome = import_batch(
            &self.store,
            &mut self.directory,
            batch,
            Some(&self.unit),
            now_ms,
        )?;
        self.store.insert_batch(&outcome.accepted)?;
        let released = outcome
            .accepted
            .iter()
            .filter(|v| held_hashes.contains(&v.entry().hash()))
            .count();
        let leaving: Vec<EntryHash> = outcome
            .accepted
            .iter()
            .map(|v| v.entry().hash())
            .chain(outcome.rejected.iter().map(|(h, _)| *h))
            .filter(|h| held_hashes.contains(h))
            .collect();
        self.store.unquarantine(&leaving)?;
        let waiting: Vec<(Entry, String)> = outcome
            .waiting
            .iter()
            .map(|(e, m)| (e.clone(), m.to_string()))
            .collect();
        let refused = self.store.quarantine(&waiting)?;
        let mut report = ImportReport {
            accepted: outcome.accepted.len() - released,
            duplicates: outcome.duplicates.saturating_sub(0).min(fresh),
            released,
            quarantined: waiting
                .iter()
                .map(|(e, m)| (e.hash().to_hex(), m.clone()))
                .collect(),
            rejected: outcome
                .rejected
                .iter()
                .map(|(h, r)| (h.to_hex(), r.to_string()))
                .collect(),
        };
        if refused > 0 {
            report.rejected.push((
                String::new(),
                format!(
                    "{refused} entries refused: quarantine is full ({} entries)",
                    sync_protocol::limits::MAX_QUARANTINE_ENTRIES
                ),
            ));
        }
        for (h, r) in &report.rejected {
            tracing::warn!(entry = %h, reason = %r, "entry rejected");
        }
        Ok(report)
    }

    /// Signs `body` as this node's unit and stores it through the verified import path.
    /// Nothing is stored when verification refuses it.
    pub fn write(&mut self, body: EntryBody, now_ms: u64) -> Result<Entry, NodeError> {
        let entry = self.author()?.sign(now_ms, body);
        self.write_signed(entry, now_ms)
    }

    /// Stores an entry this node signed (or had signed), refusing anything not accepted.
    pub fn write_signed(&mut self, entry: Entry, now_ms: u64) -> Result<Entry, NodeError> {
        let outcome = import_batch(
            &self.store,
            &mut self.directory,
            vec![entry.clone()],
            Some(&self.unit),
            now_ms,
        )?;
        if let Some((_, r)) = outcome.rejected.first() {
            // The directory may have been updated only for accepted trust entries: none here.
            return Err(NodeError::Refused(r.to_string()));
        }
        if let Some((_, m)) = outcome.waiting.first() {
            return Err(NodeError::Refused(format!("waiting for {m}")));
        }
        self.store.insert_batch(&outcome.accepted)?;
        Ok(entry)
    }

    /// Every stored entry the node of `recipient` should hold, trust entries first.
    pub fn entries_for(&self, recipient: &UnitId, now_ms: u64) -> Result<Vec<Entry>, NodeError> {
        let mut out = self.store.trust_entries()?;
        for record in self.store.records()? {
            let entries = self.store.record_entries(&record)?;
            let origin = record_header(&entries).map(|h| h.owner);
            for e in entries {
                if scope::in_scope(&self.directory, recipient, &e, origin.as_ref(), now_ms) {
                    out.push(e);
                }
            }
        }
        Ok(out)
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

fn prepare_dir(dir: &Path) -> Result<(), NodeError> {
    if dir.join(NODE_FILE).exists() || dir.join(KEY_FILE).exists() {
        return Err(NodeError::AlreadyANode(dir.to_owned()));
    }
    fs::create_dir_all(dir).map_err(|e| NodeError::File {
        path: dir.to_owned(),
        reason: e.to_string(),
    })
}

/// Prepares a directory for a unit being enrolled: creates it and writes a fresh key.
pub fn prepare_enrolment(dir: &Path) -> Result<UnitKey, NodeError> {
    prepare_dir(dir)?;
    let key = keys::generate();
    keys::write_new(&dir.join(KEY_FILE), &key)?;
    Ok(UnitKey(key.verifying_key().to_bytes()))
}
