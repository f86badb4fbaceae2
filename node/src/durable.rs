//! The node's own files written whole or not at all, private when they must be.
//!
//! A file is written to a temporary file beside it (same directory, so the rename is atomic;
//! a random name, so nobody can plant a link there in advance), created with `O_EXCL` and
//! `O_NOFOLLOW` (never through a link, never over an existing file) and the final mode from the
//! start, fsynced, renamed over the target, and the directory fsynced. The caller is told the
//! file is there only after all of that and a check that the file now at the path is a regular
//! file of the length written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};

/// Mode of a file that may hold a private key (a key file, a backup): the owner only.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of the node's other files (node.json, peers.json).
pub const PUBLIC_MODE: u32 = 0o644;

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Fsyncs a directory, so that the names created, renamed or removed in it survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a new file with `mode`: never over an existing file, never through a symbolic link.
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// A temporary name beside `path` that nobody can guess: `.NAME.<64 random bits>.tmp`.
fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent_of(path).join(format!(".{name}.{:016x}.tmp", OsRng.next_u64()))
}

/// Whether `name` is one of [`replace`]'s temporary names (`.NAME.<16 hex digits>.tmp`).
pub fn is_temporary_name(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    match inner.rsplit_once('.') {
        Some((base, hex)) => {
            !base.is_empty() && hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// Writes a file as the module docs say: `write` fills the new temporary file (created with
/// `mode`); then fsync, rename over `path`, fsync of the directory, and a check that `path` is
/// now a regular file of the length written. Returns that length. On any failure the temporary
/// file is removed and `path` is as it was. A link at `path` is replaced, never followed; a
/// `path` that is a device, fifo or directory is refused.
pub fn replace(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<u64> {
    // Renaming over a device or a fifo (`/dev/null`) would "succeed" with nothing kept.
    if let Ok(m) = fs::symlink_metadata(path) {
        if !m.file_type().is_file() && !m.file_type().is_symlink() {
            return Err(io::Error::other(format!(
                "{} exists and is not a regular file",
                path.display()
            )));
        }
    }
    let tmp = temp_beside(path);
    let result = (|| {
        let mut f = create_new(&tmp, mode)?;
        write(&mut f)?;
        f.flush()?;
        f.sync_all()?;
        let len = f.metadata()?.len();
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(&parent_of(path))?;
        let meta = fs::symlink_metadata(path)?;
        if !meta.file_type().is_file() || meta.len() != len || meta.mode() & 0o777 & !mode != 0 {
            return Err(io::Error::other(format!(
                "{} is not the file just written ({} bytes, mode {:o}; expected {len} bytes, mode at most {mode:o})",
                path.display(),
                meta.len(),
                meta.mode() & 0o777
            )));
        }
        Ok(len)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sangkien-durable-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_private_file_is_0600_and_whole() {
        let d = scratch("mode");
        let p = d.join("k");
        let n = replace(&p, PRIVATE_MODE, |f| f.write_all(b"secret")).unwrap();
        assert_eq!(n, 6);
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&p).unwrap(), b"secret");
        // Only the file: no temporary left.
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_link_planted_where_a_file_is_created_is_not_followed() {
        let d = scratch("link");
        let target = d.join("elsewhere");
        fs::write(&target, b"theirs").unwrap();
        let link = d.join("planted");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_new(&link, PRIVATE_MODE).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"theirs");
        // A dangling link too.
        let dangling = d.join("dangling");
        std::os::unix::fs::symlink(d.join("nothing"), &dangling).unwrap();
        assert!(create_new(&dangling, PRIVATE_MODE).is_err());
        assert!(!d.join("nothing").exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn temporary_names_are_recognised() {
        let t = temp_beside(Path::new("/x/node.json"));
        assert!(is_temporary_name(&t.file_name().unwrap().to_string_lossy()));
        for n in [
            "node.json",
            ".node.json.tmp",
            ".x.123.tmp",
            "unit.key",
            ".peers.json.zzzzzzzzzzzzzzzz.tmp",
        ] {
            assert!(!is_temporary_name(n), "{n}");
        }
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let d = scratch("fail");
        let p = d.join("f");
        fs::write(&p, b"old").unwrap();
        let e = replace(&p, PUBLIC_MODE, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(e.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        let _ = fs::remove_dir_all(&d);
    }
}
