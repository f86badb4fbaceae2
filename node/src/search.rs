//! Officer workflows: search (being built).
