//! Sync: sans-IO range-based set reconciliation between two peers.
//!
//! Each peer offers the sorted set of [`SyncKey`]s (entry time, entry hash) of the entries it
//! holds that the other peer should hold too (scope). The peers exchange [`Message`]s that
//! describe consecutive ranges of that key space by a fingerprint, by the full list of hashes,
//! or as settled, splitting ranges whose fingerprints differ, as in Meyer's range-based set
//! reconciliation and Negentropy. The cost in bytes and round trips grows with the difference,
//! not with the sets. Keys are time-ordered, so a day's new entries sit together at the newest
//! end of the key space whatever subtree they come from.
//!
//! A per-peer cursor is the fast path: a peer that synced before sends the fingerprint of
//! everything before the cursor and the list of what it holds after it, so one round trip
//! settles an ordinary "what is new since last time".
//!
//! # Driving a session
//!
//! After every input (`start`, `handle_message`, `handle_timeout`) drain
//! [`SyncSession::poll_transmit`] and [`SyncSession::poll_event`] until both return `None`.
//! Received entries come out as [`Event::Received`]: the driver verifies and stores them (the
//! node's import), the session does not. The QUIC driver, the in-memory transport of the tests
//! and the simulator run exactly this loop.

mod message;
mod range;
mod session;
mod source;

pub use message::{Bound, Message, MessageError, Range, RangePayload};
pub use range::{fingerprint, Fingerprint, IdPrefix, KeySum, SyncKey, ID_PREFIX_BYTES};
pub use session::{
    Deadlines, Event, Role, SessionStats, SyncSession, SEND_MESSAGE_BYTES, SEND_MESSAGE_ENTRIES,
    SESSION_TIMEOUT_MS,
};
pub use source::{split_sorted, SortedKeys, SyncSource};

#[cfg(test)]
mod tests;
