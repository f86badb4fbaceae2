//! The data of a progress report for a unit's subtree: counts by status, sector and child unit,
//! benefit totals, targets. Presentation (languages, formats) is the CLI's.
//!
//! [`UnitReport::build`] reads the materialised counters ([`crate::counters`]): O(children of
//! the unit), whatever the number of records. [`UnitReport::recount`] computes the same report
//! from the verified records, O(records): the reference `node check` and the tests compare the
//! counters with.

use std::collections::BTreeMap;

use sync_protocol::audit::verify_record;
use sync_protocol::entry::{DecisionKind, Sector};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::RecordContent;
use sync_protocol::store::{EntryLookup, EntryStore};

use crate::node::{Node, NodeError};

/// Where an initiative stands: registered and not yet submitted, or its last decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Registered, not submitted (or its decision chain forks: a conflict to resolve).
    Registered,
    /// The last decision of its chain.
    Decided(DecisionKind),
}

/// One initiative as a report sees it (its full record, or its public projection).
#[derive(Debug, Clone)]
pub struct InitiativeView {
    /// The record.
    pub record: RecordId,
    /// Origin unit.
    pub origin: UnitId,
    /// Title.
    pub title: String,
    /// Where it stands.
    pub status: Status,
    /// Sector.
    pub sector: Sector,
    /// Benefit value, VND.
    pub benefit_vnd: u64,
    /// Programme and phase.
    pub programme: Option<(RecordId, u32)>,
    /// Confidential (only the public projection may be held here).
    pub confidential: bool,
    /// Edited after its last positive decision.
    pub approved_state_differs: bool,
}

/// Every valid initiative the node holds (O(records): a listing, not a count).
pub fn initiatives(node: &Node, now_ms: u64) -> Result<Vec<InitiativeView>, NodeError> {
    let store = node.store();
    let mut out = Vec::new();
    for r in store.records()? {
        let rep = verify_record(store, node.directory(), r, Some(node.unit()), now_ms)?;
        if let Some(v) = crate::counters::initiative_view(store, &rep)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// Targets assigned by `assigner` for a phase: child → count, from the target index. When
/// several valid target records of the assigner name the same child, the one with the
/// greatest record id counts.
pub fn targets(
    node: &Node,
    assigner: &UnitId,
    programme: RecordId,
    phase: u32,
    _now_ms: u64,
) -> Result<BTreeMap<UnitId, u64>, NodeError> {
    Ok(node.store().targets_of(programme, phase, assigner)?)
}

/// [`targets`] recomputed from the verified records (O(records)): the reference.
pub fn recount_targets(
    node: &Node,
    assigner: &UnitId,
    programme: RecordId,
    phase: u32,
    now_ms: u64,
) -> Result<BTreeMap<UnitId, u64>, NodeError> {
    let store = node.store();
    let mut out = BTreeMap::new();
    for r in store.records()? {
        let rep = verify_record(store, node.directory(), r, Some(node.unit()), now_ms)?;
        if let (Some(h), Some(RecordContent::Target(t))) = (&rep.header, &rep.content) {
            if &h.owner == assigner
                && t.programme == programme
                && t.phase == phase
                && rep.is_valid()
            {
                out.extend(t.assignments.iter().map(|(k, v)| (k.clone(), *v)));
            }
        }
    }
    Ok(out)
}

/// Counts of a set of initiatives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// How many.
    pub initiatives: u64,
    /// By status.
    pub by_status: BTreeMap<Status, u64>,
    /// By sector.
    pub by_sector: BTreeMap<Sector, u64>,
    /// Sum of benefit values, VND.
    pub benefit_vnd: u64,
}

impl Counts {
    /// Adds one initiative.
    pub fn add(&mut self, i: &InitiativeView) {
        self.initiatives += 1;
        *self.by_status.entry(i.status).or_default() += 1;
        *self.by_sector.entry(i.sector).or_default() += 1;
        self.benefit_vnd = self.benefit_vnd.saturating_add(i.benefit_vnd);
    }
}

/// One child unit's line of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRow {
    /// The child.
    pub unit: UnitId,
    /// Its name.
    pub name: String,
    /// Its subtree's counts.
    pub counts: Counts,
    /// The target its parent assigned it for the phase.
    pub target: Option<u64>,
}

/// A unit's progress report for one programme phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitReport {
    /// The unit.
    pub unit: UnitId,
    /// Its name.
    pub name: String,
    /// The programme and phase.
    pub programme: RecordId,
    /// The phase, 1-based.
    pub phase: u32,
    /// Counts over the unit's whole subtree, for the phase.
    pub counts: Counts,
    /// The target assigned to the unit by its parent (for the root: the phase's target).
    pub target: Option<u64>,
    /// Child units, most initiatives first.
    pub children: Vec<ChildRow>,
}

impl UnitReport {
    /// Builds the report of `unit`'s subtree as held by `node`, from the materialised counters:
    /// O(children of `unit`) counter reads, whatever the number of records. The tree is the
    /// one every certificate held defines ([`crate::counters::TREE_TIME`]).
    pub fn build(
        node: &Node,
        unit: &UnitId,
        programme: RecordId,
        phase: u32,
        phase_target: Option<u64>,
        now_ms: u64,
    ) -> Result<Self, NodeError> {
        let store = node.store();
        let counts = store.subtree_tally(unit, programme, phase)?.to_counts();
        let mut children = Vec::new();
        for c in node.tree_children(unit) {
            children.push((
                store.subtree_tally(c, programme, phase)?.to_counts(),
                c.clone(),
            ));
        }
        Self::assemble(
            node,
            unit,
            programme,
            phase,
            phase_target,
            now_ms,
            counts,
            children,
        )
    }

    /// The same report computed from the verified records, O(records): the reference the
    /// counters are checked against.
    pub fn recount(
        node: &Node,
        unit: &UnitId,
        programme: RecordId,
        phase: u32,
        phase_target: Option<u64>,
        now_ms: u64,
    ) -> Result<Self, NodeError> {
        let d = node.directory();
        let tree_t = crate::counters::TREE_TIME;
        let all = initiatives(node, now_ms)?;
        let in_phase: Vec<&InitiativeView> = all
            .iter()
            .filter(|i| i.programme == Some((programme, phase)))
            .filter(|i| d.is_self_or_ancestor_at(unit, &i.origin, tree_t))
            .collect();
        let mut counts = Counts::default();
        for i in &in_phase {
            counts.add(i);
        }
        let children = d
            .children_at(unit, tree_t)
            .into_iter()
            .map(|c| {
                let mut counts = Counts::default();
                for i in in_phase
                    .iter()
                    .filter(|i| d.is_self_or_ancestor_at(&c, &i.origin, tree_t))
                {
                    counts.add(i);
                }
                (counts, c)
            })
            .collect();
        let mut r = Self::assemble(
            node,
            unit,
            programme,
            phase,
            phase_target,
            now_ms,
            counts,
            children,
        )?;
        r.target = match d.parent_at(unit, tree_t) {
            Some(p) => recount_targets(node, p, programme, phase, now_ms)?
                .get(unit)
                .copied(),
            None => phase_target,
        };
        let assigned = recount_targets(node, unit, programme, phase, now_ms)?;
        for c in &mut r.children {
            c.target = assigned.get(&c.unit).copied();
        }
        Ok(r)
    }

    /// The report "as it was on" `at_ms`: the tree as the certificates and ends in force then
    /// made it (a unit merged by then counted under its successor), and the initiatives
    /// registered by then (first entry at or before `at_ms`), each with its status now.
    /// O(records), like [`UnitReport::recount`].
    pub fn as_of(
        node: &Node,
        unit: &UnitId,
        programme: RecordId,
        phase: u32,
        phase_target: Option<u64>,
        at_ms: u64,
        now_ms: u64,
    ) -> Result<Self, NodeError> {
        let d = node.directory();
        let store = node.store();
        let under = |a: &UnitId, u: &UnitId| {
            let mut cur = u.clone();
            for _ in 0..=sync_protocol::directory::MAX_TREE_DEPTH {
                if cur == *a {
                    return true;
                }
                match d.report_parent_at(&cur, at_ms) {
                    Some(p) => cur = p.clone(),
                    None => return false,
                }
            }
            false
        };
        let mut in_phase = Vec::new();
        for i in initiatives(node, now_ms)? {
            if i.programme != Some((programme, phase)) || !under(unit, &i.origin) {
                continue;
            }
            let first = store
                .record_entries(&i.record)?
                .iter()
                .map(|e| e.time_ms())
                .min();
            if first.is_some_and(|t| t <= at_ms) {
                in_phase.push(i);
            }
        }
        let mut counts = Counts::default();
        for i in &in_phase {
            counts.add(i);
        }
        let children = d
            .units()
            .into_iter()
            .filter(|c| d.report_parent_at(c, at_ms) == Some(unit))
            .filter(|c| d.cert_at(c, at_ms).is_some())
            .map(|c| {
                let mut counts = Counts::default();
                for i in in_phase.iter().filter(|i| under(&c, &i.origin)) {
                    counts.add(i);
                }
                (counts, c)
            })
            .collect();
        Self::assemble(
            node,
            unit,
            programme,
            phase,
            phase_target,
            now_ms,
            counts,
            children,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        node: &Node,
        unit: &UnitId,
        programme: RecordId,
        phase: u32,
        phase_target: Option<u64>,
        now_ms: u64,
        counts: Counts,
        children: Vec<(Counts, UnitId)>,
    ) -> Result<Self, NodeError> {
        let d = node.directory();
        // A merged unit's target passes to its successor (added to the successor's own), from
        // whoever assigned it.
        let mut target = match d.parent_at(unit, crate::counters::TREE_TIME) {
            Some(p) => targets(node, p, programme, phase, now_ms)?
                .get(unit)
                .copied(),
            None => phase_target,
        };
        for p in predecessors_deep(d, unit) {
            if let Some(pp) = d.parent_at(&p, crate::counters::TREE_TIME) {
                if let Some(t) = targets(node, pp, programme, phase, now_ms)?.get(&p) {
                    target = Some(target.unwrap_or(0) + t);
                }
            }
        }
        let mut assigned = targets(node, unit, programme, phase, now_ms)?;
        let succession: Vec<(UnitId, u64)> = assigned
            .iter()
            .filter_map(|(c, t)| d.successor_of(c).map(|s| (s, *t)))
            .collect();
        for (s, t) in succession {
            if s != *unit {
                *assigned.entry(s).or_default() += t;
            }
        }
        let name = |u: &UnitId| {
            d.name(u)
                .map(|n| n.to_string())
                .unwrap_or_else(|| u.to_string())
        };
        let mut children: Vec<ChildRow> = children
            .into_iter()
            .map(|(counts, c)| ChildRow {
                name: name(&c),
                target: assigned.get(&c).copied(),
                counts,
                unit: c,
            })
            .collect();
        children.sort_by(|a, b| {
            b.counts
                .initiatives
                .cmp(&a.counts.initiatives)
                .then(a.unit.cmp(&b.unit))
        });
        Ok(Self {
            unit: unit.clone(),
            name: name(unit),
            programme,
            phase,
            counts,
            target,
            children,
        })
    }
}

/// Every unit merged into `unit`, directly or through earlier merges (bounded).
fn predecessors_deep(d: &sync_protocol::directory::Directory, unit: &UnitId) -> Vec<UnitId> {
    let mut out = Vec::new();
    let mut todo = d.predecessors_of(unit);
    while let Some(p) = todo.pop() {
        if out.contains(&p) || out.len() >= 1_000 {
            continue;
        }
        todo.extend(d.predecessors_of(&p));
        out.push(p);
    }
    out
}
