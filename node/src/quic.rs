//! QUIC transport (being built).
