//! Helpers shared by the CLI's integration tests: a temporary directory removed on drop, and
//! the `sangkien` binary run with no data or language from the environment.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Runs the `sangkien` binary with `args`, ignoring `SANGKIEN_DATA` and `SANGKIEN_LANG`.
pub fn sangkien(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sangkien"))
        .args(args)
        .env_remove("SANGKIEN_DATA")
        .env_remove("SANGKIEN_LANG")
        .output()
        .expect("the sangkien binary runs")
}

/// What a run printed, standard output then standard error.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
