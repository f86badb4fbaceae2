//! Storage issue: backup (being built).
