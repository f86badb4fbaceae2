//! Entry encoding tests (filled in below).
