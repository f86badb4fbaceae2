//! Attachment blobs: files stored under the node's data directory by the BLAKE3 hash of their
//! content (`blobs/<2 hex digits>/<64 hex digits>`), each at most
//! [`MAX_ATTACHMENT_BYTES`]. The size is checked against the file's metadata before a byte is
//! read, and again while reading (a file that grows is cut off and refused).
//!
//! A blob is first *staged* (copied into a temporary file in `blobs/` while hashing, not
//! visible); [`crate::records::edit_attached`] then [`Staged::commit`]s it and writes the record
//! change that names it, removing the blob again if the change is refused. A staged blob that
//! is dropped is removed, and the staging files a crash left are removed when the node opens
//! ([`remove_staging_leftovers`]), so a refused write leaves nothing behind.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};
use sync_protocol::ids::ContentHash;
use sync_protocol::limits::MAX_ATTACHMENT_BYTES;

/// The directory of blobs inside a node's data directory.
pub const BLOB_DIR: &str = "blobs";

/// How a staged (not yet visible) blob's temporary file name begins.
const STAGING_PREFIX: &str = "staging-";

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// what the system said
        source: std::io::Error,
    },
    /// Over the attachment limit.
    #[error("{path} is {size_bytes} bytes, over the attachment limit of {limit_bytes} bytes")]
    TooLarge {
        /// the file
        path: PathBuf,
        /// its size (at least this much)
        size_bytes: u64,
        /// the limit
        limit_bytes: u64,
    },
    /// Not a regular file.
    #[error("{path} is not a regular file")]
    NotAFile {
        /// the path
        path: PathBuf,
    },
    /// No blob with that hash is held here.
    #[error("attachment {hash} is not held at this node")]
    Missing {
        /// the content hash, hex
        hash: String,
    },
    /// The stored file no longer hashes to its name.
    #[error("attachment {hash} is damaged on disk: its content hashes to {actual}")]
    Damaged {
        /// the expected hash, hex
        hash: String,
        /// what the content hashes to, hex
        actual: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A blob copied into the node's blob directory under a temporary name, not yet visible.
#[derive(Debug)]
pub struct Staged {
    /// BLAKE3 of the content.
    pub hash: ContentHash,
    /// Size in bytes.
    pub size_bytes: u64,
    tmp: Option<PathBuf>,
    dest: PathBuf,
}

impl Staged {
    /// Makes the blob visible under its hash (atomic rename, then the directory is synced).
    /// Returns its path.
    pub fn commit(mut self) -> Result<PathBuf, BlobError> {
        let Some(tmp) = self.tmp.take() else {
            return Ok(self.dest.clone());
        };
        if self.dest.exists() {
            // Content-addressed: the same bytes are already there.
            let _ = std::fs::remove_file(&tmp);
            return Ok(self.dest.clone());
        }
        let parent = self
            .dest
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        std::fs::rename(&tmp, &self.dest).map_err(io(&self.dest))?;
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(io(&parent))?;
        Ok(self.dest.clone())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Copies `file` into `data_dir`'s blob directory under a temporary name while hashing it.
/// Refuses a file over [`MAX_ATTACHMENT_BYTES`] before reading it.
pub fn stage(data_dir: &Path, file: &Path) -> Result<Staged, BlobError> {
    let meta = std::fs::metadata(file).map_err(io(file))?;
    if !meta.is_file() {
        return Err(BlobError::NotAFile {
            path: file.to_owned(),
        });
    }
    if meta.len() > MAX_ATTACHMENT_BYTES {
        return Err(BlobError::TooLarge {
            path: file.to_owned(),
            size_bytes: meta.len(),
            limit_bytes: MAX_ATTACHMENT_BYTES,
        });
    }
    let dir = data_dir.join(BLOB_DIR);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let tmp = dir.join(format!("{STAGING_PREFIX}{:016x}", OsRng.next_u64()));
    let mut staged = Staged {
        hash: ContentHash([0; 32]),
        size_bytes: 0,
        tmp: Some(tmp.clone()),
        dest: PathBuf::new(),
    };
    let mut out = File::create(&tmp).map_err(io(&tmp))?;
    // One byte more than the limit: a file that grew since its metadata was read is caught.
    let mut input = File::open(file)
        .map_err(io(file))?
        .take(MAX_ATTACHMENT_BYTES + 1);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = input.read(&mut buf).map_err(io(file))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_ATTACHMENT_BYTES {
            return Err(BlobError::TooLarge {
                path: file.to_owned(),
                size_bytes: total,
                limit_bytes: MAX_ATTACHMENT_BYTES,
            });
        }
        let chunk = &buf[..n];
        hasher.update(chunk);
        out.write_all(chunk).map_err(io(&tmp))?;
    }
    out.sync_all().map_err(io(&tmp))?;
    let hash = ContentHash(*hasher.finalize().as_bytes());
    staged.hash = hash;
    staged.size_bytes = total;
    staged.dest = path_of(data_dir, &hash);
    Ok(staged)
}

/// Stages bytes already received (a file uploaded through the web form, whose body was bounded
/// before it was read): the size is checked against [`MAX_ATTACHMENT_BYTES`] before anything
/// is written. `what` names the upload in the error.
pub fn stage_bytes(data_dir: &Path, what: &str, bytes: &[u8]) -> Result<Staged, BlobError> {
    let size_bytes = bytes.len() as u64;
    if size_bytes > MAX_ATTACHMENT_BYTES {
        return Err(BlobError::TooLarge {
            path: PathBuf::from(what),
            size_bytes,
            limit_bytes: MAX_ATTACHMENT_BYTES,
        });
    }
    let dir = data_dir.join(BLOB_DIR);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let tmp = dir.join(format!("{STAGING_PREFIX}{:016x}", OsRng.next_u64()));
    let hash = ContentHash(*blake3::hash(bytes).as_bytes());
    // From here on a failure drops the staged blob, which removes the temporary file.
    let staged = Staged {
        hash,
        size_bytes,
        tmp: Some(tmp.clone()),
        dest: path_of(data_dir, &hash),
    };
    let mut out = File::create(&tmp).map_err(io(&tmp))?;
    out.write_all(bytes).map_err(io(&tmp))?;
    out.sync_all().map_err(io(&tmp))?;
    Ok(staged)
}

/// Removes the staged blobs an interrupted write left in `data_dir`'s blob directory (a crash
/// between staging a file and storing the record change that names it): they were never
/// visible. Called when the node opens, while the database's lock is held, so no write of
/// this node is staging at the same time.
pub fn remove_staging_leftovers(data_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(data_dir.join(BLOB_DIR)) else {
        return;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(STAGING_PREFIX) && std::fs::remove_file(e.path()).is_ok() {
            tracing::warn!(file = %name, "removed an attachment staged by an interrupted write");
        }
    }
}

/// Where the blob with `hash` lives (whether or not it is held).
pub fn path_of(data_dir: &Path, hash: &ContentHash) -> PathBuf {
    let hex = hash.to_hex();
    data_dir.join(BLOB_DIR).join(&hex[..2]).join(hex)
}

/// Whether the blob is held.
pub fn contains(data_dir: &Path, hash: &ContentHash) -> bool {
    path_of(data_dir, hash).is_file()
}

/// Reads a held blob and checks it still hashes to its name.
pub fn read(data_dir: &Path, hash: &ContentHash) -> Result<Vec<u8>, BlobError> {
    let path = path_of(data_dir, hash);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BlobError::Missing {
                hash: hash.to_hex(),
            })
        }
        Err(e) => return Err(io(&path)(e)),
    };
    if meta.len() > MAX_ATTACHMENT_BYTES {
        return Err(BlobError::TooLarge {
            path,
            size_bytes: meta.len(),
            limit_bytes: MAX_ATTACHMENT_BYTES,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    File::open(&path)
        .map_err(io(&path))?
        .take(MAX_ATTACHMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io(&path))?;
    let actual = ContentHash(*blake3::hash(&bytes).as_bytes());
    if actual != *hash {
        return Err(BlobError::Damaged {
            hash: hash.to_hex(),
            actual: actual.to_hex(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("sangkien-blobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        p
    }

    #[test]
    fn a_blob_is_stored_by_its_hash_only_when_committed() {
        let dir = tmp("commit");
        let file = dir.join("mau4.txt");
        std::fs::write(&file, "Báo cáo mô tả sáng kiến").expect("write");
        let staged = stage(&dir, &file).expect("stage");
        let hash = staged.hash;
        assert_eq!(
            hash.0,
            *blake3::hash("Báo cáo mô tả sáng kiến".as_bytes()).as_bytes()
        );
        assert!(!contains(&dir, &hash), "not visible before commit");
        drop(staged);
        assert!(!contains(&dir, &hash));
        let leftovers = std::fs::read_dir(dir.join(BLOB_DIR)).expect("dir").count();
        assert_eq!(leftovers, 0, "a dropped staging file is removed");
        stage(&dir, &file).expect("stage").commit().expect("commit");
        assert_eq!(
            read(&dir, &hash).expect("read"),
            "Báo cáo mô tả sáng kiến".as_bytes()
        );
        std::fs::write(path_of(&dir, &hash), "sửa trộm").expect("tamper");
        assert!(matches!(read(&dir, &hash), Err(BlobError::Damaged { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn staged_bytes_are_bounded_and_leftovers_are_removed() {
        let dir = tmp("bytes");
        let over = vec![0u8; MAX_ATTACHMENT_BYTES as usize + 1];
        assert!(matches!(
            stage_bytes(&dir, "video.mp4", &over),
            Err(BlobError::TooLarge { .. })
        ));
        let staged = stage_bytes(&dir, "mau4.txt", b"Mau 4").expect("stage");
        // A crash now leaves the staging file: the next open removes it, and nothing else.
        std::mem::forget(staged);
        stage_bytes(&dir, "ban-ve.pdf", b"PDF")
            .expect("stage")
            .commit()
            .expect("commit");
        remove_staging_leftovers(&dir);
        let names: Vec<String> = std::fs::read_dir(dir.join(BLOB_DIR))
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(STAGING_PREFIX)),
            "{names:?}"
        );
        assert!(contains(
            &dir,
            &ContentHash(*blake3::hash(b"PDF").as_bytes())
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_over_the_limit_is_refused_before_reading() {
        let dir = tmp("limit");
        let at = dir.join("at-limit.bin");
        let over = dir.join("over-limit.bin");
        // Sparse files: the size is what counts, nothing is written out.
        File::create(&at)
            .and_then(|f| f.set_len(MAX_ATTACHMENT_BYTES))
            .expect("at");
        File::create(&over)
            .and_then(|f| f.set_len(MAX_ATTACHMENT_BYTES + 1))
            .expect("over");
        match stage(&dir, &over) {
            Err(BlobError::TooLarge { size_bytes, .. }) => {
                assert_eq!(size_bytes, MAX_ATTACHMENT_BYTES + 1)
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        let staged = stage(&dir, &at).expect("exactly the limit is accepted");
        assert_eq!(staged.size_bytes, MAX_ATTACHMENT_BYTES);
        drop(staged);
        assert!(matches!(stage(&dir, &dir), Err(BlobError::NotAFile { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
