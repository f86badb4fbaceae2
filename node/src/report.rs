//! The data of a progress report for a unit's subtree: counts by status, sector and child unit,
//! benefit totals, targets. Presentation (languages, formats) is the CLI's.
//!
//! [`UnitReport::build`] reads the materialised counters ([`crate::counters`]): O(children of
//! the unit), whatever the number of records. [`UnitReport::recount`] computes the same report
//! from the verified records, O(records): the reference `node check` and the tests compare the
//! counters with.

use std::collections::BTreeMap;

use serde::Serialize;
use sync_protocol::audit::{verify_record, RecordReport};
use sync_protocol::date::Date;
use sync_protocol::entry::{EntryBody, RecordKind, Sector};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::{Programme, RecordContent};
use sync_protocol::store::{EntryLookup, EntryStore, StoreError};

use crate::counters::Tally;

use crate::node::{Node, NodeError};

pub use crate::counters::Status;

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

/// An initiative as a report shows it, from a record's verification (`None`: not a valid
/// initiative here). Used by [`initiatives`].
pub fn initiative_view<L: EntryLookup>(
    lookup: &L,
    rep: &RecordReport,
) -> Result<Option<InitiativeView>, StoreError> {
    let Some(h) = &rep.header else {
        return Ok(None);
    };
    if h.kind != RecordKind::Initiative || !rep.is_valid() {
        return Ok(None);
    }
    // A fork is a notice: the status is that of the branch the chain follows.
    let status = match &rep.status {
        Some(s) => Status::Decided(s.0),
        None => Status::Registered,
    };
    Ok(match (&rep.content, rep.latest_projection) {
        (Some(RecordContent::Initiative(i)), _) => Some(InitiativeView {
            record: rep.record,
            origin: i.origin.clone(),
            title: i.title.to_string(),
            status,
            sector: i.sector,
            benefit_vnd: i.benefit_vnd,
            programme: i.programme.map(|p| (p, i.phase)),
            confidential: i.confidential,
            approved_state_differs: rep.approved_state_differs,
        }),
        (_, Some(p)) => {
            let Some(e) = lookup.entry(&p)? else {
                return Ok(None);
            };
            let EntryBody::Projection(p) = e.body() else {
                return Ok(None);
            };
            Some(InitiativeView {
                record: rep.record,
                origin: h.owner.clone(),
                title: p.title.to_string(),
                status,
                sector: p.sector,
                benefit_vnd: p.benefit_vnd,
                programme: p.programme.map(|x| (x, p.phase)),
                confidential: true,
                approved_state_differs: rep.approved_state_differs,
            })
        }
        _ => None,
    })
}

/// Every valid initiative the node holds (O(records): a listing, not a count).
pub fn initiatives(node: &Node, now_ms: u64) -> Result<Vec<InitiativeView>, NodeError> {
    let store = node.store();
    let mut out = Vec::new();
    for r in store.records()? {
        let rep = verify_record(store, node.directory(), r, Some(node.unit()), now_ms)?;
        if let Some(v) = initiative_view(store, &rep)? {
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
    /// The counts a materialised counter holds (negative values, which only a damaged store
    /// holds, read as zero).
    pub fn from_tally(t: &Tally) -> Self {
        let pos = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut c = Counts {
            initiatives: pos(t.initiatives),
            benefit_vnd: u64::try_from(t.benefit_vnd.max(0)).unwrap_or(u64::MAX),
            ..Counts::default()
        };
        for (s, v) in t.statuses().filter(|(_, v)| *v > 0) {
            c.by_status.insert(s, pos(v));
        }
        for (s, v) in t.sectors().filter(|(_, v)| *v > 0) {
            c.by_sector.insert(s, pos(v));
        }
        c
    }

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
        let counts = Counts::from_tally(&store.subtree_tally(unit, programme, phase)?);
        let mut children = Vec::new();
        for c in node.tree_children(unit) {
            children.push((
                Counts::from_tally(&store.subtree_tally(c, programme, phase)?),
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

/// A programme held here, as `verify_record` finds it valid.
#[derive(Debug, Clone)]
pub struct HeldProgramme {
    /// Its record.
    pub id: RecordId,
    /// Its content.
    pub programme: Programme,
    /// The unit that launched it (the record's owner).
    pub launcher: UnitId,
}

/// Every valid programme the node holds, from the index of programme records: O(programmes),
/// whatever the number of initiatives.
pub fn programmes(node: &Node, now_ms: u64) -> Result<Vec<HeldProgramme>, NodeError> {
    let store = node.store();
    let mut out = Vec::new();
    for r in crate::report_index::programme_records(store)? {
        let rep = verify_record(store, node.directory(), r, Some(node.unit()), now_ms)?;
        let Some(h) = rep.header.as_ref() else {
            continue;
        };
        if let (RecordKind::Programme, true, Some(RecordContent::Programme(p))) =
            (h.kind, rep.is_valid(), rep.content)
        {
            out.push(HeldProgramme {
                id: r,
                programme: p,
                launcher: h.owner.clone(),
            });
        }
    }
    Ok(out)
}

/// Most points of the progress-over-time series (one per day, or per week in a long window).
pub const MAX_SERIES_POINTS: usize = 120;

/// A unit's progress report for a programme phase, every figure of `sangkien report` (DESIGN
/// §7): counts by status, sector, phase and child unit, progress against targets, benefit
/// totals, the ranking of child units, progress over time and deadlines coming up. Numbers
/// are raw and codes stable; the CLI localises and renders (table, CSV, JSON, XLSX, charts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgressReport {
    /// The unit.
    pub unit: String,
    /// Its name.
    pub unit_name: String,
    /// The programme's id.
    pub programme: String,
    /// The programme's name.
    pub programme_name: String,
    /// Who launched it: the unit's name and id ("Name [id]"), so that programmes of the same
    /// name are told apart.
    pub programme_launcher: String,
    /// The phase, 1-based.
    pub phase: u32,
    /// The phase's name.
    pub phase_name: String,
    /// The report's date.
    pub today: String,
    /// Initiatives of the subtree in the phase.
    pub registered: u64,
    /// The unit's target for the phase (for the root: the phase's target).
    pub target: Option<u64>,
    /// Progress in tenths of a per cent (551 = 55.1 %).
    pub progress_tenths: Option<u64>,
    /// Total benefit value, VND.
    pub benefit_vnd: u64,
    /// By status: code, count.
    pub by_status: Vec<Count>,
    /// By sector: code, count.
    pub by_sector: Vec<Count>,
    /// By phase of the programme.
    pub by_phase: Vec<PhaseRow>,
    /// Child units, ranked.
    pub children: Vec<RankedChild>,
    /// Progress over time.
    pub over_time: Series,
    /// Deadlines on or after today.
    pub deadlines: Vec<DeadlineRow>,
}

/// A count under a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Stable code.
    pub code: String,
    /// How many.
    pub count: u64,
}

/// One phase's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseRow {
    /// 1-based.
    pub phase: u32,
    /// Name.
    pub name: String,
    /// Initiatives of the subtree in that phase.
    pub registered: u64,
    /// The unit's target for it.
    pub target: Option<u64>,
    /// Tenths of a per cent.
    pub progress_tenths: Option<u64>,
}

/// One child unit's line of the ranking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RankedChild {
    /// Rank among the children (1 = best): by progress against target, then by count.
    pub rank: u32,
    /// Unit id.
    pub unit: String,
    /// Name.
    pub name: String,
    /// Initiatives of its subtree in the phase.
    pub registered: u64,
    /// Its target.
    pub target: Option<u64>,
    /// Tenths of a per cent.
    pub progress_tenths: Option<u64>,
    /// Benefit value, VND.
    pub benefit_vnd: u64,
}

/// Cumulative registrations over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Series {
    /// "registration-date": by the Mẫu 1 registration date, not by entry time (an initiative
    /// typed in later from a paper form counts on the day it was registered; one seen only
    /// through its projection counts on the day of its first entry held).
    pub basis: String,
    /// The window: the campaign inside the phase, else the phase.
    pub window_name: String,
    /// First day.
    pub start: String,
    /// Last day.
    pub end: String,
    /// The window's target for this unit (campaign target at the root; else the unit's).
    pub target: Option<u64>,
    /// Registered before the window opened.
    pub before: u64,
    /// (day, cumulative count including `before`).
    pub points: Vec<Point>,
}

/// A point of the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Day.
    pub date: String,
    /// Cumulative count up to and including that day.
    pub cumulative: u64,
}

/// A deadline coming up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineRow {
    /// Day.
    pub date: String,
    /// What is due.
    pub label: String,
    /// "deadline", "phase-end" or "campaign-end".
    pub kind: String,
    /// Days from today.
    pub days_left: i64,
}

/// Tenths of a per cent, rounded half up.
pub fn tenths(num: u64, den: u64) -> Option<u64> {
    (den > 0).then(|| ((num as u128 * 1000 + den as u128 / 2) / den as u128) as u64)
}

/// Where a report's per-phase counts and per-day registrations come from.
trait Figures {
    fn phase_count(&self, unit: &UnitId, prog: RecordId, phase: u32) -> Result<u64, NodeError>;
    fn per_day(
        &self,
        unit: &UnitId,
        prog: RecordId,
        phase: u32,
    ) -> Result<BTreeMap<i64, u64>, NodeError>;
}

/// The materialised counters and series: O(phases + days).
struct Materialised<'a>(&'a Node);
impl Figures for Materialised<'_> {
    fn phase_count(&self, unit: &UnitId, prog: RecordId, phase: u32) -> Result<u64, NodeError> {
        Ok(Counts::from_tally(&self.0.store().subtree_tally(unit, prog, phase)?).initiatives)
    }
    fn per_day(
        &self,
        unit: &UnitId,
        prog: RecordId,
        phase: u32,
    ) -> Result<BTreeMap<i64, u64>, NodeError> {
        Ok(crate::report_index::series(
            self.0.store(),
            unit,
            prog,
            phase,
        )?)
    }
}

/// An initiative as the reference recount sees it: origin, programme and phase, day.
type Counted = (UnitId, Option<(RecordId, u32)>, i64);

/// From the verified records: O(records), the reference.
struct Recounted<'a> {
    node: &'a Node,
    /// (origin, programme and phase, day) of every valid initiative.
    all: Vec<Counted>,
    /// `None`: the counters' tree; `Some(t)`: the tree as it was at `t` (a unit merged by then
    /// under its successor), for [`progress_as_of`].
    at_ms: Option<u64>,
}
impl Recounted<'_> {
    fn of(&self, unit: &UnitId, prog: RecordId, phase: u32) -> impl Iterator<Item = i64> + '_ {
        let d = self.node.directory();
        let (unit, at) = (unit.clone(), self.at_ms);
        let under = move |u: &UnitId| match at {
            None => d.is_self_or_ancestor_at(&unit, u, crate::counters::TREE_TIME),
            Some(at) => {
                let mut cur = u.clone();
                for _ in 0..=sync_protocol::directory::MAX_TREE_DEPTH {
                    if cur == unit {
                        return true;
                    }
                    match d.report_parent_at(&cur, at) {
                        Some(p) => cur = p.clone(),
                        None => return false,
                    }
                }
                false
            }
        };
        self.all
            .iter()
            .filter(move |(o, p, _)| *p == Some((prog, phase)) && under(o))
            .map(|(_, _, day)| *day)
    }
}
impl Figures for Recounted<'_> {
    fn phase_count(&self, unit: &UnitId, prog: RecordId, phase: u32) -> Result<u64, NodeError> {
        Ok(self.of(unit, prog, phase).count() as u64)
    }
    fn per_day(
        &self,
        unit: &UnitId,
        prog: RecordId,
        phase: u32,
    ) -> Result<BTreeMap<i64, u64>, NodeError> {
        let mut out = BTreeMap::new();
        for day in self.of(unit, prog, phase) {
            *out.entry(day).or_default() += 1;
        }
        Ok(out)
    }
}

/// The progress report of `unit`'s subtree for a phase of programme `prog` (`p`), from the
/// materialised counters and series: O(children + phases + days), whatever the number of
/// records.
pub fn progress(
    node: &Node,
    unit: &UnitId,
    prog: RecordId,
    p: &Programme,
    phase: u32,
    today: Date,
    now_ms: u64,
) -> Result<ProgressReport, NodeError> {
    let ur = UnitReport::build(
        node,
        unit,
        prog,
        phase,
        p.phases.get(phase as usize - 1).map(|ph| ph.target),
        now_ms,
    )?;
    assemble_progress(node, &Materialised(node), ur, prog, p, phase, today, now_ms)
}

/// [`progress`] recomputed from the verified records (O(records)): the reference the tests and
/// checks compare the materialised report with.
pub fn recount_progress(
    node: &Node,
    unit: &UnitId,
    prog: RecordId,
    p: &Programme,
    phase: u32,
    today: Date,
    now_ms: u64,
) -> Result<ProgressReport, NodeError> {
    let ur = UnitReport::recount(
        node,
        unit,
        prog,
        phase,
        p.phases.get(phase as usize - 1).map(|ph| ph.target),
        now_ms,
    )?;
    let store = node.store();
    let mut all = Vec::new();
    for r in store.records()? {
        let rep = verify_record(store, node.directory(), r, Some(node.unit()), now_ms)?;
        let Some(v) = initiative_view(store, &rep)? else {
            continue;
        };
        let day = match &rep.content {
            Some(RecordContent::Initiative(i)) => i.registered_on.days_since_epoch(),
            _ => {
                let first = store
                    .record_entries(&r)?
                    .iter()
                    .map(|e| e.time_ms())
                    .min()
                    .unwrap_or(0);
                Date::from_unix_ms(first).days_since_epoch()
            }
        };
        all.push((v.origin, v.programme, day));
    }
    let figures = Recounted {
        node,
        all,
        at_ms: None,
    };
    assemble_progress(node, &figures, ur, prog, p, phase, today, now_ms)
}

/// [`progress`] as it was at `at_ms`: the tree of that time (a unit merged by then reported
/// under its successor) and the initiatives registered by then (their first entry at or before
/// it), each with its status today (`UnitReport::as_of`). O(records): a look back, not the
/// everyday report.
#[allow(clippy::too_many_arguments)]
pub fn progress_as_of(
    node: &Node,
    unit: &UnitId,
    prog: RecordId,
    p: &Programme,
    phase: u32,
    today: Date,
    now_ms: u64,
    at_ms: u64,
) -> Result<ProgressReport, NodeError> {
    let ur = UnitReport::as_of(
        node,
        unit,
        prog,
        phase,
        p.phases.get(phase as usize - 1).map(|ph| ph.target),
        at_ms,
        now_ms,
    )?;
    let store = node.store();
    let mut all = Vec::new();
    for r in store.records()? {
        let entries = store.record_entries(&r)?;
        let Some(first) = entries.iter().map(|e| e.time_ms()).min() else {
            continue;
        };
        if first > at_ms {
            continue;
        }
        let rep = verify_record(store, node.directory(), r, Some(node.unit()), now_ms)?;
        let Some(v) = initiative_view(store, &rep)? else {
            continue;
        };
        let day = match &rep.content {
            Some(RecordContent::Initiative(i)) => i.registered_on.days_since_epoch(),
            _ => Date::from_unix_ms(first).days_since_epoch(),
        };
        all.push((v.origin, v.programme, day));
    }
    let figures = Recounted {
        node,
        all,
        at_ms: Some(at_ms),
    };
    assemble_progress(node, &figures, ur, prog, p, phase, today, now_ms)
}

fn unit_name(node: &Node, u: &UnitId) -> String {
    node.directory()
        .name(u)
        .map(|n| n.to_string())
        .unwrap_or_else(|| u.to_string())
}

#[allow(clippy::too_many_arguments)]
fn assemble_progress(
    node: &Node,
    figures: &dyn Figures,
    ur: UnitReport,
    prog: RecordId,
    p: &Programme,
    phase: u32,
    today: Date,
    now: u64,
) -> Result<ProgressReport, NodeError> {
    let d = node.directory();
    let unit = &ur.unit;
    let by_status = ur
        .counts
        .by_status
        .iter()
        .map(|(s, n)| Count {
            code: match s {
                Status::Registered => "registered".into(),
                Status::Decided(k) => k.code().into(),
            },
            count: *n,
        })
        .collect();
    let by_sector = Sector::ALL
        .iter()
        .filter_map(|s| {
            ur.counts.by_sector.get(s).map(|n| Count {
                code: s.code().into(),
                count: *n,
            })
        })
        .collect();

    // Per phase: the unit's target for each phase comes from its parent's assignment.
    let parent = d.parent_at(unit, now).cloned();
    let mut by_phase = Vec::new();
    for (i, ph) in p.phases.iter().enumerate() {
        let n = i as u32 + 1;
        let registered = figures.phase_count(unit, prog, n)?;
        let target = match &parent {
            Some(par) => targets(node, par, prog, n, now)?.get(unit).copied(),
            None => Some(ph.target),
        };
        by_phase.push(PhaseRow {
            phase: n,
            name: ph.name.to_string(),
            registered,
            target,
            progress_tenths: target.and_then(|t| tenths(registered, t)),
        });
    }

    // Child units, ranked: by progress against target (those with a target first), then by
    // count, then by id.
    let mut children: Vec<RankedChild> = ur
        .children
        .iter()
        .map(|c| RankedChild {
            rank: 0,
            unit: c.unit.to_string(),
            name: c.name.clone(),
            registered: c.counts.initiatives,
            target: c.target,
            progress_tenths: c.target.and_then(|t| tenths(c.counts.initiatives, t)),
            benefit_vnd: c.counts.benefit_vnd,
        })
        .collect();
    children.sort_by(|a, b| {
        b.progress_tenths
            .is_some()
            .cmp(&a.progress_tenths.is_some())
            .then(b.progress_tenths.cmp(&a.progress_tenths))
            .then(b.registered.cmp(&a.registered))
            .then(a.unit.cmp(&b.unit))
    });
    for (i, c) in children.iter_mut().enumerate() {
        c.rank = i as u32 + 1;
    }

    let per_day = figures.per_day(unit, prog, phase)?;
    let over_time = series(&per_day, p, phase, ur.target);
    let deadlines = upcoming(p, today);
    let launcher = {
        let entries = node.store().record_entries(&prog)?;
        sync_protocol::verify::record_header(&entries).map(|h| h.owner)
    };
    Ok(ProgressReport {
        unit: unit.to_string(),
        unit_name: unit_name(node, unit),
        programme: prog.to_hex(),
        programme_name: p.name.to_string(),
        programme_launcher: launcher
            .map(|u| format!("{} [{u}]", unit_name(node, &u)))
            .unwrap_or_default(),
        phase,
        phase_name: p
            .phases
            .get(phase as usize - 1)
            .map(|ph| ph.name.to_string())
            .unwrap_or_default(),
        today: today.to_string(),
        registered: ur.counts.initiatives,
        target: ur.target,
        progress_tenths: ur.target.and_then(|t| tenths(ur.counts.initiatives, t)),
        benefit_vnd: ur.counts.benefit_vnd,
        by_status,
        by_sector,
        by_phase,
        children,
        over_time,
        deadlines,
    })
}

fn series(
    per_day: &BTreeMap<i64, u64>,
    p: &Programme,
    phase: u32,
    unit_target: Option<u64>,
) -> Series {
    let ph = &p.phases[(phase as usize - 1).min(p.phases.len() - 1)];
    // The campaign that overlaps the phase, if any; else the phase itself.
    let campaign = p
        .campaigns
        .iter()
        .find(|c| c.start <= ph.end && c.end >= ph.start);
    let (name, start, end, target) = match campaign {
        Some(c) => (
            c.name.to_string(),
            c.start,
            c.end,
            if unit_target == Some(ph.target) {
                Some(c.target)
            } else {
                unit_target
            },
        ),
        None => (ph.name.to_string(), ph.start, ph.end, unit_target),
    };
    let (s, e) = (start.days_since_epoch(), end.days_since_epoch());
    let before: u64 = per_day.range(..s).map(|(_, n)| n).sum();
    let days = (e - s + 1).max(1);
    let step = ((days as usize).div_ceil(MAX_SERIES_POINTS)).max(1) as i64;
    let mut points = Vec::new();
    let mut cum = before;
    let mut day = s;
    let mut counted_to = s - 1;
    while day <= e {
        let upto = (day + step - 1).min(e);
        cum += per_day
            .range(counted_to + 1..=upto)
            .map(|(_, n)| n)
            .sum::<u64>();
        counted_to = upto;
        points.push(Point {
            date: Date::from_unix_ms((upto as u64) * 86_400_000).to_string(),
            cumulative: cum,
        });
        day = upto + 1;
    }
    Series {
        basis: "registration-date".into(),
        window_name: name,
        start: start.to_string(),
        end: end.to_string(),
        target,
        before,
        points,
    }
}

fn upcoming(p: &Programme, today: Date) -> Vec<DeadlineRow> {
    let mut out = Vec::new();
    let t = today.days_since_epoch();
    let mut add = |date: Date, label: String, kind: &str| {
        if date >= today {
            out.push(DeadlineRow {
                date: date.to_string(),
                label,
                kind: kind.into(),
                days_left: date.days_since_epoch() - t,
            });
        }
    };
    for d in &p.deadlines {
        add(d.date, d.label.to_string(), "deadline");
    }
    for ph in &p.phases {
        add(ph.end, ph.name.to_string(), "phase-end");
    }
    for c in &p.campaigns {
        add(c.end, c.name.to_string(), "campaign-end");
    }
    out.sort_by(|a, b| a.date.cmp(&b.date).then(a.label.cmp(&b.label)));
    out
}

/// The target records `assigner` owns for a programme phase, from the target index
/// (O(its targets), not O(records)); their validity is the caller's to check.
pub fn target_records(
    node: &Node,
    assigner: &UnitId,
    programme: RecordId,
    phase: u32,
) -> Result<Vec<RecordId>, NodeError> {
    let prefix = crate::counters::target_prefix(programme, phase, assigner);
    let mut out = Vec::new();
    for k in node
        .store()
        .tree(crate::sled_store::t::TARGETS)
        .scan_prefix(&prefix)
        .keys()
    {
        let k = k.map_err(|e| crate::sled_store::err("targets", e))?;
        if let Ok(r) = <[u8; 16]>::try_from(&k[prefix.len()..]) {
            out.push(RecordId(r));
        }
    }
    Ok(out)
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
