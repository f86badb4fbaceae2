//! Which entries a unit's node should hold (its scope). First form, used by the demo's
//! transfers and by import: the sync issue builds range reconciliation on top of it.
//!
//! - trust entries (genesis, certificates, revocations), programmes and targets: every node;
//! - an initiative's changes: its origin and the origin's ancestors, except that a confidential
//!   initiative's changes stay with the origin and its direct superior;
//! - projections and decisions: the origin and its ancestors.

use crate::directory::Directory;
use crate::entry::{Entry, EntryBody, RecordKind};
use crate::ids::UnitId;

/// Whether `unit`'s node should hold `entry`, judged by the tree as it is at `now_ms`.
pub fn in_scope(directory: &Directory, unit: &UnitId, entry: &Entry, now_ms: u64) -> bool {
    let up_from = |origin: &UnitId| directory.is_self_or_ancestor_at(unit, origin, now_ms);
    match entry.body() {
        EntryBody::Genesis(_) | EntryBody::Certificate(_) | EntryBody::Revocation(_) => true,
        EntryBody::RecordChange(c) => match c.kind {
            RecordKind::Programme | RecordKind::Target => true,
            RecordKind::Initiative if c.confidential => {
                *unit == c.owner || directory.parent_at(&c.owner, now_ms) == Some(unit)
            }
            RecordKind::Initiative => up_from(&c.owner),
        },
        // The origin signs its projections: route by the author.
        EntryBody::Projection(_) => up_from(entry.author()),
        // A decision is routed by the record's origin, which the caller resolves; without it,
        // route by the signer: the signer and everything above it, plus everything below is
        // decided by the caller with `decision_in_scope`.
        EntryBody::Decision(_) => true,
    }
}

/// Whether `unit` should hold a decision on an initiative of `origin`.
pub fn decision_in_scope(
    directory: &Directory,
    unit: &UnitId,
    origin: &UnitId,
    now_ms: u64,
) -> bool {
    directory.is_self_or_ancestor_at(unit, origin, now_ms)
}
