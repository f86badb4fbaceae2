//! The QUIC transport: nodes talk over quinn, each authenticated by its unit's ed25519 key.
//!
//! - [`QuicIdentity`]: a self-signed X.509 certificate whose public key *is* the unit's ed25519
//!   key, naming the unit in a subject-alternative-name URI (`urn:sangkien:unit:<id>`). The
//!   certificate's own signature, dates and issuer mean nothing here.
//! - [`FederationVerifier`]: replaces WebPKI on both sides of the handshake (mutual TLS 1.3).
//!   A peer is accepted only if the key in its certificate is a currently valid key of the unit
//!   it names in the federation's [`Directory`](sync_protocol::directory::Directory): certified
//!   by a chain up to the root, not replaced, not revoked. The handshake signature
//!   (`CertificateVerify`) proves the peer holds that key, so the unit name is authenticated by
//!   the directory, never by the certificate alone.
//! - [`QuicEndpoint`]: one UDP socket serving and connecting; [`PeerConnection`]: one
//!   bidirectional stream of length-prefixed frames per connection, each bounded by
//!   [`MAX_FRAME_BYTES`] before anything is allocated.
//! - [`Backoff`]: exponential reconnection delays with jitter from a seeded generator.
//! - Before any of that, incoming attempts are bounded: a retry for an address not yet
//!   validated, [`MAX_HANDSHAKES_PER_ADDRESS_COUNT`] per IP, [`MAX_CONCURRENT_HANDSHAKES_COUNT`]
//!   in all, [`HANDSHAKE_TIMEOUT_MS`] each; warnings they cause are rate-limited ([`lograte`]).
//!
//! Nothing here knows the sync protocol: frames are opaque bytes that the driver hands to the
//! sans-IO state machine.

mod backoff;
mod endpoint;
mod identity;
pub mod lograte;

pub use backoff::{Backoff, RECONNECT_BASE_DELAY_MS, RECONNECT_MAX_DELAY_MS};
pub use endpoint::{
    BindError, CloseCode, ConnectError, FrameError, FrameReceiver, FrameSender, PeerConnection,
    QuicEndpoint, PREAMBLE,
};
pub use identity::{FederationVerifier, IdentityError, PeerTrust, QuicIdentity, UNIT_URI_PREFIX};

/// Largest frame accepted or sent, in bytes (the frame's body, without its 4-byte length
/// prefix): one frame carries one sync message, so this is
/// `sync_protocol::limits::MAX_MESSAGE_BYTES`. Checked against the length prefix before the
/// body is read or any buffer is allocated.
pub const MAX_FRAME_BYTES: usize = sync_protocol::limits::MAX_MESSAGE_BYTES;

/// How long a connection may stay silent before it is dropped, in milliseconds. Keep-alives
/// make a live but quiet link never reach it.
pub const IDLE_TIMEOUT_MS: u64 = 60_000;

/// How often an otherwise quiet connection sends a keep-alive, in milliseconds (well under
/// [`IDLE_TIMEOUT_MS`], so a few lost keep-alives do not drop a live link).
pub const KEEP_ALIVE_INTERVAL_MS: u64 = 15_000;

/// Longest a connection attempt we make may take, from the first packet to both sides having
/// checked each other and exchanged the stream preamble, in milliseconds.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// Longest an incoming connection may take from its validated first packet to the end of the
/// preamble exchange, in milliseconds; then it is dropped and its slot freed. Shorter than
/// [`CONNECT_TIMEOUT_MS`]: a real handshake takes a few round trips, and a stalled one must
/// not hold a slot for long.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

/// Most incoming handshakes in progress at once, from all addresses; further attempts are
/// refused at once rather than queued. Each costs a few kilobytes until
/// [`HANDSHAKE_TIMEOUT_MS`].
pub const MAX_CONCURRENT_HANDSHAKES_COUNT: usize = 256;

/// Most incoming handshakes in progress at once from one IP address (any port): one source
/// cannot take the slots of the rest. Ignored beyond it (no packet in answer). A real node
/// makes one connection at a time; several offices behind one NAT rarely handshake in the same
/// second, so 8 leaves room for them.
pub const MAX_HANDSHAKES_PER_ADDRESS_COUNT: usize = 8;

/// Most connection attempts quinn keeps waiting for the accepting task to decide on (its
/// `max_incoming`); each is decided at once (accepted, refused, ignored or sent a retry), so
/// this only bounds a burst.
pub const MAX_INCOMING_COUNT: usize = 2 * MAX_CONCURRENT_HANDSHAKES_COUNT;

/// Most bytes quinn buffers for one attempt not yet decided on (its `incoming_buffer_size`),
/// and ten times that for all of them.
pub const INCOMING_BUFFER_BYTES: u64 = 64 * 1024;

/// Most bytes a peer may have in flight towards us on the session stream, unread (quinn's
/// stream and connection receive windows): one frame and its length prefix. Bounds what the
/// transport buffers per connection, before the driver's own budget.
pub const RECEIVE_WINDOW_BYTES: u32 = MAX_FRAME_BYTES as u32 + 4;

/// Most accepted connections waiting for [`QuicEndpoint::accept`] to take them; while full, a
/// newly accepted peer is closed with [`CloseCode::Busy`] instead of waiting.
pub const MAX_PENDING_ACCEPTS_COUNT: usize = 16;

/// The ALPN protocol name both sides require.
pub const ALPN_PROTOCOL: &[u8] = b"sangkien/1";

const _: () = assert!(KEEP_ALIVE_INTERVAL_MS * 2 < IDLE_TIMEOUT_MS);
const _: () = assert!(CONNECT_TIMEOUT_MS < IDLE_TIMEOUT_MS);
const _: () = assert!(HANDSHAKE_TIMEOUT_MS <= CONNECT_TIMEOUT_MS);
const _: () = assert!(MAX_HANDSHAKES_PER_ADDRESS_COUNT < MAX_CONCURRENT_HANDSHAKES_COUNT);
const _: () = assert!(MAX_FRAME_BYTES >= 2 * sync_protocol::limits::MAX_ENTRY_BYTES);
const _: () = assert!(MAX_FRAME_BYTES <= u32::MAX as usize);

#[cfg(test)]
mod tests;
