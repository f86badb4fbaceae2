//! Driving sync sessions for a node: what it offers a peer, and the in-memory transport (two
//! nodes in one process) that tests and the demo use. The QUIC driver runs the same loop over
//! a QUIC stream.

use std::borrow::BorrowMut;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use sync_protocol::limits::{MAX_BUFFERED_BYTES_TOTAL, MAX_SESSION_BUFFERED_BYTES};

use sync_protocol::ids::{EntryHash, UnitId};
use sync_protocol::sync::{
    Bound, Deadlines, Event, Fingerprint, IdPrefix, Message, Role, SessionStats, SyncKey,
    SyncSession, SyncSource,
};

use crate::ingest::Prepared;
use crate::node::{ImportReport, Node, NodeError};
use crate::sync_index::IndexSource;

/// Upper bound on the messages of one in-memory session, so a protocol bug cannot loop for
/// ever in a test or the demo.
pub const MAX_SESSION_STEPS: usize = 100_000;

/// What a node offers one peer: the keys of the entries in both scopes, answered from the
/// sync index ([`crate::sync_index`]): counts, fingerprints and splits of ranges from stored
/// partial sums, never a scan of the node's records.
pub struct PeerSource(IndexSource);

impl PeerSource {
    /// The entries `node` holds that `peer`'s node should hold too.
    pub fn for_peer(node: &Node, peer: &UnitId, now_ms: u64) -> Result<Self, NodeError> {
        Ok(Self(IndexSource::for_peer(node, peer, now_ms)?))
    }
}

impl SyncSource for PeerSource {
    fn summarize(&self, lower: Option<&Bound>, upper: &Bound) -> (usize, Fingerprint) {
        self.0.summarize(lower, upper)
    }
    fn keys_in(&self, lower: Option<&Bound>, upper: &Bound) -> Vec<SyncKey> {
        self.0.keys_in(lower, upper)
    }
    fn split(&self, lower: Option<&Bound>, upper: &Bound, parts: usize) -> Vec<Bound> {
        self.0.split(lower, upper, parts)
    }
    fn hash_of(&self, id: &IdPrefix) -> Option<EntryHash> {
        self.0.hash_of(id)
    }
    fn entry_bytes(&self, hash: &EntryHash) -> Option<Vec<u8>> {
        self.0.entry_bytes(hash)
    }
}

/// What one side of a session did.
#[derive(Debug, Default, Clone)]
pub struct SideOutcome {
    /// The session's counters.
    pub stats: SessionStats,
    /// What the received entries did at import.
    pub import: ImportReport,
    /// Entries that did not even decode, with the reason.
    pub malformed: Vec<String>,
}

/// Applies the events of a session to its node: received entries are decoded and imported
/// (verified, scope-checked, durable before this returns). Returns an error text when the peer
/// misbehaved or timed out.
pub fn apply_events(
    session: &mut SyncSession,
    node: &mut Node,
    outcome: &mut SideOutcome,
    now_ms: u64,
) -> Result<(), NodeError> {
    while let Some(ev) = session.poll_event() {
        match ev {
            Event::Received(raw) => {
                // Signatures and new records' first-change states on every core.
                let prepared = crate::ingest::prepare(&raw);
                outcome
                    .malformed
                    .extend(prepared.undecodable.iter().map(|(_, e)| e.to_string()));
                let r = node.import_with(prepared.entries, &prepared.memo, now_ms)?;
                outcome.import.accepted += r.accepted;
                outcome.import.duplicates += r.duplicates;
                outcome.import.released += r.released;
                outcome.import.quarantined.extend(r.quarantined);
                outcome.import.rejected.extend(r.rejected);
            }
            Event::Finished(stats) => outcome.stats = stats,
            Event::Misbehaved(why) => {
                return Err(NodeError::Refused(format!("peer misbehaved: {why}")))
            }
            Event::TimedOut => return Err(NodeError::Refused("sync session timed out".into())),
        }
    }
    Ok(())
}

/// Syncs two nodes in one process: `a` initiates. Every message is encoded and decoded, as on a
/// real transport. `cursor_ms`: the fast path's cursor, if the pair synced before.
pub fn sync_in_memory(
    a: &mut Node,
    b: &mut Node,
    cursor_ms: Option<u64>,
    now_ms: u64,
) -> Result<(SideOutcome, SideOutcome), NodeError> {
    let federation = a.federation();
    let source_a = PeerSource::for_peer(a, &b.unit().clone(), now_ms)?;
    let source_b = PeerSource::for_peer(b, &a.unit().clone(), now_ms)?;
    let mut sa = SyncSession::new(Role::Initiator, federation, now_ms);
    let mut sb = SyncSession::new(Role::Responder, federation, now_ms);
    let (mut oa, mut ob) = (SideOutcome::default(), SideOutcome::default());
    sa.start(now_ms, &source_a, cursor_ms);
    for _ in 0..MAX_SESSION_STEPS {
        let mut moved = false;
        while let Some(m) = sa.poll_transmit() {
            moved = true;
            let m = roundtrip(&m)?;
            sb.handle_message(now_ms, m, &source_b);
            apply_events(&mut sb, b, &mut ob, now_ms)?;
        }
        apply_events(&mut sa, a, &mut oa, now_ms)?;
        while let Some(m) = sb.poll_transmit() {
            moved = true;
            let m = roundtrip(&m)?;
            sa.handle_message(now_ms, m, &source_a);
            apply_events(&mut sa, a, &mut oa, now_ms)?;
        }
        apply_events(&mut sb, b, &mut ob, now_ms)?;
        if !moved {
            break;
        }
    }
    oa.stats = sa.stats();
    ob.stats = sb.stats();
    Ok((oa, ob))
}

fn roundtrip(m: &Message) -> Result<Message, NodeError> {
    Message::decode(&m.encode()).map_err(|e| NodeError::Refused(e.to_string()))
}

/// Why a sync session over QUIC ended badly.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The connection failed or the peer closed it.
    #[error("connection: {0}")]
    Frame(#[from] crate::quic::FrameError),
    /// The peer sent something that is not a sync message.
    #[error("peer {peer} sent a bad message: {error}")]
    Message {
        /// the peer
        peer: UnitId,
        /// what was wrong
        error: sync_protocol::sync::MessageError,
    },
    /// The peer broke the protocol, or the session timed out.
    #[error("peer {peer}: {why}")]
    Protocol {
        /// the peer
        peer: UnitId,
        /// what happened
        why: String,
    },
    /// The session reached its deadline: in all ([`Deadlines::total_ms`]) or without progress
    /// from the peer ([`Deadlines::idle_ms`]). What it imported is stored.
    #[error("peer {peer}: the session reached its deadline after {after_ms} ms")]
    Expired {
        /// the peer
        peer: UnitId,
        /// how long the session ran
        after_ms: u64,
    },
    /// The node failed (storage).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// Preparing or importing what the peer sent stopped on an internal error (a panic): this
    /// session is closed, the node's other sessions go on.
    #[error("peer {peer}: handling its entries stopped on an internal error: {what}")]
    Internal {
        /// the peer
        peer: UnitId,
        /// what stopped
        what: String,
    },
    /// The peer ended its stream before the session finished.
    #[error("peer {0} closed the session before it finished")]
    Incomplete(UnitId),
}

impl SyncError {
    /// The close code this side sends the peer for this error.
    fn close_code(&self) -> crate::quic::CloseCode {
        use crate::quic::CloseCode;
        match self {
            Self::Message { .. } | Self::Protocol { .. } => CloseCode::ProtocolViolation,
            Self::Expired { .. } => CloseCode::SessionExpired,
            Self::Internal { .. } => CloseCode::InternalError,
            Self::Frame(_) | Self::Node(_) | Self::Incomplete(_) => CloseCode::ShuttingDown,
        }
    }
}

/// How long to wait for the peer's end of stream after this side finished.
const FINISH_GRACE_MS: u64 = 10_000;

/// How long a session waits for the peer's next message while it holds a received message not
/// yet imported; then it imports it, so a silent peer never holds buffer space others need.
const PIPELINE_WAIT_MS: u64 = 50;

/// Received messages already prepared are imported together up to about this many entries
/// (each message holds at most `SEND_MESSAGE_ENTRIES`), well under `MAX_BATCH_ENTRIES`.
const MERGED_IMPORT_ENTRIES: usize = 5_000;

/// The bounds one QUIC session runs under.
#[derive(Clone, Debug)]
pub struct SessionLimits {
    /// When the session ends in all and without progress.
    pub deadlines: Deadlines,
    /// The node's budget of bytes received but not yet imported, shared by all its sessions
    /// (one permit per byte, [`MAX_BUFFERED_BYTES_TOTAL`] in all).
    pub buffered: Arc<tokio::sync::Semaphore>,
    /// Test seam: called with the peer just before each import, inside the guard that turns a
    /// panic into [`SyncError::Internal`]; a test makes it panic to check that a failure in
    /// one session closes that session only. `None` in a real node.
    #[doc(hidden)]
    pub before_import: Option<fn(&UnitId)>,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            deadlines: Deadlines::default(),
            buffered: Arc::new(tokio::sync::Semaphore::new(MAX_BUFFERED_BYTES_TOTAL)),
            before_import: None,
        }
    }
}

/// Runs one sync session over an open QUIC connection, as `role`, with the default
/// [`SessionLimits`]. See [`run_session`].
pub async fn sync_over_quic(
    node: &mut Node,
    connection: crate::quic::PeerConnection,
    role: Role,
    cursor_ms: Option<u64>,
    clock: fn() -> u64,
) -> Result<SideOutcome, SyncError> {
    let node = tokio::sync::Mutex::new(node);
    run_session(
        &node,
        connection,
        role,
        cursor_ms,
        clock,
        &SessionLimits::default(),
    )
    .await
}

/// A received message held until it is imported: its preparation and its share of the
/// buffer budget (given back when it is imported or the session ends).
struct Held {
    job: tokio::task::JoinHandle<Prepared>,
    bytes: usize,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Runs one sync session over an open QUIC connection, as `role`. Received entries are verified
/// and stored (durably) as they arrive; a malformed message closes the connection with
/// `ProtocolViolation`. `clock` gives the node's wall clock in Unix milliseconds.
///
/// The node is locked only to read what to offer and to import each received message, never
/// while waiting on the network, so sessions with several peers run side by side. The session
/// ends at `limits.deadlines` whatever the peer does (a stalled send included). A panic while
/// preparing or importing closes this session with [`SyncError::Internal`] and releases the
/// node. At most [`MAX_SESSION_BUFFERED_BYTES`] received bytes wait for import in this session,
/// reserved from `limits.buffered` after a message's length is read and before its body is.
pub async fn run_session<N: BorrowMut<Node> + Send>(
    node: &tokio::sync::Mutex<N>,
    connection: crate::quic::PeerConnection,
    role: Role,
    cursor_ms: Option<u64>,
    clock: fn() -> u64,
    limits: &SessionLimits,
) -> Result<SideOutcome, SyncError> {
    let peer = connection.peer().clone();
    let started = clock();
    let (source, federation) = {
        let mut guard = node.lock().await;
        let n: &mut Node = (*guard).borrow_mut();
        // The certificates the peer presented with its key (its chain, e.g. a rotation it has
        // just been given): stored first, through the one verified import, so that this node
        // keeps what the handshake accepted and everything the new key signed verifies.
        if !connection.presented().is_empty() {
            if let Err(e) = n.import(connection.presented().to_vec(), started) {
                tracing::warn!(%peer, error = %e, "the peer's presented certificates were not stored");
            }
        }
        (PeerSource::for_peer(n, &peer, started)?, n.federation())
    };
    let mut session = SyncSession::with_deadlines(role, federation, started, limits.deadlines);
    if role == Role::Initiator {
        session.start(started, &source, cursor_ms);
    }
    let mut outcome = SideOutcome::default();
    let (mut tx, mut rx) = connection.split();
    // The session's end in all, also for a send the peer never reads (flow control).
    let end = tokio::time::Instant::now()
        + Duration::from_millis(limits.deadlines.total_ms.saturating_add(FINISH_GRACE_MS));
    let run = drive(
        node,
        &peer,
        &mut session,
        &source,
        &mut tx,
        &mut rx,
        &mut outcome,
        clock,
        limits,
        started,
    );
    let result = match tokio::time::timeout_at(end, run).await {
        Ok(r) => r,
        Err(_) => Err(SyncError::Expired {
            peer: peer.clone(),
            after_ms: clock().saturating_sub(started),
        }),
    };
    match result {
        Ok(()) => {
            outcome.stats = session.stats();
            Ok(outcome)
        }
        Err(e) => {
            tx.close(e.close_code(), &e.to_string());
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive<N: BorrowMut<Node> + Send>(
    node: &tokio::sync::Mutex<N>,
    peer: &UnitId,
    session: &mut SyncSession,
    source: &PeerSource,
    tx: &mut crate::quic::FrameSender,
    rx: &mut crate::quic::FrameReceiver,
    outcome: &mut SideOutcome,
    clock: fn() -> u64,
    limits: &SessionLimits,
    started: u64,
) -> Result<(), SyncError> {
    // Received entries are prepared (signatures, first-change states) on other cores while the
    // session goes on, and imported in arrival order: one message is prepared while the one
    // after it is read. Everything received is stored before this side says `Done` and before
    // the session ends.
    let mut pending: VecDeque<Held> = VecDeque::new();
    let mut last_permit: Option<(tokio::sync::OwnedSemaphorePermit, usize)> = None;
    // Entries that wait in quarantine are recorded as delivered by this peer.
    let delivered_by = format!("peer:{peer}");
    let importer = Importer {
        node,
        peer,
        source: &delivered_by,
        clock,
        before_import: limits.before_import,
    };
    let expired = |session: &mut SyncSession| {
        session.handle_timeout(clock());
        SyncError::Expired {
            peer: peer.clone(),
            after_ms: clock().saturating_sub(started),
        }
    };
    loop {
        while let Some(m) = session.poll_transmit() {
            if matches!(m, Message::Done) {
                importer.import(&mut pending, 0, outcome).await?;
            }
            // A peer that reads nothing for the idle bound is not progressing either.
            let idle = Duration::from_millis(limits.deadlines.idle_ms);
            match tokio::time::timeout(idle, tx.send_frame(&m.encode())).await {
                Ok(sent) => sent?,
                Err(_) => return Err(expired(session)),
            }
        }
        let received = take_events(session, outcome).map_err(|e| match refused(peer, e) {
            SyncError::Expired { peer, .. } => SyncError::Expired {
                peer,
                after_ms: clock().saturating_sub(started),
            },
            other => other,
        })?;
        for raw in received {
            let (permit, bytes) = match last_permit.take() {
                Some((p, b)) => (Some(p), b),
                None => (None, 0),
            };
            pending.push_back(Held {
                job: tokio::task::spawn_blocking(move || crate::ingest::prepare(&raw)),
                bytes,
                _permit: permit,
            });
        }
        last_permit = None;
        let keep = if session.is_finished() { 0 } else { 1 };
        importer.import(&mut pending, keep, outcome).await?;
        if session.is_finished() {
            tx.finish()?;
            // Wait for the peer's end of stream, so that nothing it still sends is lost.
            let grace = Duration::from_millis(FINISH_GRACE_MS);
            let _ = tokio::time::timeout(grace, async {
                while let Ok(Some(_)) = rx.recv_frame().await {}
            })
            .await;
            return Ok(());
        }
        let remaining = |session: &SyncSession| {
            let wait = session
                .poll_timeout()
                .map(|deadline| deadline.saturating_sub(clock()))
                .unwrap_or(0);
            Duration::from_millis(wait)
        };
        // The next message's length: while holding a message not yet imported, wait only a
        // moment, then import it before waiting longer.
        let mut header = None;
        if !pending.is_empty() {
            let wait = remaining(session).min(Duration::from_millis(PIPELINE_WAIT_MS));
            if let Ok(r) = tokio::time::timeout(wait, rx.recv_frame_len()).await {
                header = Some(r);
            } else {
                importer.import(&mut pending, 0, outcome).await?;
            }
        }
        let header = match header {
            Some(r) => r,
            None => match tokio::time::timeout(remaining(session), rx.recv_frame_len()).await {
                Ok(r) => r,
                Err(_) => {
                    let e = expired(session);
                    take_events(session, outcome).map_err(|_| e)?;
                    continue;
                }
            },
        };
        let len = match header? {
            Some(len) => len,
            None => return Err(SyncError::Incomplete(peer.clone())),
        };
        // Reserve the bytes before reading them: within this session's bound, then the node's.
        let held: usize = pending.iter().map(|h| h.bytes).sum();
        if held + len > MAX_SESSION_BUFFERED_BYTES {
            importer.import(&mut pending, 0, outcome).await?;
        }
        let permits = u32::try_from(len).unwrap_or(u32::MAX);
        let permit = match limits.buffered.clone().try_acquire_many_owned(permits) {
            Ok(p) => p,
            Err(_) => {
                // Give back what this session holds first, so no two sessions wait on each other.
                importer.import(&mut pending, 0, outcome).await?;
                let wait = remaining(session);
                match tokio::time::timeout(
                    wait,
                    limits.buffered.clone().acquire_many_owned(permits),
                )
                .await
                {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) | Err(_) => return Err(expired(session)),
                }
            }
        };
        let body = match tokio::time::timeout(remaining(session), rx.recv_frame_body(len)).await {
            Ok(body) => body?,
            Err(_) => return Err(expired(session)),
        };
        match Message::decode(&body) {
            Ok(m) => session.handle_message(clock(), m, source),
            Err(error) => {
                return Err(SyncError::Message {
                    peer: peer.clone(),
                    error,
                })
            }
        }
        last_permit = Some((permit, len));
    }
}

fn refused(peer: &UnitId, e: NodeError) -> SyncError {
    match e {
        NodeError::Refused(why) if why == TIMED_OUT => SyncError::Expired {
            peer: peer.clone(),
            after_ms: 0,
        },
        NodeError::Refused(why) => SyncError::Protocol {
            peer: peer.clone(),
            why,
        },
        other => SyncError::Node(other),
    }
}

const TIMED_OUT: &str = "sync session timed out";

/// Takes a session's events: the received batches (to prepare and import), or why the session
/// failed.
fn take_events(
    session: &mut SyncSession,
    outcome: &mut SideOutcome,
) -> Result<Vec<Vec<Vec<u8>>>, NodeError> {
    let mut received = Vec::new();
    while let Some(ev) = session.poll_event() {
        match ev {
            Event::Received(raw) => received.push(raw),
            Event::Finished(stats) => outcome.stats = stats,
            Event::Misbehaved(why) => {
                return Err(NodeError::Refused(format!("peer misbehaved: {why}")))
            }
            Event::TimedOut => return Err(NodeError::Refused(TIMED_OUT.into())),
        }
    }
    Ok(received)
}

/// Imports a session's received messages into the node, locking it for each import only.
struct Importer<'a, N> {
    node: &'a tokio::sync::Mutex<N>,
    peer: &'a UnitId,
    source: &'a str,
    clock: fn() -> u64,
    before_import: Option<fn(&UnitId)>,
}

impl<N: BorrowMut<Node> + Send> Importer<'_, N> {
    /// Imports prepared batches, oldest first, until at most `keep` are left in preparation.
    /// A panic in preparation or import ends the session with [`SyncError::Internal`].
    async fn import(
        &self,
        pending: &mut VecDeque<Held>,
        keep: usize,
        outcome: &mut SideOutcome,
    ) -> Result<(), SyncError> {
        while pending.len() > keep {
            let Some(Held {
                job,
                _permit: permit,
                ..
            }) = pending.pop_front()
            else {
                break;
            };
            let mut prepared = job.await.map_err(|e| SyncError::Internal {
                peer: self.peer.clone(),
                what: format!("preparing received entries: {e}"),
            })?;
            // Messages already prepared behind this one are imported with it, in one
            // transaction and one fsync (up to `MERGED_IMPORT_ENTRIES`): a receiver that falls
            // behind its peer (a first sync) catches up in larger batches.
            let mut permits = vec![permit];
            while pending.len() > keep
                && pending.front().is_some_and(|h| h.job.is_finished())
                && prepared.entries.len() < MERGED_IMPORT_ENTRIES
            {
                let Some(next) = pending.pop_front() else {
                    break;
                };
                let more = next.job.await.map_err(|e| SyncError::Internal {
                    peer: self.peer.clone(),
                    what: format!("preparing received entries: {e}"),
                })?;
                let offset = prepared.entries.len();
                prepared.entries.extend(more.entries);
                prepared.memo.absorb(more.memo);
                prepared
                    .undecodable
                    .extend(more.undecodable.into_iter().map(|(i, e)| (offset + i, e)));
                permits.push(next._permit);
            }
            outcome
                .malformed
                .extend(prepared.undecodable.iter().map(|(_, e)| e.to_string()));
            let r = {
                let mut guard = self.node.lock().await;
                let node: &mut Node = (*guard).borrow_mut();
                let previous = node.set_import_source(Some(self.source.to_owned()));
                let import = || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        if let Some(hook) = self.before_import {
                            hook(self.peer);
                        }
                        node.import_with(prepared.entries, &prepared.memo, (self.clock)())
                    }))
                };
                // The import blocks (verification, one transaction and fsync): on a
                // multi-threaded runtime, the worker's other tasks (other sessions' network
                // work) move to another thread meanwhile.
                let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
                    == tokio::runtime::RuntimeFlavor::MultiThread;
                let r = if multi_thread {
                    tokio::task::block_in_place(import)
                } else {
                    import()
                };
                node.set_import_source(previous);
                r
            };
            let r = match r {
                Ok(r) => r.map_err(|e| refused(self.peer, e))?,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into());
                    tracing::error!(peer = %self.peer, %what, "import stopped on a panic; closing this session only");
                    return Err(SyncError::Internal {
                        peer: self.peer.clone(),
                        what: format!("importing received entries: {what}"),
                    });
                }
            };
            drop(permits);
            outcome.import.accepted += r.accepted;
            outcome.import.duplicates += r.duplicates;
            outcome.import.released += r.released;
            outcome.import.quarantined.extend(r.quarantined);
            outcome.import.rejected.extend(r.rejected);
        }
        Ok(())
    }
}

/// Syncs two in-process nodes over real QUIC on 127.0.0.1 (ephemeral ports): `a` initiates.
/// Each side presents its unit key and checks the other's against its own trust directory.
/// Call inside a tokio runtime.
pub async fn sync_pair_over_quic(
    a: &mut Node,
    b: &mut Node,
    cursor_ms: Option<u64>,
) -> Result<(SideOutcome, SideOutcome), SyncError> {
    use crate::quic::{FederationVerifier, QuicEndpoint, QuicIdentity};
    use std::sync::{Arc, RwLock};
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let endpoint = |n: &Node| -> Result<QuicEndpoint, SyncError> {
        let identity = QuicIdentity::for_node(n)
            .map_err(|e| NodeError::Refused(format!("TLS identity: {e}")))?;
        let directory = Arc::new(RwLock::new(n.directory().clone()));
        QuicEndpoint::bind(
            loopback,
            &identity,
            FederationVerifier::for_directory(directory),
        )
        .map_err(|e| NodeError::Refused(format!("QUIC endpoint: {e}")).into())
    };
    let (ea, eb) = (endpoint(a)?, endpoint(b)?);
    let addr = eb
        .local_addr()
        .map_err(|e| NodeError::Refused(format!("QUIC endpoint: {e}")))?;
    let (ca, cb) = tokio::join!(ea.connect(addr), eb.accept());
    let ca = ca.map_err(|e| NodeError::Refused(format!("connect: {e}")))?;
    let cb = cb.ok_or_else(|| NodeError::Refused("the peer's handshake was refused".into()))?;
    let (ra, rb) = tokio::join!(
        sync_over_quic(a, ca, Role::Initiator, cursor_ms, crate::now_ms),
        sync_over_quic(b, cb, Role::Responder, None, crate::now_ms),
    );
    ea.close();
    eb.close();
    Ok((ra?, rb?))
}
