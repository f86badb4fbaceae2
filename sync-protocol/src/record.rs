//! Records as Automerge documents: initiatives, programmes, target assignments.
//!
//! A record's content is an Automerge document; every change to it travels as a
//! [`crate::entry::RecordChange`] entry. This module turns typed, validated values into changes
//! and documents back into typed values, checking every field. Fields are scalar values in maps
//! (field-level merge: concurrent edits to different fields merge; concurrent edits to one field
//! resolve deterministically, Automerge's rule); lists of authors, attachments and phases are
//! replaced as a whole when they change.
//!
//! No clock and no RNG: the caller passes the change time and the actor id.

use std::collections::BTreeMap;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};

use crate::codec::Writer;
use crate::date::Date;
use crate::entry::Sector;
use crate::ids::{ChangeHash, ContentHash, RecordId, UnitId};
use crate::limits::*;
use crate::text::{Lines, Text, TextError};

mod apply;
mod change;
mod fields;
pub use apply::{ApplyError, DocCache, RecordDoc};
pub use change::{AutomergeChange, ChangeError};
pub use fields::{Fields, OpTree};

/// A field of a record that is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// Bad text.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A required field is absent.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A field has the wrong type or value.
    #[error("{field}: {reason}")]
    Invalid {
        /// the field
        field: &'static str,
        /// why
        reason: String,
    },
    /// Automerge could not apply or read the changes.
    #[error("automerge: {0}")]
    Automerge(String),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ContentError {
    ContentError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// One author of an initiative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    /// Full name.
    pub name: Text,
    /// Position or job.
    pub position: Text,
}

/// Mẫu 4: the description report.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Description {
    /// Thực trạng: the state before.
    pub current_state: Text,
    /// Giải pháp: the solution.
    pub solution: Text,
    /// Tính mới: what is new.
    pub novelty: Text,
    /// Phạm vi áp dụng: scope of application.
    pub scope: Text,
    /// Hiệu quả: effectiveness.
    pub effectiveness: Text,
}

/// Whether the initiative is applied or on trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Application {
    /// Đã áp dụng.
    Applied,
    /// Áp dụng thử.
    Trial,
}

impl Application {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Application::Applied => "applied",
            Application::Trial => "trial",
        }
    }
    /// Parses a code.
    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "applied" => Some(Self::Applied),
            "trial" => Some(Self::Trial),
            _ => None,
        }
    }
}

/// The employer's recognition decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmployerRecognition {
    /// Decision number.
    pub decision_number: Text,
    /// Decision date.
    pub date: Date,
    /// Reward.
    pub reward: Text,
}

/// An attachment, by content hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// BLAKE3 of the blob.
    pub hash: ContentHash,
    /// File name.
    pub name: Text,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// Sáng kiến: an initiative, Mẫu 1 registration and Mẫu 4 description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Initiative {
    /// Tên sáng kiến.
    pub title: Text,
    /// Tác giả: one person or a group.
    pub authors: Vec<Author>,
    /// The grassroots unit it comes from.
    pub origin: UnitId,
    /// The direct-superior unit it is submitted to: the origin's parent.
    pub superior: UnitId,
    /// Programme, if any.
    pub programme: Option<RecordId>,
    /// Phase within the programme, 1-based; 0 when no programme.
    pub phase: u32,
    /// Lĩnh vực.
    pub sector: Sector,
    /// Tóm tắt hiệu quả: summary of effect.
    pub summary: Text,
    /// Mẫu 1: date of registration.
    pub registered_on: Date,
    /// Mẫu 4.
    pub description: Description,
    /// Giá trị làm lợi, VND.
    pub benefit_vnd: u64,
    /// Applied or on trial.
    pub application: Application,
    /// The employer's recognition, once there is one.
    pub recognition: Option<EmployerRecognition>,
    /// Bí mật công nghệ.
    pub confidential: bool,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Secret salt of the commitment to the private part (confidential initiatives only).
    pub commitment_salt: Option<[u8; 32]>,
}

/// A phase of a programme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// Name ("Giai đoạn 1").
    pub name: Text,
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// Target count of initiatives for the phase (national target for a national programme).
    pub target: u64,
}

/// A dated deadline or a campaign window of a programme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// What is due ("Đăng ký sáng kiến (Mẫu 1)").
    pub label: Text,
    /// The day.
    pub date: Date,
}

/// A campaign inside a programme (e.g. the 40-day peak campaign).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    /// Name.
    pub name: Text,
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// Target count.
    pub target: u64,
}

/// Chương trình: a programme with phases, deadlines and campaigns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Programme {
    /// Name ("01 triệu sáng kiến").
    pub name: Text,
    /// Phases, in order.
    pub phases: Vec<Phase>,
    /// Deadlines.
    pub deadlines: Vec<Deadline>,
    /// Campaigns.
    pub campaigns: Vec<Campaign>,
    /// The overall target.
    pub national_target: u64,
}

/// Chỉ tiêu: a parent's assignment of counts to its children for a programme phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetAssignment {
    /// The programme.
    pub programme: RecordId,
    /// The phase, 1-based.
    pub phase: u32,
    /// Child unit → count.
    pub assignments: BTreeMap<UnitId, u64>,
}

/// The typed content of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordContent {
    /// An initiative.
    Initiative(Box<Initiative>),
    /// A programme.
    Programme(Programme),
    /// A target assignment.
    Target(TargetAssignment),
}

// ---- documents ---------------------------------------------------------------------------

/// A fresh, empty document for a new record, with the caller's actor id (16 random bytes the
/// node chose; the protocol makes none).
pub fn new_document(actor: [u8; 16]) -> AutoCommit {
    AutoCommit::new().with_actor(ActorId::from(actor.to_vec()))
}

/// Rebuilds a record's document from its changes (in any order), refusing anything Automerge
/// cannot apply or would panic on (see [`RecordDoc`]).
pub fn load_document(
    changes: impl IntoIterator<Item = AutomergeChange>,
    actor: [u8; 16],
) -> Result<AutoCommit, ContentError> {
    let mut doc = RecordDoc::new(actor);
    doc.apply_all(changes.into_iter().collect())
        .map_err(|e| e.error)?;
    Ok(doc.into_doc())
}

/// The sorted heads of a document.
pub fn heads(doc: &mut AutoCommit) -> Vec<ChangeHash> {
    let mut h: Vec<ChangeHash> = doc
        .get_heads()
        .into_iter()
        .map(|h| ChangeHash(h.0))
        .collect();
    h.sort();
    h
}

/// Writes `content` into `doc` (only the fields that differ) and commits one change at
/// `time_ms`. Returns `None` when nothing changed. The value must have been validated by the
/// caller ([`validate_standalone`]); the result is read back and checked again.
pub fn commit_content(
    doc: &mut AutoCommit,
    content: &RecordContent,
    time_ms: u64,
) -> Result<Option<AutomergeChange>, ContentError> {
    match content {
        RecordContent::Initiative(i) => write_initiative(doc, i)?,
        RecordContent::Programme(p) => write_programme(doc, p)?,
        RecordContent::Target(t) => write_target(doc, t)?,
    }
    let time = i64::try_from(time_ms / 1000).unwrap_or(i64::MAX);
    let Some(hash) = doc.commit_with(CommitOptions::default().with_time(time)) else {
        return Ok(None);
    };
    let change = doc
        .get_change_by_hash(&hash)
        .ok_or_else(|| ContentError::Automerge("committed change is missing".into()))?;
    let change = AutomergeChange::from_automerge(&change)
        .map_err(|e| ContentError::Automerge(e.to_string()))?;
    Ok(Some(change))
}

/// A record's state, read from the changes held of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordState {
    /// The current heads, sorted.
    pub heads: Vec<ChangeHash>,
    /// The content at those heads, or what is wrong with it.
    pub content: Result<RecordContent, ContentError>,
}

/// Loads a record of `kind` from its changes (in any order): its heads and content. A record
/// made of one first change is read straight from that change's operations ([`OpTree`]);
/// anything else goes through an Automerge document. `Err` when Automerge refuses a change.
pub fn load_record(
    changes: Vec<AutomergeChange>,
    kind: crate::entry::RecordKind,
) -> Result<RecordState, ContentError> {
    load_record_with(changes, kind, &StateMemo::default())
}

/// [`load_record`], taking a first change's state from `memo` when it holds it.
pub fn load_record_with(
    changes: Vec<AutomergeChange>,
    kind: crate::entry::RecordKind,
    memo: &StateMemo,
) -> Result<RecordState, ContentError> {
    if let [only] = changes.as_slice() {
        let tree = match memo.trees.get(&only.hash()) {
            Some(t) => Some(std::borrow::Cow::Borrowed(t)),
            None => OpTree::from_first_change(only).map(std::borrow::Cow::Owned),
        };
        if let Some(tree) = tree {
            return Ok(RecordState {
                heads: vec![only.hash()],
                content: read_content(tree.as_ref(), kind),
            });
        }
    }
    let mut doc = load_document(changes, [0; 16])?;
    Ok(RecordState {
        heads: heads(&mut doc),
        content: read_content(&doc, kind),
    })
}

/// The state of `record` at `heads`, from `known` (every change held of the record, by hash;
/// the ancestry of `heads` must be in it). A lone first change is read from its operations
/// ([`OpTree`]); anything else through the record's document kept in `memo`, to which only the
/// changes it lacks are applied (each checked first, see [`RecordDoc`]), so that verifying a
/// record's changes one after another costs each change once.
///
/// The document kept is used only when it holds nothing outside the ancestry of `heads`: the
/// checks of [`RecordDoc::apply`] read what the document holds, so a change is judged against
/// exactly its own ancestry whatever was applied before (in this batch, or by an earlier write
/// whose document a node kept). Otherwise the ancestry is loaded afresh.
pub fn record_state_at(
    record: RecordId,
    known: &BTreeMap<ChangeHash, AutomergeChange>,
    heads: &[ChangeHash],
    kind: crate::entry::RecordKind,
    memo: &StateMemo,
) -> Result<RecordState, ContentError> {
    if let [only] = heads {
        if let Some(c) = known.get(only).filter(|c| c.deps().is_empty()) {
            let tree = match memo.trees.get(only) {
                Some(t) => Some(std::borrow::Cow::Borrowed(t)),
                None => OpTree::from_first_change(c).map(std::borrow::Cow::Owned),
            };
            if let Some(tree) = tree {
                return Ok(RecordState {
                    heads: vec![*only],
                    content: read_content(tree.as_ref(), kind),
                });
            }
        }
    }
    // Out of the memo while it is applied: the memo's lock is not held across Automerge, so
    // views of several records are computed on every core.
    let mut doc = memo
        .take_doc(&record)
        .unwrap_or_else(|| RecordDoc::new([0; 16]));
    let missing = match ancestry_missing(&mut doc, known, heads) {
        Ok(Some(m)) => m,
        Ok(None) => {
            doc = RecordDoc::new([0; 16]);
            match ancestry_missing(&mut doc, known, heads) {
                Ok(Some(m)) => m,
                Ok(None) => Vec::new(),
                Err(e) => return Err(e),
            }
        }
        Err(e) => {
            memo.put_doc(record, doc);
            return Err(e);
        }
    };
    if let Err(e) = doc.apply_all(missing) {
        if !e.poisoned {
            memo.put_doc(record, doc);
        }
        return Err(e.error);
    }
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.dedup();
    let current = doc.heads();
    let content = if current == sorted {
        read_content(doc.doc(), kind)
    } else {
        read_content(&apply::AtHeads::new(doc.doc(), &sorted), kind)
    };
    memo.put_doc(record, doc);
    Ok(RecordState {
        heads: sorted,
        content,
    })
}

/// What `doc` lacks of the ancestry of `heads` (from `known`), or `None` when `doc` holds a
/// change outside that ancestry. The walk stops at changes the document holds: a document
/// holds whole ancestries, so each of its heads inside the ancestry is reached that way.
fn ancestry_missing(
    doc: &mut RecordDoc,
    known: &BTreeMap<ChangeHash, AutomergeChange>,
    heads: &[ChangeHash],
) -> Result<Option<Vec<AutomergeChange>>, ContentError> {
    let mut missing = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut reached = std::collections::BTreeSet::new();
    let mut stack: Vec<ChangeHash> = heads.to_vec();
    while let Some(h) = stack.pop() {
        if !seen.insert(h) {
            continue;
        }
        if doc.has(&h) {
            reached.insert(h);
            continue;
        }
        let Some(c) = known.get(&h) else {
            return Err(ContentError::Automerge(format!(
                "change {} is not in the record",
                h.short()
            )));
        };
        stack.extend(c.deps().iter().copied());
        missing.push(c.clone());
    }
    if doc.heads().iter().any(|h| !reached.contains(h)) {
        return Ok(None);
    }
    Ok(Some(missing))
}

/// A record's document at `heads` (see [`record_state_at`], whose document kept in `memo` it
/// copies when it is at exactly those heads), with `actor` as its actor: for writing the
/// record's next change without replaying its history.
pub fn document_at(
    record: RecordId,
    known: &BTreeMap<ChangeHash, AutomergeChange>,
    heads: &[ChangeHash],
    memo: &StateMemo,
    actor: [u8; 16],
) -> Result<AutoCommit, ContentError> {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.dedup();
    if let Some(mut doc) = memo.take_doc(&record) {
        let at_heads = doc.heads() == sorted;
        let copy = at_heads.then(|| doc.doc().clone().with_actor(ActorId::from(actor.to_vec())));
        memo.put_doc(record, doc);
        if let Some(copy) = copy {
            return Ok(copy);
        }
    }
    let mut ancestry = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = sorted;
    while let Some(h) = stack.pop() {
        if !seen.insert(h) {
            continue;
        }
        let c = known.get(&h).ok_or_else(|| {
            ContentError::Automerge(format!("change {} is not in the record", h.short()))
        })?;
        stack.extend(c.deps().iter().copied());
        ancestry.push(c.clone());
    }
    load_document(ancestry, actor)
}

/// First-change states computed ahead of verification (on other threads, say): the state of a
/// change is a pure function of the change, so a memo can be filled anywhere and consulted by
/// [`load_record_with`] and the verifier. Holds only changes the fast path accepts.
///
/// It also keeps the documents of records whose later changes a batch verifies
/// ([`record_state_at`]), so that each change is applied once per batch.
#[derive(Debug, Default)]
pub struct StateMemo {
    trees: BTreeMap<ChangeHash, OpTree>,
    docs: std::sync::Mutex<DocCache>,
}

impl Clone for StateMemo {
    fn clone(&self) -> Self {
        Self {
            trees: self.trees.clone(),
            docs: Default::default(),
        }
    }
}

impl StateMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }
    /// Computes the first-change state of `change` into the memo, when the fast path takes it.
    pub fn add(&mut self, change: &AutomergeChange) {
        if let Some(t) = OpTree::from_first_change(change) {
            self.trees.insert(change.hash(), t);
        }
    }
    /// The state of one first change, when the fast path takes it (for filling a memo on
    /// several threads, then [`StateMemo::extend`]).
    pub fn compute(change: &AutomergeChange) -> Option<(ChangeHash, OpTree)> {
        OpTree::from_first_change(change).map(|t| (change.hash(), t))
    }
    /// Adds states computed by [`StateMemo::compute`].
    pub fn extend(&mut self, states: impl IntoIterator<Item = (ChangeHash, OpTree)>) {
        self.trees.extend(states);
    }
    /// Takes in the states of another memo (two batches imported as one).
    pub fn absorb(&mut self, other: StateMemo) {
        self.trees.extend(other.trees);
    }
    /// Takes the document kept for `record` out of the memo, if it keeps one.
    pub fn take_doc(&self, record: &RecordId) -> Option<RecordDoc> {
        self.docs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(record)
    }
    /// Keeps `doc` as the document of `record` (bounded: see [`DocCache`]). A document is
    /// only ever used for the ancestry it holds ([`record_state_at`]), so any document of the
    /// record, at any heads, may be kept.
    pub fn put_doc(&self, record: RecordId, doc: RecordDoc) {
        self.docs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(record, doc);
    }
    /// How many states it holds.
    pub fn len(&self) -> usize {
        self.trees.len()
    }
    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }
}

/// Reads a record's state (a document, or an [`OpTree`]) as the content of a record of the
/// given kind, checking every field.
pub fn read_content<F: Fields>(
    doc: &F,
    kind: crate::entry::RecordKind,
) -> Result<RecordContent, ContentError> {
    use crate::entry::RecordKind;
    let c = match kind {
        RecordKind::Initiative => RecordContent::Initiative(Box::new(read_initiative(doc)?)),
        RecordKind::Programme => RecordContent::Programme(read_programme(doc)?),
        RecordKind::Target => RecordContent::Target(read_target(doc)?),
    };
    validate_standalone(&c)?;
    Ok(c)
}

/// Checks the rules a value must meet on its own (bounds, dates in order, salt iff
/// confidential). Rules that need the unit tree (the superior is the origin's parent) are
/// checked by [`crate::verify`].
pub fn validate_standalone(c: &RecordContent) -> Result<(), ContentError> {
    match c {
        RecordContent::Initiative(i) => {
            if i.authors.is_empty() {
                return Err(ContentError::Missing("authors"));
            }
            if i.authors.len() > MAX_AUTHORS_COUNT {
                return Err(invalid(
                    "authors",
                    format!(
                        "{} authors, over the limit of {MAX_AUTHORS_COUNT}",
                        i.authors.len()
                    ),
                ));
            }
            if i.attachments.len() > MAX_ATTACHMENTS_COUNT {
                return Err(invalid(
                    "attachments",
                    format!("over the limit of {MAX_ATTACHMENTS_COUNT}"),
                ));
            }
            if i.benefit_vnd > MAX_BENEFIT_VND {
                return Err(invalid(
                    "benefit_vnd",
                    format!("{} is over the limit of {MAX_BENEFIT_VND}", i.benefit_vnd),
                ));
            }
            if i.programme.is_some() != (i.phase > 0) {
                return Err(invalid(
                    "phase",
                    "a programme needs a phase (1, 2, ...) and a phase needs a programme",
                ));
            }
            if i.confidential != i.commitment_salt.is_some() {
                return Err(invalid(
                    "confidential",
                    "a confidential initiative needs a commitment salt, and only it",
                ));
            }
            if let Some(a) = i
                .attachments
                .iter()
                .find(|a| a.size_bytes > MAX_ATTACHMENT_BYTES)
            {
                return Err(invalid(
                    "attachments",
                    format!("{} is over {MAX_ATTACHMENT_BYTES} bytes", a.name),
                ));
            }
        }
        RecordContent::Programme(p) => {
            if p.phases.is_empty() {
                return Err(ContentError::Missing("phases"));
            }
            if p.phases.len() > MAX_PHASES_COUNT {
                return Err(invalid(
                    "phases",
                    format!("over the limit of {MAX_PHASES_COUNT}"),
                ));
            }
            if p.deadlines.len() > MAX_DEADLINES_COUNT || p.campaigns.len() > MAX_DEADLINES_COUNT {
                return Err(invalid(
                    "deadlines",
                    format!("over the limit of {MAX_DEADLINES_COUNT}"),
                ));
            }
            for ph in &p.phases {
                if ph.end < ph.start {
                    return Err(invalid(
                        "phases",
                        format!("{} ends before it starts", ph.name),
                    ));
                }
                check_count("phases.target", ph.target)?;
            }
            for c in &p.campaigns {
                if c.end < c.start {
                    return Err(invalid(
                        "campaigns",
                        format!("{} ends before it starts", c.name),
                    ));
                }
                check_count("campaigns.target", c.target)?;
            }
            check_count("national_target", p.national_target)?;
        }
        RecordContent::Target(t) => {
            if t.phase == 0 {
                return Err(invalid("phase", "phases are numbered from 1"));
            }
            if t.assignments.len() > MAX_TARGET_ASSIGNMENTS_COUNT {
                return Err(invalid(
                    "assignments",
                    format!("over the limit of {MAX_TARGET_ASSIGNMENTS_COUNT}"),
                ));
            }
            for v in t.assignments.values() {
                check_count("assignments", *v)?;
            }
        }
    }
    Ok(())
}

fn check_count(field: &'static str, v: u64) -> Result<(), ContentError> {
    if v > MAX_TARGET_COUNT {
        return Err(invalid(
            field,
            format!("{v} is over the limit of {MAX_TARGET_COUNT}"),
        ));
    }
    Ok(())
}

/// The commitment to a confidential initiative's private part: BLAKE3 keyed by the secret salt
/// over the canonical encoding of every field. Without the salt nobody can test guesses of the
/// description against it; with the private part, anyone can check it.
pub fn private_commitment(i: &Initiative) -> Option<ContentHash> {
    let salt = i.commitment_salt?;
    let mut w = Writer::new();
    w.text(i.title.as_str());
    w.len(i.authors.len());
    for a in &i.authors {
        w.text(a.name.as_str());
        w.text(a.position.as_str());
    }
    w.text(i.origin.as_str());
    w.text(i.superior.as_str());
    w.bool(i.programme.is_some());
    if let Some(p) = i.programme {
        w.array(&p.0);
    }
    w.u32(i.phase);
    w.text(i.sector.code());
    w.text(i.summary.as_str());
    w.text(&i.registered_on.to_string());
    for s in [
        &i.description.current_state,
        &i.description.solution,
        &i.description.novelty,
        &i.description.scope,
        &i.description.effectiveness,
    ] {
        w.text(s.as_str());
    }
    w.u64(i.benefit_vnd);
    w.text(i.application.code());
    w.bool(i.recognition.is_some());
    if let Some(r) = &i.recognition {
        w.text(r.decision_number.as_str());
        w.text(&r.date.to_string());
        w.text(r.reward.as_str());
    }
    w.len(i.attachments.len());
    for a in &i.attachments {
        w.array(&a.hash.0);
        w.text(a.name.as_str());
        w.u64(a.size_bytes);
    }
    Some(ContentHash(
        *blake3::keyed_hash(&salt, &w.into_bytes()).as_bytes(),
    ))
}

/// The public projection of a confidential initiative at `heads`: what travels beyond its origin
/// and direct superior. `None` for an initiative without a commitment salt (not confidential).
pub fn projection(
    i: &Initiative,
    record: RecordId,
    heads: Vec<ChangeHash>,
) -> Option<crate::entry::Projection> {
    Some(crate::entry::Projection {
        record,
        heads,
        title: i.title.clone(),
        summary: i.summary.clone(),
        benefit_vnd: i.benefit_vnd,
        reward: reward_text(i),
        programme: i.programme,
        phase: i.phase,
        sector: i.sector,
        commitment: private_commitment(i)?,
    })
}

/// The reward text an initiative's projection carries.
pub fn reward_text(i: &Initiative) -> Text {
    match &i.recognition {
        None => Text::default(),
        Some(r) => Text::new(
            "reward",
            &format!("{} ({}, {})", r.reward, r.decision_number, r.date),
            MAX_SHORT_TEXT_CHARS * 3,
        )
        .unwrap_or_default(),
    }
}

// ---- writing -----------------------------------------------------------------------------

fn put_if_changed(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    v: ScalarValue,
) -> Result<(), ContentError> {
    let same = matches!(doc.get(obj, key), Ok(Some((Value::Scalar(cur), _))) if *cur == v);
    if !same {
        doc.put(obj, key, v)
            .map_err(|e| ContentError::Automerge(e.to_string()))?;
    }
    Ok(())
}

fn delete_if_present(doc: &mut AutoCommit, obj: &ObjId, key: &str) -> Result<(), ContentError> {
    if matches!(doc.get(obj, key), Ok(Some(_))) {
        doc.delete(obj, key)
            .map_err(|e| ContentError::Automerge(e.to_string()))?;
    }
    Ok(())
}

fn map_obj(doc: &mut AutoCommit, parent: &ObjId, key: &str) -> Result<ObjId, ContentError> {
    if let Ok(Some((Value::Object(ObjType::Map), id))) = doc.get(parent, key) {
        return Ok(id);
    }
    doc.put_object(parent, key, ObjType::Map)
        .map_err(|e| ContentError::Automerge(e.to_string()))
}

/// Replaces a list of maps when its value differs.
fn put_list_if_changed(
    doc: &mut AutoCommit,
    key: &str,
    rows: Vec<Vec<(&'static str, ScalarValue)>>,
) -> Result<(), ContentError> {
    let current = read_list_rows(doc, &ROOT, key);
    let wanted: Vec<BTreeMap<String, ScalarValue>> = rows
        .iter()
        .map(|r| r.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
        .collect();
    if current.as_ref() == Some(&wanted) {
        return Ok(());
    }
    let am = |e: automerge::AutomergeError| ContentError::Automerge(e.to_string());
    let list = doc.put_object(ROOT, key, ObjType::List).map_err(am)?;
    for (i, row) in rows.into_iter().enumerate() {
        let m = doc.insert_object(&list, i, ObjType::Map).map_err(am)?;
        for (k, v) in row {
            doc.put(&m, k, v).map_err(am)?;
        }
    }
    Ok(())
}

fn s(t: &Text) -> ScalarValue {
    ScalarValue::Str(t.as_str().into())
}
fn sv(t: &str) -> ScalarValue {
    ScalarValue::Str(t.into())
}

fn write_initiative(doc: &mut AutoCommit, i: &Initiative) -> Result<(), ContentError> {
    let root = ROOT;
    put_if_changed(doc, &root, "title", s(&i.title))?;
    put_list_if_changed(
        doc,
        "authors",
        i.authors
            .iter()
            .map(|a| vec![("name", s(&a.name)), ("position", s(&a.position))])
            .collect(),
    )?;
    put_if_changed(doc, &root, "origin", sv(i.origin.as_str()))?;
    put_if_changed(doc, &root, "superior", sv(i.superior.as_str()))?;
    match i.programme {
        Some(p) => put_if_changed(doc, &root, "programme", sv(&p.to_hex()))?,
        None => delete_if_present(doc, &root, "programme")?,
    }
    put_if_changed(doc, &root, "phase", ScalarValue::Uint(u64::from(i.phase)))?;
    put_if_changed(doc, &root, "sector", sv(i.sector.code()))?;
    put_if_changed(doc, &root, "summary", s(&i.summary))?;
    put_if_changed(
        doc,
        &root,
        "registered_on",
        sv(&i.registered_on.to_string()),
    )?;
    let d = map_obj(doc, &root, "description")?;
    put_if_changed(doc, &d, "current_state", s(&i.description.current_state))?;
    put_if_changed(doc, &d, "solution", s(&i.description.solution))?;
    put_if_changed(doc, &d, "novelty", s(&i.description.novelty))?;
    put_if_changed(doc, &d, "scope", s(&i.description.scope))?;
    put_if_changed(doc, &d, "effectiveness", s(&i.description.effectiveness))?;
    put_if_changed(doc, &root, "benefit_vnd", ScalarValue::Uint(i.benefit_vnd))?;
    put_if_changed(doc, &root, "application", sv(i.application.code()))?;
    match &i.recognition {
        Some(r) => {
            let m = map_obj(doc, &root, "recognition")?;
            put_if_changed(doc, &m, "decision_number", s(&r.decision_number))?;
            put_if_changed(doc, &m, "date", sv(&r.date.to_string()))?;
            put_if_changed(doc, &m, "reward", s(&r.reward))?;
        }
        None => delete_if_present(doc, &root, "recognition")?,
    }
    put_if_changed(
        doc,
        &root,
        "confidential",
        ScalarValue::Boolean(i.confidential),
    )?;
    put_list_if_changed(
        doc,
        "attachments",
        i.attachments
            .iter()
            .map(|a| {
                vec![
                    ("hash", sv(&a.hash.to_hex())),
                    ("name", s(&a.name)),
                    ("size_bytes", ScalarValue::Uint(a.size_bytes)),
                ]
            })
            .collect(),
    )?;
    match i.commitment_salt {
        Some(salt) => put_if_changed(
            doc,
            &root,
            "commitment_salt",
            ScalarValue::Bytes(salt.to_vec()),
        )?,
        None => delete_if_present(doc, &root, "commitment_salt")?,
    }
    Ok(())
}

fn write_programme(doc: &mut AutoCommit, p: &Programme) -> Result<(), ContentError> {
    put_if_changed(doc, &ROOT, "name", s(&p.name))?;
    put_list_if_changed(
        doc,
        "phases",
        p.phases
            .iter()
            .map(|ph| {
                vec![
                    ("name", s(&ph.name)),
                    ("start", sv(&ph.start.to_string())),
                    ("end", sv(&ph.end.to_string())),
                    ("target", ScalarValue::Uint(ph.target)),
                ]
            })
            .collect(),
    )?;
    put_list_if_changed(
        doc,
        "deadlines",
        p.deadlines
            .iter()
            .map(|d| vec![("label", s(&d.label)), ("date", sv(&d.date.to_string()))])
            .collect(),
    )?;
    put_list_if_changed(
        doc,
        "campaigns",
        p.campaigns
            .iter()
            .map(|c| {
                vec![
                    ("name", s(&c.name)),
                    ("start", sv(&c.start.to_string())),
                    ("end", sv(&c.end.to_string())),
                    ("target", ScalarValue::Uint(c.target)),
                ]
            })
            .collect(),
    )?;
    put_if_changed(
        doc,
        &ROOT,
        "national_target",
        ScalarValue::Uint(p.national_target),
    )
}

fn write_target(doc: &mut AutoCommit, t: &TargetAssignment) -> Result<(), ContentError> {
    put_if_changed(doc, &ROOT, "programme", sv(&t.programme.to_hex()))?;
    put_if_changed(doc, &ROOT, "phase", ScalarValue::Uint(u64::from(t.phase)))?;
    let m = map_obj(doc, &ROOT, "assignments")?;
    let existing: Vec<String> = doc.keys(&m).collect();
    for k in existing {
        if UnitId::new(&k).map_or(true, |u| !t.assignments.contains_key(&u)) {
            doc.delete(&m, k.as_str())
                .map_err(|e| ContentError::Automerge(e.to_string()))?;
        }
    }
    for (unit, count) in &t.assignments {
        put_if_changed(doc, &m, unit.as_str(), ScalarValue::Uint(*count))?;
    }
    Ok(())
}

// ---- reading -----------------------------------------------------------------------------

fn scalar(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<ScalarValue> {
    Fields::scalar(doc, obj, key)
}

fn get_str<F: Fields>(
    doc: &F,
    obj: &F::Obj,
    key: &'static str,
) -> Result<Option<String>, ContentError> {
    match doc.scalar(obj, key) {
        None => Ok(None),
        Some(ScalarValue::Str(v)) => Ok(Some(v.to_string())),
        Some(_) => Err(invalid(key, "must be text")),
    }
}

fn get_text<F: Fields>(
    doc: &F,
    obj: &F::Obj,
    key: &'static str,
    limit: usize,
    required: bool,
) -> Result<Text, ContentError> {
    get_text_lines(doc, obj, key, limit, required, Lines::One)
}

/// [`get_text`] of a multi-line field (description sections, summary).
fn get_multiline<F: Fields>(
    doc: &F,
    obj: &F::Obj,
    key: &'static str,
    limit: usize,
) -> Result<Text, ContentError> {
    get_text_lines(doc, obj, key, limit, false, Lines::Many)
}

fn get_text_lines<F: Fields>(
    doc: &F,
    obj: &F::Obj,
    key: &'static str,
    limit: usize,
    required: bool,
    lines: Lines,
) -> Result<Text, ContentError> {
    let raw = get_str(doc, obj, key)?;
    let raw = match (raw, required) {
        (None, true) => return Err(ContentError::Missing(key)),
        (None, false) => String::new(),
        (Some(v), _) => v,
    };
    let t = Text::checked(key, &raw, limit, lines, required)?;
    if t.as_str() != raw {
        return Err(invalid(key, "text is not NFC-normalised and trimmed"));
    }
    Ok(t)
}

fn get_uint<F: Fields>(doc: &F, obj: &F::Obj, key: &'static str) -> Result<u64, ContentError> {
    match doc.scalar(obj, key) {
        None => Err(ContentError::Missing(key)),
        Some(ScalarValue::Uint(v)) => Ok(v),
        Some(ScalarValue::Int(v)) if v >= 0 => Ok(v as u64),
        Some(_) => Err(invalid(key, "must be a non-negative whole number")),
    }
}

fn get_date<F: Fields>(doc: &F, obj: &F::Obj, key: &'static str) -> Result<Date, ContentError> {
    let v = get_str(doc, obj, key)?.ok_or(ContentError::Missing(key))?;
    Date::parse(&v).map_err(|e| invalid(key, e))
}

fn get_unit<F: Fields>(doc: &F, key: &'static str) -> Result<UnitId, ContentError> {
    let v = get_str(doc, &doc.root(), key)?.ok_or(ContentError::Missing(key))?;
    UnitId::new(&v).map_err(|e| invalid(key, e.to_string()))
}

fn read_list_rows(
    doc: &AutoCommit,
    obj: &ObjId,
    key: &str,
) -> Option<Vec<BTreeMap<String, ScalarValue>>> {
    let Ok(Some((Value::Object(ObjType::List), list))) = doc.get(obj, key) else {
        return None;
    };
    let mut rows = Vec::new();
    for i in 0..doc.length(&list) {
        let mut row = BTreeMap::new();
        if let Ok(Some((Value::Object(ObjType::Map), m))) = doc.get(&list, i) {
            for k in doc.keys(&m) {
                if let Some(v) = scalar(doc, &m, &k) {
                    row.insert(k, v);
                }
            }
        }
        rows.push(row);
    }
    Some(rows)
}

/// Reads a list of maps, bounded by `limit` rows before any row is read.
fn get_rows<F: Fields>(
    doc: &F,
    key: &'static str,
    limit: usize,
) -> Result<Vec<F::Obj>, ContentError> {
    let Some(list) = doc.list(&doc.root(), key) else {
        return Ok(Vec::new());
    };
    let n = doc.len(&list);
    if n > limit {
        return Err(invalid(
            key,
            format!("{n} items, over the limit of {limit}"),
        ));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        match doc.map_at(&list, i) {
            Some(m) => out.push(m),
            None => return Err(invalid(key, format!("item {} is not a map", i + 1))),
        }
    }
    Ok(out)
}

fn read_initiative<F: Fields>(doc: &F) -> Result<Initiative, ContentError> {
    let root = doc.root();
    let title = get_text(doc, &root, "title", MAX_TITLE_CHARS, true)?;
    let mut authors = Vec::new();
    for m in get_rows(doc, "authors", MAX_AUTHORS_COUNT)? {
        authors.push(Author {
            name: get_text(doc, &m, "name", MAX_SHORT_TEXT_CHARS, true)?,
            position: get_text(doc, &m, "position", MAX_SHORT_TEXT_CHARS, false)?,
        });
    }
    let programme = match get_str(doc, &root, "programme")? {
        None => None,
        Some(h) => Some(RecordId::from_hex(&h).map_err(|e| invalid("programme", e.to_string()))?),
    };
    let phase =
        u32::try_from(get_uint(doc, &root, "phase")?).map_err(|_| invalid("phase", "too large"))?;
    let sector_code = get_str(doc, &root, "sector")?.ok_or(ContentError::Missing("sector"))?;
    let sector = Sector::from_code(&sector_code).ok_or_else(|| {
        invalid(
            "sector",
            format!(
                "{sector_code:?} is not one of {}",
                Sector::ALL.map(|s| s.code()).join(", ")
            ),
        )
    })?;
    let desc = doc.map(&root, "description");
    let section = |key: &'static str| -> Result<Text, ContentError> {
        match &desc {
            None => Ok(Text::default()),
            Some(d) => get_multiline(doc, d, key, MAX_DESCRIPTION_SECTION_CHARS),
        }
    };
    let description = Description {
        current_state: section("current_state")?,
        solution: section("solution")?,
        novelty: section("novelty")?,
        scope: section("scope")?,
        effectiveness: section("effectiveness")?,
    };
    let app = get_str(doc, &root, "application")?.ok_or(ContentError::Missing("application"))?;
    let application = Application::from_code(&app)
        .ok_or_else(|| invalid("application", format!("{app:?} is not applied or trial")))?;
    let recognition = match doc.map(&root, "recognition") {
        None => None,
        Some(m) => Some(EmployerRecognition {
            decision_number: get_text(doc, &m, "decision_number", MAX_SHORT_TEXT_CHARS, true)?,
            date: get_date(doc, &m, "date")?,
            reward: get_text(doc, &m, "reward", MAX_SHORT_TEXT_CHARS, false)?,
        }),
    };
    let confidential = match doc.scalar(&root, "confidential") {
        Some(ScalarValue::Boolean(b)) => b,
        None => return Err(ContentError::Missing("confidential")),
        Some(_) => return Err(invalid("confidential", "must be true or false")),
    };
    let mut attachments = Vec::new();
    for m in get_rows(doc, "attachments", MAX_ATTACHMENTS_COUNT)? {
        let h = get_str(doc, &m, "hash")?.ok_or(ContentError::Missing("attachments.hash"))?;
        attachments.push(Attachment {
            hash: ContentHash::from_hex(&h).map_err(|e| invalid("attachments", e.to_string()))?,
            name: get_text(doc, &m, "name", MAX_SHORT_TEXT_CHARS, true)?,
            size_bytes: get_uint(doc, &m, "size_bytes")?,
        });
    }
    let commitment_salt = match doc.scalar(&root, "commitment_salt") {
        None => None,
        Some(ScalarValue::Bytes(b)) => Some(
            <[u8; 32]>::try_from(b.as_slice())
                .map_err(|_| invalid("commitment_salt", "must be 32 bytes"))?,
        ),
        Some(_) => return Err(invalid("commitment_salt", "must be bytes")),
    };
    Ok(Initiative {
        title,
        authors,
        origin: get_unit(doc, "origin")?,
        superior: get_unit(doc, "superior")?,
        programme,
        phase,
        sector,
        summary: get_multiline(doc, &root, "summary", MAX_SUMMARY_CHARS)?,
        registered_on: get_date(doc, &root, "registered_on")?,
        description,
        benefit_vnd: get_uint(doc, &root, "benefit_vnd")?,
        application,
        recognition,
        confidential,
        attachments,
        commitment_salt,
    })
}

fn read_programme<F: Fields>(doc: &F) -> Result<Programme, ContentError> {
    let root = doc.root();
    let mut phases = Vec::new();
    for m in get_rows(doc, "phases", MAX_PHASES_COUNT)? {
        phases.push(Phase {
            name: get_text(doc, &m, "name", MAX_SHORT_TEXT_CHARS, true)?,
            start: get_date(doc, &m, "start")?,
            end: get_date(doc, &m, "end")?,
            target: get_uint(doc, &m, "target")?,
        });
    }
    let mut deadlines = Vec::new();
    for m in get_rows(doc, "deadlines", MAX_DEADLINES_COUNT)? {
        deadlines.push(Deadline {
            label: get_text(doc, &m, "label", MAX_SHORT_TEXT_CHARS, true)?,
            date: get_date(doc, &m, "date")?,
        });
    }
    let mut campaigns = Vec::new();
    for m in get_rows(doc, "campaigns", MAX_DEADLINES_COUNT)? {
        campaigns.push(Campaign {
            name: get_text(doc, &m, "name", MAX_SHORT_TEXT_CHARS, true)?,
            start: get_date(doc, &m, "start")?,
            end: get_date(doc, &m, "end")?,
            target: get_uint(doc, &m, "target")?,
        });
    }
    Ok(Programme {
        name: get_text(doc, &root, "name", MAX_TITLE_CHARS, true)?,
        phases,
        deadlines,
        campaigns,
        national_target: get_uint(doc, &root, "national_target")?,
    })
}

fn read_target<F: Fields>(doc: &F) -> Result<TargetAssignment, ContentError> {
    let root = doc.root();
    let p = get_str(doc, &root, "programme")?.ok_or(ContentError::Missing("programme"))?;
    let programme = RecordId::from_hex(&p).map_err(|e| invalid("programme", e.to_string()))?;
    let phase =
        u32::try_from(get_uint(doc, &root, "phase")?).map_err(|_| invalid("phase", "too large"))?;
    let mut assignments = BTreeMap::new();
    if let Some(m) = doc.map(&root, "assignments") {
        let n = doc.len(&m);
        if n > MAX_TARGET_ASSIGNMENTS_COUNT {
            return Err(invalid(
                "assignments",
                format!("{n} over the limit of {MAX_TARGET_ASSIGNMENTS_COUNT}"),
            ));
        }
        for k in doc.map_keys(&m) {
            let unit = UnitId::new(&k).map_err(|e| invalid("assignments", e.to_string()))?;
            let count = match doc.scalar(&m, &k) {
                Some(ScalarValue::Uint(v)) => v,
                _ => return Err(invalid("assignments", format!("{k}: must be a count"))),
            };
            assignments.insert(unit, count);
        }
    }
    Ok(TargetAssignment {
        programme,
        phase,
        assignments,
    })
}

#[cfg(test)]
mod tests;
