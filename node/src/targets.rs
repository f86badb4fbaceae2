//! Targets (chỉ tiêu): a unit assigns counts to its child units for a programme phase, and
//! each child re-assigns to its own. The use case behind `sangkien target assign | show` and
//! the web interface's targets page.
//!
//! An assignment is one record per (assigner, programme, phase): re-assigning edits that record
//! (the new counts merged over the old), so "the latest assignment" never depends on record-id
//! order. Every write goes through [`crate::records`], the verified path: a refused write stores
//! nothing. Reads come from the target index (`targets_of`, one prefix scan per assigner):
//! O(children), never O(records).

use std::collections::BTreeMap;

use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::limits::MAX_TARGET_COUNT;
use sync_protocol::record::{Programme, RecordContent, TargetAssignment};

use crate::lang::Lang;
use crate::node::{Node, NodeError};
use crate::records;

/// Why an assignment was refused. Nothing is stored in any case.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    /// No unit was given a count.
    #[error("no unit given a target")]
    Empty,
    /// The phase is not one of the programme's.
    #[error("phase {phase} is not one of the programme's {phases} phases")]
    NoSuchPhase {
        /// The phase asked for.
        phase: u32,
        /// How many the programme has.
        phases: usize,
    },
    /// The unit is not known to this node.
    #[error("unknown unit {0}")]
    UnknownUnit(UnitId),
    /// The unit is not a child of this node's unit now.
    #[error("{0} is not a child of this unit")]
    NotAChild(UnitId),
    /// The count is over [`MAX_TARGET_COUNT`].
    #[error("target {count} for {unit} is over {MAX_TARGET_COUNT}")]
    TooLarge {
        /// The unit.
        unit: UnitId,
        /// The count given.
        count: u64,
    },
    /// The node refused the record (verification, authority) or could not read its store.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl AssignError {
    /// The refusal as a sentence a person reads (the rule that forbids, or what was wrong).
    pub fn sentence(&self, lang: Lang) -> String {
        match self {
            AssignError::Empty => lang
                .t(
                    "chưa có đơn vị nào được giao chỉ tiêu",
                    "no unit was given a target",
                )
                .into(),
            AssignError::NoSuchPhase { phase, phases } => match lang {
                Lang::Vi => format!("chương trình không có giai đoạn {phase} (có {phases} giai đoạn)"),
                Lang::En => format!("the programme has no phase {phase} (it has {phases})"),
            },
            AssignError::UnknownUnit(u) => match lang {
                Lang::Vi => format!("nút không biết đơn vị {u}"),
                Lang::En => format!("this node does not know the unit {u}"),
            },
            AssignError::NotAChild(u) => match lang {
                Lang::Vi => format!("quy tắc: chỉ giao chỉ tiêu cho đơn vị trực thuộc ngay dưới; {u} không phải đơn vị trực thuộc của đơn vị này"),
                Lang::En => format!("rule: targets go only to the units just below; {u} is not a child of this unit"),
            },
            AssignError::TooLarge { unit, count } => match lang {
                Lang::Vi => format!(
                    "chỉ tiêu {} cho {unit} vượt giới hạn {}",
                    lang.int(*count),
                    lang.int(MAX_TARGET_COUNT)
                ),
                Lang::En => format!(
                    "the target {} for {unit} is over the limit of {}",
                    lang.int(*count),
                    lang.int(MAX_TARGET_COUNT)
                ),
            },
            AssignError::Node(e) => crate::refusal::node_error(lang, e),
        }
    }
}

/// An assignment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The target record (one per assigner, programme and phase).
    pub record: RecordId,
    /// Every count the record now holds, the new ones merged over the old.
    pub assignments: BTreeMap<UnitId, u64>,
}

/// Assigns `given` counts to child units of `node`'s unit for `programme`'s `phase`: checks
/// every unit and count first (nothing is written when one is wrong), then creates the unit's
/// target record for the phase or edits it, through the verified write path.
pub fn assign(
    node: &mut Node,
    programme: (RecordId, &Programme),
    phase: u32,
    given: BTreeMap<UnitId, u64>,
    now_ms: u64,
) -> Result<Assigned, AssignError> {
    let (prog, p) = programme;
    if phase == 0 || phase as usize > p.phases.len() {
        return Err(AssignError::NoSuchPhase {
            phase,
            phases: p.phases.len(),
        });
    }
    if given.is_empty() {
        return Err(AssignError::Empty);
    }
    let d = node.directory();
    for (unit, count) in &given {
        if !d.knows(unit) {
            return Err(AssignError::UnknownUnit(unit.clone()));
        }
        // A child of this unit now (one lookup, not a walk of every unit).
        if d.parent_at(unit, now_ms) != Some(node.unit()) {
            return Err(AssignError::NotAChild(unit.clone()));
        }
        if *count > MAX_TARGET_COUNT {
            return Err(AssignError::TooLarge {
                unit: unit.clone(),
                count: *count,
            });
        }
    }
    match own_record(node, prog, phase)? {
        Some((record, _)) => {
            // The counts merged over those the record holds now (read by the edit).
            let mut assignments = None;
            records::edit(
                node,
                record,
                |c| {
                    if let RecordContent::Target(t) = c {
                        t.assignments.extend(given);
                        assignments = Some(t.assignments.clone());
                    }
                },
                now_ms,
            )?;
            let assignments = assignments
                .ok_or_else(|| NodeError::from(records::WriteRefusal::NoContent(record)))?;
            Ok(Assigned {
                record,
                assignments,
            })
        }
        None => {
            let t = TargetAssignment {
                programme: prog,
                phase,
                assignments: given.clone(),
            };
            let record = records::create(node, &RecordContent::Target(t), now_ms)?;
            Ok(Assigned {
                record,
                assignments: given,
            })
        }
    }
}

/// The target record `node`'s unit owns for (programme, phase), if any, with its counts: read
/// from the target index, which lists a record only while its view is a valid target of that
/// assigner, programme and phase (written with the record's entries, redone when a revocation
/// or key change re-verifies it, compared with a recount by `node check`). No record is
/// re-verified here: a target re-assigned all season has a long history.
pub fn own_record(
    node: &Node,
    programme: RecordId,
    phase: u32,
) -> Result<Option<(RecordId, TargetAssignment)>, NodeError> {
    for r in crate::report::target_records(node, node.unit(), programme, phase)? {
        if let Some(crate::counters::View::Target {
            assigner,
            programme: p,
            phase: ph,
            assignments,
        }) = node.store().view(r)?
        {
            if &assigner == node.unit() && p == programme && ph == phase {
                return Ok(Some((
                    r,
                    TargetAssignment {
                        programme,
                        phase,
                        assignments,
                    },
                )));
            }
        }
    }
    Ok(None)
}

/// How a child re-assigned its target below.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reassigned {
    /// The sum of the counts the child gave its own children.
    pub total: u64,
    /// How many of its children it gave a count.
    pub units: usize,
}

/// What `unit` gave each of its children (from the target index): one prefix scan per child.
pub fn reassigned(
    node: &Node,
    children: &[UnitId],
    programme: RecordId,
    phase: u32,
) -> Result<BTreeMap<UnitId, Reassigned>, NodeError> {
    let mut out = BTreeMap::new();
    for c in children {
        let given = node.store().targets_of(programme, phase, c)?;
        out.insert(
            c.clone(),
            Reassigned {
                total: given.values().sum(),
                units: given.len(),
            },
        );
    }
    Ok(out)
}
