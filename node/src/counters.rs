//! Storage issue: counters (being built).
