//! The deterministic network simulator: built out by the simulator issue. For now it only
//! re-exports the core it will drive, so the workspace layout and dependency direction are fixed.

pub use sync_protocol;
