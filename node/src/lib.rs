//! A sangkien node on disk: the sled store, the unit's key file, the federation file, and the
//! verified import path every entry takes into the store (local writes included).

pub mod backup;
pub mod blobs;
pub mod bundle;
pub mod check;
pub mod control;
pub mod counters;
pub mod decisions;
pub mod durable;
pub mod enrolment;
pub mod ingest;
pub mod input;
pub mod keys;
pub mod lang;
pub mod mau2;
pub mod node;
pub mod officers;
pub mod quarantine;
pub mod quic;
pub mod records;
pub mod refusal;
pub mod reorg;
pub mod report;
pub mod report_formats;
pub mod report_index;
pub mod search;
pub mod search_index;
pub mod self_registration;
pub mod service;
pub mod sled_store;
pub mod suggest;
pub mod sync;
pub mod sync_index;
pub mod targets;
pub mod unit_keys;
pub mod web;

pub use node::{ImportReport, Node, NodeError};
pub use sled_store::SledStore;

/// The current time as Unix milliseconds: the node's wall clock, passed into the core.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
