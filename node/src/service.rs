//! The node service (`sangkien node run --config node.toml`): listens on QUIC, syncs with each
//! configured peer on a schedule and as soon as a link comes back (reconnecting with
//! exponential backoff and jitter), answers peers that sync with it, and records each peer's
//! status for `sangkien peers`.
//!
//! Sessions run side by side, each in its own task, and lock the node only to read what to
//! offer and to import each received message. It answers at most
//! [`MAX_ANSWERED_SESSIONS_COUNT`] sessions at once and [`MAX_SESSIONS_PER_PEER_COUNT`] per peer
//! unit (a peer over either is closed at once with `CloseCode::Busy`), runs at most
//! [`MAX_DIALED_SESSIONS_COUNT`] towards its configured peers, and ends every session at its
//! fixed deadline. A session that fails, or whose task panics, is closed and logged with its
//! reason; the other sessions go on.
//!
//! It also answers local commands on its control socket (`DIR/control/node.sock`, see
//! [`crate::control`]): every `sangkien` command on its data directory is carried out by the
//! service while it runs (`op: run`), and a write through it starts a sync with every
//! configured peer at once instead of at the next interval.
//! On start and then every [`QUARANTINE_EXPIRY_INTERVAL_S`] it expires what has waited in
//! quarantine too long (imports expire too).
//!
//! # Configuration (`node.toml`)
//!
//! ```toml
//! # The node's data directory (relative paths are relative to this file).
//! data = "tld"
//! # QUIC address to listen on.
//! listen = "127.0.0.1:7400"
//! # Seconds between two syncs with one peer (a failed attempt retries sooner, with backoff).
//! interval_s = 300
//! # Log level: error, warn, info, debug.
//! log_level = "info"
//! # Database page cache in MiB (optional; 16 by default, 256 or more for a province or the
//! # national node).
//! cache_mb = 256
//!
//! [[peers]]
//! # Where the peer listens.
//! address = "127.0.0.1:7401"
//! # The unit expected there (optional; the handshake proves which unit it is).
//! unit = "ldld-phu-yen"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sync_protocol::directory::Directory;
use sync_protocol::ids::UnitId;
use sync_protocol::sync::Role;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::control::{
    self, CommandRunner, ControlSocket, Reply, Request, ServiceStatus, MAX_CONTROL_CONNECTIONS,
};
use crate::node::{Node, NodeError};
use crate::quarantine::MAX_QUARANTINE_LISTED;
use crate::quic::lograte::{warn_limited, LogLimiter};
use crate::quic::{Backoff, CloseCode, FederationVerifier, QuicEndpoint, QuicIdentity};
use crate::sled_store::SledStore;
use crate::sync::{run_session, SessionLimits, SideOutcome, SyncError};
use sync_protocol::limits::{
    MAX_ANSWERED_SESSIONS_COUNT, MAX_DIALED_SESSIONS_COUNT, MAX_SESSIONS_PER_PEER_COUNT,
};
use sync_protocol::sync::Deadlines;

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// Most peers in one configuration.
pub const MAX_PEERS_COUNT: usize = 256;
/// Shortest schedule interval accepted, in seconds.
pub const MIN_INTERVAL_S: u64 = 5;
/// The peer status file inside the data directory.
pub const PEERS_FILE: &str = "peers.json";
/// How far before the last session's start the next session's cursor is placed, so entries
/// signed by slightly slow clocks still fall after it.
pub const CURSOR_MARGIN_MS: u64 = 10 * 60 * 1000;
/// Seconds between two quarantine expiry passes of a running service (the first is at start).
pub const QUARANTINE_EXPIRY_INTERVAL_S: u64 = 60 * 60;

/// What went wrong with the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration file.
    #[error("{path}: {reason}")]
    Config {
        /// the file
        path: PathBuf,
        /// what is wrong
        reason: String,
    },
    /// The node.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The QUIC endpoint.
    #[error("QUIC: {0}")]
    Quic(String),
    /// A connection to a peer could not be made.
    #[error("QUIC: {0}")]
    Connect(#[from] crate::quic::ConnectError),
    /// A sync session.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Why a sync with a peer failed, as a person needs to know it (the detail stays in the log):
/// each has its own sentence ([`crate::refusal::sync_failure`]) and is kept in the peer's
/// status, so `node status` and the web's sync page say it in the reader's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncFailure {
    /// The peer did not answer: unreachable, not running, or a wrong address.
    Unreachable,
    /// The peer refused this node's key (it does not know this unit, or the key was rotated or
    /// revoked there).
    RefusedByPeer,
    /// This node refused the peer's key: not a unit of the federation it trusts (unknown,
    /// revoked, or rotated without this node knowing yet).
    PeerNotTrusted,
    /// The peer is answering as many sessions as it may.
    Busy,
    /// The session reached its deadline (here or at the peer); what arrived is stored.
    Expired,
    /// The peer failed while handling the session.
    PeerFailed,
    /// This node failed while handling the session; stored data is unaffected.
    Internal,
    /// The peer broke the protocol (a bad message or frame, another program at the address).
    Protocol,
    /// The connection broke off for another reason (the network, the peer shutting down).
    Broken,
    /// This node's store failed.
    Store,
}

/// Whether a QUIC transport error code is a TLS alert (the handshake refused a certificate).
fn is_tls_alert(code: quinn_proto::TransportErrorCode) -> bool {
    (0x100..0x200).contains(&u64::from(code))
}

impl SyncFailure {
    fn of_close(code: Option<CloseCode>) -> Option<Self> {
        Some(match code? {
            CloseCode::Busy => Self::Busy,
            CloseCode::SessionExpired => Self::Expired,
            CloseCode::InternalError => Self::PeerFailed,
            CloseCode::ShuttingDown => Self::Broken,
            CloseCode::Done => return None,
            _ => Self::Protocol,
        })
    }
}

impl ServiceError {
    /// What a person is told about this failure of a sync (`None`: not a sync failure).
    pub fn sync_failure(&self) -> Option<SyncFailure> {
        use crate::quic::ConnectError as C;
        use quinn::ConnectionError as Q;
        Some(match self {
            ServiceError::Connect(c) => {
                if let Some(f) = SyncFailure::of_close(c.peer_close_code()) {
                    return Some(f);
                }
                match c {
                    C::TimedOut { .. } | C::Start { .. } => SyncFailure::Unreachable,
                    C::Connection { source, .. } => match source {
                        Q::TimedOut => SyncFailure::Unreachable,
                        Q::ConnectionClosed(f) if is_tls_alert(f.error_code) => {
                            SyncFailure::RefusedByPeer
                        }
                        Q::TransportError(e) if is_tls_alert(e.code) => SyncFailure::PeerNotTrusted,
                        _ => SyncFailure::Broken,
                    },
                    C::BadPreamble { .. } | C::Stream { .. } | C::NoPeerIdentity { .. } => {
                        SyncFailure::Protocol
                    }
                }
            }
            ServiceError::Sync(e) => match e {
                SyncError::Frame(f) => {
                    SyncFailure::of_close(f.peer_close_code()).unwrap_or(SyncFailure::Broken)
                }
                SyncError::Message { .. } | SyncError::Protocol { .. } => SyncFailure::Protocol,
                SyncError::Expired { .. } => SyncFailure::Expired,
                SyncError::Internal { .. } => SyncFailure::Internal,
                SyncError::Node(_) => SyncFailure::Store,
                SyncError::Incomplete(_) => SyncFailure::Broken,
            },
            ServiceError::Node(_) => SyncFailure::Store,
            ServiceError::Quic(_) => SyncFailure::Broken,
            _ => return None,
        })
    }
}

/// One configured peer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Where it listens.
    pub address: SocketAddr,
    /// The unit expected there.
    pub unit: Option<String>,
}

/// `node.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The data directory.
    pub data: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Seconds between syncs with one peer.
    #[serde(default = "default_interval")]
    pub interval_s: u64,
    /// Log level.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// The database page cache in MiB (default 16; a provincial or national node: 256 or
    /// more). See `sled_store::set_cache_bytes`.
    #[serde(default)]
    pub cache_mb: Option<u64>,
    /// Where the web interface listens (default 127.0.0.1:7480, loopback only; e.g.
    /// "0.0.0.0:7480" opens it to the office network, behind an HTTPS reverse proxy).
    #[serde(default)]
    pub http_listen: Option<SocketAddr>,
    /// No web interface at all.
    #[serde(default)]
    pub http_off: bool,
    /// The interface is reached over HTTPS (a reverse proxy): cookies are marked `Secure`.
    #[serde(default)]
    pub web_secure_cookies: bool,
    /// Seconds without a request before an officer's session ends (default and most:
    /// `WEB_SESSION_IDLE_S`).
    #[serde(default)]
    pub web_session_idle_s: Option<u64>,
    /// Peers.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
}

fn default_interval() -> u64 {
    300
}
fn default_log_level() -> String {
    "info".into()
}

impl ServiceConfig {
    /// Reads and checks a configuration file.
    pub fn read(path: &Path) -> Result<Self, ServiceError> {
        let bad = |reason: String| ServiceError::Config {
            path: path.to_owned(),
            reason,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| bad(e.to_string()))?
            .len();
        if size > MAX_CONFIG_BYTES {
            return Err(bad(format!(
                "{size} bytes, over the limit of {MAX_CONFIG_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut c: ServiceConfig = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if c.peers.len() > MAX_PEERS_COUNT {
            return Err(bad(format!(
                "{} peers, over the limit of {MAX_PEERS_COUNT}",
                c.peers.len()
            )));
        }
        if c.interval_s < MIN_INTERVAL_S {
            return Err(bad(format!("interval_s must be at least {MIN_INTERVAL_S}")));
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&c.log_level.as_str()) {
            return Err(bad(format!(
                "log_level {:?} is not error, warn, info or debug",
                c.log_level
            )));
        }
        if let Some(mb) = c.cache_mb {
            if !(crate::sled_store::MIN_CACHE_MB..=crate::sled_store::MAX_CACHE_MB).contains(&mb) {
                return Err(bad(format!(
                    "cache_mb {mb} is outside {}..={}",
                    crate::sled_store::MIN_CACHE_MB,
                    crate::sled_store::MAX_CACHE_MB
                )));
            }
        }
        if let Some(s) = c.web_session_idle_s {
            let max = sync_protocol::limits::WEB_SESSION_IDLE_S;
            if !(1..=max).contains(&s) {
                return Err(bad(format!("web_session_idle_s must be 1 to {max}")));
            }
        }
        if c.data.is_relative() {
            if let Some(dir) = path.parent() {
                c.data = dir.join(&c.data);
            }
        }
        Ok(c)
    }
}

/// What a node knows of one peer, in `peers.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's unit, once a handshake proved it.
    pub unit: Option<String>,
    /// Its address, when we dial it.
    pub address: Option<String>,
    /// When the last session finished (Unix ms).
    pub last_sync_ms: Option<u64>,
    /// When the last attempt started (Unix ms).
    pub last_attempt_ms: Option<u64>,
    /// The cursor for the fast path.
    pub cursor_ms: Option<u64>,
    /// The last error, if the last attempt failed (its detail, for the log and `--verbose`).
    pub last_error: Option<String>,
    /// Why the last attempt failed, for people.
    #[serde(default)]
    pub last_failure: Option<SyncFailure>,
    /// Entries received in the last session.
    pub received: u64,
    /// Entries sent in the last session.
    pub sent: u64,
    /// Entries rejected in the last session.
    pub rejected: u64,
    /// Entries waiting in this node's quarantine after the last session.
    pub pending: u64,
}

/// Reads `peers.json` (empty when absent or unreadable).
pub fn read_status(dir: &Path) -> BTreeMap<String, PeerStatus> {
    std::fs::read_to_string(dir.join(PEERS_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_status(dir: &Path, status: &BTreeMap<String, PeerStatus>) {
    let text = serde_json::to_string_pretty(status).unwrap_or_default();
    // Whole or not at all, the directory synced after the rename.
    let _ = crate::durable::replace(&dir.join(PEERS_FILE), crate::durable::PUBLIC_MODE, |f| {
        std::io::Write::write_all(f, text.as_bytes())
    });
}

/// Records the result of a session with a peer.
pub fn record_session(
    node: &Node,
    key: &str,
    address: Option<SocketAddr>,
    started_ms: u64,
    result: &Result<(UnitId, SideOutcome), &ServiceError>,
) {
    let mut all = read_status(node.dir());
    let s = all.entry(key.to_owned()).or_default();
    s.address = address.map(|a| a.to_string()).or(s.address.take());
    s.last_attempt_ms = Some(started_ms);
    s.pending = node
        .store()
        .quarantined()
        .map(|q| q.len() as u64)
        .unwrap_or(0);
    match result {
        Ok((peer, outcome)) => {
            s.unit = Some(peer.to_string());
            s.last_sync_ms = Some(crate::now_ms());
            s.cursor_ms = Some(started_ms.saturating_sub(CURSOR_MARGIN_MS));
            s.last_error = None;
            s.last_failure = None;
            s.received = outcome.import.accepted as u64;
            s.sent = outcome.stats.entries_sent;
            s.rejected = outcome.import.rejected.len() as u64;
        }
        Err(e) => {
            s.last_error = Some(e.to_string());
            s.last_failure = Some(e.sync_failure().unwrap_or(SyncFailure::Broken));
        }
    }
    write_status(node.dir(), &all);
}

/// The sessions a node is answering: how many in all and per peer unit. A [`SessionSlot`] gives
/// its place back when dropped, however its task ends (a panic included).
#[derive(Default)]
struct Answering(std::sync::Mutex<(usize, BTreeMap<UnitId, usize>)>);

struct SessionSlot {
    table: Arc<Answering>,
    peer: UnitId,
}

/// Why a peer's session was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    AllSlots,
    ThisPeer,
}

impl Answering {
    fn take(self: &Arc<Self>, peer: &UnitId) -> Result<SessionSlot, Busy> {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_peer) = &mut *t;
        let mine = per_peer.get(peer).copied().unwrap_or(0);
        if mine >= MAX_SESSIONS_PER_PEER_COUNT {
            return Err(Busy::ThisPeer);
        }
        if *total >= MAX_ANSWERED_SESSIONS_COUNT {
            return Err(Busy::AllSlots);
        }
        *total += 1;
        per_peer.insert(peer.clone(), mine + 1);
        Ok(SessionSlot {
            table: self.clone(),
            peer: peer.clone(),
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        let (total, per_peer) = &mut *t;
        *total = total.saturating_sub(1);
        if let Some(n) = per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                per_peer.remove(&self.peer);
            }
        }
    }
}

/// A running node: its store and its trust directory as the QUIC verifier sees it.
pub struct Service {
    node: Arc<Mutex<Node>>,
    directory: Arc<RwLock<Directory>>,
    endpoint: Arc<QuicEndpoint>,
    limits: SessionLimits,
    answering: Arc<Answering>,
    dialing: Arc<tokio::sync::Semaphore>,
    log: LogLimiter,
    /// Carries out whole commands sent over the control socket (`op: run`), if registered.
    runner: Option<CommandRunner>,
    /// One per configured peer: a local write through the service wakes each dialer at once
    /// (a permit is stored if the dialer is busy, so the write is never missed).
    sync_now: std::sync::Mutex<Vec<Arc<tokio::sync::Notify>>>,
    /// Where the web interface listens, once bound.
    web_addr: std::sync::Mutex<Option<SocketAddr>>,
}

impl Service {
    /// Opens the node and binds its QUIC endpoint (call inside a tokio runtime).
    pub fn start(data: &Path, listen: SocketAddr) -> Result<Self, ServiceError> {
        let node = Node::open(data)?;
        let identity =
            QuicIdentity::for_node(&node).map_err(|e| ServiceError::Quic(e.to_string()))?;
        let directory = Arc::new(RwLock::new(node.directory().clone()));
        let endpoint = QuicEndpoint::bind(
            listen,
            &identity,
            FederationVerifier::for_directory(directory.clone()),
        )
        .map_err(|e| ServiceError::Quic(e.to_string()))?;
        Ok(Self {
            node: Arc::new(Mutex::new(node)),
            directory,
            endpoint: Arc::new(endpoint),
            limits: SessionLimits::default(),
            answering: Arc::default(),
            dialing: Arc::new(tokio::sync::Semaphore::new(MAX_DIALED_SESSIONS_COUNT)),
            log: LogLimiter::new(),
            runner: None,
            sync_now: std::sync::Mutex::default(),
            web_addr: std::sync::Mutex::default(),
        })
    }

    /// The same service, carrying out whole commands sent over the control socket with
    /// `runner`.
    pub fn with_runner(mut self, runner: Option<CommandRunner>) -> Self {
        self.runner = runner;
        self
    }

    /// Starts a sync attempt with every configured peer now, instead of at the next interval.
    pub fn sync_now(&self) {
        for n in self
            .sync_now
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            n.notify_one();
        }
    }

    /// The same service with other session deadlines than the limits (tests use seconds).
    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Self {
        self.limits.deadlines = deadlines;
        self
    }

    /// The same service with other session limits (tests: short deadlines, a failing import).
    #[doc(hidden)]
    pub fn with_limits(mut self, limits: SessionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Where it listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// Syncs once with the peer at `address`, as initiator, using the stored cursor; waits
    /// while [`MAX_DIALED_SESSIONS_COUNT`] such sessions run.
    pub async fn sync_with(&self, address: SocketAddr) -> Result<SideOutcome, ServiceError> {
        let _permit = self.dialing.acquire().await;
        let started = crate::now_ms();
        let key = address.to_string();
        let connection = match self.endpoint.connect(address).await {
            Ok(c) => c,
            Err(e) => {
                let e = ServiceError::Connect(e);
                let node = self.node.lock().await;
                record_session(&node, &key, Some(address), started, &Err(&e));
                return Err(e);
            }
        };
        let peer = connection.peer().clone();
        let cursor = {
            let node = self.node.lock().await;
            read_status(node.dir()).get(&key).and_then(|s| s.cursor_ms)
        };
        let result = run_session(
            &*self.node,
            connection,
            Role::Initiator,
            cursor,
            crate::now_ms,
            &self.limits,
        )
        .await;
        let node = self.node.lock().await;
        self.refresh_directory(&node);
        let result = result.map_err(ServiceError::from);
        let recorded = result.as_ref().map(|o| (peer, o.clone()));
        record_session(&node, &key, Some(address), started, &recorded);
        result
    }

    /// Answers peers that sync with us, each session in its own task, within the limits in
    /// all and per peer unit; a peer over them is closed at once with [`CloseCode::Busy`]. A
    /// session's task that panics is logged and its slot given back.
    pub async fn serve(self: Arc<Self>) {
        while let Some(connection) = self.endpoint.accept().await {
            let peer = connection.peer().clone();
            let slot = match self.answering.take(&peer) {
                Ok(slot) => slot,
                Err(busy) => {
                    let reason = match busy {
                        Busy::ThisPeer => "busy: a session with your unit is in progress",
                        Busy::AllSlots => "busy: answering as many sessions as allowed",
                    };
                    warn_limited!(self.log, "session_busy", unit = %peer, reason, "refused a session");
                    connection.close(CloseCode::Busy, reason);
                    continue;
                }
            };
            let this = self.clone();
            let span = tracing::info_span!("peer", unit = %peer);
            let task = tokio::spawn(
                async move {
                    let _slot = slot;
                    this.answer(connection).await
                }
                .instrument(span),
            );
            tokio::spawn(async move {
                if let Err(e) = task.await {
                    if e.is_panic() {
                        tracing::error!(unit = %peer, "a session stopped on a panic; its connection is closed, other sessions go on");
                    }
                }
            });
        }
    }

    async fn answer(&self, connection: crate::quic::PeerConnection) {
        let started = crate::now_ms();
        let peer = connection.peer().clone();
        let result = run_session(
            &*self.node,
            connection,
            Role::Responder,
            None,
            crate::now_ms,
            &self.limits,
        )
        .await;
        let node = self.node.lock().await;
        self.refresh_directory(&node);
        match &result {
            Ok(o) => tracing::info!(
                received = o.import.accepted,
                sent = o.stats.entries_sent,
                rejected = o.import.rejected.len(),
                "sync answered"
            ),
            Err(e) => {
                warn_limited!(self.log, "session_failed", error = %e, "sync answered with an error")
            }
        }
        let result = result.map_err(ServiceError::from);
        let recorded = result.as_ref().map(|o| (peer.clone(), o.clone()));
        record_session(&node, &format!("unit:{peer}"), None, started, &recorded);
    }

    /// Syncs with one configured peer on the schedule, retrying with backoff while it is
    /// unreachable.
    async fn dial(self: Arc<Self>, peer: PeerConfig, interval: Duration, seed: u64) {
        let mut backoff = Backoff::new(seed);
        let now = Arc::new(tokio::sync::Notify::new());
        self.sync_now
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(now.clone());
        loop {
            let span = tracing::info_span!("peer", address = %peer.address);
            let result = self.sync_with(peer.address).instrument(span).await;
            let wait = match result {
                Ok(o) => {
                    tracing::info!(address = %peer.address, received = o.import.accepted, sent = o.stats.entries_sent, rejected = o.import.rejected.len(), "synced");
                    backoff.reset();
                    interval
                }
                Err(e) => {
                    let d = backoff.next_delay().min(interval);
                    tracing::warn!(address = %peer.address, error = %e, retry_in_ms = d.as_millis() as u64, "sync failed");
                    d
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = now.notified() => tracing::debug!(address = %peer.address, "a local write: syncing now"),
            }
        }
    }

    /// Refreshes the directory the QUIC endpoint checks peers against, when the node's moved
    /// (a session brought certificates or revocations): a national directory is large, and
    /// copying it after every session would cost more than the session.
    fn refresh_directory(&self, node: &Node) {
        let stale = self
            .directory
            .read()
            .map(|d| d.changes() != node.directory().changes())
            .unwrap_or(true);
        if stale {
            *self.directory.write().unwrap_or_else(|p| p.into_inner()) = node.directory().clone();
        }
    }

    /// Presents the node's key and chain as they are now, if they changed since the endpoint
    /// last took them (a rotation accepted through the service, a newer certificate of its own
    /// or of an ancestor). Sessions in progress go on with what they started with.
    fn refresh_identity(&self, node: &Node) {
        let identity = match QuicIdentity::for_node(node) {
            Ok(i) => i,
            Err(e) => {
                tracing::error!(error = %e, "could not read the node's key; sync sessions present the previous one");
                return;
            }
        };
        if identity.certificate() == &self.endpoint.certificate() {
            return;
        }
        let changed_key = identity.public_key() != self.endpoint.public_key();
        match self.endpoint.set_identity(&identity) {
            Ok(()) if changed_key => tracing::info!(
                key = %identity.public_key().short(),
                "the node's key changed: sync sessions present the new key from now on"
            ),
            Ok(()) => tracing::info!("sync sessions present the node's newer certificates"),
            Err(e) => {
                tracing::error!(error = %e, "could not present the node's new key; sync sessions present the previous one")
            }
        }
    }

    /// Closes the endpoint.
    pub fn close(&self) {
        self.endpoint.close();
    }

    /// Answers local commands on the control socket, [`MAX_CONTROL_CONNECTIONS`] at a time. A
    /// bad request fails only its own connection.
    async fn serve_control(self: Arc<Self>, socket: Arc<ControlSocket>) {
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONTROL_CONNECTIONS));
        let (store, dir, unit) = {
            let node = self.node.lock().await;
            (
                node.store().clone(),
                node.dir().to_owned(),
                node.unit().to_string(),
            )
        };
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let mut stream = match socket.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket: accept failed");
                    // Out of file descriptors, say: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let service = self.clone();
            let (store, dir, unit) = (store.clone(), dir.clone(), unit.clone());
            tokio::spawn(async move {
                let reply = match control::read_request(&mut stream).await {
                    Ok(request) => {
                        tracing::info!(op = request.op(), "control request");
                        service.control_reply(request, store, dir, unit).await
                    }
                    Err(reply) => {
                        tracing::warn!(?reply, "bad control request");
                        reply
                    }
                };
                control::write_reply(&mut stream, &reply).await;
                drop(permit);
            });
        }
    }

    async fn control_reply(
        &self,
        request: Request,
        store: SledStore,
        dir: PathBuf,
        unit: String,
    ) -> Reply {
        let joined = |r: Result<Reply, tokio::task::JoinError>| {
            r.unwrap_or_else(|e| Reply::failed(format!("the operation stopped: {e}")))
        };
        match request {
            Request::Status => Reply::Status(ServiceStatus {
                pid: std::process::id(),
                unit,
                listen: self.local_addr().map(|a| a.to_string()),
                web: self
                    .web_addr
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .map(|a| format!("http://{a}/")),
                version: env!("CARGO_PKG_VERSION").into(),
            }),
            Request::Backup { file, include_key } => {
                if !file.is_absolute() {
                    return Reply::bad_request(format!(
                        "the backup path {} is not absolute",
                        file.display()
                    ));
                }
                // The store, not the node: a sync session in progress goes on meanwhile.
                joined(
                    tokio::task::spawn_blocking(move || {
                        match crate::backup::write_store(&dir, &store, &file, include_key) {
                            Ok(s) => {
                                tracing::info!(file = %file.display(), entries = s.entries, "backup written");
                                Reply::Backup(s)
                            }
                            Err(e) => Reply::failed(e.to_string()),
                        }
                    })
                    .await,
                )
            }
            Request::Check => {
                // The node itself (its directory): waits for a session in progress to end.
                let node = self.node.clone().lock_owned().await;
                joined(
                    tokio::task::spawn_blocking(move || {
                        let mut node = node;
                        match crate::check::run(&mut node, crate::now_ms(), false) {
                            Ok(r) => Reply::Check(r),
                            Err(e) => Reply::failed(e.to_string()),
                        }
                    })
                    .await,
                )
            }
            Request::Run(run) => {
                let Some(runner) = self.runner.clone() else {
                    return Reply::bad_request("this service does not carry out commands");
                };
                if !run.data.is_absolute() {
                    return Reply::bad_request("the data directory is not absolute");
                }
                let node = self.node.clone();
                let out = joined(
                    tokio::task::spawn_blocking(move || Reply::Run(runner(node, run))).await,
                );
                if matches!(&out, Reply::Run(o) if o.wrote) {
                    // A unit enrolled or revoked through the command: the QUIC verifier
                    // knows it at once, as after a sync session (copied only when the
                    // directory moved: a national directory is large, most writes add none).
                    let node = self.node.lock().await;
                    self.refresh_directory(&node);
                    // A key rotated through the command (`unit accept`): sessions from now on
                    // present the new key and its chain.
                    self.refresh_identity(&node);
                    drop(node);
                    self.sync_now();
                }
                out
            }
            Request::Quarantine { limit } => {
                if limit > MAX_QUARANTINE_LISTED {
                    return Reply::bad_request(format!(
                        "a listing of {limit} entries; the limit is {MAX_QUARANTINE_LISTED}"
                    ));
                }
                joined(
                    tokio::task::spawn_blocking(move || {
                        match crate::quarantine::listing(&store, limit) {
                            Ok(l) => Reply::Quarantine(l),
                            Err(e) => Reply::failed(e.to_string()),
                        }
                    })
                    .await,
                )
            }
        }
    }

    /// Expires what has waited in quarantine too long: now, then every
    /// [`QUARANTINE_EXPIRY_INTERVAL_S`].
    async fn expire_periodically(self: Arc<Self>) {
        let mut every = tokio::time::interval(Duration::from_secs(QUARANTINE_EXPIRY_INTERVAL_S));
        loop {
            every.tick().await;
            let node = self.node.clone().lock_owned().await;
            let r =
                tokio::task::spawn_blocking(move || node.expire_quarantine(crate::now_ms())).await;
            match r {
                Ok(Ok(expired)) if !expired.is_empty() => {
                    tracing::info!(expired = expired.len(), "quarantine expiry pass")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "quarantine expiry failed"),
                Err(e) => tracing::error!(error = %e, "quarantine expiry stopped"),
            }
        }
    }
}

/// Runs the service until `shutdown` resolves, then stops cleanly (no session is cut inside a
/// store write: the store writes are synchronous and complete before the task yields).
pub async fn run(
    config: ServiceConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    run_with(config, shutdown, None).await
}

/// [`run`], carrying out whole commands sent over the control socket with `runner`.
pub async fn run_with(
    config: ServiceConfig,
    shutdown: impl std::future::Future<Output = ()>,
    runner: Option<CommandRunner>,
) -> Result<(), ServiceError> {
    let service = Arc::new(Service::start(&config.data, config.listen)?.with_runner(runner));
    tracing::info!(listen = ?service.local_addr(), peers = config.peers.len(), "node running");
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(service.clone().serve()));
    // The database is ours now: a control socket left by a killed service is stale.
    let control = match ControlSocket::bind(&config.data) {
        Ok(c) => {
            tracing::info!(socket = %c.path().display(), "control socket ready");
            let c = Arc::new(c);
            tasks.push(tokio::spawn(service.clone().serve_control(c.clone())));
            Some(c)
        }
        Err(e) => {
            tracing::warn!(error = %e, "no control socket: other commands on this node cannot reach this service");
            None
        }
    };
    tasks.push(tokio::spawn(service.clone().expire_periodically()));
    // The search's unit-name words (every unit's folded name, O(units)) are built once now
    // rather than by the first search (1.2 s at a national node).
    {
        let node = service.node.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = node.blocking_lock().unit_words(crate::now_ms());
        })
        .await;
    }
    if !config.http_off {
        let web_config = crate::web::WebConfig {
            listen: config
                .http_listen
                .unwrap_or(crate::web::WebConfig::default().listen),
            secure_cookies: config.web_secure_cookies,
            session_idle_s: config
                .web_session_idle_s
                .unwrap_or(sync_protocol::limits::WEB_SESSION_IDLE_S),
        };
        match crate::web::bind(&web_config).await {
            Ok(listener) => {
                let addr = listener.local_addr().ok();
                tracing::info!(address = ?addr, "web interface ready");
                *service.web_addr.lock().unwrap_or_else(|p| p.into_inner()) = addr;
                let weak = Arc::downgrade(&service);
                let web = crate::web::Web::new(
                    service.node.clone(),
                    web_config,
                    Arc::new(move || {
                        // Initiatives and decisions: the trust directory is unchanged.
                        if let Some(s) = weak.upgrade() {
                            s.sync_now();
                        }
                    }),
                    Arc::new(crate::now_ms),
                )
                .await;
                tasks.push(tokio::spawn(web.serve(listener)));
            }
            Err(e) => {
                tracing::warn!(address = %web_config.listen, error = %e, "no web interface: its address could not be bound (set http_listen in node.toml)")
            }
        }
    }
    let seed = crate::now_ms();
    for (i, peer) in config.peers.iter().cloned().enumerate() {
        tasks.push(tokio::spawn(service.clone().dial(
            peer,
            Duration::from_secs(config.interval_s),
            seed.wrapping_add(i as u64),
        )));
    }
    shutdown.await;
    tracing::info!("stopping");
    // Wait for the import in progress, if any, to release the store.
    let _node = service.node.lock().await;
    for t in &tasks {
        t.abort();
    }
    if let Some(c) = &control {
        c.remove();
    }
    service.close();
    Ok(())
}
