//! Whole-record verification: every entry re-checked as stored, forks, and whether the approved
//! state is still the current state.

use std::collections::BTreeMap;

use crate::directory::Directory;
use crate::entry::{Binding, DecisionKind, Entry, EntryBody};
use crate::ids::{ChangeHash, EntryHash, RecordId, UnitId};
use crate::record::{self, RecordContent};
use crate::store::{EntryLookup, EntryStore, StoreError};
use crate::verify::{
    changes_of, record_header, RecordHeader, RejectReason, VerifyError, VerifyOptions,
};

/// One entry (or the record as a whole) that failed a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The entry, or `None` for the record's merged content.
    pub entry: Option<EntryHash>,
    /// The rule that failed.
    pub reason: RejectReason,
}

/// Two or more decisions citing the same previous decision: a fork, kept and reported as a
/// notice. It never freezes the record: the chain follows the branch [`canonical_branch`]
/// chooses, and the next decision cites that branch's tip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The decision they both cite (`None`: two first submissions).
    pub previous: Option<EntryHash>,
    /// The competing decisions, by hash.
    pub decisions: Vec<EntryHash>,
    /// The one the chain follows.
    pub chosen: EntryHash,
}

/// Which of the decisions citing one previous decision the chain follows — a pure function of
/// the entries, the same under every delivery order:
/// 1. the one with the **longest continuation** (a later level that decided on a branch has
///    settled it; a thief holding one unit's key cannot sign the next level's decision);
/// 2. then the **latest** (a unit may supersede its own decision by deciding again; a revoked
///    key cannot date a decision after its revocation, so the legitimate unit can always
///    supersede a thief's back-dated one);
/// 3. then the lowest entry hash.
///
/// `depth` gives each candidate's continuation length.
pub fn canonical_branch<'a>(
    candidates: &[&'a Entry],
    depth: impl Fn(&Entry) -> usize,
) -> Option<&'a Entry> {
    candidates.iter().copied().max_by(|a, b| {
        depth(a)
            .cmp(&depth(b))
            .then(a.time_ms().cmp(&b.time_ms()))
            .then(b.hash().cmp(&a.hash()))
    })
}

/// Whether a record's current state carries a decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// No decision yet.
    #[error("no decision has been made on this record")]
    NotDecided,
    /// Edited after the last decision: the decision does not carry over.
    #[error("approved state differs from current state")]
    ApprovedStateDiffers,
    /// The record has invalid entries.
    #[error("the record has invalid entries")]
    Invalid,
}

/// The verification of one record.
#[derive(Debug, Clone)]
pub struct RecordReport {
    /// The record.
    pub record: RecordId,
    /// Kind, owner, confidentiality.
    pub header: Option<RecordHeader>,
    /// How many entries it has here.
    pub entries: usize,
    /// Rules that failed.
    pub problems: Vec<Problem>,
    /// Forks in the decision chain (notices: the chain follows [`canonical_branch`]).
    pub conflicts: Vec<Conflict>,
    /// The last decision of the chain: kind, signer, entry.
    pub status: Option<(DecisionKind, UnitId, EntryHash)>,
    /// The chain, in order.
    pub chain: Vec<EntryHash>,
    /// The last decision bound to a state other than the current one.
    pub approved_state_differs: bool,
    /// The merged content, when this node holds it and it is valid.
    pub content: Option<RecordContent>,
    /// Current heads of the content held here.
    pub current_heads: Vec<ChangeHash>,
    /// The latest public projection (confidential initiatives).
    pub latest_projection: Option<EntryHash>,
}

impl RecordReport {
    /// Whether every entry and the content passed.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
    /// What decision the current state carries, if any.
    pub fn approval_of_current_state(&self) -> Result<(DecisionKind, UnitId), ApprovalError> {
        if !self.is_valid() {
            return Err(ApprovalError::Invalid);
        }
        let Some((kind, unit, _)) = &self.status else {
            return Err(ApprovalError::NotDecided);
        };
        if self.approved_state_differs {
            return Err(ApprovalError::ApprovedStateDiffers);
        }
        Ok((*kind, unit.clone()))
    }
}

/// Verifies one record as stored.
pub fn verify_record<L: EntryLookup>(
    lookup: &L,
    directory: &Directory,
    record: RecordId,
    local_unit: Option<&UnitId>,
    now_ms: u64,
) -> Result<RecordReport, StoreError> {
    let mut entries = lookup.record_entries(&record)?;
    entries.sort_by_key(|e| (e.time_ms(), e.hash()));
    let header = record_header(&entries);
    let opts = VerifyOptions {
        local_unit,
        now_ms,
        complete: true,
    };
    let mut problems = Vec::new();
    // One memo for the record: its document is built once, each change applied once.
    let memo = record::StateMemo::new();
    for e in &entries {
        problems.extend(recheck(lookup, directory, e, opts, &memo)?);
    }
    // Merged content.
    let changes = changes_of(&entries);
    let mut content = None;
    let mut current_heads = Vec::new();
    if let (Some(h), false) = (&header, changes.is_empty()) {
        let cited: std::collections::BTreeSet<_> = changes
            .values()
            .flat_map(|c| c.deps().iter().copied())
            .collect();
        let heads: Vec<_> = changes
            .keys()
            .filter(|h| !cited.contains(h))
            .copied()
            .collect();
        match record::record_state_at(record, &changes, &heads, h.kind, &memo) {
            Ok(state) => {
                current_heads = state.heads;
                match state.content {
                    Ok(c) => content = Some(c),
                    Err(error) => problems.push(Problem {
                        entry: None,
                        reason: RejectReason::BadContent { record, error },
                    }),
                }
            }
            Err(error) => problems.push(Problem {
                entry: None,
                reason: RejectReason::BadContent { record, error },
            }),
        }
    }
    // Projections, latest last.
    let projections: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.body(), EntryBody::Projection(_)))
        .collect();
    let latest_projection = projections.last().map(|e| e.hash());
    // The decision chain: children by previous. A decision that fails its rules (one signed
    // by a key revoked since it was stored, say) is reported above and takes no part in it.
    let failed: std::collections::BTreeSet<EntryHash> =
        problems.iter().filter_map(|p| p.entry).collect();
    let mut children: BTreeMap<Option<EntryHash>, Vec<&Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| !failed.contains(&e.hash())) {
        if let EntryBody::Decision(d) = e.body() {
            children.entry(d.previous).or_default().push(e);
        }
    }
    // Length of the longest continuation below each decision (memoised; citations cannot
    // cycle, a hash covers what it cites, but the walk is bounded by the record's size anyway).
    let mut depths: BTreeMap<EntryHash, usize> = BTreeMap::new();
    let mut order: Vec<&Entry> = children.values().flatten().copied().collect();
    // Latest first: a continuation is dated no earlier than what it continues, give or take
    // the clock skew, so this order computes most children before their parents; the loop
    // below repeats until nothing changes for the rest.
    order.sort_by_key(|e| std::cmp::Reverse((e.time_ms(), e.hash())));
    for _ in 0..=order.len() {
        let mut changed = false;
        for e in &order {
            let below = children
                .get(&Some(e.hash()))
                .map(|v| {
                    v.iter()
                        .map(|c| depths.get(&c.hash()).copied().unwrap_or(0) + 1)
                        .max()
                        .unwrap_or(0)
                })
                .unwrap_or(0)
                .min(entries.len());
            if depths.get(&e.hash()) != Some(&below) {
                depths.insert(e.hash(), below);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let depth = |e: &Entry| depths.get(&e.hash()).copied().unwrap_or(0);
    let conflicts: Vec<Conflict> = children
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .filter_map(|(p, v)| {
            Some(Conflict {
                previous: *p,
                decisions: {
                    let mut d: Vec<EntryHash> = v.iter().map(|e| e.hash()).collect();
                    d.sort();
                    d
                },
                chosen: canonical_branch(v, depth)?.hash(),
            })
        })
        .collect();
    let mut chain = Vec::new();
    let mut status = None;
    let mut cursor: Option<EntryHash> = None;
    while let Some(next) = children
        .get(&cursor)
        .and_then(|v| canonical_branch(v, depth))
    {
        if chain.contains(&next.hash()) {
            break;
        }
        chain.push(next.hash());
        if let EntryBody::Decision(d) = next.body() {
            status = Some((d.kind, next.author().clone(), next.hash()));
        }
        cursor = Some(next.hash());
    }
    // Does the last decision still judge the current state?
    let mut approved_state_differs = false;
    if let Some((kind, _, h)) = &status {
        let positive = !matches!(kind, DecisionKind::Reject | DecisionKind::ReturnForRevision);
        let decision = entries.iter().find(|e| e.hash() == *h);
        if let (true, Some(EntryBody::Decision(d))) = (positive, decision.map(|e| e.body())) {
            approved_state_differs = match &d.binding {
                Binding::Heads(heads) => !current_heads.is_empty() && *heads != current_heads,
                Binding::Projection(p) => {
                    let bound = projections.iter().find(|e| e.hash() == *p);
                    let bound_heads = bound.and_then(|e| match e.body() {
                        EntryBody::Projection(pr) => Some(pr.heads.clone()),
                        _ => None,
                    });
                    if !current_heads.is_empty() {
                        bound_heads.as_ref() != Some(&current_heads)
                    } else {
                        latest_projection != Some(*p)
                    }
                }
            };
        }
    }
    Ok(RecordReport {
        record,
        header,
        entries: entries.len(),
        problems,
        conflicts,
        status,
        chain,
        approved_state_differs,
        content,
        current_heads,
        latest_projection,
    })
}

/// Re-checks a stored entry as part of a complete record: a failure or a missing dependency is
/// a problem.
fn recheck<L: EntryLookup>(
    lookup: &L,
    directory: &Directory,
    e: &Entry,
    opts: VerifyOptions<'_>,
    memo: &record::StateMemo,
) -> Result<Option<Problem>, StoreError> {
    let reason = match crate::verify::verify_entry_with(lookup, directory, e, opts, memo) {
        Ok(_) => return Ok(None),
        Err(VerifyError::Rejected(reason)) => reason,
        Err(VerifyError::Waiting(m)) => RejectReason::MissingDependency(m.to_string()),
        Err(VerifyError::Store(s)) => return Err(s),
    };
    Ok(Some(Problem {
        entry: Some(e.hash()),
        reason,
    }))
}

/// Verifies every record of a store, and every trust entry (certificates, revocations).
pub struct StoreReport {
    /// One report per record, by record id.
    pub records: Vec<RecordReport>,
    /// Trust entries that fail.
    pub trust_problems: Vec<Problem>,
}

/// Verifies everything a store holds.
pub fn verify_store<S: EntryStore>(
    store: &S,
    directory: &Directory,
    local_unit: Option<&UnitId>,
    now_ms: u64,
) -> Result<StoreReport, StoreError> {
    let opts = VerifyOptions {
        local_unit,
        now_ms,
        complete: true,
    };
    let mut trust_problems = Vec::new();
    for e in store.trust_entries()? {
        trust_problems.extend(recheck(
            store,
            directory,
            &e,
            opts,
            &record::StateMemo::new(),
        )?);
    }
    let mut records = Vec::new();
    for r in store.records()? {
        records.push(verify_record(store, directory, r, local_unit, now_ms)?);
    }
    Ok(StoreReport {
        records,
        trust_problems,
    })
}
