//! Applying changes to a record's Automerge document, refusing before Automerge sees it
//! whatever Automerge 0.7 would panic on.
//!
//! Automerge trusts a change's operations to name what exists: an operation on an object that
//! does not exist, an insertion after a list element that does not exist or a `pred` naming no
//! operation make it panic (`Untangler::finish`, `lookup_actor(..).unwrap()`), which would bring
//! a node down on one signed entry. [`RecordDoc::apply`] therefore checks every operation of a
//! change against an index of the operations the document holds (and those earlier in the same
//! change): its object exists and is of the right kind for the key, an insertion's reference
//! element is in that list, every `pred` is an operation on the same object and key, no
//! operation id is reused, references point back in Lamport order, the change's actors have
//! their first change in and the change is its actor's next (Automerge asserts 1, 2, 3, …). Only plain operations are allowed (make a map, list or text, put a
//! scalar other than a counter, delete). As a second line, Automerge runs under `catch_unwind`: a panic
//! is a refusal, and the document it may have left half-changed is discarded.
//!
//! A `RecordDoc` is also what keeps import linear: a batch that carries many changes of one
//! record applies each once to one document (see [`DocCache`]) instead of rebuilding the
//! record's whole history for every entry.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

use automerge::legacy::{ElementId, Key, ObjectId, OpType};
use automerge::ExpandedChange;
use automerge::{ActorId, AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value};

use super::{AutomergeChange, ContentError};
use crate::ids::{ChangeHash, RecordId};
use crate::limits::MAX_CACHED_RECORD_DOCS;

/// An operation id: counter and actor.
type Id = (u64, ActorId);

/// What the index knows of one operation.
#[derive(Debug, Clone)]
struct OpInfo {
    /// The object the operation is in (`None`: the root map).
    obj: Option<Id>,
    /// The key it sets: a map key, or the list element it made or sets.
    key: Slot,
    /// The kind of object it made, if it made one.
    made: Option<ObjType>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Map(String),
    Elem(Id),
}

/// Decodes a change's operations, `None` when Automerge's decoder panics on them.
pub(crate) fn decode(change: &AutomergeChange) -> Option<ExpandedChange> {
    catch_unwind(|| change.to_automerge().decode()).ok()
}

/// A record's document with the index of its operations.
#[derive(Debug, Clone)]
pub struct RecordDoc {
    doc: AutoCommit,
    ops: BTreeMap<Id, OpInfo>,
    /// Each actor's last change number (an actor is started once its change 1 is in).
    seqs: BTreeMap<ActorId, u64>,
    applied: BTreeSet<ChangeHash>,
}

fn refuse(change: &AutomergeChange, why: String) -> ContentError {
    ContentError::Automerge(format!("change {}: {why}", change.hash().short()))
}

impl RecordDoc {
    /// An empty document with `actor` as its own actor id.
    pub fn new(actor: [u8; 16]) -> Self {
        Self {
            doc: super::new_document(actor),
            ops: BTreeMap::new(),
            seqs: BTreeMap::new(),
            applied: BTreeSet::new(),
        }
    }

    /// The document.
    pub fn doc(&self) -> &AutoCommit {
        &self.doc
    }

    /// The sorted heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        super::heads(&mut self.doc)
    }

    /// The document, to write to (the caller's own edits).
    pub fn into_doc(self) -> AutoCommit {
        self.doc
    }

    /// Whether `hash` is applied.
    pub fn has(&self, hash: &ChangeHash) -> bool {
        self.applied.contains(hash)
    }

    /// Applies `changes` (any order) in causal order; refuses a change whose dependencies are
    /// neither applied nor among `changes`. On `Err` the document must be discarded only when
    /// [`ApplyError::poisoned`] says so.
    pub fn apply_all(&mut self, changes: Vec<AutomergeChange>) -> Result<(), ApplyError> {
        let mut pending: Vec<AutomergeChange> = changes
            .into_iter()
            .filter(|c| !self.applied.contains(&c.hash()))
            .collect();
        pending.sort_by_key(|c| c.hash());
        pending.dedup_by_key(|c| c.hash());
        while !pending.is_empty() {
            let before = pending.len();
            let mut later = Vec::new();
            for c in pending {
                if c.deps().iter().all(|d| self.applied.contains(d)) {
                    self.apply(&c)?;
                } else {
                    later.push(c);
                }
            }
            if later.len() == before {
                let c = &later[0];
                return Err(ApplyError::refused(refuse(
                    c,
                    "depends on a change not in the record".into(),
                )));
            }
            pending = later;
        }
        Ok(())
    }

    /// Checks one change whose dependencies are applied, then applies it.
    pub fn apply(&mut self, change: &AutomergeChange) -> Result<(), ApplyError> {
        if self.applied.contains(&change.hash()) {
            return Ok(());
        }
        let new = self.check(change).map_err(ApplyError::refused)?;
        let am = change.to_automerge();
        let result = catch_unwind(AssertUnwindSafe(|| self.doc.apply_changes([am])));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(ApplyError {
                    error: refuse(change, format!("automerge refuses it: {e}")),
                    poisoned: true,
                })
            }
            Err(_) => {
                return Err(ApplyError {
                    error: refuse(change, "automerge cannot apply it".into()),
                    poisoned: true,
                })
            }
        }
        if self
            .doc
            .get_change_by_hash(&automerge::ChangeHash(change.hash().0))
            .is_none()
        {
            return Err(ApplyError {
                error: refuse(change, "automerge did not apply it".into()),
                poisoned: true,
            });
        }
        let (actor, seq, ops) = new;
        self.seqs.insert(actor, seq);
        self.ops.extend(ops);
        self.applied.insert(change.hash());
        Ok(())
    }

    /// The checks of the module doc; returns the change's actor, number and operations.
    #[allow(clippy::type_complexity)]
    fn check(
        &self,
        change: &AutomergeChange,
    ) -> Result<(ActorId, u64, Vec<(Id, OpInfo)>), ContentError> {
        let bad = |why: &str| refuse(change, why.to_string());
        if let Some(d) = change.deps().iter().find(|d| !self.applied.contains(d)) {
            return Err(refuse(
                change,
                format!("depends on change {}, not in the record", d.short()),
            ));
        }
        let x = decode(change).ok_or_else(|| bad("its operations do not decode"))?;
        if x.seq == 0 {
            return Err(bad("it is numbered 0"));
        }
        let actor = x.actor_id.clone();
        let started = |a: &ActorId| self.seqs.contains_key(a) || (*a == actor && x.seq == 1);
        if !started(&actor) {
            return Err(bad(
                "its actor's first change is not in the record (automerge cannot apply it)",
            ));
        }
        // Automerge asserts that an actor's changes are numbered 1, 2, 3, … in causal order.
        let expected = self.seqs.get(&actor).map_or(1, |s| s.saturating_add(1));
        if x.seq != expected {
            return Err(refuse(
                change,
                format!(
                    "it is numbered {} where its actor's next change is {expected}",
                    x.seq
                ),
            ));
        }
        if let Some(a) = change.to_automerge().actors().find(|a| !started(a)) {
            return Err(refuse(
                change,
                format!("it names actor {a}, whose first change is not in the record"),
            ));
        }
        let start = x.start_op.get();
        let mut new: Vec<(Id, OpInfo)> = Vec::with_capacity(x.operations.len());
        let mut local: BTreeMap<Id, usize> = BTreeMap::new();
        let find = |id: &Id, new: &Vec<(Id, OpInfo)>, local: &BTreeMap<Id, usize>| {
            local
                .get(id)
                .map(|&i| new[i].1.clone())
                .or_else(|| self.ops.get(id).cloned())
        };
        for (i, op) in x.operations.iter().enumerate() {
            let counter = u64::try_from(i)
                .ok()
                .and_then(|i| start.checked_add(i))
                .ok_or_else(|| bad("operation counter overflows"))?;
            let id: Id = (counter, actor.clone());
            if self.ops.contains_key(&id) {
                return Err(bad("it reuses an operation id"));
            }
            let before = |r: &Id| r.0 < counter;
            // The object.
            let obj = match &op.obj {
                ObjectId::Root => None,
                ObjectId::Id(o) => Some((o.0, o.1.clone())),
            };
            let obj_type = match &obj {
                None => ObjType::Map,
                Some(o) => {
                    if !started(&o.1) || !before(o) {
                        return Err(bad("an operation names an object that does not exist"));
                    }
                    match find(o, &new, &local).and_then(|info| info.made) {
                        Some(t) => t,
                        None => {
                            return Err(bad("an operation names an object that does not exist"))
                        }
                    }
                }
            };
            // The key.
            let slot = match (&op.key, obj_type, op.insert) {
                (Key::Map(k), ObjType::Map, false) => Slot::Map(k.to_string()),
                (Key::Seq(e), ObjType::List | ObjType::Text, insert) => {
                    let reference = match e {
                        ElementId::Head => None,
                        ElementId::Id(r) => Some((r.0, r.1.clone())),
                    };
                    if let Some(r) = &reference {
                        let ok = started(&r.1)
                            && before(r)
                            && matches!(find(r, &new, &local),
                                Some(OpInfo { obj: ref ro, key: Slot::Elem(ref el), .. })
                                    if *ro == obj && el == r);
                        if !ok {
                            return Err(bad(
                                "an operation names a list element that does not exist",
                            ));
                        }
                    }
                    match (insert, reference) {
                        (true, _) => Slot::Elem(id.clone()),
                        (false, Some(r)) => Slot::Elem(r),
                        (false, None) => {
                            return Err(bad("an operation sets the head of a list"));
                        }
                    }
                }
                _ => return Err(bad("an operation's key does not fit its object")),
            };
            let made = match &op.action {
                OpType::Make(ObjType::Map) => Some(ObjType::Map),
                OpType::Make(ObjType::List) => Some(ObjType::List),
                OpType::Make(ObjType::Text) => Some(ObjType::Text),
                OpType::Put(v) if !matches!(v, automerge::ScalarValue::Counter(_)) => None,
                OpType::Delete if !op.insert && !op.pred.is_empty() => None,
                _ => return Err(bad("an operation of a kind records do not use")),
            };
            for p in op.pred.iter() {
                let p: Id = (p.0, p.1.clone());
                let ok = started(&p.1)
                    && before(&p)
                    && matches!(find(&p, &new, &local),
                        Some(ref info) if info.obj == obj && info.key == slot);
                if !ok || op.insert {
                    return Err(bad(
                        "an operation overwrites an operation that does not exist",
                    ));
                }
            }
            local.insert(id.clone(), new.len());
            new.push((
                id,
                OpInfo {
                    obj,
                    key: slot,
                    made,
                },
            ));
        }
        Ok((actor, x.seq, new))
    }
}

/// A change refused by [`RecordDoc::apply`].
#[derive(Debug)]
pub struct ApplyError {
    /// Why.
    pub error: ContentError,
    /// Whether Automerge failed part-way: the document is then not to be used again.
    pub poisoned: bool,
}

impl ApplyError {
    fn refused(error: ContentError) -> Self {
        Self {
            error,
            poisoned: false,
        }
    }
}

/// Documents of the records a batch touches, kept so that each change is applied once
/// (bounded by [`MAX_CACHED_RECORD_DOCS`]; the least recently used goes first).
#[derive(Debug, Default)]
pub struct DocCache {
    docs: BTreeMap<RecordId, (u64, RecordDoc)>,
    clock: u64,
}

impl DocCache {
    /// Takes the document of `record` out of the cache (or a fresh one).
    pub fn take(&mut self, record: &RecordId) -> RecordDoc {
        self.remove(record)
            .unwrap_or_else(|| RecordDoc::new([0; 16]))
    }

    /// Takes the document of `record` out of the cache, if it holds one.
    pub fn remove(&mut self, record: &RecordId) -> Option<RecordDoc> {
        self.docs.remove(record).map(|(_, d)| d)
    }

    /// Puts a document back.
    pub fn put(&mut self, record: RecordId, doc: RecordDoc) {
        self.clock += 1;
        if self.docs.len() >= MAX_CACHED_RECORD_DOCS && !self.docs.contains_key(&record) {
            if let Some(oldest) = self
                .docs
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(r, _)| *r)
            {
                self.docs.remove(&oldest);
            }
        }
        self.docs.insert(record, (self.clock, doc));
    }
}

/// A document read at earlier heads (the document may hold later or concurrent changes).
pub(crate) struct AtHeads<'a> {
    doc: &'a AutoCommit,
    heads: Vec<automerge::ChangeHash>,
}

impl<'a> AtHeads<'a> {
    pub(crate) fn new(doc: &'a AutoCommit, heads: &[ChangeHash]) -> Self {
        Self {
            doc,
            heads: heads.iter().map(|h| automerge::ChangeHash(h.0)).collect(),
        }
    }
}

impl super::Fields for AtHeads<'_> {
    type Obj = ObjId;
    fn root(&self) -> ObjId {
        automerge::ROOT
    }
    fn scalar(&self, obj: &ObjId, key: &str) -> Option<ScalarValue> {
        match self.doc.get_at(obj, key, &self.heads) {
            Ok(Some((Value::Scalar(v), _))) => Some(v.into_owned()),
            _ => None,
        }
    }
    fn map(&self, obj: &ObjId, key: &str) -> Option<ObjId> {
        match self.doc.get_at(obj, key, &self.heads) {
            Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
            _ => None,
        }
    }
    fn list(&self, obj: &ObjId, key: &str) -> Option<ObjId> {
        match self.doc.get_at(obj, key, &self.heads) {
            Ok(Some((Value::Object(ObjType::List), id))) => Some(id),
            _ => None,
        }
    }
    fn len(&self, obj: &ObjId) -> usize {
        self.doc.length_at(obj, &self.heads)
    }
    fn map_at(&self, list: &ObjId, i: usize) -> Option<ObjId> {
        match self.doc.get_at(list, i, &self.heads) {
            Ok(Some((Value::Object(ObjType::Map), m))) => Some(m),
            _ => None,
        }
    }
    fn map_keys(&self, obj: &ObjId) -> Vec<String> {
        self.doc.keys_at(obj, &self.heads).collect()
    }
}
