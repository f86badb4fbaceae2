//! The integration tests: one binary, one module per area.

mod control;
mod flood;
mod nodes;
mod open;
mod quarantine;
mod quic;
mod report_index;
mod search_index;
mod storage;
mod sync;
mod tidy;
mod web;
