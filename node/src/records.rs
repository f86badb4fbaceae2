//! Officers' writes: creating and editing records, projecting confidential initiatives,
//! deciding. Each builds entries with the core and stores them through [`Node::write`], the
//! verified path; nothing is stored when a rule refuses them.

use std::collections::BTreeSet;

use rand_core::{OsRng, RngCore};
use sync_protocol::audit::{verify_record, RecordReport};
use sync_protocol::entry::{Binding, Decision, DecisionKind, EntryBody, RecordChange, RecordKind};
use sync_protocol::ids::{ChangeHash, EntryHash, RecordId};
use sync_protocol::record::{self, RecordContent};
use sync_protocol::store::{EntryLookup, EntryStore};
use sync_protocol::text::Text;
use sync_protocol::verify::{changes_of, record_header};

use crate::node::{Node, NodeError};

fn refused(e: impl std::fmt::Display) -> NodeError {
    NodeError::Refused(e.to_string())
}

/// Why an officer's write cannot be made here, before anything is signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefusal {
    /// No entry of the record is held here.
    #[error("record {} is not held here", .0.short())]
    NotHeld(RecordId),
    /// The record is held without its content (a confidential record of another unit).
    #[error("record {} has no content here", .0.short())]
    NoContent(RecordId),
    /// Only initiatives have public projections.
    #[error("only an initiative held here can be projected")]
    NotProjectable,
    /// A confidential initiative without its commitment salt.
    #[error("a confidential initiative needs a commitment salt")]
    NoSalt,
    /// Decisions are made on initiatives only.
    #[error("decisions are made on initiatives")]
    NotAnInitiative,
    /// A confidential initiative whose projection has not arrived.
    #[error("no public projection of this initiative is held here")]
    NoProjection,
    /// Content that makes no change at all.
    #[error("empty record")]
    Empty,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A fresh commitment salt for a confidential initiative.
pub fn new_salt() -> [u8; 32] {
    random_bytes()
}

/// Creates a record owned by this node's unit. Returns its id.
pub fn create(
    node: &mut Node,
    content: &RecordContent,
    now_ms: u64,
) -> Result<RecordId, NodeError> {
    record::validate_standalone(content).map_err(NodeError::Content)?;
    let record = RecordId(random_bytes());
    let mut doc = record::new_document(random_bytes());
    let change = record::commit_content(&mut doc, content, now_ms)
        .map_err(refused)?
        .ok_or(WriteRefusal::Empty)?;
    let (kind, confidential) = kind_of(content);
    node.write(
        EntryBody::RecordChange(RecordChange {
            record,
            kind,
            owner: node.unit().clone(),
            confidential,
            change,
        }),
        now_ms,
    )?;
    if let RecordContent::Initiative(i) = content {
        if i.confidential {
            project(node, record, now_ms)?;
        }
    }
    Ok(record)
}

/// Edits a record this node's unit owns: `edit` changes the current content; only changed
/// fields are written. Returns whether anything changed.
pub fn edit(
    node: &mut Node,
    record: RecordId,
    edit: impl FnOnce(&mut RecordContent),
    now_ms: u64,
) -> Result<bool, NodeError> {
    // The record's merged content and a document at its heads, through the document the node
    // kept from its last write (a change applied, not the whole history replayed). The write
    // below is verified as any other.
    let mut entries = node.store().record_entries_kept(&record)?;
    entries.sort_by_key(|e| (e.time_ms(), e.hash()));
    let header = record_header(&entries).ok_or(WriteRefusal::NotHeld(record))?;
    let known = changes_of(&entries);
    let cited: BTreeSet<ChangeHash> = known
        .values()
        .flat_map(|c| c.deps().iter().copied())
        .collect();
    let heads: Vec<ChangeHash> = known
        .keys()
        .filter(|h| !cited.contains(h))
        .copied()
        .collect();
    if heads.is_empty() {
        return Err(WriteRefusal::NoContent(record).into());
    }
    let mut content = record::record_state_at(record, &known, &heads, header.kind, node.docs())
        .ok()
        .and_then(|s| s.content.ok())
        .ok_or(WriteRefusal::NoContent(record))?;
    edit(&mut content);
    // An initiative names its origin's direct superior as of each change (the verifier's
    // rule): after a re-organisation moved the origin, the next edit names the new parent.
    if let RecordContent::Initiative(i) = &mut content {
        if let Some(p) = node.directory().parent_at(&header.owner, now_ms) {
            if i.superior != *p {
                i.superior = p.clone();
            }
        }
    }
    record::validate_standalone(&content).map_err(NodeError::Content)?;
    let mut doc = record::document_at(record, &known, &heads, node.docs(), random_bytes())
        .map_err(refused)?;
    let Some(change) = record::commit_content(&mut doc, &content, now_ms).map_err(refused)? else {
        return Ok(false);
    };
    node.write(
        EntryBody::RecordChange(RecordChange {
            record,
            kind: header.kind,
            owner: header.owner,
            confidential: header.confidential,
            change,
        }),
        now_ms,
    )?;
    if header.confidential {
        project(node, record, now_ms)?;
    }
    Ok(true)
}

/// Writes the public projection of a confidential initiative at its current state.
pub fn project(node: &mut Node, record: RecordId, now_ms: u64) -> Result<EntryHash, NodeError> {
    let report = check(node, record, now_ms)?;
    let Some(RecordContent::Initiative(i)) = &report.content else {
        return Err(WriteRefusal::NotProjectable.into());
    };
    let p =
        record::projection(i, record, report.current_heads.clone()).ok_or(WriteRefusal::NoSalt)?;
    Ok(node.write(EntryBody::Projection(p), now_ms)?.hash())
}

/// Records a decision on an initiative as this node's unit: it binds to the state held here
/// (current heads, or the latest projection of a confidential initiative) and cites the last
/// decision of the chain.
pub fn decide(
    node: &mut Node,
    record: RecordId,
    kind: DecisionKind,
    officer_name: Text,
    officer_title: Text,
    note: Text,
    now_ms: u64,
) -> Result<EntryHash, NodeError> {
    let body = decision_body(
        node,
        record,
        kind,
        officer_name,
        officer_title,
        note,
        now_ms,
    )?;
    Ok(node.write(body, now_ms)?.hash())
}

/// The decision [`decide`] would sign, not yet signed nor stored (several are verified and
/// stored together by [`crate::decisions::decide_all`]).
pub fn decision_body(
    node: &Node,
    record: RecordId,
    kind: DecisionKind,
    officer_name: Text,
    officer_title: Text,
    note: Text,
    now_ms: u64,
) -> Result<EntryBody, NodeError> {
    let report = check(node, record, now_ms)?;
    let header = report.header.clone().ok_or(WriteRefusal::NotHeld(record))?;
    if header.kind != RecordKind::Initiative {
        return Err(WriteRefusal::NotAnInitiative.into());
    }
    // A fork never blocks: the chain follows `audit::canonical_branch`, and this decision
    // cites that branch's tip (settling the fork in its favour).
    let binding = if header.confidential {
        Binding::Projection(report.latest_projection.ok_or(WriteRefusal::NoProjection)?)
    } else {
        Binding::Heads(report.current_heads.clone())
    };
    Ok(EntryBody::Decision(Decision {
        record,
        kind,
        binding,
        previous: report.status.as_ref().map(|s| s.2),
        officer_name,
        officer_title,
        note,
    }))
}

/// The content of a record in the state its last decision judged (the heads it is bound to, or
/// the heads its public projection was made from), read from the changes held here; `None`
/// when there is no decision, or this node does not hold that state's full content. The web
/// shows it beside the current content when the two differ.
pub fn judged_content(
    node: &Node,
    report: &RecordReport,
) -> Result<Option<RecordContent>, NodeError> {
    let (Some(header), Some((_, _, last))) = (&report.header, &report.status) else {
        return Ok(None);
    };
    let Some(e) = node.store().entry(last)? else {
        return Ok(None);
    };
    let EntryBody::Decision(d) = e.body() else {
        return Ok(None);
    };
    let heads = match &d.binding {
        Binding::Heads(h) => h.clone(),
        Binding::Projection(p) => match node.store().entry(p)?.as_ref().map(|e| e.body()) {
            Some(EntryBody::Projection(p)) => p.heads.clone(),
            _ => return Ok(None),
        },
    };
    let entries = node.store().record_entries(&report.record)?;
    let known = changes_of(&entries);
    if heads.iter().any(|h| !known.contains_key(h)) {
        return Ok(None);
    }
    let changes = sync_protocol::verify::ancestry(&known, &heads);
    Ok(record::load_record(changes, header.kind)
        .ok()
        .and_then(|s| s.content.ok()))
}

/// Verifies a record as held here.
pub fn check(node: &Node, record: RecordId, now_ms: u64) -> Result<RecordReport, NodeError> {
    Ok(verify_record(
        node.store(),
        node.directory(),
        record,
        Some(node.unit()),
        now_ms,
    )?)
}

fn kind_of(c: &RecordContent) -> (RecordKind, bool) {
    match c {
        RecordContent::Initiative(i) => (RecordKind::Initiative, i.confidential),
        RecordContent::Programme(_) => (RecordKind::Programme, false),
        RecordContent::Target(_) => (RecordKind::Target, false),
    }
}

/// The fewest hexadecimal digits accepted as a record id prefix (as `git` accepts short
/// hashes): 8 digits leave a chance of about one in four billion that two records share it.
pub const MIN_RECORD_PREFIX_HEX_DIGITS: usize = 8;

/// Why a record id (or prefix) given by a person names no single record.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not hexadecimal, or too long.
    #[error("{given:?} is not a record id: expected {min} to 32 hexadecimal digits")]
    NotHex {
        /// what was given
        given: String,
        /// the shortest prefix accepted
        min: usize,
    },
    /// Too short to be trusted to name one record.
    #[error("{given:?} is too short: give at least {min} hexadecimal digits of the record id")]
    TooShort {
        /// what was given
        given: String,
        /// the shortest prefix accepted
        min: usize,
    },
    /// No record held here starts with it.
    #[error("no record held at this node starts with {given}")]
    NotFound {
        /// what was given
        given: String,
        /// the ids of the records held here closest to it (a mistyped digit), at most
        /// [`crate::suggest::MAX_SUGGESTIONS`]
        closest: Vec<String>,
    },
    /// Several do.
    #[error("{given} names {count} records ({candidates}); give more digits")]
    Ambiguous {
        /// what was given
        given: String,
        /// how many records start with it (counted up to six)
        count: usize,
        /// some of them, comma-separated
        candidates: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Finds the record whose id starts with `prefix` (at least
/// [`MIN_RECORD_PREFIX_HEX_DIGITS`] hexadecimal digits, any case).
pub fn resolve(node: &Node, prefix: &str) -> Result<RecordId, ResolveError> {
    let given = prefix.trim().to_ascii_lowercase();
    if given.len() > 32 || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ResolveError::NotHex {
            given: prefix.to_string(),
            min: MIN_RECORD_PREFIX_HEX_DIGITS,
        });
    }
    if given.len() < MIN_RECORD_PREFIX_HEX_DIGITS {
        return Err(ResolveError::TooShort {
            given,
            min: MIN_RECORD_PREFIX_HEX_DIGITS,
        });
    }
    // The records whose id starts with the prefix: one key range of `by_record` (record ‖
    // entry hash), read only until a sixth record shows the prefix ambiguous: O(log n), not a
    // walk of every record (which costs seconds at a national node, on every decision).
    let nibbles: Vec<u8> = given
        .bytes()
        .map(|b| (b as char).to_digit(16).unwrap_or(0) as u8)
        .collect();
    let bound = |fill: u8| -> Vec<u8> {
        let mut out = [fill << 4 | fill; 16];
        for (i, n) in nibbles.iter().enumerate() {
            if i % 2 == 0 {
                out[i / 2] = n << 4 | (out[i / 2] & 0x0f);
            } else {
                out[i / 2] = (out[i / 2] & 0xf0) | n;
            }
        }
        out.to_vec()
    };
    let (low, mut high) = (bound(0), bound(0x0f));
    high.extend_from_slice(&[0xff; 33]);
    let mut found: Vec<RecordId> = Vec::new();
    let tree = node.store().tree(crate::sled_store::t::BY_RECORD);
    for k in tree.range(low..high).keys() {
        let k = k.map_err(|e| NodeError::from(crate::sled_store::err("by_record", e)))?;
        let Ok(r) = <[u8; 16]>::try_from(&k[..16.min(k.len())]) else {
            continue;
        };
        if found.last() != Some(&RecordId(r)) {
            found.push(RecordId(r));
            if found.len() > 5 {
                break;
            }
        }
    }
    match found.as_slice() {
        [] => {
            // Only when nothing matches: the closest ids, from every record.
            let all = node.store().records().map_err(NodeError::from)?;
            let closest = crate::suggest::closest_ids(&given, all.iter().map(|r| r.to_hex()));
            Err(ResolveError::NotFound { given, closest })
        }
        [one] => Ok(*one),
        many => Err(ResolveError::Ambiguous {
            // At least this many (the range is read up to a sixth match).
            count: many.len(),
            candidates: many
                .iter()
                .take(5)
                .map(|r| r.to_hex())
                .collect::<Vec<_>>()
                .join(", "),
            given,
        }),
    }
}

/// Why an attachment could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// The file could not be taken in.
    #[error(transparent)]
    Blob(#[from] crate::blobs::BlobError),
    /// The record change was refused or the store failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The record is not an initiative held here.
    #[error("record {0} is not an initiative whose full record is held here")]
    NotAnInitiative(String),
}

/// Adds a staged blob to an initiative this node's unit owns, as the attachment `name` (see
/// [`edit_attached`]: a refused change leaves neither the change nor the blob). Returns
/// whether the record changed (the same content under the same name is already attached: no
/// change).
pub fn attach(
    node: &mut Node,
    record: RecordId,
    staged: crate::blobs::Staged,
    name: Text,
    now_ms: u64,
) -> Result<bool, AttachError> {
    edit_attached(node, record, |_| {}, vec![(staged, name)], now_ms)
}

/// Edits an initiative this node's unit owns and adds staged blobs to its attachments, in one
/// record change (the web form's "save"). The blobs are put in place first and the change is
/// written through [`Node::write`] after: a record never names a blob that is not held. When
/// the change is refused, the blobs placed for it (those not held before) are removed again,
/// so a refused edit leaves no blob and no change; a crash between the two leaves at most a
/// blob that no record names.
pub fn edit_attached(
    node: &mut Node,
    record: RecordId,
    change: impl FnOnce(&mut RecordContent),
    files: Vec<(crate::blobs::Staged, Text)>,
    now_ms: u64,
) -> Result<bool, AttachError> {
    let report = check(node, record, now_ms)?;
    if !matches!(report.content, Some(RecordContent::Initiative(_))) {
        return Err(AttachError::NotAnInitiative(record.short()));
    }
    let added: Vec<record::Attachment> = files.iter().map(|(s, n)| attachment_of(s, n)).collect();
    let placed = place(node, files)?;
    let written = edit(
        node,
        record,
        |c| {
            change(c);
            if let RecordContent::Initiative(i) = c {
                for a in added {
                    if !i.attachments.contains(&a) {
                        i.attachments.push(a);
                    }
                }
            }
        },
        now_ms,
    );
    written.map_err(|e| {
        unplace(&placed);
        e.into()
    })
}

/// Creates an initiative with staged blobs as its attachments, in one record change: as
/// [`edit_attached`], the blobs are placed first and removed again if the record is refused.
pub fn create_attached(
    node: &mut Node,
    mut content: RecordContent,
    files: Vec<(crate::blobs::Staged, Text)>,
    now_ms: u64,
) -> Result<RecordId, AttachError> {
    let RecordContent::Initiative(i) = &mut content else {
        return Err(AttachError::NotAnInitiative("-".into()));
    };
    for (s, n) in &files {
        let a = attachment_of(s, n);
        if !i.attachments.contains(&a) {
            i.attachments.push(a);
        }
    }
    let placed = place(node, files)?;
    create(node, &content, now_ms).map_err(|e| {
        unplace(&placed);
        e.into()
    })
}

/// Makes staged blobs visible; returns the paths of those that were not held before (so a
/// refused write can remove them). On a failure, what this call placed is removed again.
fn place(
    node: &Node,
    files: Vec<(crate::blobs::Staged, Text)>,
) -> Result<Vec<std::path::PathBuf>, AttachError> {
    let mut placed = Vec::new();
    for (staged, _) in files {
        let fresh = !crate::blobs::contains(node.dir(), &staged.hash);
        match staged.commit() {
            Ok(path) if fresh => placed.push(path),
            Ok(_) => {}
            Err(e) => {
                unplace(&placed);
                return Err(e.into());
            }
        }
    }
    Ok(placed)
}

/// Removes blobs placed for a write that was refused (no record names them).
fn unplace(placed: &[std::path::PathBuf]) {
    for p in placed {
        if let Err(e) = std::fs::remove_file(p) {
            tracing::warn!(error = %e, file = %p.display(), "a blob placed for a refused write could not be removed");
        }
    }
}

fn attachment_of(s: &crate::blobs::Staged, name: &Text) -> record::Attachment {
    record::Attachment {
        hash: s.hash,
        name: name.clone(),
        size_bytes: s.size_bytes,
    }
}
