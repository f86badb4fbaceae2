//! Repository checks, as ordinary tests: every Rust file opens with a `//!` doc; no `dbg!`;
//! every limit constant is documented.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for item in std::fs::read_dir(dir).unwrap() {
        let p = item.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "fuzz" {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut files = Vec::new();
    for krate in ["sync-protocol", "node", "cli", "simulations", "tests"] {
        rust_files(&workspace().join(krate), &mut files);
    }
    assert!(files.len() > 20);
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            // Unit-test files of a parent module are documented by it.
            !(first.starts_with("//!") || first.starts_with("use super::"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! module doc: {missing:?}"
    );
}

#[test]
fn no_debug_macros_are_left() {
    let mut files = Vec::new();
    for krate in ["sync-protocol", "node", "cli", "simulations"] {
        rust_files(&workspace().join(krate), &mut files);
    }
    let needle = concat!("dbg", "!(");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains(needle),
            "{} contains a debug macro",
            f.display()
        );
    }
}

#[test]
fn every_limit_is_documented() {
    let text = std::fs::read_to_string(workspace().join("sync-protocol/src/limits.rs")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("pub const MAX_") {
            assert!(
                i > 0 && lines[i - 1].starts_with("///"),
                "undocumented limit: {l}"
            );
        }
    }
}
