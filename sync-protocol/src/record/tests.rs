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
