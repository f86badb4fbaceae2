//! The unit's private key on disk, in a file with 0600 permissions: 32 raw bytes in hex, or,
//! optionally, encrypted with a passphrase (Argon2id, then ChaCha20-Poly1305):
//!
//! ```text
//! sangkien-key-v1:argon2id:<m KiB>:<t>:<p>:<salt hex (16)>:<nonce hex (12)>:<ciphertext hex (48)>
//! ```
//!
//! The passphrase comes from the file named by `SANGKIEN_PASSPHRASE_FILE`, else from
//! `SANGKIEN_PASSPHRASE`. The unencrypted form stays the default (the demo uses it).
//! The key never appears in a log, an entry or an error message: errors name the file only.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};

/// Largest key file read.
pub const MAX_KEY_FILE_BYTES: u64 = 512;
/// Largest passphrase file read.
pub const MAX_PASSPHRASE_BYTES: u64 = 4096;
/// Argon2id memory cost (KiB) of new encrypted key files: OWASP's 19 MiB.
pub const ARGON2_M_KIB: u32 = 19 * 1024;
/// Argon2id passes.
pub const ARGON2_T: u32 = 2;
/// Largest memory cost accepted from a key file (KiB), so a crafted file cannot exhaust memory.
pub const MAX_ARGON2_M_KIB: u32 = 1024 * 1024;
/// Most passes accepted from a key file.
pub const MAX_ARGON2_T: u32 = 16;
const ENCRYPTED_PREFIX: &str = "sangkien-key-v1:argon2id:";

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
    /// Encrypted, and no passphrase was given.
    #[error("key file {0} is encrypted: give its passphrase in a file named by SANGKIEN_PASSPHRASE_FILE (or in SANGKIEN_PASSPHRASE)")]
    NeedPassphrase(PathBuf),
    /// The passphrase does not open the key (or the file was altered).
    #[error("key file {0}: wrong passphrase, or the file was altered")]
    WrongPassphrase(PathBuf),
    /// The passphrase file.
    #[error("passphrase file {path}: {reason}")]
    Passphrase {
        /// the file
        path: PathBuf,
        /// what is wrong
        reason: String,
    },
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
    write_raw_new(path, &hex::encode(key.to_bytes()))
}

/// Writes a key file's text (as [`read`] accepts it) to a new file with mode 0600, synced.
pub fn write_raw_new(path: &Path, text: &str) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = crate::durable::create_new(path, crate::durable::PRIVATE_MODE).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists(path.to_owned())
        } else {
            io(e)
        }
    })?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.write_all(b"\n").map_err(io)?;
    f.sync_all().map_err(io)?;
    crate::durable::sync_dir(&crate::durable::parent_of(path)).map_err(io)?;
    Ok(())
}

/// Reads a key file, refusing one that others may read; decrypts an encrypted one with the
/// passphrase from the environment.
pub fn read(path: &Path) -> Result<SigningKey, KeyError> {
    let text = read_text(path)?;
    if text.starts_with(ENCRYPTED_PREFIX) {
        let pass = passphrase()?.ok_or_else(|| KeyError::NeedPassphrase(path.to_owned()))?;
        return decrypt(path, &text, &pass);
    }
    read_with(path, None)
}

/// Reads a key file with an explicit passphrase (`None`: the file must be unencrypted).
pub fn read_with(path: &Path, pass: Option<&str>) -> Result<SigningKey, KeyError> {
    let text = read_text(path)?;
    if text.starts_with(ENCRYPTED_PREFIX) {
        let pass = pass.ok_or_else(|| KeyError::NeedPassphrase(path.to_owned()))?;
        return decrypt(path, &text, pass);
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| KeyError::Malformed(path.to_owned()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn read_text(path: &Path) -> Result<String, KeyError> {
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
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(KeyError::Malformed(path.to_owned()));
    }
    let text = fs::read_to_string(path).map_err(io)?;
    Ok(text.trim().to_owned())
}

/// The passphrase from `SANGKIEN_PASSPHRASE_FILE` or `SANGKIEN_PASSPHRASE`, if any.
pub fn passphrase() -> Result<Option<String>, KeyError> {
    if let Some(p) = std::env::var_os("SANGKIEN_PASSPHRASE_FILE") {
        let path = PathBuf::from(p);
        let bad = |reason: String| KeyError::Passphrase {
            path: path.clone(),
            reason,
        };
        let meta = fs::metadata(&path).map_err(|e| bad(e.to_string()))?;
        if meta.len() > MAX_PASSPHRASE_BYTES {
            return Err(bad(format!("over {MAX_PASSPHRASE_BYTES} bytes")));
        }
        let text = fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let pass = text.trim_end_matches(['\n', '\r']).to_owned();
        if pass.is_empty() {
            return Err(bad("empty".into()));
        }
        return Ok(Some(pass));
    }
    Ok(std::env::var("SANGKIEN_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty()))
}

fn derive_key(path: &Path, pass: &str, salt: &[u8], m: u32, t: u32) -> Result<[u8; 32], KeyError> {
    let params =
        Params::new(m, t, 1, Some(32)).map_err(|_| KeyError::Malformed(path.to_owned()))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pass.as_bytes(), salt, &mut out)
        .map_err(|_| KeyError::Malformed(path.to_owned()))?;
    Ok(out)
}

/// The encrypted form of `key` under `pass`.
pub fn encrypt(path: &Path, key: &SigningKey, pass: &str) -> Result<String, KeyError> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let k = derive_key(path, pass, &salt, ARGON2_M_KIB, ARGON2_T)?;
    let cipher = ChaCha20Poly1305::new(&k.into());
    let aad = format!("{ENCRYPTED_PREFIX}{ARGON2_M_KIB}:{ARGON2_T}:1");
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            chacha20poly1305::aead::Payload {
                msg: &key.to_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| KeyError::Malformed(path.to_owned()))?;
    Ok(format!(
        "{aad}:{}:{}:{}",
        hex::encode(salt),
        hex::encode(nonce),
        hex::encode(ct)
    ))
}

fn decrypt(path: &Path, text: &str, pass: &str) -> Result<SigningKey, KeyError> {
    let bad = || KeyError::Malformed(path.to_owned());
    let rest = text.strip_prefix(ENCRYPTED_PREFIX).ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let [m, t, p, salt, nonce, ct] = parts.as_slice() else {
        return Err(bad());
    };
    let m: u32 = m.parse().map_err(|_| bad())?;
    let t: u32 = t.parse().map_err(|_| bad())?;
    if *p != "1" || m > MAX_ARGON2_M_KIB || t > MAX_ARGON2_T {
        return Err(bad());
    }
    let salt = hex::decode(salt).map_err(|_| bad())?;
    let mut n = [0u8; 12];
    hex::decode_to_slice(nonce, &mut n).map_err(|_| bad())?;
    let ct = hex::decode(ct).map_err(|_| bad())?;
    let k = derive_key(path, pass, &salt, m, t)?;
    let aad = format!("{ENCRYPTED_PREFIX}{m}:{t}:1");
    let plain = ChaCha20Poly1305::new(&k.into())
        .decrypt(
            Nonce::from_slice(&n),
            chacha20poly1305::aead::Payload {
                msg: &ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| KeyError::WrongPassphrase(path.to_owned()))?;
    let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| bad())?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Rewrites a key file encrypted (`true`, with the passphrase from the environment) or
/// unencrypted (`false`): written beside it with mode 0600 at a random name, never through a
/// link, synced, then renamed over it and the directory synced (`crate::durable`).
pub fn convert(path: &Path, encrypted: bool) -> Result<(), KeyError> {
    let key = read(path)?;
    let text = if encrypted {
        let pass = passphrase()?.ok_or_else(|| KeyError::NeedPassphrase(path.to_owned()))?;
        encrypt(path, &key, &pass)?
    } else {
        hex::encode(key.to_bytes())
    };
    crate::durable::replace(path, crate::durable::PRIVATE_MODE, |f| {
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")
    })
    .map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}
