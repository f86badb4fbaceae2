//! Helpers shared by the CLI's integration tests: a temporary directory removed on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A fresh directory under the system's temp dir, named after the test binary, the given name
/// and the process, removed (with everything in it) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates it, removing what an earlier run may have left under the same name.
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "sangkien-{}-{name}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
