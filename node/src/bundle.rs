//! Bundles: signed, compressed files of entries, how entries move between nodes without a
//! link (a USB stick to an office with no internet). See [`write_signed`] for the format.
//!
//! Reading checks the size, the header, the federation and the exporting unit's signature
//! (with a key that was valid when the bundle was made) before inflating anything, inflates
//! through a reader capped at the size the header announces, and decodes every entry; anything
//! wrong refuses the whole bundle, naming the entry's index where there is one. What the
//! entries say is then verified by [`crate::Node::import`], exactly like sync, and importing a
//! bundle twice changes nothing.

use std::io::Read;
use std::path::{Path, PathBuf};

use sync_protocol::author::Author;
use sync_protocol::codec::{DecodeError, Reader, Writer};
use sync_protocol::directory::Directory;
use sync_protocol::entry::{Entry, EntryError};
use sync_protocol::ids::{FederationId, UnitId, UnitKey};
use sync_protocol::limits::{
    MAX_BATCH_ENTRIES, MAX_BUNDLE_BYTES, MAX_BUNDLE_INFLATED_BYTES, MAX_ENTRY_BYTES,
    MAX_UNIT_ID_BYTES,
};

/// Magic of the unsigned bundles of the first version, recognised only to say so.
const MAGIC: &[u8; 8] = b"SKBUNDLE";

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

/// Decodes the sections `(count:u32 (len:u32 entry)*)+` starting at `pos`, to the end of
/// `bytes`; each section holds at most [`MAX_BATCH_ENTRIES`]. Returns the entries and the
/// length of each section.
fn decode_entries(
    path: &Path,
    bytes: &[u8],
    pos: usize,
) -> Result<(Vec<Entry>, Vec<usize>), BundleError> {
    let bad = |reason: String| BundleError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let mut pos = pos;
    let mut sections = Vec::new();
    let mut bodies: Vec<&[u8]> = Vec::new();
    let mut index = 0usize;
    loop {
        let Some(c) = bytes.get(pos..pos + 4) else {
            return Err(bad("truncated before the entry count".into()));
        };
        let count = u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize;
        if count > MAX_BATCH_ENTRIES {
            return Err(bad(format!(
                "{count} entries, over the limit of {MAX_BATCH_ENTRIES}"
            )));
        }
        pos += 4;
        if count == 0 && (!sections.is_empty() || pos != bytes.len()) {
            return Err(bad("an empty section in a bundle of several".into()));
        }
        sections.push(count);
        for _ in 0..count {
            let Some(len_bytes) = bytes.get(pos..pos + 4) else {
                return Err(bad(format!("truncated before entry {index}")));
            };
            let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            if len > MAX_ENTRY_BYTES {
                return Err(bad(format!(
                    "entry {index} is {len} bytes, over the limit of {MAX_ENTRY_BYTES}"
                )));
            }
            pos += 4;
            let Some(body) = bytes.get(pos..pos + len) else {
                return Err(bad(format!("truncated inside entry {index}")));
            };
            bodies.push(body);
            pos += len;
            index += 1;
        }
        if pos == bytes.len() {
            break;
        }
    }
    // Signatures on every core; the first bad entry (by position) refuses the bundle.
    use rayon::prelude::*;
    let decoded: Vec<Result<Entry, _>> = bodies.par_iter().map(|b| Entry::decode(b)).collect();
    let entries = decoded
        .into_iter()
        .enumerate()
        .map(|(index, r)| {
            r.map_err(|error| BundleError::Entry {
                path: path.to_owned(),
                index,
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((entries, sections))
}

// ---- signed, compressed bundles (version 2) ------------------------------------------------

/// Magic of a signed, compressed bundle.
const MAGIC_V2: &[u8; 8] = b"SKBUNDL2";
/// Domain separation of bundle signatures.
const BUNDLE_SIGNING_CONTEXT: &[u8] = b"sangkien bundle v2\0";

/// A verified bundle's header and entries.
#[derive(Debug)]
pub struct SignedBundle {
    /// The unit that exported it.
    pub signer: UnitId,
    /// The unit it was made for.
    pub for_unit: UnitId,
    /// When it was made (the signer's clock, Unix ms).
    pub created_ms: u64,
    /// Only entries from this time on were included, if set.
    pub since_ms: Option<u64>,
    /// The entries, decoded (each still to be verified by import).
    pub entries: Vec<Entry>,
    /// How many entries each section of the bundle holds, in order (each at most
    /// [`MAX_BATCH_ENTRIES`]; they add up to `entries.len()`). Import them batch by batch.
    pub sections: Vec<usize>,
}

impl SignedBundle {
    /// The entries in the bundle's sections, each at most [`MAX_BATCH_ENTRIES`]: what
    /// [`import`] imports one after the other.
    pub fn into_batches(self) -> Vec<Vec<Entry>> {
        let mut rest = self.entries.into_iter();
        self.sections
            .iter()
            .map(|&n| rest.by_ref().take(n).collect())
            .collect()
    }
}

/// Imports a verified bundle section by section, each batch verified and durable before the
/// next (so a bundle of any size imports within [`MAX_BATCH_ENTRIES`] per batch, and a
/// failure leaves the earlier sections stored). The reports are added up; `quarantined` lists
/// what waited after its own section (a later section may have released it: see `released`).
pub fn import(
    node: &mut crate::Node,
    source: &str,
    bundle: SignedBundle,
    now_ms: u64,
) -> Result<crate::node::ImportReport, crate::node::NodeError> {
    let mut total = crate::node::ImportReport::default();
    for batch in bundle.into_batches() {
        let r = node.import_from(source, batch, now_ms)?;
        total.accepted += r.accepted;
        total.duplicates += r.duplicates;
        total.released += r.released;
        total.quarantined.extend(r.quarantined);
        total.quarantined_why.extend(r.quarantined_why);
        total.rejected.extend(r.rejected);
        total.rejected_why.extend(r.rejected_why);
    }
    Ok(total)
}

/// Writes a signed, deflate-compressed bundle of `entries` made by `author` for `for_unit`.
///
/// ```text
/// "SKBUNDL2" | federation:[32] | signer:text | key:[32] | for:text | created_ms:u64
///   | since:(0 | 1 u64) | uncompressed_len:u64 | compressed_len:u64 | deflate(payload)
///   | signature:[64]      payload = section+    section = count:u32 (len:u32 entry)*
/// ```
///
/// Each section holds at most [`MAX_BATCH_ENTRIES`] entries, so a bundle of any size is
/// written (and imported section by section, see [`import`]); a bundle of one section is the
/// format of earlier versions, which this reader still reads. The signature (ed25519, checked
/// with `verify_strict`) covers everything before it.
pub fn write_signed(
    path: &Path,
    author: &Author,
    for_unit: &UnitId,
    since_ms: Option<u64>,
    created_ms: u64,
    entries: &[Entry],
) -> Result<(), BundleError> {
    write_signed_in_sections(
        path,
        author,
        for_unit,
        since_ms,
        created_ms,
        entries,
        MAX_BATCH_ENTRIES,
    )
}

/// [`write_signed`] with sections of at most `per_section` entries (clamped to
/// 1..=[`MAX_BATCH_ENTRIES`]); tests use small sections to exercise the same path.
#[doc(hidden)]
pub fn write_signed_in_sections(
    path: &Path,
    author: &Author,
    for_unit: &UnitId,
    since_ms: Option<u64>,
    created_ms: u64,
    entries: &[Entry],
    per_section: usize,
) -> Result<(), BundleError> {
    let per_section = per_section.clamp(1, MAX_BATCH_ENTRIES);
    let mut payload = Vec::new();
    // An empty bundle is one empty section.
    let sections: Vec<&[Entry]> = if entries.is_empty() {
        vec![entries]
    } else {
        entries.chunks(per_section).collect()
    };
    for section in sections {
        payload.extend_from_slice(&(section.len() as u32).to_be_bytes());
        for e in section {
            payload.extend_from_slice(&(e.bytes().len() as u32).to_be_bytes());
            payload.extend_from_slice(e.bytes());
        }
    }
    if payload.len() as u64 > MAX_BUNDLE_INFLATED_BYTES {
        return Err(BundleError::Malformed {
            path: path.to_owned(),
            reason: format!(
                "the entries make {} bytes, over the limit of {MAX_BUNDLE_INFLATED_BYTES} bytes \
                 of a bundle's content: export fewer (--since)",
                payload.len()
            ),
        });
    }
    write_signed_payload(path, author, for_unit, since_ms, created_ms, &payload)
}

/// Writes a signed bundle around an already encoded `payload` (see [`write_signed`]); for
/// tools and tests that need a bundle whose content is wrong but whose signature is right.
pub fn write_signed_payload(
    path: &Path,
    author: &Author,
    for_unit: &UnitId,
    since_ms: Option<u64>,
    created_ms: u64,
    payload: &[u8],
) -> Result<(), BundleError> {
    use std::io::Write;
    let io = |source| BundleError::Io {
        path: path.to_owned(),
        source,
    };
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(payload).map_err(io)?;
    let compressed = z.finish().map_err(io)?;
    write_signed_raw(
        path,
        author,
        for_unit,
        since_ms,
        created_ms,
        payload.len() as u64,
        &compressed,
    )
}

/// Writes a signed bundle around a deflate stream said to inflate to `announced_len` bytes:
/// what [`write_signed_payload`] does after compressing; public so that tests can make a
/// correctly signed bundle whose header lies about its content (an inflation bomb).
pub fn write_signed_raw(
    path: &Path,
    author: &Author,
    for_unit: &UnitId,
    since_ms: Option<u64>,
    created_ms: u64,
    announced_len: u64,
    compressed: &[u8],
) -> Result<(), BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_owned(),
        source,
    };
    let mut w = Writer::new();
    w.array(MAGIC_V2);
    w.array(&author.federation().0);
    w.text(author.unit().as_str());
    w.array(&author.public_key().0);
    w.text(for_unit.as_str());
    w.u64(created_ms);
    match since_ms {
        None => w.u8(0),
        Some(s) => {
            w.u8(1);
            w.u64(s);
        }
    }
    w.u64(announced_len);
    w.u64(compressed.len() as u64);
    w.array(compressed);
    let mut bytes = w.into_bytes();
    let sig = author.sign_message(BUNDLE_SIGNING_CONTEXT, &bytes);
    bytes.extend_from_slice(&sig);
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, &bytes).map_err(io)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads a signed bundle: checks its size, magic, federation and signature (by a key that was
/// valid for its signer when it was made, per `directory`), then inflates the payload through
/// a capped reader and decodes every entry. Anything wrong refuses the whole bundle.
pub fn read_signed(path: &Path, directory: &Directory) -> Result<SignedBundle, BundleError> {
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
    parse_signed(path, &bytes, directory)
}

/// Checks and decodes the bytes of a signed bundle (see [`read_signed`]); `path` only names
/// the bundle in errors.
pub fn parse_signed(
    path: &Path,
    bytes: &[u8],
    directory: &Directory,
) -> Result<SignedBundle, BundleError> {
    let bad = |reason: String| BundleError::Malformed {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
        });
    }
    if bytes.len() < MAGIC_V2.len() + 64 || &bytes[..8] != MAGIC_V2 {
        if bytes.starts_with(MAGIC) {
            return Err(bad(
                "an unsigned bundle of an older version: export it again".into(),
            ));
        }
        return Err(bad("not a sangkien bundle (bad magic or too short)".into()));
    }
    let (body, sig) = bytes.split_at(bytes.len() - 64);
    let mut r = Reader::new(body);
    let dec = |e: DecodeError| bad(format!("truncated or damaged header: {e}"));
    let _magic: [u8; 8] = r.array("magic").map_err(dec)?;
    let federation = FederationId(r.array("federation").map_err(dec)?);
    if federation != directory.federation() {
        return Err(BundleError::WrongFederation {
            path: path.to_owned(),
            found: federation,
            expected: directory.federation(),
        });
    }
    let signer = read_unit(&mut r, "signer").map_err(dec)?;
    let key = UnitKey(r.array("key").map_err(dec)?);
    let for_unit = read_unit(&mut r, "for").map_err(dec)?;
    let created_ms = r.u64("created").map_err(dec)?;
    let since_ms = match r.u8("since").map_err(dec)? {
        0 => None,
        1 => Some(r.u64("since").map_err(dec)?),
        t => return Err(bad(format!("header: unknown tag {t}"))),
    };
    let uncompressed_len = r.u64("uncompressed length").map_err(dec)?;
    let compressed_len = r.u64("compressed length").map_err(dec)?;
    if uncompressed_len > MAX_BUNDLE_INFLATED_BYTES {
        return Err(bad(format!(
            "its content would inflate to {uncompressed_len} bytes, over the limit of \
             {MAX_BUNDLE_INFLATED_BYTES} bytes (MAX_BUNDLE_INFLATED_BYTES)"
        )));
    }
    let start = r.position();
    let compressed = usize::try_from(compressed_len)
        .ok()
        .and_then(|n| body.get(start..start.checked_add(n)?))
        .ok_or_else(|| bad("truncated: the payload is shorter than its header says".into()))?;
    if start + compressed.len() != body.len() {
        return Err(bad(
            "truncated or damaged: bytes left after the payload".into()
        ));
    }
    // The signature first: nothing is inflated for a forger.
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key.0)
        .map_err(|_| bad("the signing key is not a valid ed25519 key".into()))?;
    let mut msg = BUNDLE_SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(body);
    let mut sig_bytes = [0u8; 64];
    sig_bytes.copy_from_slice(sig);
    vk.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig_bytes))
        .map_err(|_| bad("forged or damaged: the bundle's signature does not verify".into()))?;
    // A key this directory does not know yet, of a unit it knows, may be a rotation whose
    // certificate travels in this very bundle: checked below against the signer's chain in it.
    let key_check = directory.key_valid_at(&signer, &key, created_ms);
    let maybe_rotated = matches!(
        key_check,
        Err(sync_protocol::directory::KeyProblem::Unknown)
    ) && directory.knows(&signer);
    if !maybe_rotated {
        key_check.map_err(|p| {
            bad(format!(
                "signed by {signer} with a key that was not valid then: {p:?}"
            ))
        })?;
    }
    let mut payload = Vec::new();
    flate2::read::DeflateDecoder::new(compressed)
        .take(uncompressed_len + 1)
        .read_to_end(&mut payload)
        .map_err(|e| bad(format!("the payload does not inflate: {e}")))?;
    if payload.len() as u64 != uncompressed_len {
        return Err(bad(format!(
            "the payload does not match the {uncompressed_len} bytes its header announces \
             (it inflates to {}{})",
            payload.len(),
            if payload.len() as u64 > uncompressed_len {
                " or more"
            } else {
                ""
            }
        )));
    }
    let (entries, sections) = decode_entries(path, &payload, 0)?;
    if maybe_rotated {
        // The signer's chain as the bundle carries it: certificates of the signer and its
        // ancestors, newest first, at most MAX_PRESENTED_TRUST_ENTRIES.
        let mut line: std::collections::BTreeSet<UnitId> = directory
            .ancestors_at(&signer, created_ms)
            .into_iter()
            .collect();
        line.insert(signer.clone());
        let mut chain: Vec<Entry> = entries
            .iter()
            .filter(|e| {
                matches!(e.body(), sync_protocol::entry::EntryBody::Certificate(c) if line.contains(&c.unit))
            })
            .cloned()
            .collect();
        chain.sort_by_key(|e| std::cmp::Reverse((e.time_ms(), e.hash())));
        chain.truncate(sync_protocol::limits::MAX_PRESENTED_TRUST_ENTRIES);
        sync_protocol::import::key_valid_with_presented(
            directory, &signer, &key, created_ms, &chain,
        )
        .map_err(|p| {
            bad(format!(
                "signed by {signer} with a key that was not valid then: {p:?}"
            ))
        })?;
    }
    Ok(SignedBundle {
        signer,
        for_unit,
        created_ms,
        since_ms,
        entries,
        sections,
    })
}

fn read_unit(r: &mut Reader<'_>, field: &'static str) -> Result<UnitId, DecodeError> {
    UnitId::new(r.text(field, MAX_UNIT_ID_BYTES)?)
}

/// Why `bundle export` could not write its bundle.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the node (what the receiver should hold, the unit key) failed.
    #[error(transparent)]
    Node(#[from] crate::node::NodeError),
    /// Writing the file failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// Writes to `path` a bundle, signed by the node's unit, of everything the node of `for_unit`
/// should hold (trust entries by need, parents first, then records in its scope); with
/// `since_ms`, only what was made since then — but every trust entry, since the receiver may
/// lack a certificate. Returns how many entries it holds.
pub fn export(
    node: &crate::node::Node,
    for_unit: &UnitId,
    since_ms: Option<u64>,
    path: &Path,
    now_ms: u64,
) -> Result<usize, ExportError> {
    let mut entries = node.entries_for(for_unit, now_ms)?;
    if let Some(s) = since_ms {
        entries.retain(|e| {
            e.time_ms() >= s
                || matches!(
                    e.body(),
                    sync_protocol::entry::EntryBody::Genesis(_)
                        | sync_protocol::entry::EntryBody::Certificate(_)
                        | sync_protocol::entry::EntryBody::Revocation(_)
                        | sync_protocol::entry::EntryBody::UnitEnd(_)
                )
        });
    }
    let author = node.author()?;
    write_signed(path, author, for_unit, since_ms, now_ms, &entries)?;
    Ok(entries.len())
}
