//! Materialised counters and the per-record views they are made of.
//!
//! Every record the node holds has a **view**: what a report needs of it (an initiative's
//! origin, programme phase, status, sector and benefit; a target record's assignments), or
//! nothing when the record is not valid here. Views are computed with
//! [`sync_protocol::audit::verify_record`], the same function the reference recount uses.
//!
//! Counters ([`Tally`]) are kept per (unit, programme, phase) twice: `own` (initiatives whose
//! origin is the unit) and `subtree` (the unit and every unit below it). They are changed by
//! the difference between a record's old and new view, in the same sled transaction as the
//! entries that changed the view, so a report reads O(children) counters instead of O(records).
//!
//! **Which tree.** Counters follow the unit tree as every certificate held defines it
//! ([`TREE_TIME`]: the latest certificate of each unit, future-dated ones included). When a
//! certificate moves a unit to another parent, the unit's subtree counters move with it: they
//! are subtracted from the old ancestors and added to the new ones (the `shape` tree records the
//! parent each unit was counted under). Records keep their origin unit (DESIGN §9.6).

use std::collections::{BTreeMap, BTreeSet};

use sync_protocol::audit::{verify_record, RecordReport};
use sync_protocol::directory::{Directory, MAX_TREE_DEPTH};
use sync_protocol::entry::Entry;
use sync_protocol::entry::{AwardGrade, DecisionKind, EntryBody, RecordKind, Sector};
use sync_protocol::ids::EntryHash;
use sync_protocol::ids::{ChangeHash, RecordId, UnitId};
use sync_protocol::record;
use sync_protocol::record::{RecordContent, StateMemo};
use sync_protocol::store::{EntryLookup, StoreError};
use sync_protocol::verify::{changes_of, record_header};

use crate::report_index::Row;

/// Where an initiative stands: registered and not yet submitted, or its last decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Registered, not submitted (or its decision chain forks: a conflict to resolve).
    Registered,
    /// The last decision of its chain.
    Decided(DecisionKind),
}

/// The time at which counters read the unit tree: after every certificate held.
pub const TREE_TIME: u64 = u64::MAX;

/// The programme id counters use for initiatives outside any programme (phase 0).
pub const NO_PROGRAMME: RecordId = RecordId([0; 16]);

/// Every decision kind, in a fixed order: the status slots of an encoded [`Tally`].
const DECISION_KINDS: [DecisionKind; 7] = [
    DecisionKind::Submit,
    DecisionKind::ReturnForRevision,
    DecisionKind::Reject,
    DecisionKind::Approve,
    DecisionKind::Recognise,
    DecisionKind::Award(AwardGrade::Typical),
    DecisionKind::Award(AwardGrade::Excellent),
];
/// Status slots: registered, then one per decision kind.
const STATUS_SLOTS: usize = 1 + DECISION_KINDS.len();
/// Bytes of an encoded [`Tally`].
pub const TALLY_BYTES: usize = 8 + 16 + 8 * STATUS_SLOTS + 8 * Sector::ALL.len();

fn status_slot(s: Status) -> usize {
    match s {
        Status::Registered => 0,
        Status::Decided(k) => 1 + DECISION_KINDS.iter().position(|x| *x == k).unwrap_or(0),
    }
}
fn slot_status(i: usize) -> Status {
    match i {
        0 => Status::Registered,
        i => Status::Decided(DECISION_KINDS[i - 1]),
    }
}
fn sector_slot(s: Sector) -> usize {
    Sector::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

/// A signed counter set: totals, or the difference a batch makes to them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Initiatives.
    pub initiatives: i64,
    /// Sum of benefit values, VND (wide: 2.5 M initiatives × the largest benefit fit).
    pub benefit_vnd: i128,
    /// By status slot.
    pub by_status: [i64; STATUS_SLOTS],
    /// By sector slot.
    pub by_sector: [i64; 6],
}

impl Tally {
    /// Adds (`sign` = 1) or removes (`sign` = -1) one initiative.
    pub fn count(&mut self, v: &InitiativeFacts, sign: i64) {
        self.initiatives += sign;
        self.benefit_vnd += i128::from(sign) * i128::from(v.benefit_vnd);
        self.by_status[status_slot(v.status)] += sign;
        self.by_sector[sector_slot(v.sector)] += sign;
    }
    /// Adds another tally times `sign`.
    pub fn add(&mut self, o: &Tally, sign: i64) {
        self.initiatives += sign * o.initiatives;
        self.benefit_vnd += i128::from(sign) * o.benefit_vnd;
        for i in 0..STATUS_SLOTS {
            self.by_status[i] += sign * o.by_status[i];
        }
        for i in 0..self.by_sector.len() {
            self.by_sector[i] += sign * o.by_sector[i];
        }
    }
    /// Whether every counter is zero.
    pub fn is_zero(&self) -> bool {
        *self == Tally::default()
    }
    /// The fixed-size encoding.
    pub fn encode(&self) -> [u8; TALLY_BYTES] {
        let mut out = [0u8; TALLY_BYTES];
        out[..8].copy_from_slice(&self.initiatives.to_be_bytes());
        out[8..24].copy_from_slice(&self.benefit_vnd.to_be_bytes());
        let mut at = 24;
        for v in self.by_status.iter().chain(self.by_sector.iter()) {
            out[at..at + 8].copy_from_slice(&v.to_be_bytes());
            at += 8;
        }
        out
    }
    /// Decodes; `None` when the bytes are not a tally.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != TALLY_BYTES {
            return None;
        }
        let i64_at = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(x)
        };
        let mut w = [0u8; 16];
        w.copy_from_slice(&b[8..24]);
        let mut t = Tally {
            initiatives: i64_at(0),
            benefit_vnd: i128::from_be_bytes(w),
            ..Tally::default()
        };
        for i in 0..STATUS_SLOTS {
            t.by_status[i] = i64_at(24 + 8 * i);
        }
        for i in 0..t.by_sector.len() {
            t.by_sector[i] = i64_at(24 + 8 * (STATUS_SLOTS + i));
        }
        Some(t)
    }
    /// Counts by status, those not zero.
    pub fn statuses(&self) -> impl Iterator<Item = (Status, i64)> + '_ {
        self.by_status
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(i, v)| (slot_status(i), *v))
    }
    /// Counts by sector, those not zero.
    pub fn sectors(&self) -> impl Iterator<Item = (Sector, i64)> + '_ {
        self.by_sector
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(i, v)| (Sector::ALL[i], *v))
    }
}

/// What counters need of an initiative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitiativeFacts {
    /// Origin unit.
    pub origin: UnitId,
    /// Programme and phase.
    pub programme: Option<(RecordId, u32)>,
    /// Status.
    pub status: Status,
    /// Sector.
    pub sector: Sector,
    /// Benefit, VND.
    pub benefit_vnd: u64,
}

impl InitiativeFacts {
    /// The (programme, phase) bucket counters use.
    pub fn bucket(&self) -> (RecordId, u32) {
        self.programme.unwrap_or((NO_PROGRAMME, 0))
    }
}

/// What reports need of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// A valid initiative.
    Initiative(InitiativeFacts),
    /// A valid target assignment.
    Target {
        /// Its owner, the assigning unit.
        assigner: UnitId,
        /// Programme.
        programme: RecordId,
        /// Phase.
        phase: u32,
        /// Child → count.
        assignments: BTreeMap<UnitId, u64>,
    },
}

fn put_text(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

struct Cursor<'a>(&'a [u8]);
impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut x = [0u8; 8];
        x.copy_from_slice(b);
        Some(u64::from_be_bytes(x))
    }
    fn record(&mut self) -> Option<RecordId> {
        let b = self.take(16)?;
        let mut x = [0u8; 16];
        x.copy_from_slice(b);
        Some(RecordId(x))
    }
    fn unit(&mut self) -> Option<UnitId> {
        let n = self.u8()? as usize;
        UnitId::new(std::str::from_utf8(self.take(n)?).ok()?).ok()
    }
}

impl View {
    /// The stored encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        match self {
            View::Initiative(f) => {
                out.push(1);
                put_text(&mut out, f.origin.as_str());
                match f.programme {
                    Some((p, ph)) => {
                        out.push(1);
                        out.extend_from_slice(&p.0);
                        out.extend_from_slice(&ph.to_be_bytes());
                    }
                    None => out.push(0),
                }
                out.push(status_slot(f.status) as u8);
                out.push(sector_slot(f.sector) as u8);
                out.extend_from_slice(&f.benefit_vnd.to_be_bytes());
            }
            View::Target {
                assigner,
                programme,
                phase,
                assignments,
            } => {
                out.push(2);
                put_text(&mut out, assigner.as_str());
                out.extend_from_slice(&programme.0);
                out.extend_from_slice(&phase.to_be_bytes());
                out.extend_from_slice(&(assignments.len() as u32).to_be_bytes());
                for (u, n) in assignments {
                    put_text(&mut out, u.as_str());
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
        }
        out
    }
    /// Decodes; `None` when the bytes are not a view.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let mut c = Cursor(b);
        let v = match c.u8()? {
            1 => {
                let origin = c.unit()?;
                let programme = match c.u8()? {
                    0 => None,
                    1 => Some((c.record()?, c.u32()?)),
                    _ => return None,
                };
                let status = c.u8()? as usize;
                let sector = c.u8()? as usize;
                if status >= STATUS_SLOTS || sector >= Sector::ALL.len() {
                    return None;
                }
                View::Initiative(InitiativeFacts {
                    origin,
                    programme,
                    status: slot_status(status),
                    sector: Sector::ALL[sector],
                    benefit_vnd: c.u64()?,
                })
            }
            2 => {
                let assigner = c.unit()?;
                let programme = c.record()?;
                let phase = c.u32()?;
                let n = c.u32()? as usize;
                let mut assignments = BTreeMap::new();
                for _ in 0..n {
                    let u = c.unit()?;
                    assignments.insert(u, c.u64()?);
                }
                View::Target {
                    assigner,
                    programme,
                    phase,
                    assignments,
                }
            }
            _ => return None,
        };
        c.0.is_empty().then_some(v)
    }
}

/// What counters need of an initiative, from a record's verification (`None`: not a valid
/// initiative here). A fork is a notice: the status is that of the branch the chain follows.
pub fn initiative_facts<L: EntryLookup>(
    lookup: &L,
    rep: &RecordReport,
) -> Result<Option<InitiativeFacts>, StoreError> {
    let Some(h) = &rep.header else {
        return Ok(None);
    };
    if h.kind != RecordKind::Initiative || !rep.is_valid() {
        return Ok(None);
    }
    let status = match &rep.status {
        Some(s) => Status::Decided(s.0),
        None => Status::Registered,
    };
    Ok(match (&rep.content, rep.latest_projection) {
        (Some(RecordContent::Initiative(i)), _) => Some(InitiativeFacts {
            origin: i.origin.clone(),
            programme: i.programme.map(|p| (p, i.phase)),
            status,
            sector: i.sector,
            benefit_vnd: i.benefit_vnd,
        }),
        (_, Some(p)) => {
            let Some(e) = lookup.entry(&p)? else {
                return Ok(None);
            };
            let EntryBody::Projection(p) = e.body() else {
                return Ok(None);
            };
            Some(InitiativeFacts {
                origin: h.owner.clone(),
                programme: p.programme.map(|x| (x, p.phase)),
                status,
                sector: p.sector,
                benefit_vnd: p.benefit_vnd,
            })
        }
        _ => None,
    })
}

/// A record's view and current heads, as verified now.
pub fn view_of<L: EntryLookup>(
    lookup: &L,
    directory: &Directory,
    record: RecordId,
    local_unit: Option<&UnitId>,
    now_ms: u64,
) -> Result<(Option<View>, Vec<ChangeHash>), StoreError> {
    let (view, _, heads) = view_row_of(lookup, directory, record, local_unit, now_ms)?;
    Ok((view, heads))
}

/// [`view_of`] with the record's row in the report and listing index.
pub fn view_row_of<L: EntryLookup>(
    lookup: &L,
    directory: &Directory,
    record: RecordId,
    local_unit: Option<&UnitId>,
    now_ms: u64,
) -> Result<ViewRow, StoreError> {
    let rep = verify_record(lookup, directory, record, local_unit, now_ms)?;
    let view = view_from_report(lookup, &rep)?;
    let row = crate::report_index::row_from_report(lookup, &rep)?;
    Ok((view, row, rep.current_heads))
}

/// A record's view, index row and heads.
pub type ViewRow = (Option<View>, Option<Row>, Vec<ChangeHash>);

/// A record's view from its verification.
pub fn view_from_report<L: EntryLookup>(
    lookup: &L,
    rep: &RecordReport,
) -> Result<Option<View>, StoreError> {
    let view = if let Some(f) = initiative_facts(lookup, rep)? {
        Some(View::Initiative(f))
    } else {
        match (&rep.header, &rep.content) {
            (Some(h), Some(RecordContent::Target(t))) if rep.is_valid() => Some(View::Target {
                assigner: h.owner.clone(),
                programme: t.programme,
                phase: t.phase,
                assignments: t.assignments.clone(),
            }),
            _ => None,
        }
    };
    Ok(view)
}

/// A record's view and heads computed without re-verifying its entries: for records whose
/// every entry was verified when it was accepted (a batch's own records, on the write path).
/// Same result as [`view_of`] in that case — the merged content, the latest projection and the
/// decision chain are read exactly as `verify_record` reads them — at a third of the cost (one
/// Automerge load instead of one per change plus one). Trust changes (revocations, key
/// changes) take [`view_of`]; `node check` compares every view with [`view_of`]'s.
pub fn view_of_verified<L: EntryLookup>(
    lookup: &L,
    record: RecordId,
    memo: &StateMemo,
) -> Result<(Option<View>, Vec<ChangeHash>), StoreError> {
    let (view, _, heads) = view_row_of_verified(lookup, record, memo)?;
    Ok((view, heads))
}

/// [`view_of_verified`] with the record's row in the report and listing index.
pub fn view_row_of_verified<L: EntryLookup>(
    lookup: &L,
    record: RecordId,
    memo: &StateMemo,
) -> Result<ViewRow, StoreError> {
    let mut entries = lookup.record_entries(&record)?;
    entries.sort_by_key(|e| (e.time_ms(), e.hash()));
    let Some(header) = record_header(&entries) else {
        return Ok((None, None, Vec::new()));
    };
    let changes = changes_of(&entries);
    let mut content = None;
    let mut heads = Vec::new();
    if !changes.is_empty() {
        // The merged state, through the record's document in `memo` (the one the verifier
        // just applied the batch's changes to): no replay of the record's history.
        let cited: BTreeSet<ChangeHash> = changes
            .values()
            .flat_map(|c| c.deps().iter().copied())
            .collect();
        let tips: Vec<ChangeHash> = changes
            .keys()
            .filter(|h| !cited.contains(h))
            .copied()
            .collect();
        let Ok(state) = record::record_state_at(record, &changes, &tips, header.kind, memo) else {
            return Ok((None, None, heads));
        };
        heads = state.heads;
        match state.content {
            Ok(c) => content = Some(c),
            Err(_) => return Ok((None, None, heads)),
        }
    }
    let mut row = None;
    let view = match (header.kind, content) {
        (RecordKind::Target, Some(RecordContent::Target(t))) => Some(View::Target {
            assigner: header.owner.clone(),
            programme: t.programme,
            phase: t.phase,
            assignments: t.assignments,
        }),
        (RecordKind::Initiative, content) => {
            // The decision chain, as `verify_record` walks it.
            let mut children: BTreeMap<Option<EntryHash>, Vec<&Entry>> = BTreeMap::new();
            for e in &entries {
                if let EntryBody::Decision(d) = e.body() {
                    children.entry(d.previous).or_default().push(e);
                }
            }
            let forked = children.values().any(|v| v.len() > 1);
            let mut status = None;
            let mut chain: Vec<EntryHash> = Vec::new();
            let mut cursor: Option<EntryHash> = None;
            while let Some(next) = children.get(&cursor).filter(|v| v.len() == 1).map(|v| v[0]) {
                if chain.contains(&next.hash()) {
                    break;
                }
                chain.push(next.hash());
                if let EntryBody::Decision(d) = next.body() {
                    status = Some(d.kind);
                }
                cursor = Some(next.hash());
            }
            let row_status = crate::report_index::list_status(forked, status);
            let status = match (status, forked) {
                (Some(k), false) => Status::Decided(k),
                _ => Status::Registered,
            };
            let latest_projection = entries
                .iter()
                .rfind(|e| matches!(e.body(), EntryBody::Projection(_)));
            match (content, latest_projection) {
                (Some(RecordContent::Initiative(i)), _) => {
                    row = Some(Row::of_initiative(&i, row_status));
                    Some(View::Initiative(InitiativeFacts {
                        origin: i.origin.clone(),
                        programme: i.programme.map(|p| (p, i.phase)),
                        status,
                        sector: i.sector,
                        benefit_vnd: i.benefit_vnd,
                    }))
                }
                (_, Some(e)) => match e.body() {
                    EntryBody::Projection(p) => {
                        row = Some(Row::projection(
                            header.owner.clone(),
                            p,
                            row_status,
                            entries.first().map(|e| e.time_ms()).unwrap_or(0),
                        ));
                        Some(View::Initiative(InitiativeFacts {
                            origin: header.owner.clone(),
                            programme: p.programme.map(|x| (x, p.phase)),
                            status,
                            sector: p.sector,
                            benefit_vnd: p.benefit_vnd,
                        }))
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    };
    Ok((view, row, heads))
}

/// Counter key: `o` (own) or `s` (subtree) ‖ unit ‖ 0 ‖ programme (16) ‖ phase (4, BE).
pub fn counter_key(scope: u8, unit: &UnitId, programme: RecordId, phase: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + unit.as_str().len() + 20);
    k.push(scope);
    k.extend_from_slice(unit.as_str().as_bytes());
    k.push(0);
    k.extend_from_slice(&programme.0);
    k.extend_from_slice(&phase.to_be_bytes());
    k
}

/// Prefix of every counter of one unit and scope.
pub fn counter_prefix(scope: u8, unit: &UnitId) -> Vec<u8> {
    let mut k = vec![scope];
    k.extend_from_slice(unit.as_str().as_bytes());
    k.push(0);
    k
}

/// Own-unit counters.
pub const OWN: u8 = b'o';
/// Subtree counters.
pub const SUBTREE: u8 = b's';

/// Target index key: programme (16) ‖ phase (4) ‖ assigner ‖ 0 ‖ record (16).
pub fn target_key(programme: RecordId, phase: u32, assigner: &UnitId, record: RecordId) -> Vec<u8> {
    let mut k = target_prefix(programme, phase, assigner);
    k.extend_from_slice(&record.0);
    k
}

/// Prefix of the targets one unit assigned for a phase.
pub fn target_prefix(programme: RecordId, phase: u32, assigner: &UnitId) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    k.extend_from_slice(&programme.0);
    k.extend_from_slice(&phase.to_be_bytes());
    k.extend_from_slice(assigner.as_str().as_bytes());
    k.push(0);
    k
}

/// The chain a unit's counts go into: the unit, then its ancestors by `parent`, bounded by
/// [`MAX_TREE_DEPTH`] and stopped at a repeat.
pub fn chain(
    unit: &UnitId,
    mut parent: impl FnMut(&UnitId) -> Result<Option<UnitId>, StoreError>,
) -> Result<Vec<UnitId>, StoreError> {
    let mut out = vec![unit.clone()];
    let mut cur = unit.clone();
    while let Some(p) = parent(&cur)? {
        if out.contains(&p) || out.len() > MAX_TREE_DEPTH {
            break;
        }
        out.push(p.clone());
        cur = p;
    }
    Ok(out)
}

/// Every counter from scratch: from views and the tree as the directory holds it. The
/// reference the materialised counters are checked against.
pub fn recount_counters<'a>(
    views: impl IntoIterator<Item = &'a View>,
    directory: &Directory,
) -> Result<BTreeMap<Vec<u8>, Tally>, StoreError> {
    let mut out: BTreeMap<Vec<u8>, Tally> = BTreeMap::new();
    for v in views {
        let View::Initiative(f) = v else { continue };
        let (p, ph) = f.bucket();
        out.entry(counter_key(OWN, &f.origin, p, ph))
            .or_default()
            .count(f, 1);
        let units = chain(&f.origin, |u| Ok(directory.report_parent(u).cloned()))?;
        for u in units {
            out.entry(counter_key(SUBTREE, &u, p, ph))
                .or_default()
                .count(f, 1);
        }
    }
    out.retain(|_, t| !t.is_zero());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_and_views_round_trip() {
        let f = InitiativeFacts {
            origin: UnitId::new("cdcs-a").unwrap(),
            programme: Some((RecordId([7; 16]), 2)),
            status: Status::Decided(DecisionKind::Award(AwardGrade::Excellent)),
            sector: Sector::Health,
            benefit_vnd: 1_000_000_000_000_000,
        };
        let mut t = Tally::default();
        t.count(&f, 1);
        t.count(&f, 1);
        assert_eq!(Tally::decode(&t.encode()), Some(t.clone()));
        assert_eq!(t.benefit_vnd, 2_000_000_000_000_000);
        t.count(&f, -1);
        t.count(&f, -1);
        assert!(t.is_zero());
        let v = View::Initiative(f);
        assert_eq!(View::decode(&v.encode()), Some(v.clone()));
        let mut enc = v.encode();
        enc.push(0);
        assert_eq!(View::decode(&enc), None);
        assert_eq!(Tally::decode(&[1, 2, 3]), None);
    }
}
