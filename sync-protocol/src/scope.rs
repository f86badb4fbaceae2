//! Which entries a unit's node should hold: its scope. Enforced on send (what a node offers a
//! peer or writes into a bundle) and on receive (import refuses the rest with `OutOfScope`).
//!
//! - trust entries (genesis, certificates, revocations) and targets: every node;
//! - a programme's changes: its launcher's subtree (the units it has authority over) and the
//!   launcher's ancestors (which report on it);
//! - an initiative's changes: its origin and the origin's ancestors, except that a confidential
//!   initiative's changes stay with the origin and its direct superior;
//! - projections and decisions: the origin and its ancestors.
//!
//! "Ancestors" are judged both by the tree when the entry was signed and by the tree now, so
//! that after a re-parenting the new parent receives its new subtree's history and the old
//! parent keeps what it held.

use crate::directory::Directory;
use crate::entry::{Entry, EntryBody, RecordKind};
use crate::ids::UnitId;

/// Whether `unit`'s node should hold `entry`. `record_owner` is the origin of the record a
/// decision is about (decisions do not name it themselves); `None` when unknown.
pub fn in_scope(
    directory: &Directory,
    unit: &UnitId,
    entry: &Entry,
    record_owner: Option<&UnitId>,
    now_ms: u64,
) -> bool {
    let t = entry.time_ms();
    let up_from = |origin: &UnitId| {
        directory.is_self_or_ancestor_at(unit, origin, now_ms)
            || directory.is_self_or_ancestor_at(unit, origin, t)
    };
    match entry.body() {
        EntryBody::Genesis(_) | EntryBody::Certificate(_) | EntryBody::Revocation(_) => true,
        EntryBody::RecordChange(c) => match c.kind {
            RecordKind::Target => true,
            RecordKind::Programme => {
                up_from(&c.owner)
                    || directory.is_self_or_ancestor_at(&c.owner, unit, now_ms)
                    || directory.is_self_or_ancestor_at(&c.owner, unit, t)
            }
            RecordKind::Initiative if c.confidential => {
                *unit == c.owner
                    || directory.parent_at(&c.owner, t) == Some(unit)
                    || directory.parent_at(&c.owner, now_ms) == Some(unit)
            }
            RecordKind::Initiative => up_from(&c.owner),
        },
        // The origin signs its projections.
        EntryBody::Projection(_) => up_from(entry.author()),
        EntryBody::Decision(_) => record_owner.is_some_and(up_from),
    }
}
