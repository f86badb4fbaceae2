//! Changes Automerge would panic on, refused before they are applied.

use automerge::legacy::{ElementId, Key, ObjectId, OpId};

use super::*;
use crate::entry::{EntryBody, RecordKind};
use crate::testkit::Federation;

fn change_of(e: &crate::entry::Entry) -> AutomergeChange {
    match e.body() {
        EntryBody::RecordChange(c) => c.change.clone(),
        _ => unreachable!("a record change"),
    }
}

/// A first change and a later edit (the title, and the authors list replaced).
fn first_and_edit() -> (AutomergeChange, AutomergeChange) {
    let mut fed = Federation::new();
    let (r, first) = fed.new_initiative("cdcs-a", "Băng tải", false);
    let edit = fed.edit_initiative(r, |i| {
        i.title = crate::testkit::text("title", "Băng tải mới", MAX_TITLE_CHARS);
        i.authors.push(Author {
            name: crate::testkit::text("name", "Lê Văn Cường", MAX_SHORT_TEXT_CHARS),
            position: crate::testkit::text("position", "Thợ điện", MAX_SHORT_TEXT_CHARS),
        });
    });
    (change_of(&first[0]), change_of(&edit))
}

/// `edit` with `rewrite` applied to its decoded operations, re-encoded.
fn rewritten(
    edit: &AutomergeChange,
    rewrite: impl FnOnce(&mut Vec<automerge::legacy::Op>, &ActorId),
) -> AutomergeChange {
    let mut x = edit.to_automerge().decode();
    let actor = x.actor_id.clone();
    rewrite(&mut x.operations, &actor);
    x.hash = None;
    AutomergeChange::from_automerge(&automerge::Change::from(x)).unwrap()
}

pub(crate) fn missing_object(edit: &AutomergeChange) -> AutomergeChange {
    rewritten(edit, |ops, actor| {
        ops[0].obj = ObjectId::Id(OpId(9_999, actor.clone()));
    })
}

pub(crate) fn insert_after_missing(edit: &AutomergeChange) -> AutomergeChange {
    rewritten(edit, |ops, actor| {
        let op = ops
            .iter_mut()
            .filter(|o| o.insert)
            .nth(1)
            .expect("the edit inserts two authors");
        op.key = Key::Seq(ElementId::Id(OpId(9_999, actor.clone())));
    })
}

#[test]
fn a_later_change_naming_a_missing_object_is_refused_not_a_panic() {
    let (first, edit) = first_and_edit();
    let bad = missing_object(&edit);
    let r = load_record(vec![first, bad], RecordKind::Initiative);
    let Err(ContentError::Automerge(why)) = r else {
        panic!("{r:?}")
    };
    assert!(why.contains("object"), "{why}");
}

#[test]
fn a_later_change_inserting_after_a_missing_element_is_refused_not_a_panic() {
    let (first, edit) = first_and_edit();
    let bad = insert_after_missing(&edit);
    let r = load_record(vec![first, bad], RecordKind::Initiative);
    let Err(ContentError::Automerge(why)) = r else {
        panic!("{r:?}")
    };
    assert!(why.contains("element"), "{why}");
}

/// 800 chained edits of one record (the 95 KB input), imported in one batch: each
/// change is applied once to one document. Prints the time of the batch and, for comparison,
/// the time of the old cost model (each entry rebuilding the record from its whole history,
/// here: each edit imported in a batch of its own). Run with
/// `cargo test -p sync-protocol --release --lib chained_edits -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn chained_edits_cost_linear() {
    let mut fed = Federation::new();
    let (r, first) = fed.new_initiative("cdcs-a", "Băng tải", false);
    fed.import_ok(first.clone());
    let base = fed.clone();
    let mut edits = Vec::new();
    let count: u64 = std::env::var("EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(800);
    for n in 0..count {
        edits.push(fed.edit_initiative(r, |i| i.benefit_vnd = 1_000 + n));
    }
    let bytes: usize = edits.iter().map(|e| e.bytes().len()).sum();
    let mut one = base.clone();
    let t = std::time::Instant::now();
    let out = crate::import::import_batch(
        &one.store,
        &mut one.directory,
        edits.clone(),
        None,
        fed.now_ms(),
    )
    .unwrap();
    let batch = t.elapsed();
    eprintln!("{count} chained edits, {bytes} bytes: one batch {batch:?}");
    assert_eq!(
        out.accepted.len() as u64,
        count,
        "{:?}",
        out.rejected.first()
    );
    use crate::store::EntryStore;
    one.store.insert_batch(&out.accepted).unwrap();
    let t = std::time::Instant::now();
    let report = one.verify_record(r);
    let audit = t.elapsed();
    let mut each = base;
    let t = std::time::Instant::now();
    // The old cost grows with the square of the edits: only the first 100 are timed.
    let separate_count = edits.len().min(100);
    for e in edits.into_iter().take(separate_count) {
        let out = crate::import::import_batch(
            &each.store,
            &mut each.directory,
            vec![e],
            None,
            fed.now_ms(),
        )
        .unwrap();
        assert_eq!(out.accepted.len(), 1);
        each.store.insert_batch(&out.accepted).unwrap();
    }
    let separate = t.elapsed();
    eprintln!(
        "{count} chained edits, {bytes} bytes: one batch {batch:?}; audit of the record \
         {audit:?} ({} problems); the first {separate_count} edits one batch each (each \
         rebuilding the record, the old cost) {separate:?}",
        report.problems.len()
    );
}

/// Found by the `signed_change` fuzz target: a change numbered past its actor's next (a gap)
/// made Automerge's change graph assert.
#[test]
fn a_change_numbered_past_its_actors_next_is_refused_not_a_panic() {
    let (first, edit) = first_and_edit();
    let mut x = edit.to_automerge().decode();
    x.seq = 66;
    x.hash = None;
    let bad = AutomergeChange::from_automerge(&automerge::Change::from(x)).unwrap();
    let r = load_record(vec![first, bad], RecordKind::Initiative);
    let Err(ContentError::Automerge(why)) = r else {
        panic!("{r:?}")
    };
    assert!(
        why.contains("numbered 66 where its actor's next change is 2"),
        "{why}"
    );
}

/// Two concurrent edits of `first` (each a title), by two actors.
fn two_branches(first: &AutomergeChange) -> (AutomergeChange, AutomergeChange) {
    let kind = crate::entry::RecordKind::Initiative;
    let content = load_record(vec![first.clone()], kind)
        .unwrap()
        .content
        .unwrap();
    let branch = |actor: u8, title: &str| {
        let mut doc = load_document([first.clone()], [actor; 16]).unwrap();
        let mut c = content.clone();
        if let RecordContent::Initiative(i) = &mut c {
            i.title = crate::testkit::text("title", title, MAX_TITLE_CHARS);
        }
        commit_content(&mut doc, &c, 1_000).unwrap().unwrap()
    };
    (branch(1, "Nhánh một"), branch(2, "Nhánh hai"))
}

#[test]
fn a_kept_document_is_used_only_for_the_ancestry_it_holds() {
    let (first, _) = first_and_edit();
    let (b, c) = two_branches(&first);
    let kind = crate::entry::RecordKind::Initiative;
    let record = RecordId([7; 16]);
    let known: BTreeMap<ChangeHash, AutomergeChange> = [&first, &b, &c]
        .into_iter()
        .map(|x| (x.hash(), x.clone()))
        .collect();
    let memo = StateMemo::new();
    let at_b = record_state_at(record, &known, &[b.hash()], kind, &memo).unwrap();
    let kept = memo.take_doc(&record).expect("a document is kept");
    assert!(kept.has(&b.hash()));
    memo.put_doc(record, kept);
    // `c` is judged against its own ancestry: the kept document, which holds `b` (not an
    // ancestor of `c`), is not used, and the result is a fresh load's.
    let at_c = record_state_at(record, &known, &[c.hash()], kind, &memo).unwrap();
    let fresh = record_state_at(record, &known, &[c.hash()], kind, &StateMemo::new()).unwrap();
    assert_eq!(at_c, fresh);
    assert_ne!(at_b.content, at_c.content);
    let kept = memo.take_doc(&record).expect("a document is kept");
    assert!(kept.has(&c.hash()) && !kept.has(&b.hash()));
    // A document at an ancestor of the heads asked for is used: only what it lacks is applied.
    memo.put_doc(record, kept);
    let merged = record_state_at(record, &known, &[b.hash(), c.hash()], kind, &memo).unwrap();
    let fresh = record_state_at(
        record,
        &known,
        &[b.hash(), c.hash()],
        kind,
        &StateMemo::new(),
    )
    .unwrap();
    assert_eq!(merged, fresh);
    let kept = memo.take_doc(&record).expect("a document is kept");
    assert!(kept.has(&c.hash()) && kept.has(&b.hash()));
}

#[test]
fn a_document_for_writing_copies_the_kept_one_only_at_the_same_heads() {
    let (first, edit) = first_and_edit();
    let record = RecordId([8; 16]);
    let known: BTreeMap<ChangeHash, AutomergeChange> = [&first, &edit]
        .into_iter()
        .map(|x| (x.hash(), x.clone()))
        .collect();
    let kind = crate::entry::RecordKind::Initiative;
    let memo = StateMemo::new();
    let state = record_state_at(record, &known, &[edit.hash()], kind, &memo).unwrap();
    let mut kept = document_at(record, &known, &[edit.hash()], &memo, [3; 16]).unwrap();
    let mut loaded = load_document([first.clone(), edit.clone()], [3; 16]).unwrap();
    assert_eq!(heads(&mut kept), state.heads);
    assert_eq!(heads(&mut kept), heads(&mut loaded));
    assert_eq!(
        read_content(&kept, kind).unwrap(),
        read_content(&loaded, kind).unwrap()
    );
    // The kept document is at `edit`; at `first` the document is loaded from the ancestry.
    let mut at_first = document_at(record, &known, &[first.hash()], &memo, [4; 16]).unwrap();
    assert_eq!(heads(&mut at_first), vec![first.hash()]);
    // Writing on the copy leaves the kept document as it was.
    let mut c = state.content.unwrap();
    if let RecordContent::Initiative(i) = &mut c {
        i.benefit_vnd += 1;
    }
    let next = commit_content(&mut kept, &c, 2_000).unwrap().unwrap();
    assert_eq!(next.deps(), &[edit.hash()][..]);
    let mut d = memo.take_doc(&record).unwrap();
    assert_eq!(d.heads(), vec![edit.hash()]);
}
