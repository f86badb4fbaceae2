//! Storage issue: check (being built).
