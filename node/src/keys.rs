//! The unit's private key on disk: 32 raw bytes in hex, in a file with 0600 permissions.
//! The key never appears in a log, an entry or an error message: errors name the file only.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand_core::OsRng;

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Refused to overwrite an existing key.
    #[error("key file {0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// IO.
    #[error("key file {path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// the cause
        source: std::io::Error,
    },
    /// Not a key file.
    #[error("key file {0} does not hold a key (expected 64 hexadecimal digits)")]
    Malformed(PathBuf),
    /// Readable by others.
    #[error("key file {path} has permissions {mode:o}; it must be 600 (run: chmod 600 {path})")]
    Permissions {
        /// the file
        path: PathBuf,
        /// its mode
        mode: u32,
    },
}

/// A fresh key from the operating system's randomness.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

/// Writes `key` to a new file with mode 0600 and syncs it.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(path.to_owned())
            } else {
                io(e)
            }
        })?;
    f.write_all(hex::encode(key.to_bytes()).as_bytes())
        .map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}

/// Reads a key file, refusing one that others may read.
pub fn read(path: &Path) -> Result<SigningKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = fs::metadata(path).map_err(io)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    if meta.len() > 256 {
        return Err(KeyError::Malformed(path.to_owned()));
    }
    let text = fs::read_to_string(path).map_err(io)?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| KeyError::Malformed(path.to_owned()))?;
    Ok(SigningKey::from_bytes(&bytes))
}
