//! Driving sync sessions for a node: what it offers a peer, and the in-memory transport (two
//! nodes in one process) that tests and the demo use. The QUIC driver runs the same loop over
//! a QUIC stream.

use std::collections::BTreeSet;

use sync_protocol::ids::{EntryHash, UnitId};
use sync_protocol::store::EntryLookup;
use sync_protocol::sync::{Event, Message, Role, SessionStats, SyncKey, SyncSession, SyncSource};

use crate::ingest::Prepared;
use crate::node::{ImportReport, Node, NodeError};
use crate::sled_store::SledStore;

/// Upper bound on the messages of one in-memory session, so a protocol bug cannot loop for
/// ever in a test or the demo.
pub const MAX_SESSION_STEPS: usize = 100_000;

/// What a node offers one peer: the keys of the entries in both scopes, served from its store.
pub struct PeerSource {
    keys: Vec<SyncKey>,
    offered: BTreeSet<EntryHash>,
    store: SledStore,
}

impl PeerSource {
    /// The entries `node` holds that `peer`'s node should hold too.
    pub fn for_peer(node: &Node, peer: &UnitId, now_ms: u64) -> Result<Self, NodeError> {
        let entries = node.entries_for(peer, now_ms)?;
        let mut keys: Vec<SyncKey> = entries
            .iter()
            .map(|e| SyncKey {
                time_ms: e.time_ms(),
                hash: e.hash(),
            })
            .collect();
        keys.sort();
        keys.dedup();
        let offered = keys.iter().map(|k| k.hash).collect();
        Ok(Self {
            keys,
            offered,
            store: node.store().clone(),
        })
    }
}

impl SyncSource for PeerSource {
    fn keys(&self) -> &[SyncKey] {
        &self.keys
    }
    fn entry_bytes(&self, hash: &EntryHash) -> Option<Vec<u8>> {
        if !self.offered.contains(hash) {
            return None;
        }
        self.store
            .entry(hash)
            .ok()
            .flatten()
            .map(|e| e.bytes().to_vec())
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
    /// The node failed (storage).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The peer ended its stream before the session finished.
    #[error("peer {0} closed the session before it finished")]
    Incomplete(UnitId),
}

/// How long to wait for the peer's end of stream after this side finished.
const FINISH_GRACE_MS: u64 = 10_000;

/// Runs one sync session over an open QUIC connection, as `role`. Received entries are verified
/// and stored (durably) as they arrive; a malformed message closes the connection with
/// `ProtocolViolation`. `clock` gives the node's wall clock in Unix milliseconds.
pub async fn sync_over_quic(
    node: &mut Node,
    connection: crate::quic::PeerConnection,
    role: Role,
    cursor_ms: Option<u64>,
    clock: fn() -> u64,
) -> Result<SideOutcome, SyncError> {
    use crate::quic::CloseCode;
    let peer = connection.peer().clone();
    let now = clock();
    let source = PeerSource::for_peer(node, &peer, now)?;
    let mut session = SyncSession::new(role, node.federation(), now);
    let mut outcome = SideOutcome::default();
    if role == Role::Initiator {
        session.start(now, &source, cursor_ms);
    }
    let (mut tx, mut rx) = connection.split();
    // Received entries are prepared (signatures, first-change states) on other cores while the
    // session goes on, and imported in arrival order: one message is prepared while the one
    // before it is imported. Everything received is stored before this side says `Done` and
    // before the session ends.
    let mut pending: std::collections::VecDeque<tokio::task::JoinHandle<Prepared>> =
        std::collections::VecDeque::new();
    // Entries that wait in quarantine are recorded as delivered by this peer.
    let delivered_by = format!("peer:{peer}");
    loop {
        let mut applied = Ok(());
        while let Some(m) = session.poll_transmit() {
            if matches!(m, Message::Done) {
                applied =
                    import_pending(&mut pending, 0, node, &delivered_by, &mut outcome, clock).await;
                if applied.is_err() {
                    break;
                }
            }
            tx.send_frame(&m.encode()).await?;
        }
        if applied.is_ok() {
            applied = take_events(&mut session, &mut outcome).map(|received| {
                for raw in received {
                    pending.push_back(tokio::task::spawn_blocking(move || {
                        crate::ingest::prepare(&raw)
                    }));
                }
            });
        }
        if applied.is_ok() {
            let keep = if session.is_finished() { 0 } else { 1 };
            applied =
                import_pending(&mut pending, keep, node, &delivered_by, &mut outcome, clock).await;
        }
        if let Err(e) = applied {
            let code = match e {
                NodeError::Refused(_) => CloseCode::ProtocolViolation,
                _ => CloseCode::ShuttingDown,
            };
            tx.close(code, "sync failed");
            return Err(match e {
                NodeError::Refused(why) => SyncError::Protocol { peer, why },
                other => SyncError::Node(other),
            });
        }
        if session.is_finished() {
            tx.finish()?;
            // Wait for the peer's end of stream, so that nothing it still sends is lost.
            let grace = std::time::Duration::from_millis(FINISH_GRACE_MS);
            let _ = tokio::time::timeout(grace, async {
                while let Ok(Some(_)) = rx.recv_frame().await {}
            })
            .await;
            outcome.stats = session.stats();
            return Ok(outcome);
        }
        let wait = session
            .poll_timeout()
            .map(|deadline| deadline.saturating_sub(clock()))
            .unwrap_or(sync_protocol::sync::SESSION_TIMEOUT_MS);
        let frame =
            tokio::time::timeout(std::time::Duration::from_millis(wait), rx.recv_frame()).await;
        match frame {
            Err(_) => session.handle_timeout(clock()),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(None)) => return Err(SyncError::Incomplete(peer)),
            Ok(Ok(Some(bytes))) => match Message::decode(&bytes) {
                Ok(m) => session.handle_message(clock(), m, &source),
                Err(error) => {
                    tx.close(CloseCode::ProtocolViolation, &error.to_string());
                    return Err(SyncError::Message { peer, error });
                }
            },
        }
    }
}

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
            Event::TimedOut => return Err(NodeError::Refused("sync session timed out".into())),
        }
    }
    Ok(received)
}

/// Imports prepared batches, oldest first, until at most `keep` are left in preparation.
async fn import_pending(
    pending: &mut std::collections::VecDeque<tokio::task::JoinHandle<Prepared>>,
    keep: usize,
    node: &mut Node,
    source: &str,
    outcome: &mut SideOutcome,
    clock: fn() -> u64,
) -> Result<(), NodeError> {
    while pending.len() > keep {
        let Some(job) = pending.pop_front() else {
            break;
        };
        let prepared = job
            .await
            .map_err(|e| NodeError::Refused(format!("preparing received entries failed: {e}")))?;
        outcome
            .malformed
            .extend(prepared.undecodable.iter().map(|(_, e)| e.to_string()));
        let previous = node.set_import_source(Some(source.to_owned()));
        let r = node.import_with(prepared.entries, &prepared.memo, clock());
        node.set_import_source(previous);
        let r = r?;
        outcome.import.accepted += r.accepted;
        outcome.import.duplicates += r.duplicates;
        outcome.import.released += r.released;
        outcome.import.quarantined.extend(r.quarantined);
        outcome.import.rejected.extend(r.rejected);
    }
    Ok(())
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
