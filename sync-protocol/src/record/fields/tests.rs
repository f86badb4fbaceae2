//! The first-change fast path ([`OpTree`]) against Automerge on the same change: real record
//! content, and random documents built with Automerge's own API.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, ROOT};
use proptest::prelude::*;

use super::*;
use crate::date::Date;
use crate::entry::{RecordKind, Sector};
use crate::ids::{ContentHash, RecordId, UnitId};
use crate::record::{
    self, Application, Attachment, ContentError, Description, EmployerRecognition,
};
use crate::record::{Initiative, RecordContent, TargetAssignment};
use crate::text::Text;

fn text(s: &str) -> Text {
    Text::new("t", s, 10_000).unwrap()
}

/// The first change of a fresh document holding `content`.
fn first_change(content: &RecordContent) -> AutomergeChange {
    let mut doc = record::new_document([7; 16]);
    record::commit_content(&mut doc, content, 1_700_000_000_000)
        .unwrap()
        .unwrap()
}

/// Every field the typed readers can see, compared through [`Fields`] on both sides.
fn same_state<A: Fields, B: Fields>(a: &A, ao: &A::Obj, b: &B, bo: &B::Obj, depth: usize) {
    assert!(depth < 64, "state nested too deep for the comparison");
    let keys = a.map_keys(ao);
    assert_eq!(keys, b.map_keys(bo), "keys differ");
    assert_eq!(a.len(ao), b.len(bo), "map sizes differ");
    for k in &keys {
        assert_eq!(a.scalar(ao, k), b.scalar(bo, k), "scalar {k} differs");
        match (a.map(ao, k), b.map(bo, k)) {
            (Some(x), Some(y)) => same_state(a, &x, b, &y, depth + 1),
            (None, None) => {}
            _ => panic!("map {k}: one side has it"),
        }
        match (a.list(ao, k), b.list(bo, k)) {
            (Some(x), Some(y)) => {
                assert_eq!(a.len(&x), b.len(&y), "list {k} lengths differ");
                for i in 0..a.len(&x) {
                    match (a.map_at(&x, i), b.map_at(&y, i)) {
                        (Some(p), Some(q)) => same_state(a, &p, b, &q, depth + 1),
                        (None, None) => {}
                        _ => panic!("list {k}[{i}]: one side has a map"),
                    }
                }
            }
            (None, None) => {}
            _ => panic!("list {k}: one side has it"),
        }
    }
}

fn check_against_automerge(change: &AutomergeChange) -> bool {
    let doc = record::load_document([change.clone()], [0; 16]).unwrap();
    match OpTree::from_first_change(change) {
        Some(tree) => {
            same_state(&doc, &ROOT, &tree, &tree.root(), 0);
            true
        }
        None => false,
    }
}

fn initiative(n: u64) -> Initiative {
    Initiative {
        title: text(&format!("Sáng kiến số {n}")),
        authors: (0..1 + n % 3)
            .map(|i| record::Author {
                name: text(&format!("Tác giả {i}")),
                position: text(if i % 2 == 0 { "Kỹ sư" } else { "" }),
            })
            .collect(),
        origin: UnitId::new("cdcs-a").unwrap(),
        superior: UnitId::new("ldld-tuy-hoa").unwrap(),
        programme: n.is_multiple_of(2).then_some(RecordId([3; 16])),
        phase: n.is_multiple_of(2) as u32,
        sector: Sector::ALL[(n % 6) as usize],
        summary: text("Giảm thời gian dừng máy"),
        registered_on: Date::parse("2025-03-04").unwrap(),
        description: Description {
            current_state: text("Dừng máy."),
            solution: text(""),
            novelty: text("Mới."),
            scope: text("Xưởng."),
            effectiveness: text("Lợi."),
        },
        benefit_vnd: n * 1_000_000,
        application: if n.is_multiple_of(3) {
            Application::Trial
        } else {
            Application::Applied
        },
        recognition: (n % 4 == 1).then(|| EmployerRecognition {
            decision_number: text("12/QĐ"),
            date: Date::parse("2025-04-01").unwrap(),
            reward: text("2 triệu"),
        }),
        confidential: n.is_multiple_of(5),
        attachments: (0..n % 3)
            .map(|i| Attachment {
                hash: ContentHash([i as u8; 32]),
                name: text(&format!("ban-ve-{i}.pdf")),
                size_bytes: 1000 * i,
            })
            .collect(),
        commitment_salt: (n.is_multiple_of(5)).then_some([9; 32]),
    }
}

#[test]
fn a_new_initiative_programme_or_target_takes_the_fast_path_and_reads_the_same() {
    for n in 0..24 {
        let content = RecordContent::Initiative(Box::new(initiative(n)));
        let change = first_change(&content);
        assert!(check_against_automerge(&change), "initiative {n} declined");
        let tree = OpTree::from_first_change(&change).unwrap();
        assert_eq!(
            record::read_content(&tree, RecordKind::Initiative).unwrap(),
            content
        );
        let state = record::load_record(vec![change.clone()], RecordKind::Initiative).unwrap();
        assert_eq!(state.heads, vec![change.hash()]);
        assert_eq!(state.content.unwrap(), content);
    }
    let target = RecordContent::Target(TargetAssignment {
        programme: RecordId([3; 16]),
        phase: 2,
        assignments: [("ldld-tuy-hoa", 4133), ("ldld-song-cau", 17)]
            .into_iter()
            .map(|(u, c)| (UnitId::new(u).unwrap(), c))
            .collect(),
    });
    let change = first_change(&target);
    assert!(check_against_automerge(&change));
    let tree = OpTree::from_first_change(&change).unwrap();
    assert_eq!(
        record::read_content(&tree, RecordKind::Target).unwrap(),
        target
    );
}

#[test]
fn a_later_change_is_declined() {
    let mut doc = record::new_document([7; 16]);
    let first = RecordContent::Initiative(Box::new(initiative(1)));
    record::commit_content(&mut doc, &first, 1)
        .unwrap()
        .unwrap();
    let mut edited = initiative(1);
    edited.title = text("Tên mới");
    let second = record::commit_content(&mut doc, &RecordContent::Initiative(Box::new(edited)), 2)
        .unwrap()
        .unwrap();
    assert!(!second.deps().is_empty());
    assert_eq!(OpTree::from_first_change(&second), None);
}

/// Overwrites, deletions, counters and text objects are declined; Automerge reads those.
#[test]
fn shapes_outside_the_fast_path_are_declined() {
    type Case = Box<dyn Fn(&mut AutoCommit)>;
    let cases: Vec<Case> = vec![
        Box::new(|d| {
            d.put(ROOT, "title", "a").unwrap();
            d.put(ROOT, "title", "b").unwrap();
        }),
        Box::new(|d| {
            d.put(ROOT, "title", "a").unwrap();
            d.delete(ROOT, "title").unwrap();
        }),
        Box::new(|d| {
            d.put(ROOT, "n", ScalarValue::counter(1)).unwrap();
        }),
        Box::new(|d| {
            d.put_object(ROOT, "t", ObjType::Text).unwrap();
        }),
        Box::new(|d| {
            let l = d.put_object(ROOT, "l", ObjType::List).unwrap();
            d.insert(&l, 0, 1).unwrap();
            d.put(&l, 0, 2).unwrap();
        }),
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut doc = record::new_document([7; 16]);
        case(&mut doc);
        let h = doc.commit().unwrap();
        let change = AutomergeChange::from_automerge(&doc.get_change_by_hash(&h).unwrap()).unwrap();
        assert_eq!(OpTree::from_first_change(&change), None, "case {i}");
    }
}

/// One step of a random first change, applied with Automerge's API.
#[derive(Debug, Clone)]
enum Step {
    Put { obj: usize, key: u8, value: i64 },
    PutStr { obj: usize, key: u8, value: String },
    MakeMap { obj: usize, key: u8 },
    MakeList { obj: usize, key: u8 },
    Insert { obj: usize, at: usize, value: i64 },
    InsertMap { obj: usize, at: usize },
    Delete { obj: usize, key: u8 },
    MakeText { obj: usize, key: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    let obj = 0usize..8;
    let key = 0u8..5;
    prop_oneof![
        (obj.clone(), key.clone(), any::<i64>()).prop_map(|(obj, key, value)| Step::Put {
            obj,
            key,
            value
        }),
        (obj.clone(), key.clone(), "[a-zđáà ]{0,6}").prop_map(|(obj, key, value)| Step::PutStr {
            obj,
            key,
            value
        }),
        (obj.clone(), key.clone()).prop_map(|(obj, key)| Step::MakeMap { obj, key }),
        (obj.clone(), key.clone()).prop_map(|(obj, key)| Step::MakeList { obj, key }),
        (obj.clone(), 0usize..6, any::<i64>()).prop_map(|(obj, at, value)| Step::Insert {
            obj,
            at,
            value
        }),
        (obj.clone(), 0usize..6).prop_map(|(obj, at)| Step::InsertMap { obj, at }),
        (obj.clone(), key.clone()).prop_map(|(obj, key)| Step::Delete { obj, key }),
        (obj, key).prop_map(|(obj, key)| Step::MakeText { obj, key }),
    ]
}

/// Applies the steps that make sense (an object index picks among the objects made so far).
fn build(steps: &[Step]) -> Option<AutomergeChange> {
    let mut doc = record::new_document([5; 16]);
    let mut maps: Vec<ObjId> = vec![ROOT];
    let mut lists: Vec<ObjId> = Vec::new();
    let k = |key: &u8| ["a", "b", "c", "title", "phase"][*key as usize];
    for s in steps {
        match s {
            Step::Put { obj, key, value } => {
                let m = maps[obj % maps.len()].clone();
                doc.put(&m, k(key), *value).unwrap();
            }
            Step::PutStr { obj, key, value } => {
                let m = maps[obj % maps.len()].clone();
                doc.put(&m, k(key), value.as_str()).unwrap();
            }
            Step::MakeMap { obj, key } => {
                let m = maps[obj % maps.len()].clone();
                maps.push(doc.put_object(&m, k(key), ObjType::Map).unwrap());
            }
            Step::MakeList { obj, key } => {
                let m = maps[obj % maps.len()].clone();
                lists.push(doc.put_object(&m, k(key), ObjType::List).unwrap());
            }
            Step::MakeText { obj, key } => {
                let m = maps[obj % maps.len()].clone();
                doc.put_object(&m, k(key), ObjType::Text).unwrap();
            }
            Step::Insert { obj, at, value } if !lists.is_empty() => {
                let l = lists[obj % lists.len()].clone();
                let at = at % (doc.length(&l) + 1);
                doc.insert(&l, at, *value).unwrap();
            }
            Step::InsertMap { obj, at } if !lists.is_empty() => {
                let l = lists[obj % lists.len()].clone();
                let at = at % (doc.length(&l) + 1);
                maps.push(doc.insert_object(&l, at, ObjType::Map).unwrap());
            }
            Step::Delete { obj, key } => {
                let m = maps[obj % maps.len()].clone();
                if doc.get(&m, k(key)).unwrap().is_some() {
                    doc.delete(&m, k(key)).unwrap();
                }
            }
            _ => {}
        }
    }
    let h = doc.commit()?;
    Some(AutomergeChange::from_automerge(&doc.get_change_by_hash(&h)?).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whenever the fast path accepts a first change, every field it reads equals Automerge's.
    #[test]
    fn the_fast_path_reads_what_automerge_reads(steps in prop::collection::vec(step(), 1..40)) {
        if let Some(change) = build(&steps) {
            check_against_automerge(&change);
        }
    }

    /// Changes that only make and insert (what a new record is) are always accepted.
    #[test]
    fn a_change_that_only_makes_and_inserts_is_accepted(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        let mut seen = std::collections::BTreeSet::new();
        let fresh: Vec<Step> = steps
            .into_iter()
            .filter(|s| match s {
                Step::Put { obj, key, .. }
                | Step::PutStr { obj, key, .. }
                | Step::MakeMap { obj, key }
                | Step::MakeList { obj, key } => seen.insert((*obj, *key)),
                Step::Insert { .. } | Step::InsertMap { .. } => true,
                Step::Delete { .. } | Step::MakeText { .. } => false,
            })
            .collect();
        // Object indexes are taken modulo the objects made so far, so two steps naming
        // different indexes may still land on one key: only count a decline when no key
        // was written twice.
        if let Some(change) = build(&fresh) {
            let doc = record::load_document([change.clone()], [0; 16]).unwrap();
            let accepted = check_against_automerge(&change);
            let puts = fresh.iter().filter(|s| !matches!(s, Step::Insert { .. } | Step::InsertMap { .. })).count();
            let held = count_keys(&doc, &ROOT, 0);
            prop_assert!(accepted || held < puts, "declined although no key was overwritten");
        }
    }
}

fn count_keys(doc: &AutoCommit, obj: &ObjId, depth: usize) -> usize {
    if depth > 64 {
        return 0;
    }
    let mut n = 0;
    for k in ReadDoc::keys(doc, obj) {
        n += 1;
        if let Ok(Some((automerge::Value::Object(t), id))) = doc.get(obj, &k) {
            match t {
                ObjType::Map => n += count_keys(doc, &id, depth + 1),
                ObjType::List => {
                    for i in 0..doc.length(&id) {
                        if let Ok(Some((automerge::Value::Object(ObjType::Map), m))) =
                            doc.get(&id, i)
                        {
                            n += count_keys(doc, &m, depth + 1);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    n
}

/// A real first change re-encoded by a forger: `seq` changed, or (with `foreign`) its first
/// operation citing an operation of an actor the record has never seen.
fn forged_first_change(seq: u64, foreign: bool) -> AutomergeChange {
    let content = RecordContent::Initiative(Box::new(initiative(1)));
    let mut expanded = first_change(&content).to_automerge().decode();
    expanded.seq = seq;
    expanded.hash = None;
    if foreign {
        let other = automerge::ActorId::from(vec![0xee; 16]);
        expanded.operations[0].pred = vec![automerge::legacy::OpId(1, other)].into();
    }
    AutomergeChange::from_automerge(&automerge::Change::from(expanded)).unwrap()
}

/// Automerge 0.7 panics applying a first change numbered 2 or more, or one naming an actor
/// the document has never seen; such an entry must be refused with a reason, by both paths,
/// without taking the node down.
#[test]
fn a_forged_first_change_is_refused_without_a_panic() {
    for (seq, foreign) in [(0, false), (2, false), (7, false), (1, true)] {
        let c = forged_first_change(seq, foreign);
        assert_eq!(OpTree::from_first_change(&c), None, "seq {seq}");
        let loaded =
            std::panic::catch_unwind(|| record::load_document([c.clone()], [0; 16]).is_ok());
        assert_eq!(loaded.ok(), Some(false), "seq {seq}, foreign {foreign}");
        let r = record::load_record(vec![c], RecordKind::Initiative);
        assert!(matches!(r, Err(ContentError::Automerge(_))), "{r:?}");
    }
    // The same change numbered 1, as Automerge wrote it, loads.
    let c = forged_first_change(1, false);
    assert!(OpTree::from_first_change(&c).is_some());
    assert!(record::load_document([c], [0; 16]).is_ok());
}
