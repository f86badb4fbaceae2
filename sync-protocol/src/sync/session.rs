//! One sync session with one peer: the state machine.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::entry::Entry;
use crate::ids::{EntryHash, FederationId};
use crate::limits::{
    MAX_IDS_COUNT, MAX_MESSAGE_BYTES, MAX_MESSAGE_ENTRIES, MAX_OUTSTANDING_WANTS, MAX_RANGES_COUNT,
    MAX_SESSION_DURATION_MS, MAX_SESSION_IDLE_MS,
};

use crate::scope::sort_for_sending;

use super::message::{Bound, Message, Range, RangePayload, SYNC_VERSION};
use super::range::IdPrefix;
use super::source::SyncSource;

/// How many sub-ranges a range whose fingerprints differ is split into.
pub const BRANCHING: usize = 16;
/// At or below this many keys, a range is sent as the list of its hashes.
pub const ID_LIST_THRESHOLD: usize = 2 * BRANCHING;
/// Most hashes sent as one id list on the cursor fast path; more go by fingerprint.
pub const MAX_CURSOR_ID_LIST: usize = 4_096;
/// Most entries a side puts in one message of entries it sends (well under the receiver's bound
/// [`MAX_MESSAGE_ENTRIES`]): the receiver checks one message's signatures on every core while it
/// stores the message before it, so a large transfer (a new node's first sync) in messages of
/// this size is stored at about the rate of the node's own ingest instead of waiting for one
/// huge message to be checked before anything is stored.
pub const SEND_MESSAGE_ENTRIES: usize = 1_000;
/// Most bytes of entries a side puts in one message it sends (well under [`MAX_MESSAGE_BYTES`]),
/// for the same reason as [`SEND_MESSAGE_ENTRIES`]; an entry larger than this goes alone.
pub const SEND_MESSAGE_BYTES: usize = 1024 * 1024;
// A message of entries we send stays within the receiver's bounds, even with one entry of the
// largest size.
const _: () = assert!(
    SEND_MESSAGE_ENTRIES <= MAX_MESSAGE_ENTRIES
        && SEND_MESSAGE_BYTES < MAX_MESSAGE_BYTES - 64 * 1024
        && crate::limits::MAX_ENTRY_BYTES + 8 < MAX_MESSAGE_BYTES - 64
);
/// A session with no progress from the peer for this long times out
/// ([`MAX_SESSION_IDLE_MS`]).
pub const SESSION_TIMEOUT_MS: u64 = MAX_SESSION_IDLE_MS;

/// A session's two time bounds, in milliseconds: in all from its start (no message extends it)
/// and without progress from the peer. The defaults are the limits
/// [`MAX_SESSION_DURATION_MS`] and [`MAX_SESSION_IDLE_MS`]; a driver may pass shorter ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// Longest the session may last, counted from [`SyncSession::new`].
    pub total_ms: u64,
    /// Longest the peer may go without moving the session on.
    pub idle_ms: u64,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            total_ms: MAX_SESSION_DURATION_MS,
            idle_ms: MAX_SESSION_IDLE_MS,
        }
    }
}

/// Which side a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends the hello.
    Initiator,
    /// Answers it.
    Responder,
}

/// What a session tells its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Entries from the peer, canonical bytes, to verify and store.
    Received(Vec<Vec<u8>>),
    /// The session is complete on this side.
    Finished(SessionStats),
    /// The peer broke the protocol; the driver closes the connection.
    Misbehaved(String),
    /// No progress for [`Deadlines::idle_ms`], or the session reached [`Deadlines::total_ms`].
    TimedOut,
}

/// Counters of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Messages sent.
    pub messages_sent: u64,
    /// Bytes sent (encoded messages).
    pub bytes_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Reconciliation messages sent (hello and ranges).
    pub reconcile_messages_sent: u64,
    /// Entries sent.
    pub entries_sent: u64,
    /// Entries received.
    pub entries_received: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// An initiator before `start`.
    Idle,
    /// A responder before the hello.
    AwaitingHello,
    /// Exchanging ranges, wants and entries.
    Reconciling,
    /// Done on this side.
    Finished,
    /// Broken.
    Failed,
}

/// One sync session. See the module docs for the driving contract.
#[derive(Debug)]
pub struct SyncSession {
    role: Role,
    state: State,
    federation: FederationId,
    outbox: VecDeque<Message>,
    events: VecDeque<Event>,
    wanted: BTreeSet<IdPrefix>,
    reconciled: bool,
    /// The end of the session in all, fixed at its start.
    end_ms: u64,
    /// The end of the idle bound, moved by progress only.
    idle_deadline_ms: u64,
    idle_ms: u64,
    stats: SessionStats,
}

impl SyncSession {
    /// A session on one side, with the default [`Deadlines`].
    pub fn new(role: Role, federation: FederationId, now_ms: u64) -> Self {
        Self::with_deadlines(role, federation, now_ms, Deadlines::default())
    }

    /// A session on one side that ends at `now_ms + deadlines.total_ms` whatever the peer
    /// sends, or earlier after `deadlines.idle_ms` without progress.
    pub fn with_deadlines(
        role: Role,
        federation: FederationId,
        now_ms: u64,
        deadlines: Deadlines,
    ) -> Self {
        Self {
            role,
            state: match role {
                Role::Initiator => State::Idle,
                Role::Responder => State::AwaitingHello,
            },
            federation,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            wanted: BTreeSet::new(),
            reconciled: false,
            end_ms: now_ms.saturating_add(deadlines.total_ms),
            idle_deadline_ms: now_ms.saturating_add(deadlines.idle_ms),
            idle_ms: deadlines.idle_ms,
            stats: SessionStats::default(),
        }
    }

    /// The initiator's first move. `cursor_ms`: the time up to which both peers were reconciled
    /// at their last session, if any (the fast path).
    pub fn start(&mut self, now_ms: u64, source: &impl SyncSource, cursor_ms: Option<u64>) {
        assert_eq!(
            self.state,
            State::Idle,
            "start is called once, on an initiator"
        );
        let ranges = match cursor_ms {
            Some(c) => {
                let bound = Bound::Key {
                    time_ms: c,
                    prefix: Vec::new(),
                };
                let (_, old) = source.summarize(None, &bound);
                let (new_count, new_fp) = source.summarize(Some(&bound), &Bound::Infinity);
                let new_payload = if new_count <= MAX_CURSOR_ID_LIST {
                    RangePayload::IdList(ids(&source.keys_in(Some(&bound), &Bound::Infinity)))
                } else {
                    RangePayload::Fingerprint(new_fp)
                };
                vec![
                    Range {
                        upper: bound,
                        payload: RangePayload::Fingerprint(old),
                    },
                    Range {
                        upper: Bound::Infinity,
                        payload: new_payload,
                    },
                ]
            }
            None => split_ranges(source, None, Bound::Infinity),
        };
        self.state = State::Reconciling;
        self.idle_deadline_ms = now_ms.saturating_add(self.idle_ms);
        self.queue(Message::Hello {
            version: SYNC_VERSION,
            federation: self.federation,
            cursor_ms,
            ranges,
        });
    }

    /// Feeds one decoded message from the peer.
    pub fn handle_message(&mut self, now_ms: u64, message: Message, source: &impl SyncSource) {
        if matches!(self.state, State::Failed | State::Finished) {
            return;
        }
        // Past its end or its idle bound, a session takes nothing more, whatever arrives.
        if now_ms >= self.deadline_ms() {
            return self.handle_timeout(now_ms);
        }
        // Progress moves the idle bound (never the end); a repeated hello is not progress.
        let repeated_hello =
            self.state == State::Reconciling && matches!(message, Message::Hello { .. });
        if !repeated_hello {
            self.idle_deadline_ms = now_ms.saturating_add(self.idle_ms).min(self.end_ms);
        }
        self.stats.messages_received += 1;
        self.stats.bytes_received += message.encode().len() as u64;
        match (self.state, message) {
            (
                State::AwaitingHello,
                Message::Hello {
                    version,
                    federation,
                    ranges,
                    ..
                },
            ) => {
                if version != SYNC_VERSION {
                    return self.fail(format!("sync version {version} is not supported"));
                }
                if federation != self.federation {
                    return self.fail(format!("peer is of federation {federation}"));
                }
                self.state = State::Reconciling;
                self.reconcile(ranges, source);
            }
            (State::AwaitingHello, _) => self.fail("the first message must be a hello".into()),
            (State::Idle, _) => self.fail("message before the session started".into()),
            // A transport that duplicates may repeat a hello or a step: answering a step again
            // is harmless (the answer describes the same sets), a repeated hello is ignored.
            (State::Reconciling, Message::Hello { .. }) => {}
            (State::Reconciling, Message::Ranges(ranges)) => self.reconcile(ranges, source),
            (State::Reconciling, Message::Entries(entries)) => {
                self.stats.entries_received += entries.len() as u64;
                // Entries we asked for are no longer outstanding; unsolicited ones (pushed
                // because we lacked them) are fine too: the driver verifies everything.
                for e in &entries {
                    let h = EntryHash(*blake3::hash(e).as_bytes());
                    self.wanted.remove(&IdPrefix::of(&h));
                }
                if !entries.is_empty() {
                    self.events.push_back(Event::Received(entries));
                }
            }
            (State::Reconciling, Message::Want(ids)) => {
                let hashes: Vec<EntryHash> =
                    ids.iter().filter_map(|id| source.hash_of(id)).collect();
                // Only what we offer: a want for anything else is ignored, not served.
                self.send_in_order(source, hashes);
            }
            (State::Reconciling, Message::Done) => {
                self.reconciled = true;
            }
            (State::Finished | State::Failed, _) => {}
        }
        self.check_finished();
    }

    /// Feeds the passage of time.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if matches!(self.state, State::Reconciling | State::AwaitingHello)
            && now_ms >= self.deadline_ms()
        {
            self.state = State::Failed;
            self.events.push_back(Event::TimedOut);
        }
    }

    /// When [`SyncSession::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        matches!(self.state, State::Reconciling | State::AwaitingHello)
            .then_some(self.deadline_ms())
    }

    /// The earlier of the session's end and its idle bound.
    fn deadline_ms(&self) -> u64 {
        self.idle_deadline_ms.min(self.end_ms)
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        let m = self.outbox.pop_front()?;
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += m.encode().len() as u64;
        if matches!(m, Message::Hello { .. } | Message::Ranges(_)) {
            self.stats.reconcile_messages_sent += 1;
        }
        if let Message::Entries(e) = &m {
            self.stats.entries_sent += e.len() as u64;
        }
        Some(m)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether this side is done.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// The session's counters so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    fn queue(&mut self, m: Message) {
        self.outbox.push_back(m);
    }

    /// Sends the offered entries among `hashes` (the rest is skipped), in the order of
    /// [`sort_for_sending`]: what an entry depends on before it, so that a receiver importing
    /// message by message parks nothing in quarantine for something it is being sent.
    fn send_in_order(&mut self, source: &impl SyncSource, hashes: Vec<EntryHash>) {
        let mut entries: Vec<Entry> = Vec::with_capacity(hashes.len());
        let mut undecodable: Vec<Vec<u8>> = Vec::new();
        for h in hashes {
            let Some(bytes) = source.entry_bytes(&h) else {
                continue;
            };
            // The source's own stored bytes, verified when stored: decoded only for their
            // kind, time and parent, not verified again. Bytes that do not decode go last,
            // for the receiver to refuse.
            match Entry::decode_stored_unchecked(&bytes) {
                Ok(e) => entries.push(e),
                Err(_) => undecodable.push(bytes),
            }
        }
        sort_for_sending(&mut entries);
        let mut batch = Vec::new();
        let mut batch_bytes = 0usize;
        let all = entries
            .into_iter()
            .map(|e| e.bytes().to_vec())
            .chain(undecodable);
        for bytes in all {
            if batch.len() == SEND_MESSAGE_ENTRIES
                || (!batch.is_empty() && batch_bytes + bytes.len() + 8 > SEND_MESSAGE_BYTES)
            {
                self.send_entries(std::mem::take(&mut batch));
                batch_bytes = 0;
            }
            batch_bytes += bytes.len() + 4;
            batch.push(bytes);
        }
        self.send_entries(batch);
    }

    fn send_entries(&mut self, batch: Vec<Vec<u8>>) {
        if !batch.is_empty() {
            self.queue(Message::Entries(batch));
        }
    }

    fn fail(&mut self, why: String) {
        self.state = State::Failed;
        self.outbox.clear();
        self.events.push_back(Event::Misbehaved(why));
    }

    fn check_finished(&mut self) {
        if self.state == State::Reconciling && self.reconciled && self.wanted.is_empty() {
            self.state = State::Finished;
            self.events.push_back(Event::Finished(self.stats));
        }
    }

    /// Answers the peer's ranges against our keys.
    fn reconcile(&mut self, ranges: Vec<Range>, source: &impl SyncSource) {
        if ranges.last().map(|r| &r.upper) != Some(&Bound::Infinity) {
            return self.fail("ranges must cover the key space up to infinity".into());
        }
        let mut reply: Vec<Range> = Vec::new();
        let mut push_to_peer: Vec<EntryHash> = Vec::new();
        let mut want: Vec<IdPrefix> = Vec::new();
        let mut lower: Option<Bound> = None;
        for range in ranges {
            match range.payload {
                RangePayload::Skip => push_skip(&mut reply, range.upper.clone()),
                RangePayload::Fingerprint(fp) => {
                    let (count, mine) = source.summarize(lower.as_ref(), &range.upper);
                    if mine == fp {
                        push_skip(&mut reply, range.upper.clone());
                    } else if count <= ID_LIST_THRESHOLD {
                        reply.push(Range {
                            upper: range.upper.clone(),
                            payload: RangePayload::IdList(ids(
                                &source.keys_in(lower.as_ref(), &range.upper)
                            )),
                        });
                    } else {
                        reply.extend(split_ranges(source, lower.as_ref(), range.upper.clone()));
                    }
                }
                RangePayload::IdList(theirs) => {
                    let theirs: BTreeSet<IdPrefix> = theirs.into_iter().collect();
                    let ours: BTreeMap<IdPrefix, EntryHash> = source
                        .keys_in(lower.as_ref(), &range.upper)
                        .iter()
                        .map(|k| (IdPrefix::of(&k.hash), k.hash))
                        .collect();
                    push_to_peer.extend(
                        ours.iter()
                            .filter(|(p, _)| !theirs.contains(p))
                            .map(|(_, h)| *h),
                    );
                    let ours: BTreeSet<IdPrefix> = ours.into_keys().collect();
                    want.extend(
                        theirs
                            .difference(&ours)
                            .filter(|h| !self.wanted.contains(h))
                            .copied(),
                    );
                    push_skip(&mut reply, range.upper.clone());
                }
            }
            lower = Some(range.upper);
        }
        // Entries the peer lacks, then what we lack, then the next step.
        self.send_in_order(source, push_to_peer);
        if self.wanted.len() + want.len() > MAX_OUTSTANDING_WANTS {
            return self.fail(format!(
                "the peer lists more than {MAX_OUTSTANDING_WANTS} entries we lack in one session"
            ));
        }
        for chunk in want.chunks(MAX_IDS_COUNT) {
            self.wanted.extend(chunk.iter().copied());
            self.queue(Message::Want(chunk.to_vec()));
        }
        let reply = cap_reply(reply, source);
        if reply.iter().all(|r| r.payload == RangePayload::Skip) {
            self.reconciled = true;
            self.queue(Message::Done);
        } else {
            self.queue(Message::Ranges(reply));
        }
    }
}

/// Encoded bytes of a range at most, id list aside, in the common case (varint bound delta of
/// up to 4 bytes, prefix length, a 1-byte prefix, tag, fingerprint).
const RANGE_BYTES_ESTIMATE: usize = 24;
/// Bytes a reply may take before the rest is deferred to the next round.
const REPLY_BUDGET_BYTES: usize = MAX_MESSAGE_BYTES - 64 * 1024;

/// Keeps a reply within [`REPLY_BUDGET_BYTES`]: the ranges past the budget are folded into one
/// range described by our fingerprint, which the peer splits again next round (as Negentropy
/// does with its frame size limit). Correctness does not depend on where the cut falls.
fn cap_reply(reply: Vec<Range>, source: &impl SyncSource) -> Vec<Range> {
    let mut used = 0usize;
    let mut ids_used = 0usize;
    let mut out: Vec<Range> = Vec::with_capacity(reply.len());
    let mut iter = reply.into_iter();
    while let Some(r) = iter.next() {
        let ids = match &r.payload {
            RangePayload::IdList(ids) => ids.len(),
            _ => 0,
        };
        let cost = RANGE_BYTES_ESTIMATE + ids * super::range::ID_PREFIX_BYTES;
        let over = used + cost > REPLY_BUDGET_BYTES
            || ids_used + ids > MAX_IDS_COUNT
            || out.len() + 2 > MAX_RANGES_COUNT;
        if over && !out.is_empty() {
            let lower = out.last().map(|prev| prev.upper.clone());
            let upper = iter.last().map(|last| last.upper).unwrap_or(r.upper);
            let (_, rest) = source.summarize(lower.as_ref(), &upper);
            out.push(Range {
                upper,
                payload: RangePayload::Fingerprint(rest),
            });
            return out;
        }
        used += cost;
        ids_used += ids;
        out.push(r);
    }
    out
}

/// Merges a settled range into the reply (consecutive skips become one).
fn push_skip(reply: &mut Vec<Range>, upper: Bound) {
    if let Some(last) = reply.last_mut() {
        if last.payload == RangePayload::Skip {
            last.upper = upper;
            return;
        }
    }
    reply.push(Range {
        upper,
        payload: RangePayload::Skip,
    });
}

/// The id prefixes of `keys`.
fn ids(keys: &[super::range::SyncKey]) -> Vec<IdPrefix> {
    keys.iter().map(|k| IdPrefix::of(&k.hash)).collect()
}

/// Splits the source's range `[lower, upper)` into up to [`BRANCHING`] ranges, each described
/// by its fingerprint, or by its id list when small.
fn split_ranges(source: &impl SyncSource, lower: Option<&Bound>, upper: Bound) -> Vec<Range> {
    let (count, _) = source.summarize(lower, &upper);
    if count <= ID_LIST_THRESHOLD {
        return vec![Range {
            payload: RangePayload::IdList(ids(&source.keys_in(lower, &upper))),
            upper,
        }];
    }
    let mut bounds = source.split(lower, &upper, BRANCHING);
    bounds.push(upper);
    let mut out = Vec::with_capacity(bounds.len());
    let mut prev: Option<Bound> = lower.cloned();
    for bound in bounds {
        let (n, fp) = source.summarize(prev.as_ref(), &bound);
        let payload = if n <= ID_LIST_THRESHOLD / 4 {
            RangePayload::IdList(ids(&source.keys_in(prev.as_ref(), &bound)))
        } else {
            RangePayload::Fingerprint(fp)
        };
        out.push(Range {
            upper: bound.clone(),
            payload,
        });
        prev = Some(bound);
    }
    out
}
