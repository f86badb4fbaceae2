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
//!
//! Nothing here knows the sync protocol: frames are opaque bytes that the driver hands to the
//! sans-IO state machine.

mod backoff;
mod endpoint;
mod identity;

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

/// Longest a connection attempt may take, from the first packet to both sides having checked
/// each other and exchanged the stream preamble, in milliseconds. Applies to accepting too, so
/// a peer that stalls its handshake cannot hold a slot for longer.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// Most incoming handshakes in progress at once; further attempts are refused at once rather
/// than queued.
pub const MAX_CONCURRENT_HANDSHAKES_COUNT: usize = 32;

/// Most accepted connections waiting for [`QuicEndpoint::accept`] to take them; while full, new
/// handshakes wait (and time out after [`CONNECT_TIMEOUT_MS`]).
pub const MAX_PENDING_ACCEPTS_COUNT: usize = 16;

/// The ALPN protocol name both sides require.
pub const ALPN_PROTOCOL: &[u8] = b"sangkien/1";

const _: () = assert!(KEEP_ALIVE_INTERVAL_MS * 2 < IDLE_TIMEOUT_MS);
const _: () = assert!(CONNECT_TIMEOUT_MS < IDLE_TIMEOUT_MS);
const _: () = assert!(MAX_FRAME_BYTES >= 2 * sync_protocol::limits::MAX_ENTRY_BYTES);
const _: () = assert!(MAX_FRAME_BYTES <= u32::MAX as usize);

#[cfg(test)]
mod tests;
