//! Ingest on every core.
//!
//! Most of what verifying an entry costs needs no store: decoding it with the strict ed25519
//! check, and reading the state of a new record's first change (see
//! `sync_protocol::record::OpTree`). [`prepare`] does that for a batch on every core (rayon);
//! what needs the store — the verification proper, in dependency order, then one transaction and
//! one fsync round — stays sequential in [`Node::import_with`]. [`ingest`] overlaps the two:
//! while one batch is verified and committed on the calling thread, the next is prepared on the
//! others, and whichever side finishes first helps the other's parallel part (rayon's work
//! stealing), so both cores stay busy.
//!
//! Signatures are checked one by one with `verify_strict`, never with `verify_batch`: the batch
//! equation is cofactored, so it accepts signatures whose `R` carries a small-order component
//! that `verify_strict` refuses. Such a signature is a second valid encoding of someone else's
//! entry (a new hash, a spurious fork), and nodes checking differently would disagree on what
//! is valid. Parallelism across cores gives the speed instead.

use rayon::prelude::*;
use sync_protocol::entry::{Entry, EntryBody, EntryError, KeyCache};
use sync_protocol::record::StateMemo;

use crate::node::{ImportReport, Node, NodeError};

/// Batches smaller than this are prepared on the calling thread: spreading a few entries over
/// threads costs more than it saves.
pub const MIN_PARALLEL_ENTRIES: usize = 64;

/// A batch decoded and prepared for [`Node::import_with`].
#[derive(Debug, Default)]
pub struct Prepared {
    /// The entries that decoded, in batch order.
    pub entries: Vec<Entry>,
    /// First-change states of the new records among them.
    pub memo: StateMemo,
    /// Bytes that are not a valid entry: position in the batch and why.
    pub undecodable: Vec<(usize, EntryError)>,
}

/// Decodes `bytes` (canonical form, strict signature) and computes the first-change states of
/// new records, on every core.
pub fn prepare<B: AsRef<[u8]> + Sync>(bytes: &[B]) -> Prepared {
    let decode =
        |keys: &mut KeyCache, (i, b): (usize, &B)| match Entry::decode_cached(b.as_ref(), keys) {
            Ok(e) => {
                let state = first_change_state(&e);
                (i, Ok((e, state)))
            }
            Err(err) => (i, Err(err)),
        };
    let results: Vec<_> = if bytes.len() < MIN_PARALLEL_ENTRIES {
        let mut keys = KeyCache::new();
        bytes
            .iter()
            .enumerate()
            .map(|x| decode(&mut keys, x))
            .collect()
    } else {
        bytes
            .par_iter()
            .enumerate()
            .map_init(KeyCache::new, decode)
            .collect()
    };
    let mut out = Prepared::default();
    let mut states = Vec::new();
    for (i, r) in results {
        match r {
            Ok((e, state)) => {
                out.entries.push(e);
                states.extend(state);
            }
            Err(err) => out.undecodable.push((i, err)),
        }
    }
    out.memo.extend(states);
    out
}

/// The first-change states of the new records in a batch already decoded, on every core.
pub fn memo_for(entries: &[Entry]) -> StateMemo {
    let mut memo = StateMemo::new();
    if entries.len() < MIN_PARALLEL_ENTRIES {
        memo.extend(entries.iter().filter_map(first_change_state));
    } else {
        let states: Vec<_> = entries.par_iter().filter_map(first_change_state).collect();
        memo.extend(states);
    }
    memo
}

fn first_change_state(
    e: &Entry,
) -> Option<(
    sync_protocol::ids::ChangeHash,
    sync_protocol::record::OpTree,
)> {
    match e.body() {
        EntryBody::RecordChange(c) if c.change.deps().is_empty() => StateMemo::compute(&c.change),
        _ => None,
    }
}

/// What [`ingest`] did, over all its batches.
#[derive(Debug, Default, Clone)]
pub struct IngestReport {
    /// Batches imported.
    pub batches: usize,
    /// Entries that decoded.
    pub decoded: usize,
    /// Newly stored (including entries released from quarantine).
    pub accepted: usize,
    /// Already held.
    pub duplicates: usize,
    /// Left waiting in quarantine.
    pub quarantined: usize,
    /// Refused by verification: entry hash (hex) and reason.
    pub rejected: Vec<(String, String)>,
    /// Not entries at all: batch number, position in it, and why.
    pub undecodable: Vec<(usize, usize, String)>,
}

/// Imports batches of entry bytes, each verified, stored in one transaction and made durable
/// before the next is imported, while the next is prepared on the other cores. `now_ms` gives
/// the verifier's clock for each batch; `each` sees every batch's report as soon as it is durable
/// (to acknowledge it, show progress, or stop with an error).
pub fn ingest<I, B, F>(
    node: &mut Node,
    batches: I,
    now_ms: impl Fn() -> u64 + Sync,
    mut each: F,
) -> Result<IngestReport, NodeError>
where
    I: IntoIterator<Item = Vec<B>>,
    B: AsRef<[u8]> + Sync + Send,
    F: FnMut(usize, &ImportReport) -> Result<(), NodeError>,
{
    let mut report = IngestReport::default();
    let mut batches = batches.into_iter();
    let Some(first) = batches.next() else {
        return Ok(report);
    };
    let mut current = prepare(&first);
    let mut n = 0usize;
    loop {
        let next_bytes = batches.next();
        let Prepared {
            entries,
            memo,
            undecodable,
        } = std::mem::take(&mut current);
        report.decoded += entries.len();
        report
            .undecodable
            .extend(undecodable.into_iter().map(|(i, e)| (n, i, e.to_string())));
        let (imported, next) = rayon::join(
            || node.import_with(entries, &memo, now_ms()),
            || next_bytes.as_deref().map(prepare),
        );
        let r = imported?;
        report.batches += 1;
        report.accepted += r.accepted + r.released;
        report.duplicates += r.duplicates;
        report.quarantined += r.quarantined.len();
        report.rejected.extend(r.rejected.iter().cloned());
        each(n, &r)?;
        n += 1;
        match next {
            Some(p) => current = p,
            None => return Ok(report),
        }
    }
}
