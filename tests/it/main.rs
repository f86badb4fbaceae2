//! The integration tests: one binary, one module per area.

mod nodes;
mod quic;
mod tidy;
