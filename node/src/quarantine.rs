//! The quarantine beyond its place in a batch: the stored form of a held entry (when it
//! arrived, from where), expiry by age ([`MAX_QUARANTINE_AGE_MS`]) with a persistent, bounded
//! log of what expired, and the operator's listing (`sangkien node quarantine`).
//!
//! A held entry's value in the `quarantine` tree (schema 3):
//!
//! ```text
//! 1 | since ms (8, BE) | source length (1) | source | wait key length (2, BE) | wait key
//!   | what it waits for | 0 | entry bytes
//! ```
//!
//! Schema 2 wrote the same without the first three fields (so its first byte is the high byte
//! of a wait key's length: always 0); it is still read, with an unknown arrival time, and
//! rewritten by the migration to schema 3 with the migration's time as its arrival (the true
//! one is unknown; counting from the migration never expires an entry early). `q_since`
//! indexes held entries by arrival (`since ms (8) ‖ hash (32)`), so expiry reads only what
//! expires. `q_expired` is the log: `expired ms (8) ‖ hash (32)` → [`ExpiredInfo`] as JSON.
//! The log is not derived from entries: `node check --repair` leaves it alone.
//!
//! An entry already held keeps its arrival time and source when a later import retries it or a
//! peer sends it again; so retries never reset its age.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use sync_protocol::entry::Entry;
use sync_protocol::ids::EntryHash;
use sync_protocol::limits::{
    MAX_QUARANTINE_AGE_MS, MAX_QUARANTINE_BYTES, MAX_QUARANTINE_ENTRIES,
    MAX_QUARANTINE_EXPIRED_LOG_ENTRIES, MAX_QUARANTINE_SOURCE_BYTES,
    MAX_QUARANTINE_SOURCE_BYTES_STORED, MAX_QUARANTINE_SOURCE_ENTRIES,
};
use sync_protocol::store::StoreError;

use crate::sled_store::{err, t, SledStore};

/// Most held entries (and most expired records) one listing returns.
pub const MAX_QUARANTINE_LISTED: usize = 10_000;

/// Held entries expired in one transaction (a long-offline node may expire many at once).
const EXPIRY_CHUNK: usize = 1_000;

const _: () = assert!(EXPIRY_CHUNK <= MAX_QUARANTINE_EXPIRED_LOG_ENTRIES);

/// The first byte of a schema-3 quarantine value.
const FORMAT_TAG: u8 = 1;

/// A held entry's stored value, parsed (borrowing the value).
pub(crate) struct Held<'a> {
    /// The wait key (`q_wait` prefix).
    pub key: &'a [u8],
    /// What it waits for, as text.
    pub missing: &'a [u8],
    /// The entry's bytes.
    pub entry: &'a [u8],
    /// When it entered quarantine (Unix ms); `None` for a schema-2 value.
    pub since_ms: Option<u64>,
    /// Where it came from (`peer:UNIT`, `bundle:FILE`, `restore:FILE`; empty when unknown).
    pub source: &'a [u8],
}

/// Encodes a held entry's value.
pub(crate) fn encode(key: &[u8], missing: &str, e: &Entry, since_ms: u64, source: &str) -> Vec<u8> {
    let source = cut(source, MAX_QUARANTINE_SOURCE_BYTES);
    let mut v = Vec::with_capacity(12 + source.len() + key.len() + missing.len() + e.bytes().len());
    v.push(FORMAT_TAG);
    v.extend_from_slice(&since_ms.to_be_bytes());
    v.push(source.len() as u8);
    v.extend_from_slice(source.as_bytes());
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.extend_from_slice(key);
    v.extend_from_slice(missing.as_bytes());
    v.push(0);
    v.extend_from_slice(e.bytes());
    v
}

/// Parses a held entry's value, schema 3 or schema 2.
pub(crate) fn decode(v: &[u8]) -> Option<Held<'_>> {
    let (since_ms, source, rest) = match v.first()? {
        &FORMAT_TAG => {
            let since = u64::from_be_bytes(v.get(1..9)?.try_into().ok()?);
            let n = *v.get(9)? as usize;
            (Some(since), v.get(10..10 + n)?, v.get(10 + n..)?)
        }
        0 => (None, &v[..0], v),
        _ => return None,
    };
    let n = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let key = rest.get(2..2 + n)?;
    let rest = rest.get(2 + n..)?;
    let split = rest.iter().position(|b| *b == 0)?;
    Some(Held {
        key,
        missing: &rest[..split],
        entry: &rest[split + 1..],
        since_ms,
        source,
    })
}

/// The `q_since` key of a held entry.
pub(crate) fn since_key(since_ms: u64, h: &EntryHash) -> Vec<u8> {
    let mut k = since_ms.to_be_bytes().to_vec();
    k.extend_from_slice(&h.0);
    k
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What a held entry waits for, read from its wait key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum WaitsFor {
    /// A certificate of this unit.
    Certificate(String),
    /// The entry with this hash (hex).
    Entry(String),
    /// The Automerge change with this hash (hex).
    Change(String),
    /// Any entry of this record (hex id).
    Record(String),
    /// Not recorded (entries quarantined by schema 1): retried on every import.
    Unknown,
}

impl WaitsFor {
    fn from_key(key: &[u8]) -> Self {
        match key.split_first() {
            Some((b'c', rest)) => {
                let unit = rest.strip_suffix(&[0]).unwrap_or(rest);
                WaitsFor::Certificate(String::from_utf8_lossy(unit).into_owned())
            }
            Some((b'e', rest)) => WaitsFor::Entry(hex::encode(rest)),
            Some((b'm', rest)) => WaitsFor::Change(hex::encode(rest)),
            Some((b'r', rest)) => WaitsFor::Record(hex::encode(rest)),
            _ => WaitsFor::Unknown,
        }
    }
}

/// One held entry, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldInfo {
    /// The entry's hash, hex.
    pub entry: String,
    /// Its kind: `genesis`, `certificate`, `revocation`, `record-change`, `decision`,
    /// `projection`.
    pub kind: String,
    /// The unit that signed it.
    pub author: String,
    /// The time it carries (Unix ms).
    pub entry_time_ms: u64,
    /// What it waits for.
    pub waits_for: WaitsFor,
    /// The same, as the verifier said it (English).
    pub waiting: String,
    /// When it entered quarantine (Unix ms); `None` if not recorded.
    pub since_ms: Option<u64>,
    /// Where it came from: `peer:UNIT`, `bundle:FILE`, `restore:FILE`, or empty.
    pub source: String,
}

/// One expired entry, in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredInfo {
    /// The entry as it was held.
    pub held: HeldInfo,
    /// When it expired (Unix ms).
    pub expired_ms: u64,
}

/// What `sangkien node quarantine` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineListing {
    /// Entries held now.
    pub held_count: u64,
    /// The oldest held entries, oldest first (at most the limit asked for).
    pub held: Vec<HeldInfo>,
    /// Held entries per source (all of them, not only those listed).
    pub by_source: BTreeMap<String, u64>,
    /// Records in the expired log.
    pub expired_count: u64,
    /// The most recent expiries, newest first (at most the limit asked for).
    pub expired: Vec<ExpiredInfo>,
    /// [`MAX_QUARANTINE_AGE_MS`].
    pub max_age_ms: u64,
    /// [`MAX_QUARANTINE_ENTRIES`].
    pub max_entries: u64,
}

fn info(h: &Held<'_>) -> Result<HeldInfo, StoreError> {
    let e = Entry::decode(h.entry).map_err(|e| err("quarantine entry", e))?;
    Ok(HeldInfo {
        entry: e.hash().to_hex(),
        kind: e.body().kind_name().into(),
        author: e.author().to_string(),
        entry_time_ms: e.time_ms(),
        waits_for: WaitsFor::from_key(h.key),
        waiting: String::from_utf8_lossy(h.missing).into_owned(),
        since_ms: h.since_ms,
        source: String::from_utf8_lossy(h.source).into_owned(),
    })
}

/// The oldest `limit` held entries, counts per source, and the `limit` most recent expiries.
pub fn listing(store: &SledStore, limit: usize) -> Result<QuarantineListing, StoreError> {
    let limit = limit.min(MAX_QUARANTINE_LISTED);
    let quarantine = store.tree(t::QUARANTINE);
    let mut out = QuarantineListing {
        held_count: quarantine.len() as u64,
        max_age_ms: MAX_QUARANTINE_AGE_MS,
        max_entries: MAX_QUARANTINE_ENTRIES as u64,
        ..QuarantineListing::default()
    };
    for k in store.tree(t::Q_SINCE).iter().keys().take(limit) {
        let k = k.map_err(|e| err("q_since", e))?;
        let Some(h) = k.get(8..40) else { continue };
        let Some(v) = quarantine.get(h).map_err(|e| err("quarantine", e))? else {
            continue;
        };
        if let Some(held) = decode(&v) {
            out.held.push(info(&held)?);
        }
    }
    for kv in quarantine.iter() {
        let (_, v) = kv.map_err(|e| err("quarantine", e))?;
        let source = decode(&v)
            .map(|h| String::from_utf8_lossy(h.source).into_owned())
            .unwrap_or_default();
        *out.by_source.entry(source).or_default() += 1;
    }
    let log = store.tree(t::Q_EXPIRED);
    out.expired_count = log.len() as u64;
    for kv in log.iter().rev().take(limit) {
        let (_, v) = kv.map_err(|e| err("q_expired", e))?;
        if let Ok(x) = serde_json::from_slice::<ExpiredInfo>(&v) {
            out.expired.push(x);
        }
    }
    Ok(out)
}

/// Expires every held entry that entered quarantine more than [`MAX_QUARANTINE_AGE_MS`]
/// before `now_ms` (one at exactly that age stays): each leaves `quarantine`, `q_wait` and
/// `q_since` and is recorded in the `q_expired` log (the oldest records beyond
/// [`MAX_QUARANTINE_EXPIRED_LOG_ENTRIES`] go), in one sled transaction per chunk, then made
/// durable; each is logged at `warn` with its hash, what it waited for and its age.
pub fn expire(store: &SledStore, now_ms: u64) -> Result<Vec<ExpiredInfo>, StoreError> {
    let cutoff = now_ms.saturating_sub(MAX_QUARANTINE_AGE_MS).to_be_bytes();
    // Nothing old enough: one key read, no lock.
    let first = store
        .tree(t::Q_SINCE)
        .range(..cutoff.to_vec())
        .keys()
        .next()
        .transpose()
        .map_err(|e| err("q_since", e))?;
    if first.is_none() {
        return Ok(Vec::new());
    }
    // No batch commits meanwhile (a backup sees the expiry whole or not at all).
    let _writing = store.write_guard()?;
    let mut all = Vec::new();
    loop {
        let mut chunk: Vec<Expiring> = Vec::new();
        for k in store
            .tree(t::Q_SINCE)
            .range(..cutoff.to_vec())
            .keys()
            .take(EXPIRY_CHUNK)
        {
            let k = k.map_err(|e| err("q_since", e))?;
            let Some(h) = k.get(8..40).and_then(|h| <[u8; 32]>::try_from(h).ok()) else {
                chunk.push(Expiring {
                    since: k.to_vec(),
                    hash: EntryHash([0; 32]),
                    held: None,
                });
                continue;
            };
            let h = EntryHash(h);
            let held = store
                .tree(t::QUARANTINE)
                .get(h.0)
                .map_err(|e| err("quarantine", e))?;
            let x = match held.as_deref().and_then(decode) {
                Some(held) => {
                    let mut wait = held.key.to_vec();
                    wait.extend_from_slice(&h.0);
                    let x = ExpiredInfo {
                        held: info(&held)?,
                        expired_ms: now_ms,
                    };
                    Some((wait, x))
                }
                // An index row without its entry: only the row goes.
                None => None,
            };
            chunk.push(Expiring {
                since: k.to_vec(),
                hash: h,
                held: x,
            });
        }
        if chunk.is_empty() {
            break;
        }
        let logged = chunk.iter().filter(|c| c.held.is_some()).count();
        let log = store.tree(t::Q_EXPIRED);
        let over = (log.len() + logged).saturating_sub(MAX_QUARANTINE_EXPIRED_LOG_ENTRIES);
        let mut dropped = Vec::with_capacity(over);
        for k in log.iter().keys().take(over) {
            dropped.push(k.map_err(|e| err("q_expired", e))?);
        }
        let mut records = Vec::with_capacity(logged);
        for c in &chunk {
            if let Some((_, x)) = &c.held {
                let json = serde_json::to_vec(x).map_err(|e| err("q_expired", e))?;
                let mut k = now_ms.to_be_bytes().to_vec();
                k.extend_from_slice(&c.hash.0);
                records.push((k, json));
            }
        }
        let trees = [
            store.tree(t::QUARANTINE).clone(),
            store.tree(t::Q_WAIT).clone(),
            store.tree(t::Q_SINCE).clone(),
            store.tree(t::Q_EXPIRED).clone(),
        ];
        let r: Result<(), TransactionError<String>> = trees[..].transaction(|tx| {
            for c in &chunk {
                tx[2].remove(c.since.as_slice())?;
                if let Some((wait, _)) = &c.held {
                    tx[0].remove(&c.hash.0)?;
                    tx[1].remove(wait.as_slice())?;
                }
            }
            for k in &dropped {
                tx[3].remove(k)?;
            }
            for (k, v) in &records {
                tx[3].insert(k.as_slice(), v.as_slice())?;
            }
            Ok::<(), ConflictableTransactionError<String>>(())
        });
        r.map_err(|e| match e {
            TransactionError::Abort(s) => err("quarantine expiry", s),
            TransactionError::Storage(e) => err("quarantine expiry", e),
        })?;
        for c in chunk {
            if let Some((_, x)) = c.held {
                let age_ms = now_ms.saturating_sub(x.held.since_ms.unwrap_or(now_ms));
                tracing::warn!(
                    entry = %x.held.entry,
                    kind = %x.held.kind,
                    author = %x.held.author,
                    waited_for = %x.held.waiting,
                    source = %x.held.source,
                    age_days = age_ms / 86_400_000,
                    age_ms,
                    "quarantined entry expired: what it waits for did not arrive within {} days",
                    MAX_QUARANTINE_AGE_MS / 86_400_000
                );
                all.push(x);
            }
        }
    }
    store.durable()?;
    Ok(all)
}

/// One `q_since` row due to expire.
struct Expiring {
    /// The row's key.
    since: Vec<u8>,
    /// The held entry.
    hash: EntryHash,
    /// Its `q_wait` key and its log record; `None` for a row whose entry is gone.
    held: Option<(Vec<u8>, ExpiredInfo)>,
}

#[cfg(test)]
mod tests;

// ---- room: bounded per source and in all ----------------------------------------------------

/// The signing key of an entry, read from its bytes without decoding it (version (1),
/// federation (32), author length (4, BE), author, key (32)): the quarantine's quota key. A
/// flood signed by one key, certified or not, counts against that key alone.
pub(crate) fn signer_of(entry: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 32];
    let at = entry
        .get(33..37)
        .map(|l| 37 + u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
    if let Some(key) = at.and_then(|a| entry.get(a..a.checked_add(32)?)) {
        k.copy_from_slice(key);
    }
    k
}

/// What [`admit`] decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Admission {
    /// Candidates admitted, by hash.
    pub admitted: BTreeSet<EntryHash>,
    /// Candidates refused: their source is at its share, or the quarantine is full of a
    /// source no larger than theirs.
    pub refused: Vec<EntryHash>,
    /// Held entries evicted to make room for a smaller source's entry.
    pub evicted: Vec<EntryHash>,
}

/// Decides room in quarantine. `held`: every held entry (hash, signer, bytes) not leaving in
/// this commit; `candidates`: new entries (hash, signer, bytes). A source (signing key) may
/// hold at most [`MAX_QUARANTINE_SOURCE_ENTRIES`] entries and
/// [`MAX_QUARANTINE_SOURCE_BYTES_STORED`] bytes; over that its newcomer is refused. When the
/// whole quarantine is full ([`MAX_QUARANTINE_ENTRIES`], [`MAX_QUARANTINE_BYTES`]), the largest
/// source loses its newest entry to a newcomer from a smaller source, so one source's flood
/// never refuses another's entry.
pub(crate) fn admit(
    held: impl IntoIterator<Item = (EntryHash, [u8; 32], usize)>,
    candidates: &[(EntryHash, [u8; 32], usize)],
) -> Admission {
    #[derive(Default)]
    struct Source {
        bytes: usize,
        /// Held entries (and candidates admitted), oldest first.
        entries: Vec<(EntryHash, usize, bool)>,
    }
    let mut sources: BTreeMap<[u8; 32], Source> = BTreeMap::new();
    let (mut total, mut total_bytes) = (0usize, 0usize);
    for (h, s, b) in held {
        let src = sources.entry(s).or_default();
        src.bytes += b;
        src.entries.push((h, b, false));
        total += 1;
        total_bytes += b;
    }
    let mut out = Admission::default();
    for (h, s, b) in candidates {
        let (count, bytes) = sources
            .get(s)
            .map_or((0, 0), |x| (x.entries.len(), x.bytes));
        if count + 1 > MAX_QUARANTINE_SOURCE_ENTRIES
            || bytes + b > MAX_QUARANTINE_SOURCE_BYTES_STORED
        {
            out.refused.push(*h);
            continue;
        }
        let mut room = true;
        while total + 1 > MAX_QUARANTINE_ENTRIES || total_bytes + b > MAX_QUARANTINE_BYTES {
            // The largest source (by entries, then bytes; ties to the smallest key).
            let largest = sources
                .iter()
                .filter(|(_, x)| !x.entries.is_empty())
                .max_by(|a, b| {
                    (a.1.entries.len(), a.1.bytes)
                        .cmp(&(b.1.entries.len(), b.1.bytes))
                        .then(b.0.cmp(a.0))
                })
                .map(|(k, x)| (*k, x.entries.len()));
            match largest {
                Some((k, n)) if k != *s && n > count + 1 => {
                    let src = sources.get_mut(&k).expect("largest source");
                    let (gone, gb, was_candidate) = src.entries.pop().expect("not empty");
                    src.bytes -= gb;
                    total -= 1;
                    total_bytes -= gb;
                    if was_candidate {
                        out.admitted.remove(&gone);
                        out.refused.push(gone);
                    } else {
                        out.evicted.push(gone);
                    }
                }
                _ => {
                    room = false;
                    break;
                }
            }
        }
        if !room {
            out.refused.push(*h);
            continue;
        }
        let src = sources.entry(*s).or_default();
        src.bytes += b;
        src.entries.push((*h, *b, true));
        total += 1;
        total_bytes += b;
        out.admitted.insert(*h);
    }
    out
}
