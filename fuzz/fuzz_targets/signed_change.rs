//! Fuzzes the whole import path with signed record changes: every input becomes one or more
//! later changes of an existing initiative (or a new record), with arbitrary Automerge
//! operations — objects, keys, list elements and `pred`s drawn from what the record holds or
//! made up — signed with the record owner's real key from a testkit federation, so that the
//! signature, certificate and authority checks pass and the operations reach the verifier,
//! Automerge and the audit. No input may panic (the fuzzer's panic hook aborts on any panic,
//! even one the node's `catch_unwind` would turn into a refusal, so the checks before Automerge
//! are what is fuzzed); a change accepted must leave a record the audit can re-read.
#![no_main]

use std::num::NonZeroU64;
use std::sync::OnceLock;

use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType, SortedVec};
use automerge::{ActorId, ExpandedChange, ObjType, ScalarValue};
use libfuzzer_sys::fuzz_target;
use sync_protocol::entry::{Entry, EntryBody, RecordChange, RecordKind};
use sync_protocol::ids::{ChangeHash, RecordId};
use sync_protocol::import::import_batch;
use sync_protocol::record::AutomergeChange;
use sync_protocol::testkit::{unit, Federation};

/// A federation holding one initiative of `cdcs-a` with a first change and two edits.
struct Fixture {
    fed: Federation,
    record: RecordId,
    actor: ActorId,
    heads: Vec<ChangeHash>,
    /// Operation ids the record holds: (id, made an object, inserted an element).
    ops: Vec<(OpId, bool, bool)>,
    next_seq: u64,
    next_op: u64,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut fed = Federation::new();
        let (record, first) = fed.new_initiative("cdcs-a", "Băng tải", false);
        fed.import_ok(first.clone());
        let mut changes = vec![first[0].clone()];
        for n in 0..2 {
            let e = fed.edit_initiative(record, |i| {
                i.benefit_vnd += 1;
                i.authors.push(sync_protocol::record::Author {
                    name: sync_protocol::testkit::text("name", &format!("Người {n}"), 200),
                    position: sync_protocol::testkit::text("position", "Thợ", 200),
                });
            });
            fed.import_ok(vec![e.clone()]);
            changes.push(e);
        }
        let mut ops = Vec::new();
        let mut actor = None;
        let mut next_op = 1;
        for e in &changes {
            let EntryBody::RecordChange(c) = e.body() else {
                unreachable!()
            };
            let x = c.change.to_automerge().decode();
            actor = Some(x.actor_id.clone());
            for (i, op) in x.operations.iter().enumerate() {
                let id = OpId(x.start_op.get() + i as u64, x.actor_id.clone());
                ops.push((id, matches!(op.action, OpType::Make(_)), op.insert));
            }
            next_op = x.start_op.get() + x.operations.len() as u64;
        }
        let heads = fed.heads(record);
        Fixture {
            fed,
            record,
            actor: actor.unwrap(),
            heads,
            ops,
            next_seq: changes.len() as u64 + 1,
            next_op,
        }
    })
}

/// Reads bytes as small numbers, zero when they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn op_id(f: &Fixture, b: &mut Bytes, own: &[OpId], want: impl Fn(bool, bool) -> bool) -> OpId {
    let pick = b.u8();
    let candidates: Vec<&OpId> = f
        .ops
        .iter()
        .filter(|(_, m, i)| want(*m, *i))
        .map(|(id, _, _)| id)
        .chain(own.iter())
        .collect();
    match pick % 4 {
        0 => OpId(u64::from(b.u8()), f.actor.clone()),
        1 => OpId(u64::from(b.u8()), ActorId::from(vec![b.u8(); 16])),
        _ if !candidates.is_empty() => candidates[usize::from(b.u8()) % candidates.len()].clone(),
        _ => OpId(u64::from(b.u8()), f.actor.clone()),
    }
}

fn change(f: &Fixture, b: &mut Bytes) -> AutomergeChange {
    let flags = b.u8();
    let actor = if flags & 1 == 0 {
        f.actor.clone()
    } else {
        ActorId::from(vec![b.u8() | 1; 16])
    };
    let seq = if flags & 2 == 0 {
        f.next_seq
    } else {
        u64::from(b.u8())
    };
    let start = if flags & 4 == 0 {
        f.next_op
    } else {
        u64::from(b.u8()).max(1)
    };
    let deps: Vec<automerge::ChangeHash> = if flags & 8 == 0 {
        f.heads.iter().map(|h| automerge::ChangeHash(h.0)).collect()
    } else {
        Vec::new()
    };
    let keys = [
        "title",
        "authors",
        "benefit_vnd",
        "description",
        "x",
        "phase",
    ];
    let mut own: Vec<OpId> = Vec::new();
    let mut operations = Vec::new();
    let n = 1 + usize::from(b.u8() % 8);
    for i in 0..n {
        if b.empty() && i > 0 {
            break;
        }
        let kind = b.u8();
        let obj = if kind & 1 == 0 {
            ObjectId::Root
        } else {
            ObjectId::Id(op_id(f, b, &own, |made, _| made))
        };
        let insert = kind & 2 != 0;
        let key = if kind & 4 == 0 {
            Key::Map(keys[usize::from(b.u8()) % keys.len()].into())
        } else if kind & 8 == 0 {
            Key::Seq(ElementId::Head)
        } else {
            Key::Seq(ElementId::Id(op_id(f, b, &own, |_, ins| ins)))
        };
        let action = match (kind >> 4) % 7 {
            0 => OpType::Make(ObjType::Map),
            1 => OpType::Make(ObjType::List),
            2 => OpType::Make(ObjType::Text),
            3 => OpType::Delete,
            4 => OpType::Increment(1),
            5 => OpType::Put(ScalarValue::Counter(3.into())),
            _ => OpType::Put(ScalarValue::Str(format!("v{}", b.u8()).into())),
        };
        let np = usize::from(b.u8() % 3);
        let mut pred: Vec<OpId> = (0..np).map(|_| op_id(f, b, &own, |_, _| true)).collect();
        pred.sort();
        pred.dedup();
        operations.push(Op {
            action,
            obj,
            key,
            pred: SortedVec::from(pred),
            insert,
        });
        own.push(OpId(start + i as u64, actor.clone()));
    }
    let x = ExpandedChange {
        operations,
        actor_id: actor,
        hash: None,
        seq,
        start_op: NonZeroU64::new(start).unwrap(),
        time: 1_700_000_000,
        message: None,
        deps,
        extra_bytes: Vec::new(),
    };
    AutomergeChange::from_automerge(&automerge::Change::from(x)).expect("a change")
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut fed = f.fed.clone();
    let mut b = Bytes(data);
    let mut entries: Vec<Entry> = Vec::new();
    let count = 1 + usize::from(b.u8() % 3);
    for _ in 0..count {
        let c = change(f, &mut b);
        let t = fed.tick();
        entries.push(fed.author("cdcs-a").sign(
            t,
            EntryBody::RecordChange(RecordChange {
                record: f.record,
                kind: RecordKind::Initiative,
                owner: unit("cdcs-a"),
                confidential: false,
                change: c,
            }),
        ));
    }
    let now = fed.now_ms();
    let out = import_batch(&fed.store, &mut fed.directory, entries, None, now).unwrap();
    if !out.accepted.is_empty() {
        use sync_protocol::store::EntryStore;
        fed.store.insert_batch(&out.accepted).unwrap();
        // The audit re-reads the record from scratch.
        let _ =
            sync_protocol::audit::verify_record(&fed.store, &fed.directory, f.record, None, now)
                .unwrap();
    }
});
