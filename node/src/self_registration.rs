//! Members' self-registration (issue 15, item 4): whether the node's registration page is open,
//! and which initiatives came in through it, with the worker's name and contact as given.
//!
//! One sled tree of its own (no schema change: nothing is derived from it, and a node without
//! it simply has registration closed and no self-registered initiative):
//!
//! | tree                    | key                  | value            |
//! |-------------------------|----------------------|------------------|
//! | `web_self_registration` | `state`              | JSON [`State`]   |
//! | `web_self_registration` | `r` ‖ record id (16) | JSON [`Mark`]    |
//!
//! The state is the operator's (`sangkien node registration open | close | status`, through the
//! running service like every command with `--data`); it survives a restart. The marks are the
//! node's own: they never travel by sync or bundle (the worker's contact stays at the unit that
//! took it). The initiative itself is an ordinary record created by this unit through the
//! node's one import door ([`crate::records::create`]), signed with the unit key.

use serde::{Deserialize, Serialize};
use sync_protocol::ids::RecordId;

use crate::SledStore;

const TREE: &str = "web_self_registration";
const STATE_KEY: &[u8] = b"state";

/// Why the registration state or a mark could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SelfRegistrationError {
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

fn store_err(e: impl std::fmt::Display) -> SelfRegistrationError {
    SelfRegistrationError::Store(e.to_string())
}

fn tree(store: &SledStore) -> Result<sled::Tree, SelfRegistrationError> {
    store.db().open_tree(TREE).map_err(store_err)
}

/// Whether the registration page is open, since when, and the address the dashboard's QR code
/// shows (when the operator named one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Open to workers.
    pub open: bool,
    /// When it was last opened or closed (Unix ms; 0: never).
    pub changed_ms: u64,
    /// The page's address as workers reach it (`--url`); `None`: the address the officer's
    /// browser used to reach the dashboard.
    pub url: Option<String>,
}

/// The registration state (closed when never set).
pub fn state(store: &SledStore) -> Result<State, SelfRegistrationError> {
    match tree(store)?.get(STATE_KEY).map_err(store_err)? {
        Some(v) => serde_json::from_slice(&v).map_err(store_err),
        None => Ok(State::default()),
    }
}

/// Opens or closes the registration page (durable before it returns).
pub fn set_state(
    store: &SledStore,
    open: bool,
    url: Option<String>,
    now_ms: u64,
) -> Result<State, SelfRegistrationError> {
    let s = State {
        open,
        changed_ms: now_ms,
        url,
    };
    let t = tree(store)?;
    t.insert(STATE_KEY, serde_json::to_vec(&s).map_err(store_err)?)
        .map_err(store_err)?;
    t.flush().map_err(store_err)?;
    Ok(s)
}

/// What the node keeps of a self-registration beside the record: the worker as given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The worker's name as typed.
    pub name: String,
    /// The worker's phone or e-mail as typed.
    pub contact: String,
    /// When it came in (Unix ms).
    pub at_ms: u64,
}

fn mark_key(record: RecordId) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = b'r';
    k[1..].copy_from_slice(&record.0);
    k
}

/// Marks `record` as self-registered by the worker.
pub fn set_mark(
    store: &SledStore,
    record: RecordId,
    mark: &Mark,
) -> Result<(), SelfRegistrationError> {
    let t = tree(store)?;
    t.insert(
        mark_key(record),
        serde_json::to_vec(mark).map_err(store_err)?,
    )
    .map_err(store_err)?;
    t.flush().map_err(store_err)?;
    Ok(())
}

/// The mark of `record`, if it came in through the registration page.
pub fn mark(store: &SledStore, record: RecordId) -> Result<Option<Mark>, SelfRegistrationError> {
    match tree(store)?.get(mark_key(record)).map_err(store_err)? {
        Some(v) => serde_json::from_slice(&v).map(Some).map_err(store_err),
        None => Ok(None),
    }
}

/// How many initiatives came in through the registration page.
pub fn count(store: &SledStore) -> Result<u64, SelfRegistrationError> {
    Ok(tree(store)?.scan_prefix(b"r").count() as u64)
}
