//! Officer workflows: blobs (being built).
