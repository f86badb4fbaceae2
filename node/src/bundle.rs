//! Files of entries ("bundles"), first form: how entries move between nodes without a link.
//!
//! ```text
//! magic "SKBUNDLE" | version:u8=1 | federation:[32] | count:u32 | (len:u32 | entry bytes)*
//! ```
//!
//! Reading checks every bound before allocating and decodes every entry; a bundle with any
//! malformed entry is refused whole, naming the entry's index. What the entries say is then
//! verified by [`crate::Node::import`], exactly like sync. The sync issue adds a signature and
//! compression.

use std::io::Read;
use std::path::{Path, PathBuf};

use sync_protocol::entry::{Entry, EntryError};
use sync_protocol::ids::FederationId;
use sync_protocol::limits::{MAX_BATCH_ENTRIES, MAX_BUNDLE_BYTES, MAX_ENTRY_BYTES};

const MAGIC: &[u8; 8] = b"SKBUNDLE";
const VERSION: u8 = 1;

/// Why a bundle file was refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// IO.
    #[error("{path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// the cause
        source: std::io::Error,
    },
    /// Over [`MAX_BUNDLE_BYTES`].
    #[error("{path} is {size} bytes, over the bundle limit of {MAX_BUNDLE_BYTES}")]
    TooLarge {
        /// the file
        path: PathBuf,
        /// its size
        size: u64,
    },
    /// Not a bundle, or truncated.
    #[error("{path}: {reason}")]
    Malformed {
        /// the file
        path: PathBuf,
        /// what is wrong
        reason: String,
    },
    /// An entry that does not decode.
    #[error("{path}: entry {index}: {error}")]
    Entry {
        /// the file
        path: PathBuf,
        /// 0-based index
        index: usize,
        /// the error
        error: EntryError,
    },
    /// Another federation.
    #[error("{path} belongs to federation {found}, not this node's {expected}")]
    WrongFederation {
        /// the file
        path: PathBuf,
        /// the bundle's
        found: FederationId,
        /// ours
        expected: FederationId,
    },
}

/// Encodes entries as a bundle.
pub fn encode(federation: FederationId, entries: &[Entry]) -> Vec<u8> {
    assert!(
        entries.len() <= MAX_BATCH_ENTRIES,
        "a bundle holds at most MAX_BATCH_ENTRIES"
    );
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&federation.0);
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&(e.bytes().len() as u32).to_be_bytes());
        out.extend_from_slice(e.bytes());
    }
    out
}

/// Writes a bundle file (synced).
pub fn write(path: &Path, federation: FederationId, entries: &[Entry]) -> Result<(), BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::write(path, encode(federation, entries)).map_err(io)?;
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io)
}

/// Reads and decodes a bundle file for a node of `federation`.
pub fn read(path: &Path, federation: FederationId) -> Result<Vec<Entry>, BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_BUNDLE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    decode(path, &bytes, federation)
}

/// Decodes bundle bytes.
pub fn decode(
    path: &Path,
    bytes: &[u8],
    federation: FederationId,
) -> Result<Vec<Entry>, BundleError> {
    let bad = |reason: String| BundleError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let header = MAGIC.len() + 1 + 32 + 4;
    if bytes.len() < header || &bytes[..8] != MAGIC {
        return Err(bad("not a sangkien bundle (bad magic or too short)".into()));
    }
    if bytes[8] != VERSION {
        return Err(bad(format!("bundle version {} is not supported", bytes[8])));
    }
    let mut fed = [0u8; 32];
    fed.copy_from_slice(&bytes[9..41]);
    if FederationId(fed) != federation {
        return Err(BundleError::WrongFederation {
            path: path.to_owned(),
            found: FederationId(fed),
            expected: federation,
        });
    }
    let count = u32::from_be_bytes([bytes[41], bytes[42], bytes[43], bytes[44]]) as usize;
    if count > MAX_BATCH_ENTRIES {
        return Err(bad(format!(
            "{count} entries, over the limit of {MAX_BATCH_ENTRIES}"
        )));
    }
    let mut pos = header;
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let Some(len_bytes) = bytes.get(pos..pos + 4) else {
            return Err(bad(format!("truncated before entry {index}")));
        };
        let len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        if len > MAX_ENTRY_BYTES {
            return Err(bad(format!(
                "entry {index} is {len} bytes, over the limit of {MAX_ENTRY_BYTES}"
            )));
        }
        pos += 4;
        let Some(body) = bytes.get(pos..pos + len) else {
            return Err(bad(format!("truncated inside entry {index}")));
        };
        let entry = Entry::decode(body).map_err(|error| BundleError::Entry {
            path: path.to_owned(),
            index,
            error,
        })?;
        out.push(entry);
        pos += len;
    }
    if pos != bytes.len() {
        return Err(bad(format!(
            "{} bytes after the last entry",
            bytes.len() - pos
        )));
    }
    Ok(out)
}
