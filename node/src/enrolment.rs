//! Enrolment and key rotation by request: a private key never leaves the machine it was made on.
//!
//! 1. The new node (or, for a rotation, the node itself) makes its key where it will be used
//!    and writes a **request** ([`request_new`], [`request_rotation`]): a short text file naming
//!    the unit, its name, role and parent, its new public key, and (for a rotation) the
//!    certificate it replaces; signed by the new key (proof of possession) and, for a rotation,
//!    also by the unit's current key (the request comes from the unit itself). The request has a
//!    **check code** ([`check_code`]) the two operators compare by telephone.
//! 2. The parent checks it and certifies the key ([`certify`]): it stores the certificate and
//!    writes an **answer** file: the federation file and the child's chain (its ancestors'
//!    certificates and the new one). No private key is in either file.
//!    An **emergency** rotation (the current key lost or stolen) is certified without the
//!    current key's signature, on the operator's word (the check code read out).
//! 3. The child imports the answer ([`accept_new`], [`accept_rotation`]): a new node is created around the key it already
//!    holds; a rotating node imports the certificate and switches to the new key (the old one is
//!    kept, renamed, as `unit.key.retired-<time>`).

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sync_protocol::entry::{Certificate, Entry, EntryBody, UnitRole};
use sync_protocol::ids::{EntryHash, FederationId, UnitId, UnitKey};
use sync_protocol::limits::{
    MAX_ENROLMENT_ANSWER_BYTES, MAX_ENROLMENT_REQUEST_BYTES, MAX_UNIT_NAME_CHARS,
};
use sync_protocol::text::Text;

use crate::keys::{self, KeyError};
use crate::node::{FederationFile, KEY_FILE, NODE_FILE};
use crate::{Node, NodeError};

/// The first line of a request file.
pub const REQUEST_MAGIC: &str = "sangkien-enrolment-request 1";
/// The `format` of an answer file.
pub const ANSWER_FORMAT: &str = "sangkien-certificate 1";
/// The key a rotating node has made and waits to have certified, beside `unit.key`.
pub const NEW_KEY_FILE: &str = "unit.key.new";
/// A new node's own copy of its request, until the answer is accepted.
pub const PENDING_FILE: &str = "enrolment-request.txt";
/// Domain separation of the request signatures.
const REQUEST_CONTEXT: &[u8] = b"sangkien enrolment request v1\0";

/// Why a request or an answer was refused. Every variant says what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    /// A file over its limit.
    #[error("{path}: {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        /// the file
        path: PathBuf,
        /// its size
        bytes: u64,
        /// the limit
        limit: u64,
    },
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// the file
        path: PathBuf,
        /// what failed
        reason: String,
    },
    /// Not a request file, or a line of it is wrong.
    #[error("not an enrolment request: {0}")]
    MalformedRequest(String),
    /// The request's signature by its new key does not verify: altered or forged.
    #[error("the request's signature does not verify (altered or forged)")]
    BadRequestSignature,
    /// A rotation request not signed by the unit's current key.
    #[error("the rotation request of {unit} is not signed by its current key {key}")]
    NotSignedByCurrentKey {
        /// the unit
        unit: UnitId,
        /// its current key (short)
        key: String,
    },
    /// A request for another federation.
    #[error("the request is for federation {got}, this node is in {expected}")]
    WrongFederation {
        /// this node's
        expected: String,
        /// the request's
        got: String,
    },
    /// A request naming another parent.
    #[error("the request names {named} as parent, not {this}")]
    WrongParent {
        /// named in the request
        named: UnitId,
        /// this node's unit
        this: UnitId,
    },
    /// A first enrolment of a unit that is already certified.
    #[error("{0} is already certified: a new key for it is a rotation request")]
    AlreadyCertified(UnitId),
    /// A rotation of a unit this node does not hold as its child.
    #[error("{0} is not a child of this unit")]
    NotAChild(UnitId),
    /// A rotation request that replaces another certificate than the unit's current one.
    #[error(
        "the request replaces certificate {got}, but {unit}'s current certificate is {current}"
    )]
    NotCurrentCertificate {
        /// the unit
        unit: UnitId,
        /// replaced by the request (short)
        got: String,
        /// the current one (short)
        current: String,
    },
    /// The requested role may not be a child of this node's role.
    #[error("role {child} is not allowed under role {parent}")]
    RoleNotAllowed {
        /// this node's role
        parent: &'static str,
        /// the requested role
        child: &'static str,
    },
    /// Not an answer file, or its content does not fit.
    #[error("not a certificate file for this node: {0}")]
    MalformedAnswer(String),
    /// The answer does not certify the key this node holds.
    #[error(
        "the certificate file does not certify {unit} with the key {key} this directory holds"
    )]
    AnswerNotForThisKey {
        /// the unit
        unit: UnitId,
        /// the key waiting (short)
        key: String,
    },
    /// Nothing waits for an answer in the directory.
    #[error("{0}: no enrolment or rotation request is waiting here")]
    NothingPending(PathBuf),
    /// The directory is not fit for a new request.
    #[error("{0}: the directory is not empty: choose a new or empty directory")]
    NotEmpty(PathBuf),
    /// The node.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A key file.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrolmentRequest {
    /// The federation, when the requester knows it (always for a rotation).
    pub federation: Option<FederationId>,
    /// The unit.
    pub unit: UnitId,
    /// Its name.
    pub name: Text,
    /// Its role.
    pub role: UnitRole,
    /// The parent asked to certify it.
    pub parent: UnitId,
    /// The new public key.
    pub key: UnitKey,
    /// For a rotation: the certificate replaced.
    pub replaces: Option<EntryHash>,
    /// When it was made (Unix ms, the requester's clock; informative).
    pub time_ms: u64,
}

/// A request read from its text, its new-key signature verified.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    /// What it asks.
    pub request: EnrolmentRequest,
    payload: String,
    current_signature: Option<[u8; 64]>,
    text: String,
}

impl SignedRequest {
    /// The check code of the request ([`check_code`]).
    pub fn check_code(&self) -> String {
        check_code(&self.text)
    }
    /// Whether the request is signed by `key` (the unit's current key).
    pub fn signed_by(&self, key: &UnitKey) -> bool {
        let (Some(sig), Ok(vk)) = (self.current_signature, VerifyingKey::from_bytes(&key.0)) else {
            return false;
        };
        vk.verify_strict(&signed_message(&self.payload), &Signature::from_bytes(&sig))
            .is_ok()
    }
}

fn signed_message(payload: &str) -> Vec<u8> {
    let mut m = REQUEST_CONTEXT.to_vec();
    m.extend_from_slice(payload.as_bytes());
    m
}

/// A short code identifying a request's exact text, for the two operators to compare aloud:
/// 12 hexadecimal digits of its BLAKE3 hash, in three groups (`7F3A-91C2-0B44`).
pub fn check_code(text: &str) -> String {
    let h = blake3::hash(text.trim_end().as_bytes());
    let hx = hex::encode_upper(&h.as_bytes()[..6]);
    format!("{}-{}-{}", &hx[..4], &hx[4..8], &hx[8..12])
}

impl EnrolmentRequest {
    fn payload(&self) -> String {
        let opt = |s: Option<String>| s.unwrap_or_else(|| "-".into());
        format!(
            "{REQUEST_MAGIC}\nfederation {}\nunit {}\nname {}\nrole {}\nparent {}\nkey {}\nreplaces {}\ntime {}\n",
            opt(self.federation.map(|f| f.to_hex())),
            self.unit,
            self.name,
            self.role.code(),
            self.parent,
            self.key.to_hex(),
            opt(self.replaces.map(|h| h.to_hex())),
            self.time_ms
        )
    }

    /// The request's text, signed by `new` (whose public key it names) and, for a rotation, by
    /// the unit's `current` key.
    pub fn sign(&self, new: &SigningKey, current: Option<&SigningKey>) -> String {
        assert_eq!(
            new.verifying_key().to_bytes(),
            self.key.0,
            "the new key signs"
        );
        let payload = self.payload();
        let m = signed_message(&payload);
        let mut text = payload;
        text.push_str(&format!(
            "signature {}\n",
            hex::encode(new.sign(&m).to_bytes())
        ));
        if let Some(c) = current {
            text.push_str(&format!(
                "current-signature {}\n",
                hex::encode(c.sign(&m).to_bytes())
            ));
        }
        text
    }

    /// Reads a request's text and checks its new-key signature. Bounded by
    /// [`MAX_ENROLMENT_REQUEST_BYTES`].
    pub fn decode(text: &str) -> Result<SignedRequest, EnrolError> {
        if text.len() as u64 > MAX_ENROLMENT_REQUEST_BYTES {
            return Err(EnrolError::MalformedRequest(format!(
                "{} bytes, over the limit of {MAX_ENROLMENT_REQUEST_BYTES}",
                text.len()
            )));
        }
        let bad = |s: String| EnrolError::MalformedRequest(s);
        // Pasted text may come with Windows line ends or surrounding blank lines.
        let lines: Vec<&str> = text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .skip_while(|l| l.trim().is_empty())
            .collect();
        if lines.first().map(|l| l.trim()) != Some(REQUEST_MAGIC) {
            return Err(bad(format!("the first line is not {REQUEST_MAGIC:?}")));
        }
        let field = |i: usize, name: &str| -> Result<&str, EnrolError> {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(' '))
                .ok_or_else(|| bad(format!("line {} should be {name:?}", i + 1)))
        };
        let federation = match field(1, "federation")? {
            "-" => None,
            h => Some(FederationId::from_hex(h).map_err(|e| bad(format!("federation: {e}")))?),
        };
        let unit = UnitId::new(field(2, "unit")?).map_err(|e| bad(format!("unit: {e}")))?;
        let name = Text::required("name", field(3, "name")?, MAX_UNIT_NAME_CHARS)
            .map_err(|e| bad(format!("name: {e}")))?;
        let role = UnitRole::from_code(field(4, "role")?).ok_or_else(|| bad("role".into()))?;
        let parent = UnitId::new(field(5, "parent")?).map_err(|e| bad(format!("parent: {e}")))?;
        let key = UnitKey::from_hex(field(6, "key")?).map_err(|e| bad(format!("key: {e}")))?;
        let replaces = match field(7, "replaces")? {
            "-" => None,
            h => Some(EntryHash::from_hex(h).map_err(|e| bad(format!("replaces: {e}")))?),
        };
        let time_ms: u64 = field(8, "time")?.parse().map_err(|_| bad("time".into()))?;
        let sig = |s: &str| -> Result<[u8; 64], EnrolError> {
            let mut a = [0u8; 64];
            hex::decode_to_slice(s.trim(), &mut a).map_err(|e| bad(format!("signature: {e}")))?;
            Ok(a)
        };
        let signature = sig(field(9, "signature")?)?;
        let current_signature = match lines.get(10).filter(|l| !l.trim().is_empty()) {
            None => None,
            Some(_) => Some(sig(field(10, "current-signature")?)?),
        };
        if lines.iter().skip(11).any(|l| !l.trim().is_empty()) {
            return Err(bad("unexpected lines after the signatures".into()));
        }
        let request = EnrolmentRequest {
            federation,
            unit,
            name,
            role,
            parent,
            key,
            replaces,
            time_ms,
        };
        let payload = request.payload();
        let vk = VerifyingKey::from_bytes(&key.0).map_err(|_| EnrolError::BadRequestSignature)?;
        vk.verify_strict(
            &signed_message(&payload),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| EnrolError::BadRequestSignature)?;
        let mut canonical = request.sign_text_from(&payload, &signature, current_signature);
        canonical.truncate(canonical.trim_end().len());
        Ok(SignedRequest {
            request,
            payload,
            current_signature,
            text: canonical,
        })
    }

    fn sign_text_from(&self, payload: &str, sig: &[u8; 64], current: Option<[u8; 64]>) -> String {
        let mut t = payload.to_owned();
        t.push_str(&format!("signature {}\n", hex::encode(sig)));
        if let Some(c) = current {
            t.push_str(&format!("current-signature {}\n", hex::encode(c)));
        }
        t
    }
}

/// Reads a small file under `limit`, checking the size before reading.
pub fn read_bounded(path: &Path, limit: u64) -> Result<String, EnrolError> {
    let file_err = |reason: String| EnrolError::File {
        path: path.to_owned(),
        reason,
    };
    let meta = fs::metadata(path).map_err(|e| file_err(e.to_string()))?;
    if meta.len() > limit {
        return Err(EnrolError::TooLarge {
            path: path.to_owned(),
            bytes: meta.len(),
            limit,
        });
    }
    let bytes = fs::read(path).map_err(|e| file_err(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(EnrolError::TooLarge {
            path: path.to_owned(),
            bytes: bytes.len() as u64,
            limit,
        });
    }
    String::from_utf8(bytes).map_err(|_| file_err("not UTF-8 text".into()))
}

/// What a new unit asks to be certified as.
#[derive(Clone, Debug)]
pub struct NewUnit {
    /// Its id.
    pub unit: UnitId,
    /// Its name.
    pub name: Text,
    /// Its role.
    pub role: UnitRole,
    /// The parent that will certify it.
    pub parent: UnitId,
}

/// Makes a new node's key in `dir` (a new or empty directory, created private) and its request;
/// keeps a copy of the request in the directory until [`accept_new`]. Returns the request's text.
pub fn request_new(
    dir: &Path,
    unit: NewUnit,
    federation: Option<FederationId>,
    now_ms: u64,
) -> Result<String, EnrolError> {
    if dir.join(NODE_FILE).exists()
        || fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
        || (dir.exists() && !dir.is_dir())
    {
        return Err(EnrolError::NotEmpty(dir.to_owned()));
    }
    let key = crate::node::prepare_enrolment(dir)?;
    let signing = keys::read(&dir.join(KEY_FILE))?;
    let request = EnrolmentRequest {
        federation,
        unit: unit.unit,
        name: unit.name,
        role: unit.role,
        parent: unit.parent,
        key,
        replaces: None,
        time_ms: now_ms,
    };
    let text = request.sign(&signing, None);
    write_private(&dir.join(PENDING_FILE), &text)?;
    Ok(text)
}

/// Makes a rotating node's new key (`unit.key.new`, kept if it exists: asking again gives the
/// same key) and its request, signed by the new key and the current one. Returns the text.
pub fn request_rotation(node: &Node, now_ms: u64) -> Result<String, EnrolError> {
    let current = node
        .directory()
        .cert_at(node.unit(), now_ms)
        .cloned()
        .ok_or_else(|| EnrolError::NotAChild(node.unit().clone()))?;
    let new_path = node.dir().join(NEW_KEY_FILE);
    let new = if new_path.exists() {
        keys::read(&new_path)?
    } else {
        let k = keys::generate();
        keys::write_new(&new_path, &k)?;
        k
    };
    let current_key = keys::read(&node.dir().join(KEY_FILE)).ok();
    let request = EnrolmentRequest {
        federation: Some(node.federation()),
        unit: node.unit().clone(),
        name: current.cert.name.clone(),
        role: current.cert.role,
        parent: current.cert.parent.clone(),
        key: UnitKey(new.verifying_key().to_bytes()),
        replaces: Some(current.hash),
        time_ms: now_ms,
    };
    Ok(request.sign(&new, current_key.as_ref()))
}

/// The answer file's content.
#[derive(Serialize, Deserialize, Debug)]
pub struct Answer {
    /// [`ANSWER_FORMAT`].
    pub format: String,
    /// The federation file.
    pub federation: FederationFile,
    /// The child's chain, parents first, its new certificate last; hex of each entry.
    pub entries: Vec<String>,
}

/// What [`certify`] did.
#[derive(Debug)]
pub struct Certified {
    /// The certificate entry (stored at the parent).
    pub certificate: Entry,
    /// The answer file's text, for the child.
    pub answer: String,
    /// Whether it was a rotation.
    pub rotation: bool,
}

/// Checks a request at the parent and certifies its key: a first certificate for a new unit, or
/// a replacing one for a rotation (signed by the unit's current key, or `emergency`). Stores the
/// certificate and returns the answer for the child. Nothing is stored when a check fails.
pub fn certify(
    parent: &mut Node,
    req: &SignedRequest,
    emergency: bool,
    now_ms: u64,
) -> Result<Certified, EnrolError> {
    let r = &req.request;
    if let Some(f) = r.federation {
        if f != parent.federation() {
            return Err(EnrolError::WrongFederation {
                expected: parent.federation().to_hex(),
                got: f.to_hex(),
            });
        }
    }
    let d = parent.directory();
    let cert = match r.replaces {
        None => {
            if r.parent != *parent.unit() {
                return Err(EnrolError::WrongParent {
                    named: r.parent.clone(),
                    this: parent.unit().clone(),
                });
            }
            if d.knows(&r.unit) {
                return Err(EnrolError::AlreadyCertified(r.unit.clone()));
            }
            if let Some(pr) = d.role_at(parent.unit(), now_ms) {
                if !pr.may_parent(r.role) {
                    return Err(EnrolError::RoleNotAllowed {
                        parent: pr.code(),
                        child: r.role.code(),
                    });
                }
            }
            Certificate {
                unit: r.unit.clone(),
                name: r.name.clone(),
                role: r.role,
                parent: parent.unit().clone(),
                key: r.key,
                replaces: None,
            }
        }
        Some(replaced) => {
            let current = d
                .cert_at(&r.unit, now_ms)
                .filter(|c| c.cert.parent == *parent.unit())
                .cloned()
                .ok_or_else(|| EnrolError::NotAChild(r.unit.clone()))?;
            if current.hash != replaced {
                return Err(EnrolError::NotCurrentCertificate {
                    unit: r.unit.clone(),
                    got: replaced.short(),
                    current: current.hash.short(),
                });
            }
            if !emergency && !req.signed_by(&current.cert.key) {
                return Err(EnrolError::NotSignedByCurrentKey {
                    unit: r.unit.clone(),
                    key: current.cert.key.short(),
                });
            }
            // Name, role and parent stay as certified: a rotation changes the key only.
            Certificate {
                key: r.key,
                replaces: Some(current.hash),
                ..current.cert.clone()
            }
        }
    };
    let rotation = cert.replaces.is_some();
    let unit = cert.unit.clone();
    let certificate = parent.write(EntryBody::Certificate(cert), now_ms)?;
    let (ff, _) = parent.federation_file()?;
    let others = std::collections::BTreeSet::from([parent.unit().clone()]);
    let mut chain = parent.trust_entries_for(&unit, &others, now_ms)?;
    // The child's own chain only (its ancestors' certificates and its own), not its subtree's.
    let line: std::collections::BTreeSet<UnitId> = std::iter::once(unit.clone())
        .chain(parent.directory().ancestors_at(&unit, now_ms))
        .collect();
    chain.retain(|e| {
        sync_protocol::scope::trust_subject(e).is_none_or(|s| line.contains(s))
            && !matches!(e.body(), EntryBody::Genesis(_))
    });
    if !chain.iter().any(|e| e.hash() == certificate.hash()) {
        chain.push(certificate.clone());
    }
    let answer = Answer {
        format: ANSWER_FORMAT.into(),
        federation: ff,
        entries: chain.iter().map(|e| hex::encode(e.bytes())).collect(),
    };
    Ok(Certified {
        certificate,
        answer: serde_json::to_string_pretty(&answer).expect("json"),
        rotation,
    })
}

/// What [`accept`] did.
pub struct Accepted {
    /// The new node (`None` for a rotation: the caller's node now signs with the new key).
    pub node: Option<Node>,
    /// Whether it was a rotation (else a new node).
    pub rotation: bool,
    /// The key now in use.
    pub key: UnitKey,
}

fn parse_answer(text: &str) -> Result<(FederationFile, Entry, Vec<Entry>), EnrolError> {
    let bad = |s: String| EnrolError::MalformedAnswer(s);
    if text.len() as u64 > MAX_ENROLMENT_ANSWER_BYTES {
        return Err(bad(format!(
            "{} bytes, over the limit of {MAX_ENROLMENT_ANSWER_BYTES}",
            text.len()
        )));
    }
    let a: Answer = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if a.format != ANSWER_FORMAT {
        return Err(bad(format!("format {:?}", a.format)));
    }
    let genesis = FederationFile::check(&a.federation).map_err(|e| bad(e.to_string()))?;
    let mut entries = Vec::with_capacity(a.entries.len());
    for h in &a.entries {
        let bytes = hex::decode(h).map_err(|e| bad(format!("entry: {e}")))?;
        let e = Entry::decode(&bytes).map_err(|e| bad(format!("entry: {e}")))?;
        if !sync_protocol::scope::is_trust(&e) {
            return Err(bad(
                "an entry that is not a certificate or revocation".into()
            ));
        }
        entries.push(e);
    }
    Ok((a.federation, genesis, entries))
}

/// Imports the parent's answer at a new node's directory `dir` (made by [`request_new`]):
/// creates the node around the key already there. Refuses an answer that does not certify
/// exactly that key.
pub fn accept_new(dir: &Path, answer_text: &str, now_ms: u64) -> Result<Accepted, EnrolError> {
    let (ff, genesis, entries) = parse_answer(answer_text)?;
    if dir.join(NODE_FILE).exists() {
        return Err(EnrolError::Node(NodeError::AlreadyANode(dir.to_owned())));
    }
    let pending = dir.join(PENDING_FILE);
    if !pending.exists() || !dir.join(KEY_FILE).exists() {
        return Err(EnrolError::NothingPending(dir.to_owned()));
    }
    let req = EnrolmentRequest::decode(&read_bounded(&pending, MAX_ENROLMENT_REQUEST_BYTES)?)?;
    let key = UnitKey(keys::read(&dir.join(KEY_FILE))?.verifying_key().to_bytes());
    let unit = req.request.unit.clone();
    if req.request.key != key || !certifies(&entries, &unit, &key) {
        return Err(EnrolError::AnswerNotForThisKey {
            unit,
            key: key.short(),
        });
    }
    let node = Node::create_enrolled(dir, &ff, genesis, unit.clone(), entries, now_ms)?;
    if node.directory().key_valid_at(&unit, &key, now_ms).is_err() {
        return Err(EnrolError::AnswerNotForThisKey {
            unit,
            key: key.short(),
        });
    }
    let _ = fs::remove_file(&pending);
    Ok(Accepted {
        node: Some(node),
        rotation: false,
        key,
    })
}

/// Imports the parent's answer at a rotating node: stores the certificate and switches to the
/// key made by [`request_rotation`] (the old key file is kept as `unit.key.retired-<time>`).
/// Refuses an answer that does not certify exactly that key.
pub fn accept_rotation(
    node: &mut Node,
    answer_text: &str,
    now_ms: u64,
) -> Result<Accepted, EnrolError> {
    let (ff, _, entries) = parse_answer(answer_text)?;
    let dir = node.dir().to_owned();
    let new_path = dir.join(NEW_KEY_FILE);
    if !new_path.exists() {
        return Err(EnrolError::NothingPending(dir));
    }
    let new = keys::read(&new_path)?;
    let new_public = UnitKey(new.verifying_key().to_bytes());
    if ff.federation_id != node.federation().to_hex() {
        return Err(EnrolError::MalformedAnswer(
            "the certificate file is for another federation".into(),
        ));
    }
    let unit = node.unit().clone();
    if !certifies(&entries, &unit, &new_public) {
        return Err(EnrolError::AnswerNotForThisKey {
            unit,
            key: new_public.short(),
        });
    }
    node.import(entries, now_ms)?;
    if node
        .directory()
        .key_valid_at(&unit, &new_public, now_ms)
        .is_err()
    {
        return Err(EnrolError::AnswerNotForThisKey {
            unit,
            key: new_public.short(),
        });
    }
    let key_path = dir.join(KEY_FILE);
    let retired = dir.join(format!("unit.key.retired-{now_ms}"));
    fs::rename(&key_path, &retired)
        .and_then(|_| fs::rename(&new_path, &key_path))
        // Both names survive a power cut before the rotation is reported.
        .and_then(|_| crate::durable::sync_dir(&dir))
        .map_err(|e| EnrolError::File {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
    node.reload_key()?;
    Ok(Accepted {
        node: None,
        rotation: true,
        key: new_public,
    })
}

fn certifies(entries: &[Entry], unit: &UnitId, key: &UnitKey) -> bool {
    entries
        .iter()
        .any(|e| matches!(e.body(), EntryBody::Certificate(c) if c.unit == *unit && c.key == *key))
}

fn write_private(path: &Path, text: &str) -> Result<(), EnrolError> {
    use std::io::Write;
    let err = |e: std::io::Error| EnrolError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut f = crate::durable::create_new(path, crate::durable::PRIVATE_MODE).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok(())
}
