//! Several decisions at once (the web inbox's "several at once"): one signed decision entry
//! per initiative, each judged on its own, the accepted ones stored together.
//!
//! Every decision is built as [`records::decide`] builds it (bound to the state held here,
//! citing the chain's last decision), signed, and the whole set verified against a copy of the
//! trust directory (the same verifier as every write, sync and bundle). The decisions the
//! verifier accepts are then stored by [`Node::write_signed_all`]: one sled transaction and one
//! fsync for all of them. One refused decision refuses that item only; an item is one entry,
//! so no item is ever half applied. Decisions on different initiatives do not depend on each
//! other, so refusing one never changes the verdict on another.

use sync_protocol::entry::{DecisionKind, Entry};
use sync_protocol::ids::{EntryHash, RecordId};
use sync_protocol::import::import_batch;
use sync_protocol::limits::MAX_DECISIONS_PER_BATCH_COUNT;
use sync_protocol::text::Text;

use crate::node::{Node, NodeError};
use crate::records;

/// One decision asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The initiative.
    pub record: RecordId,
    /// What is decided.
    pub kind: DecisionKind,
    /// The note (the reason of a return).
    pub note: Text,
}

/// What happened to one request.
#[derive(Debug)]
pub enum Outcome {
    /// Signed and stored: the decision entry.
    Done(EntryHash),
    /// Not stored, and why.
    Refused(ItemRefusal),
}

/// Why one request of a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ItemRefusal {
    /// The node or its verifier refused it (the rule is in the error).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The same initiative was named earlier in the batch (a second decision would fork the
    /// chain).
    #[error("initiative {} appears twice in the batch", .0.short())]
    Twice(RecordId),
}

/// Why a batch was refused whole, before anything was signed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// More requests than [`MAX_DECISIONS_PER_BATCH_COUNT`].
    #[error("{count} decisions in one batch, over the limit of {limit}")]
    TooMany {
        /// how many were asked for
        count: usize,
        /// the limit
        limit: usize,
    },
    /// The store failed (nothing was stored).
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Makes every decision of `requests` as this node's unit, signed with its key and naming the
/// officer; returns one outcome per request, in order. The accepted decisions are durable
/// when this returns.
pub fn decide_all(
    node: &mut Node,
    requests: &[Request],
    officer_name: &Text,
    officer_title: &Text,
    now_ms: u64,
) -> Result<Vec<Outcome>, BatchError> {
    if requests.len() > MAX_DECISIONS_PER_BATCH_COUNT {
        return Err(BatchError::TooMany {
            count: requests.len(),
            limit: MAX_DECISIONS_PER_BATCH_COUNT,
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(requests.len());
    let mut signed: Vec<(usize, Entry)> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in requests.iter().enumerate() {
        if !seen.insert(r.record) {
            outcomes.push(Some(Outcome::Refused(ItemRefusal::Twice(r.record))));
            continue;
        }
        match records::decision_body(
            node,
            r.record,
            r.kind,
            officer_name.clone(),
            officer_title.clone(),
            r.note.clone(),
            now_ms,
        ) {
            Ok(body) => {
                let entry = node.author()?.sign(now_ms, body);
                signed.push((i, entry));
                outcomes.push(None);
            }
            Err(e) => outcomes.push(Some(Outcome::Refused(e.into()))),
        }
    }
    // The verdict on each, against a copy of the directory: nothing is stored here.
    let mut directory = node.directory().clone();
    let verdict = import_batch(
        node.store(),
        &mut directory,
        signed.iter().map(|(_, e)| e.clone()).collect(),
        Some(node.unit()),
        now_ms,
    )
    .map_err(|e| BatchError::Node(e.into()))?;
    let accepted: std::collections::BTreeSet<EntryHash> =
        verdict.accepted.iter().map(|v| v.entry().hash()).collect();
    let mut to_store = Vec::new();
    for (i, entry) in signed {
        let h = entry.hash();
        let refusal = verdict
            .rejected
            .iter()
            .find(|(r, _)| *r == h)
            .map(|(_, why)| NodeError::Rejected(why.clone()))
            .or_else(|| {
                verdict
                    .waiting
                    .iter()
                    .find(|(e, _)| e.hash() == h)
                    .map(|(_, m)| NodeError::Waiting(m.clone()))
            });
        match refusal {
            Some(e) => outcomes[i] = Some(Outcome::Refused(e.into())),
            None if accepted.contains(&h) => {
                outcomes[i] = Some(Outcome::Done(h));
                to_store.push(entry);
            }
            // Already stored (the same decision, the same second): nothing to add.
            None => outcomes[i] = Some(Outcome::Done(h)),
        }
    }
    if !to_store.is_empty() {
        node.write_signed_all(to_store, now_ms)
            .map_err(|(_, e)| BatchError::Node(e))?;
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every request has its outcome"))
        .collect())
}
