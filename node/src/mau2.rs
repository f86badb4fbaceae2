//! The consolidated list (Mẫu 2) a direct-superior union signs and sends up: the initiatives of
//! its subtree it has decided on, one line each.
//!
//! What "signed" means here: every line *is* a signed entry — the unit's own decision on that
//! initiative, signed with the unit's key. The list as a whole is named by a digest (BLAKE3,
//! derived key [`DIGEST_CONTEXT`], over the decision hashes in list order), printed at its foot
//! so a paper copy with a signature and stamp can be tied to exactly those entries.
//! [`write_bundle`] writes the entries behind the list (the certificates, public record
//! changes, projections and decisions), which the province imports through the same verified
//! path as any bundle. No new kind of entry is needed.

use std::collections::BTreeSet;
use std::path::Path;

use sync_protocol::entry::{DecisionKind, EntryBody};
use sync_protocol::ids::{EntryHash, RecordId, UnitId};
use sync_protocol::store::EntryLookup;

use crate::bundle::{self, BundleError};
use crate::node::{Node, NodeError};
use crate::records;
use crate::search::Listed;

/// BLAKE3's derived-key context of the list digest.
pub const DIGEST_CONTEXT: &str = "sangkien mau2 list v1";

/// One line of the list: the initiative and this unit's latest decision on it.
#[derive(Clone, Debug)]
pub struct Mau2Line {
    /// The initiative as listed.
    pub listed: Listed,
    /// This unit's latest decision on it.
    pub kind: DecisionKind,
    /// Who signed the decision, and their title.
    pub officer: String,
    /// The officer's title.
    pub officer_title: String,
    /// When (Unix ms).
    pub time_ms: u64,
    /// The decision entry.
    pub entry: EntryHash,
}

/// The consolidated list of a unit for one programme (and phase).
#[derive(Clone, Debug)]
pub struct Mau2 {
    /// The unit that signs the list.
    pub unit: UnitId,
    /// The programme.
    pub programme: RecordId,
    /// The phase, when the list is of one phase.
    pub phase: Option<u32>,
    /// The lines, by origin unit then title.
    pub lines: Vec<Mau2Line>,
    /// BLAKE3 (derived key [`DIGEST_CONTEXT`]) over the decision hashes in list order, hex.
    pub digest: String,
}

/// Why the list's bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Mau2BundleError {
    /// Reading the node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Writing the bundle failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// The list of `node`'s unit: the initiatives below it (not its own) in `programme` (and
/// `phase`) on which it decided last Approve, Recognise or Award — or any decision with `all`.
pub fn consolidated(
    node: &Node,
    programme: RecordId,
    phase: Option<u32>,
    all: bool,
    now_ms: u64,
) -> Result<Mau2, NodeError> {
    let me = node.unit().clone();
    let d = node.directory();
    let mut lines = Vec::new();
    for r in decided_records(node)? {
        let Some(l) = crate::search::listed_of(node, r, now_ms)? else {
            continue;
        };
        let Some((pr, ph)) = l.programme else {
            continue;
        };
        if pr != programme || phase.is_some_and(|x| x != ph) || l.origin == me {
            continue;
        }
        if !d.is_self_or_ancestor_at(&me, &l.origin, now_ms) {
            continue;
        }
        let rep = records::check(node, l.record, now_ms)?;
        // This unit's latest decision in the chain.
        let mut mine = None;
        for h in &rep.chain {
            let Some(e) = node.store().entry(h)? else {
                continue;
            };
            if let EntryBody::Decision(dec) = e.body() {
                if e.author() == &me {
                    mine = Some((
                        dec.kind,
                        dec.officer_name.to_string(),
                        dec.officer_title.to_string(),
                        e.time_ms(),
                        *h,
                    ));
                }
            }
        }
        let Some((kind, officer, officer_title, time_ms, entry)) = mine else {
            continue;
        };
        let positive = matches!(
            kind,
            DecisionKind::Approve | DecisionKind::Recognise | DecisionKind::Award(_)
        );
        if positive || all {
            lines.push(Mau2Line {
                listed: l,
                kind,
                officer,
                officer_title,
                time_ms,
                entry,
            });
        }
    }
    lines.sort_by(|x, y| {
        x.listed
            .origin
            .cmp(&y.listed.origin)
            .then(x.listed.title.cmp(&y.listed.title))
    });
    Ok(Mau2 {
        unit: me,
        programme,
        phase,
        digest: digest(lines.iter().map(|x| &x.entry)),
        lines,
    })
}

/// The initiatives on which some unit has decided: every one the report index lists under a
/// status other than "registered" (an initiative this unit decided on has at least a
/// submission in its chain). The list reads only these, not every record: O(decided
/// initiatives held), still not bounded by the unit's own decisions (no index by decider yet).
fn decided_records(node: &Node) -> Result<Vec<RecordId>, NodeError> {
    use crate::report_index::{status_index, t, STATUS_CODES};
    let list = node.store().tree(t::LIST);
    let mut out = Vec::new();
    for code in STATUS_CODES.iter().filter(|c| **c != "registered") {
        let Some(b) = status_index(code) else {
            continue;
        };
        for k in list.scan_prefix([b]).keys() {
            let k = k.map_err(|e| crate::sled_store::err("rx_list", e))?;
            if let Ok(r) = <[u8; 16]>::try_from(&k[k.len().saturating_sub(16)..]) {
                out.push(RecordId(r));
            }
        }
    }
    Ok(out)
}

/// The list digest over decision hashes in list order.
pub fn digest<'a>(entries: impl IntoIterator<Item = &'a EntryHash>) -> String {
    let mut hasher = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
    for h in entries {
        hasher.update(&h.0);
    }
    hasher.finalize().to_hex().to_string()
}

/// Writes, signed by the node's unit for its superior, a bundle of the entries behind `list`:
/// the certificates the superior needs first (it may not know the grassroots units yet), then
/// each initiative's entries — but the private part of a confidential initiative, which stays
/// with the origin and its direct superior: only its projection and decisions go up.
pub fn write_bundle(
    node: &Node,
    list: &Mau2,
    path: &Path,
    now_ms: u64,
) -> Result<(), Mau2BundleError> {
    let superior = node
        .directory()
        .parent_at(node.unit(), now_ms)
        .cloned()
        .unwrap_or_else(|| node.unit().clone());
    let mut entries =
        node.trust_entries_for(&superior, &BTreeSet::from([node.unit().clone()]), now_ms)?;
    for x in &list.lines {
        for e in node
            .store()
            .record_entries(&x.listed.record)
            .map_err(NodeError::from)?
        {
            if matches!(e.body(), EntryBody::RecordChange(c) if c.confidential) {
                continue;
            }
            entries.push(e);
        }
    }
    let author = node.author()?;
    bundle::write_signed(path, author, &superior, None, now_ms, &entries)?;
    Ok(())
}
