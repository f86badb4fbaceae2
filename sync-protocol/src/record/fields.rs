//! Reading a record's fields, from an Automerge document or, much faster, straight from the
//! operations of a record's first change.
//!
//! Verifying a record change means reading the record's content at that change. Building an
//! Automerge document for it (≈ 50 µs) and reading some twenty fields with `get` (≈ 65 µs) cost
//! about five signature checks per entry, and most record changes are the first change of a new
//! record. That first change has no dependencies, so its state is just its operations applied
//! in order by one actor: [`OpTree::from_first_change`] builds that state directly (≈ 15 µs,
//! mostly Automerge's own decoding of the change).
//!
//! It accepts only the shape Automerge itself writes into a fresh document — every operation
//! makes or puts a value under a map key not yet set, or inserts after an element made earlier
//! in the change, and cites no earlier operation (`pred` empty) — and declines anything else
//! (deletions, overwrites, counters, text objects, references to what this change did not
//! make). On that shape every key holds exactly one operation and every insertion goes right
//! after its reference element (all elements already there are older), so there is nothing to
//! resolve and the state is Automerge's. A declined change goes through an Automerge document,
//! as every later change does. Property tests compare the two paths on random documents.
//!
//! [`Fields`] is what the typed readers in `record` need; both the document and the tree provide
//! it with the same meaning (a missing key and a key holding an object are "no scalar"; only
//! map objects are maps, only list objects are lists).

use std::collections::BTreeMap;

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType};
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value};

use super::AutomergeChange;

/// Read access to a record's state, as the typed readers need it.
pub trait Fields {
    /// An object (map or list) of the state.
    type Obj: Clone;
    /// The root map.
    fn root(&self) -> Self::Obj;
    /// The scalar value under `key` of the map `obj`; `None` when absent or not a scalar.
    fn scalar(&self, obj: &Self::Obj, key: &str) -> Option<ScalarValue>;
    /// The map under `key` of the map `obj`; `None` when absent or not a map object.
    fn map(&self, obj: &Self::Obj, key: &str) -> Option<Self::Obj>;
    /// The list under `key` of the map `obj`; `None` when absent or not a list object.
    fn list(&self, obj: &Self::Obj, key: &str) -> Option<Self::Obj>;
    /// How many elements a list has, or keys a map has.
    fn len(&self, obj: &Self::Obj) -> usize;
    /// Whether [`Fields::len`] is zero.
    fn is_empty(&self, obj: &Self::Obj) -> bool {
        self.len(obj) == 0
    }
    /// The map at position `i` of a list; `None` when it is not a map object.
    fn map_at(&self, list: &Self::Obj, i: usize) -> Option<Self::Obj>;
    /// The keys of a map, sorted.
    fn map_keys(&self, obj: &Self::Obj) -> Vec<String>;
}

impl Fields for AutoCommit {
    type Obj = ObjId;
    fn root(&self) -> ObjId {
        automerge::ROOT
    }
    fn scalar(&self, obj: &ObjId, key: &str) -> Option<ScalarValue> {
        match self.get(obj, key) {
            Ok(Some((Value::Scalar(v), _))) => Some(v.into_owned()),
            _ => None,
        }
    }
    fn map(&self, obj: &ObjId, key: &str) -> Option<ObjId> {
        match self.get(obj, key) {
            Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
            _ => None,
        }
    }
    fn list(&self, obj: &ObjId, key: &str) -> Option<ObjId> {
        match self.get(obj, key) {
            Ok(Some((Value::Object(ObjType::List), id))) => Some(id),
            _ => None,
        }
    }
    fn len(&self, obj: &ObjId) -> usize {
        self.length(obj)
    }
    fn map_at(&self, list: &ObjId, i: usize) -> Option<ObjId> {
        match self.get(list, i) {
            Ok(Some((Value::Object(ObjType::Map), m))) => Some(m),
            _ => None,
        }
    }
    fn map_keys(&self, obj: &ObjId) -> Vec<String> {
        ReadDoc::keys(self, obj).collect()
    }
}

/// The state after a record's first change, built from its operations (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct OpTree {
    /// Objects by index; 0 is the root map.
    objects: Vec<Object>,
}

#[derive(Debug, Clone, PartialEq)]
enum Object {
    Map(BTreeMap<String, Slot>),
    /// Elements in list order, each with the counter of the operation that inserted it.
    List(Vec<(u64, Slot)>),
}

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Scalar(ScalarValue),
    /// An object, by index into `objects`.
    Object(usize),
}

impl OpTree {
    /// The state after `change`, when it is a first change of the shape described in the module
    /// doc; `None` otherwise (the caller then builds an Automerge document).
    pub fn from_first_change(change: &AutomergeChange) -> Option<Self> {
        if !change.deps().is_empty() {
            return None;
        }
        let parsed = change.to_automerge();
        // The change must be its actor's first (Automerge refuses 0 and cannot apply a later
        // one to an empty document) and name no other actor: see `record::load_document`.
        if parsed.seq() != 1 || !parsed.other_actor_ids().is_empty() {
            return None;
        }
        let expanded = parsed.decode();
        let actor = expanded.actor_id.clone();
        let start = expanded.start_op.get();
        let mut tree = OpTree {
            objects: vec![Object::Map(BTreeMap::new())],
        };
        // Objects made by this change: operation counter → object index.
        let mut made: BTreeMap<u64, usize> = BTreeMap::new();
        // Which list each inserted element is in: operation counter → object index.
        let mut elements: BTreeMap<u64, usize> = BTreeMap::new();
        let ours = |id: &OpId| (id.1 == actor).then_some(id.0);
        for (i, op) in expanded.operations.iter().enumerate() {
            let counter = start.checked_add(u64::try_from(i).ok()?)?;
            if !op.pred.is_empty() {
                return None;
            }
            let obj = match &op.obj {
                ObjectId::Root => 0,
                ObjectId::Id(id) => *made.get(&ours(id)?)?,
            };
            let value = match &op.action {
                OpType::Put(v) => match v {
                    ScalarValue::Counter(_) | ScalarValue::Unknown { .. } => return None,
                    v => Slot::Scalar(v.clone()),
                },
                OpType::Make(ObjType::Map) => Slot::Object(tree.objects.len()),
                OpType::Make(ObjType::List) => Slot::Object(tree.objects.len()),
                _ => return None,
            };
            if let Slot::Object(index) = value {
                let fresh = match op.action {
                    OpType::Make(ObjType::List) => Object::List(Vec::new()),
                    _ => Object::Map(BTreeMap::new()),
                };
                tree.objects.push(fresh);
                made.insert(counter, index);
            }
            match (&op.key, op.insert, tree.objects.get_mut(obj)?) {
                (Key::Map(key), false, Object::Map(m)) => {
                    if m.contains_key(key.as_str()) {
                        return None;
                    }
                    m.insert(key.to_string(), value);
                }
                (Key::Seq(after), true, Object::List(items)) => {
                    let at = match after {
                        ElementId::Head => 0,
                        ElementId::Id(id) => {
                            let c = ours(id)?;
                            if elements.get(&c) != Some(&obj) {
                                return None;
                            }
                            items.iter().position(|(x, _)| *x == c)? + 1
                        }
                    };
                    items.insert(at, (counter, value));
                    elements.insert(counter, obj);
                }
                _ => return None,
            }
        }
        Some(tree)
    }

    fn object(&self, i: usize) -> Option<&Object> {
        self.objects.get(i)
    }

    fn slot(&self, obj: usize, key: &str) -> Option<&Slot> {
        match self.object(obj)? {
            Object::Map(m) => m.get(key),
            Object::List(_) => None,
        }
    }

    fn object_at(&self, slot: Option<&Slot>, list: bool) -> Option<usize> {
        match slot? {
            Slot::Object(i) => match (self.object(*i)?, list) {
                (Object::Map(_), false) | (Object::List(_), true) => Some(*i),
                _ => None,
            },
            Slot::Scalar(_) => None,
        }
    }
}

impl Fields for OpTree {
    type Obj = usize;
    fn root(&self) -> usize {
        0
    }
    fn scalar(&self, obj: &usize, key: &str) -> Option<ScalarValue> {
        match self.slot(*obj, key)? {
            Slot::Scalar(v) => Some(v.clone()),
            Slot::Object(_) => None,
        }
    }
    fn map(&self, obj: &usize, key: &str) -> Option<usize> {
        self.object_at(self.slot(*obj, key), false)
    }
    fn list(&self, obj: &usize, key: &str) -> Option<usize> {
        self.object_at(self.slot(*obj, key), true)
    }
    fn len(&self, obj: &usize) -> usize {
        match self.object(*obj) {
            Some(Object::Map(m)) => m.len(),
            Some(Object::List(l)) => l.len(),
            None => 0,
        }
    }
    fn map_at(&self, list: &usize, i: usize) -> Option<usize> {
        match self.object(*list)? {
            Object::List(items) => self.object_at(items.get(i).map(|(_, s)| s), false),
            Object::Map(_) => None,
        }
    }
    fn map_keys(&self, obj: &usize) -> Vec<String> {
        match self.object(*obj) {
            Some(Object::Map(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
