//! The quinn endpoint (one UDP socket that both serves and connects) and the framed stream of a
//! connection.
//!
//! Each connection carries one bidirectional stream, opened by the connecting side. Both sides
//! first exchange an 8-byte preamble ([`PREAMBLE`]): the connecting side learns from the
//! server's preamble that the server accepted *its* certificate too (in TLS 1.3 a client may
//! finish its handshake before the server has checked the client), and each side learns that the
//! other speaks this framing. Then frames flow both ways: a `u32` big-endian length, then that
//! many bytes, at most [`MAX_FRAME_BYTES`]. A frame over the limit, a truncated frame or a bad
//! preamble closes that connection with a [`CloseCode`] and a reason naming what was wrong; the
//! endpoint keeps serving every other connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, ReadExactError, VarInt};
use sync_protocol::ids::{UnitId, UnitKey};
use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio::task::JoinHandle;

use super::identity::{
    peer_of_certificate, presented_of_certificate, FederationVerifier, QuicIdentity,
};
use super::lograte::{warn_limited, LogLimiter};
use super::{
    ALPN_PROTOCOL, CONNECT_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, IDLE_TIMEOUT_MS,
    INCOMING_BUFFER_BYTES, KEEP_ALIVE_INTERVAL_MS, MAX_CONCURRENT_HANDSHAKES_COUNT,
    MAX_FRAME_BYTES, MAX_HANDSHAKES_PER_ADDRESS_COUNT, MAX_INCOMING_COUNT,
    MAX_PENDING_ACCEPTS_COUNT, RECEIVE_WINDOW_BYTES,
};

/// Why an endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Not called inside a tokio runtime.
    #[error("the QUIC endpoint needs a tokio runtime; none is running")]
    NoRuntime,
    /// The TLS configuration was refused.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The TLS configuration does not suit QUIC.
    #[error("TLS configuration for QUIC: {0}")]
    Quic(String),
    /// An identity of another unit than the endpoint's was given to
    /// [`QuicEndpoint::set_identity`].
    #[error("the endpoint is unit {bound}'s; it cannot present unit {given}")]
    OtherUnit {
        /// the endpoint's unit
        bound: UnitId,
        /// the identity's unit
        given: UnitId,
    },
    /// The socket.
    #[error("could not bind UDP {addr}: {source}")]
    Socket {
        /// the address
        addr: SocketAddr,
        /// the cause
        source: std::io::Error,
    },
}

/// Why a connection to a peer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// quinn refused to start the attempt (bad address, endpoint closed).
    #[error("could not start a connection to {addr}: {source}")]
    Start {
        /// the peer's address
        addr: SocketAddr,
        /// the cause
        source: quinn::ConnectError,
    },
    /// The handshake or the preamble exchange failed: the peer refused our key, we refused its
    /// key, it is unreachable, or it closed the connection.
    #[error("connection to {addr} failed: {source}")]
    Connection {
        /// the peer's address
        addr: SocketAddr,
        /// the cause
        source: ConnectionError,
    },
    /// The peer did not complete the handshake and preamble in time.
    #[error("connection to {addr} timed out after {after_ms} ms")]
    TimedOut {
        /// the peer's address
        addr: SocketAddr,
        /// the limit
        after_ms: u64,
    },
    /// The peer's preamble was wrong, or its stream ended during it.
    #[error("peer at {addr} sent a bad preamble: {reason}")]
    BadPreamble {
        /// the peer's address
        addr: SocketAddr,
        /// what was wrong
        reason: String,
    },
    /// The peer's stream was reset or stopped during the preamble.
    #[error("peer at {addr}: stream failed during the preamble: {reason}")]
    Stream {
        /// the peer's address
        addr: SocketAddr,
        /// what happened
        reason: String,
    },
    /// The TLS session has no peer certificate (cannot happen with mutual TLS; a bug).
    #[error("connection to {addr} has no verified peer identity")]
    NoPeerIdentity {
        /// the peer's address
        addr: SocketAddr,
    },
}

impl ConnectError {
    /// The peer's close code, if the peer closed the connection with one of ours during the
    /// attempt (a busy node closes right after the preamble, which may race with it).
    pub fn peer_close_code(&self) -> Option<CloseCode> {
        match self {
            Self::Connection {
                source: ConnectionError::ApplicationClosed(close),
                ..
            } => CloseCode::from_code(close.error_code.into_inner()),
            _ => None,
        }
    }
}

/// Why a frame could not be sent or received.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame over the limit. Received: the connection has been closed with
    /// [`CloseCode::FrameTooLarge`]. Sent: refused locally, nothing was sent.
    #[error("frame of {len} bytes is over MAX_FRAME_BYTES ({max})")]
    TooLarge {
        /// the frame's announced or actual length
        len: usize,
        /// the limit
        max: usize,
    },
    /// The peer's stream ended inside a frame; the connection has been closed with
    /// [`CloseCode::MalformedFrame`].
    #[error("truncated frame: the stream ended after {got} of {expected} bytes")]
    Truncated {
        /// bytes the frame (or its length prefix) should have had
        expected: usize,
        /// bytes that arrived
        got: usize,
    },
    /// The peer closed the connection with an application close code.
    #[error("the peer closed the connection (code {code}: {reason})")]
    ClosedByPeer {
        /// the code; see [`CloseCode::from_code`]
        code: u64,
        /// the peer's reason
        reason: String,
    },
    /// This side closed the connection (with [`PeerConnection::close`] or after a bad frame).
    #[error("the connection was closed here")]
    ClosedLocally,
    /// The connection was lost otherwise (timeout, reset, transport error).
    #[error("connection lost: {0}")]
    Connection(ConnectionError),
    /// The stream was reset, stopped or already finished.
    #[error("stream: {0}")]
    Stream(String),
}

impl FrameError {
    /// The peer's close code, if the peer closed the connection with one of ours.
    pub fn peer_close_code(&self) -> Option<CloseCode> {
        match self {
            Self::ClosedByPeer { code, .. } => CloseCode::from_code(*code),
            _ => None,
        }
    }
}

/// Why a connection is closed: the QUIC application close code sent to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// Finished normally.
    Done,
    /// The peer sent a frame over [`MAX_FRAME_BYTES`].
    FrameTooLarge,
    /// The peer's stream ended inside a frame.
    MalformedFrame,
    /// The peer's preamble was not [`PREAMBLE`].
    BadPreamble,
    /// The peer sent a message that is invalid or wrong for the session's state (used by the
    /// sync driver).
    ProtocolViolation,
    /// This node is shutting down.
    ShuttingDown,
    /// This node is answering as many sessions as it may, or one with this peer's unit already:
    /// try again later.
    Busy,
    /// The session reached its deadline (in all, or without progress).
    SessionExpired,
    /// This node failed while handling the session (its other sessions go on).
    InternalError,
}

impl CloseCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u64 {
        match self {
            Self::Done => 0,
            Self::FrameTooLarge => 1,
            Self::MalformedFrame => 2,
            Self::BadPreamble => 3,
            Self::ProtocolViolation => 4,
            Self::ShuttingDown => 5,
            Self::Busy => 6,
            Self::SessionExpired => 7,
            Self::InternalError => 8,
        }
    }

    /// The code for a number, if it is one of ours.
    pub fn from_code(code: u64) -> Option<Self> {
        [
            Self::Done,
            Self::FrameTooLarge,
            Self::MalformedFrame,
            Self::BadPreamble,
            Self::ProtocolViolation,
            Self::ShuttingDown,
            Self::Busy,
            Self::SessionExpired,
            Self::InternalError,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    fn var_int(self) -> VarInt {
        VarInt::from_u32(self.code() as u32)
    }
}

/// The first bytes each side writes on the stream: "sangkien frames, version 1".
pub const PREAMBLE: [u8; 8] = *b"SKFRAME1";

/// A QUIC endpoint: one UDP socket that accepts peers and connects to them, authenticating
/// both ways with [`FederationVerifier`].
pub struct QuicEndpoint {
    endpoint: quinn::Endpoint,
    unit: UnitId,
    tls: TlsSetup,
    /// What this node presents now; [`QuicEndpoint::set_identity`] replaces it.
    presenting: std::sync::Mutex<Presenting>,
    accepted: Mutex<mpsc::Receiver<PeerConnection>>,
    refused: Arc<AtomicU64>,
    accept_task: JoinHandle<()>,
}

impl QuicEndpoint {
    /// Binds `addr` (port 0 for any) as `identity`, accepting and reaching only peers that
    /// `verifier` accepts. Must run inside a tokio runtime; starts the task that completes
    /// incoming handshakes.
    pub fn bind(
        addr: SocketAddr,
        identity: &QuicIdentity,
        verifier: FederationVerifier,
    ) -> Result<Self, BindError> {
        tokio::runtime::Handle::try_current().map_err(|_| BindError::NoRuntime)?;
        let tls = TlsSetup {
            transport: Arc::new(transport_config()?),
            verifier: Arc::new(verifier),
        };
        let (server, client) = tls.configs(identity)?;
        let endpoint = quinn::Endpoint::server(server, addr)
            .map_err(|source| BindError::Socket { addr, source })?;

        let (tx, rx) = mpsc::channel(MAX_PENDING_ACCEPTS_COUNT);
        let refused = Arc::new(AtomicU64::new(0));
        let accept_task = tokio::spawn(accept_loop(endpoint.clone(), tx, refused.clone()));
        Ok(Self {
            endpoint,
            unit: identity.unit().clone(),
            tls,
            presenting: std::sync::Mutex::new(Presenting {
                client,
                certificate: identity.certificate().clone(),
                key: identity.public_key(),
            }),
            accepted: Mutex::new(rx),
            refused,
            accept_task,
        })
    }

    /// The address the socket is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// This node's unit.
    pub fn unit(&self) -> &UnitId {
        &self.unit
    }

    /// The key this endpoint presents now.
    pub fn public_key(&self) -> UnitKey {
        self.presenting().key
    }

    /// The certificate this endpoint presents now (its key and chain).
    pub fn certificate(&self) -> rustls::pki_types::CertificateDer<'static> {
        self.presenting().certificate.clone()
    }

    /// Presents `identity` (the same unit, after a key rotation or with a newer chain) from now
    /// on, on incoming and outgoing connections alike, without closing the socket. Connections
    /// already open go on as they are.
    pub fn set_identity(&self, identity: &QuicIdentity) -> Result<(), BindError> {
        if identity.unit() != &self.unit {
            return Err(BindError::OtherUnit {
                bound: self.unit.clone(),
                given: identity.unit().clone(),
            });
        }
        let (server, client) = self.tls.configs(identity)?;
        // Both under the lock, so that the server and client sides never disagree for long.
        let mut presenting = self.presenting.lock().unwrap_or_else(|p| p.into_inner());
        self.endpoint.set_server_config(Some(server));
        *presenting = Presenting {
            client,
            certificate: identity.certificate().clone(),
            key: identity.public_key(),
        };
        Ok(())
    }

    fn presenting(&self) -> std::sync::MutexGuard<'_, Presenting> {
        self.presenting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects to the node at `addr`: handshake (both keys checked against the trust
    /// directory) and preamble exchange, within [`CONNECT_TIMEOUT_MS`]. Who the peer is comes
    /// from its verified certificate: see [`PeerConnection::peer`].
    pub async fn connect(&self, addr: SocketAddr) -> Result<PeerConnection, ConnectError> {
        let attempt = async {
            let client = self.presenting().client.clone();
            let connecting = self
                .endpoint
                .connect_with(client, addr, SERVER_NAME)
                .map_err(|source| ConnectError::Start { addr, source })?;
            let connection = connecting
                .await
                .map_err(|source| ConnectError::Connection { addr, source })?;
            let identity = peer_identity(&connection, addr)?;
            let (mut send, mut recv) = connection
                .open_bi()
                .await
                .map_err(|source| ConnectError::Connection { addr, source })?;
            send.write_all(&PREAMBLE)
                .await
                .map_err(|e| write_to_connect_error(e, addr))?;
            read_preamble(&connection, &mut recv, addr).await?;
            Ok(PeerConnection::new(connection, identity, send, recv))
        };
        tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), attempt)
            .await
            .unwrap_or(Err(ConnectError::TimedOut {
                addr,
                after_ms: CONNECT_TIMEOUT_MS,
            }))
    }

    /// The next peer that connected and passed the checks, or `None` once the endpoint is
    /// closed. Refused and failed attempts are logged and counted
    /// ([`QuicEndpoint::handshakes_refused`]), never returned.
    pub async fn accept(&self) -> Option<PeerConnection> {
        self.accepted.lock().await.recv().await
    }

    /// How many incoming connection attempts failed or were refused so far (bad key, revoked,
    /// outside the federation, bad preamble, timed out, too many at once in all or from one
    /// address). Retries asked of unvalidated addresses are not counted.
    pub fn handshakes_refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Closes every connection and stops accepting. Connections end with
    /// [`CloseCode::ShuttingDown`].
    pub fn close(&self) {
        self.accept_task.abort();
        self.endpoint
            .close(CloseCode::ShuttingDown.var_int(), b"node shutting down");
    }

    /// Waits until every connection is closed and its close has been sent.
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }
}

/// What an endpoint presents: its client configuration (for outgoing connections) and the
/// certificate and key in it (the server configuration is in the quinn endpoint).
struct Presenting {
    client: quinn::ClientConfig,
    certificate: rustls::pki_types::CertificateDer<'static>,
    key: UnitKey,
}

/// What stays the same when an endpoint's identity changes.
struct TlsSetup {
    transport: Arc<quinn::TransportConfig>,
    verifier: Arc<FederationVerifier>,
}

impl TlsSetup {
    /// The server and client configurations presenting `identity`.
    fn configs(
        &self,
        identity: &QuicIdentity,
    ) -> Result<(quinn::ServerConfig, quinn::ClientConfig), BindError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(self.verifier.clone())
            .with_single_cert(vec![identity.certificate().clone()], identity.private_key())?;
        server.alpn_protocols = vec![ALPN_PROTOCOL.to_vec()];
        // No session resumption: a resumed session skips the certificate check, so a peer
        // revoked since its last connection would get back in. Every connection is checked.
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
        let server =
            QuicServerConfig::try_from(server).map_err(|e| BindError::Quic(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server));
        server
            .transport_config(self.transport.clone())
            .max_incoming(MAX_INCOMING_COUNT)
            .incoming_buffer_size(INCOMING_BUFFER_BYTES)
            .incoming_buffer_size_total(10 * INCOMING_BUFFER_BYTES);

        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone())
            .with_client_auth_cert(vec![identity.certificate().clone()], identity.private_key())?;
        client.alpn_protocols = vec![ALPN_PROTOCOL.to_vec()];
        client.resumption = rustls::client::Resumption::disabled();
        client.enable_early_data = false;
        let client =
            QuicClientConfig::try_from(client).map_err(|e| BindError::Quic(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client));
        client.transport_config(self.transport.clone());
        Ok((server, client))
    }
}

impl Drop for QuicEndpoint {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// A connection to an authenticated peer, with its framed stream.
pub struct PeerConnection {
    peer: UnitId,
    peer_key: UnitKey,
    presented: Vec<sync_protocol::entry::Entry>,
    sender: FrameSender,
    receiver: FrameReceiver,
}

impl PeerConnection {
    fn new(
        connection: quinn::Connection,
        (peer, peer_key, presented): PeerIdentity,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    ) -> Self {
        Self {
            peer,
            peer_key,
            presented,
            sender: FrameSender {
                connection: connection.clone(),
                send,
            },
            receiver: FrameReceiver {
                connection,
                recv,
                header: [0; 4],
                header_got: 0,
            },
        }
    }

    /// The peer's unit, as its key proved and the trust directory confirmed at the handshake.
    pub fn peer(&self) -> &UnitId {
        &self.peer
    }

    /// The key the peer proved holding.
    pub fn peer_key(&self) -> UnitKey {
        self.peer_key
    }

    /// The certificate entries the peer presented with its key (its chain): the session stores
    /// them first, so a rotation reaches this node with the rotated peer's first handshake.
    pub fn presented(&self) -> &[sync_protocol::entry::Entry] {
        &self.presented
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.sender.connection.remote_address()
    }

    /// Sends one frame. See [`FrameSender::send_frame`].
    pub async fn send_frame(&mut self, body: &[u8]) -> Result<(), FrameError> {
        self.sender.send_frame(body).await
    }

    /// Writes bytes without framing. See [`FrameSender::send_raw_unchecked`].
    pub async fn send_raw_unchecked(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        self.sender.send_raw_unchecked(bytes).await
    }

    /// Receives one frame. See [`FrameReceiver::recv_frame`].
    pub async fn recv_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        self.receiver.recv_frame().await
    }

    /// Closes the connection with `code` and `reason` (sent to the peer, so no secrets).
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.sender.close(code, reason);
    }

    /// Waits until the connection is closed, by either side or by a timeout, and says why.
    pub async fn closed(&self) -> FrameError {
        connection_error(self.sender.connection.closed().await)
    }

    /// Splits into a sending and a receiving half, so a driver can read in one task and write
    /// in another. Take [`PeerConnection::peer`] first.
    pub fn split(self) -> (FrameSender, FrameReceiver) {
        (self.sender, self.receiver)
    }
}

/// The sending half of a peer connection.
pub struct FrameSender {
    connection: quinn::Connection,
    send: quinn::SendStream,
}

impl FrameSender {
    /// Sends one frame: its length as `u32` big-endian, then `body`. A body over
    /// [`MAX_FRAME_BYTES`] is refused here and nothing is sent.
    pub async fn send_frame(&mut self, body: &[u8]) -> Result<(), FrameError> {
        if body.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge {
                len: body.len(),
                max: MAX_FRAME_BYTES,
            });
        }
        let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_BYTES,
        })?;
        self.send_raw_unchecked(&len.to_be_bytes()).await?;
        self.send_raw_unchecked(body).await
    }

    /// Writes `bytes` as they are, with no length prefix and no limit. Only for tests of what a
    /// node does with a peer's bad input (oversized, truncated or garbage frames).
    pub async fn send_raw_unchecked(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        self.send.write_all(bytes).await.map_err(|e| match e {
            quinn::WriteError::ConnectionLost(e) => connection_error(e),
            other => FrameError::Stream(other.to_string()),
        })
    }

    /// Ends the stream: the peer's [`FrameReceiver::recv_frame`] returns `Ok(None)` after the
    /// frames already sent.
    pub fn finish(&mut self) -> Result<(), FrameError> {
        self.send
            .finish()
            .map_err(|e| FrameError::Stream(e.to_string()))
    }

    /// Closes the connection with `code` and `reason` (sent to the peer, so no secrets).
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.connection.close(code.var_int(), reason.as_bytes());
    }
}

/// The receiving half of a peer connection.
pub struct FrameReceiver {
    connection: quinn::Connection,
    recv: quinn::RecvStream,
    /// The length prefix being read, kept across cancellations of
    /// [`FrameReceiver::recv_frame_len`].
    header: [u8; 4],
    header_got: usize,
}

impl FrameReceiver {
    /// Receives one frame; `Ok(None)` when the peer finished its stream cleanly between
    /// frames. The length prefix is compared with [`MAX_FRAME_BYTES`] before anything is
    /// allocated; a frame over it, or a stream ending inside a frame, closes the connection
    /// with [`CloseCode::FrameTooLarge`] or [`CloseCode::MalformedFrame`] and a reason naming
    /// the limit, and returns the error.
    ///
    /// Not cancel-safe: a frame half read when the future is dropped is lost. Run it in its
    /// own task (see [`PeerConnection::split`]) rather than in a `select!` that may drop it.
    pub async fn recv_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        match self.recv_frame_len().await? {
            None => Ok(None),
            Some(len) => self.recv_frame_body(len).await.map(Some),
        }
    }

    /// Reads the next frame's length prefix only: `Ok(None)` when the peer finished its stream
    /// cleanly between frames. A length over [`MAX_FRAME_BYTES`] closes the connection as in
    /// [`FrameReceiver::recv_frame`]. Nothing is allocated, so a driver can reserve the bytes
    /// before reading the body with [`FrameReceiver::recv_frame_body`].
    ///
    /// Cancel-safe: bytes of the prefix read before the future is dropped are kept for the next
    /// call.
    pub async fn recv_frame_len(&mut self) -> Result<Option<usize>, FrameError> {
        while self.header_got < self.header.len() {
            match self.recv.read(&mut self.header[self.header_got..]).await {
                Ok(Some(n)) => self.header_got += n,
                Ok(None) if self.header_got == 0 => return Ok(None),
                Ok(None) => return Err(self.truncated(self.header.len(), self.header_got)),
                Err(e) => return Err(read_error(e)),
            }
        }
        let len = u32::from_be_bytes(self.header) as usize;
        if len > MAX_FRAME_BYTES {
            let error = FrameError::TooLarge {
                len,
                max: MAX_FRAME_BYTES,
            };
            tracing::warn!(%error, "closing a connection");
            self.connection.close(
                CloseCode::FrameTooLarge.var_int(),
                error.to_string().as_bytes(),
            );
            return Err(error);
        }
        Ok(Some(len))
    }

    /// Reads the body of the frame whose length [`FrameReceiver::recv_frame_len`] returned.
    /// Not cancel-safe.
    pub async fn recv_frame_body(&mut self, len: usize) -> Result<Vec<u8>, FrameError> {
        self.header_got = 0;
        let mut body = vec![0u8; len.min(MAX_FRAME_BYTES)];
        match self.recv.read_exact(&mut body).await {
            Ok(()) => Ok(body),
            Err(ReadExactError::FinishedEarly(got)) => Err(self.truncated(len, got)),
            Err(ReadExactError::ReadError(e)) => Err(read_error(e)),
        }
    }

    /// Closes the connection with `code` and `reason` (sent to the peer, so no secrets).
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.connection.close(code.var_int(), reason.as_bytes());
    }

    fn truncated(&self, expected: usize, got: usize) -> FrameError {
        let error = FrameError::Truncated { expected, got };
        tracing::warn!(%error, "closing a connection");
        self.connection.close(
            CloseCode::MalformedFrame.var_int(),
            error.to_string().as_bytes(),
        );
        error
    }
}

/// The server name a connecting side passes to TLS. Not checked by anyone: a peer is known by
/// its key and the trust directory, not by a name.
const SERVER_NAME: &str = "sangkien";

fn transport_config() -> Result<quinn::TransportConfig, BindError> {
    let mut transport = quinn::TransportConfig::default();
    let idle = quinn::IdleTimeout::try_from(Duration::from_millis(IDLE_TIMEOUT_MS))
        .map_err(|e| BindError::Quic(format!("idle timeout: {e}")))?;
    transport
        .max_idle_timeout(Some(idle))
        .keep_alive_interval(Some(Duration::from_millis(KEEP_ALIVE_INTERVAL_MS)))
        // One stream per connection, opened by the connecting side.
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(RECEIVE_WINDOW_BYTES))
        .receive_window(VarInt::from_u32(RECEIVE_WINDOW_BYTES));
    Ok(transport)
}

/// Handshakes in progress per source IP address; a [`SourceSlot`] gives its place back when
/// dropped, however its task ends.
#[derive(Default)]
struct PerSource(std::sync::Mutex<HashMap<IpAddr, usize>>);

struct SourceSlot {
    table: Arc<PerSource>,
    ip: IpAddr,
}

impl PerSource {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<SourceSlot> {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = t.entry(ip).or_insert(0);
        if *n >= MAX_HANDSHAKES_PER_ADDRESS_COUNT {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.ip);
            }
        }
    }
}

/// Decides on each connection attempt at once: an address not yet validated is sent a retry
/// (so a spoofed address costs one packet and no state); over the limit per address it is
/// ignored, over the limit in all refused; otherwise its handshake and preamble run in their
/// own task within [`HANDSHAKE_TIMEOUT_MS`]. Warnings are rate-limited.
async fn accept_loop(
    endpoint: quinn::Endpoint,
    accepted: mpsc::Sender<PeerConnection>,
    refused: Arc<AtomicU64>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES_COUNT));
    let per_source = Arc::new(PerSource::default());
    let log = Arc::new(LogLimiter::new());
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        if !incoming.remote_address_validated() {
            // Guaranteed allowed when the address is not validated; if not, drop it silently.
            if let Err(e) = incoming.retry() {
                e.into_incoming().ignore();
            }
            continue;
        }
        let Some(source_slot) = per_source.take(remote.ip()) else {
            refused.fetch_add(1, Ordering::Relaxed);
            warn_limited!(log, "handshakes_per_address", %remote, limit = MAX_HANDSHAKES_PER_ADDRESS_COUNT, "ignored a connection attempt: too many handshakes from this address");
            incoming.ignore();
            continue;
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            refused.fetch_add(1, Ordering::Relaxed);
            warn_limited!(log, "handshakes_total", %remote, limit = MAX_CONCURRENT_HANDSHAKES_COUNT, "refused a connection: too many handshakes in progress");
            incoming.refuse();
            continue;
        };
        let accepted = accepted.clone();
        let refused = refused.clone();
        let log = log.clone();
        tokio::spawn(async move {
            let result = tokio::time::timeout(
                Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
                handshake_incoming(incoming, remote),
            )
            .await
            .unwrap_or(Err(ConnectError::TimedOut {
                addr: remote,
                after_ms: HANDSHAKE_TIMEOUT_MS,
            }));
            // The handshake's slots are free whatever happens next.
            drop(permit);
            drop(source_slot);
            let peer = match result {
                Ok(peer) => peer,
                Err(error) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                    warn_limited!(log, "handshake_failed", %remote, %error, "refused an incoming connection");
                    return;
                }
            };
            tracing::info!(%remote, peer = %peer.peer(), "accepted a peer");
            match accepted.try_send(peer) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(peer)) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                    warn_limited!(log, "accept_queue_full", %remote, "closed a connection: too many waiting to be served");
                    peer.close(
                        CloseCode::Busy,
                        "busy: too many connections waiting; try later",
                    );
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::debug!(%remote, "endpoint dropped; connection discarded");
                }
            }
        });
    }
}

async fn handshake_incoming(
    incoming: quinn::Incoming,
    addr: SocketAddr,
) -> Result<PeerConnection, ConnectError> {
    let connection = incoming
        .accept()
        .map_err(|source| ConnectError::Connection { addr, source })?
        .await
        .map_err(|source| ConnectError::Connection { addr, source })?;
    let identity = peer_identity(&connection, addr)?;
    let (mut send, mut recv) = connection
        .accept_bi()
        .await
        .map_err(|source| ConnectError::Connection { addr, source })?;
    read_preamble(&connection, &mut recv, addr).await?;
    send.write_all(&PREAMBLE)
        .await
        .map_err(|e| write_to_connect_error(e, addr))?;
    Ok(PeerConnection::new(connection, identity, send, recv))
}

async fn read_preamble(
    connection: &quinn::Connection,
    recv: &mut quinn::RecvStream,
    addr: SocketAddr,
) -> Result<(), ConnectError> {
    let mut got = [0u8; PREAMBLE.len()];
    let problem = match recv.read_exact(&mut got).await {
        Ok(()) if got == PREAMBLE => return Ok(()),
        Ok(()) => format!("expected {:?}, got {:?}", PREAMBLE, got),
        Err(ReadExactError::FinishedEarly(n)) => {
            format!("stream ended after {n} of {} bytes", PREAMBLE.len())
        }
        Err(ReadExactError::ReadError(quinn::ReadError::ConnectionLost(source))) => {
            return Err(ConnectError::Connection { addr, source });
        }
        Err(ReadExactError::ReadError(e)) => {
            return Err(ConnectError::Stream {
                addr,
                reason: e.to_string(),
            });
        }
    };
    connection.close(CloseCode::BadPreamble.var_int(), problem.as_bytes());
    Err(ConnectError::BadPreamble {
        addr,
        reason: problem,
    })
}

fn write_to_connect_error(e: quinn::WriteError, addr: SocketAddr) -> ConnectError {
    match e {
        quinn::WriteError::ConnectionLost(source) => ConnectError::Connection { addr, source },
        other => ConnectError::Stream {
            addr,
            reason: other.to_string(),
        },
    }
}

/// A peer's unit, key and presented certificate entries.
type PeerIdentity = (UnitId, UnitKey, Vec<sync_protocol::entry::Entry>);

fn peer_identity(
    connection: &quinn::Connection,
    addr: SocketAddr,
) -> Result<PeerIdentity, ConnectError> {
    let certificates = connection
        .peer_identity()
        .and_then(|any| {
            any.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .ok_or(ConnectError::NoPeerIdentity { addr })?;
    let first = certificates
        .first()
        .ok_or(ConnectError::NoPeerIdentity { addr })?;
    // The verifier accepted this certificate during the handshake; read the same names back.
    let (unit, key) =
        peer_of_certificate(first).map_err(|_| ConnectError::NoPeerIdentity { addr })?;
    let presented =
        presented_of_certificate(first).map_err(|_| ConnectError::NoPeerIdentity { addr })?;
    Ok((unit, key, presented))
}

fn read_error(e: quinn::ReadError) -> FrameError {
    match e {
        quinn::ReadError::ConnectionLost(e) => connection_error(e),
        other => FrameError::Stream(other.to_string()),
    }
}

fn connection_error(e: ConnectionError) -> FrameError {
    match e {
        ConnectionError::ApplicationClosed(close) => FrameError::ClosedByPeer {
            code: close.error_code.into_inner(),
            reason: String::from_utf8_lossy(&close.reason).into_owned(),
        },
        ConnectionError::LocallyClosed => FrameError::ClosedLocally,
        other => FrameError::Connection(other),
    }
}
