//! Units' keys as an operator sees them: each key with its fingerprint, since when and until
//! when it is valid and why it ends, and the chain of certificates it rests on; finding a key
//! by a fingerprint prefix; and, before a revocation is signed, what it would invalidate.

use std::collections::BTreeSet;

use sync_protocol::directory::{Directory, KeyProblem};
use sync_protocol::entry::{Entry, EntryBody, Revocation};
use sync_protocol::ids::{EntryHash, UnitId, UnitKey};
use sync_protocol::import::import_batch;
use sync_protocol::store::{EntryLookup, EntryStore};
use sync_protocol::verify::RejectReason;

use crate::{Node, NodeError};

/// How a key's validity ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyEnd {
    /// Replaced by a newer certificate (rotation or move) at this time.
    Replaced(u64),
    /// Revoked from this time.
    Revoked {
        /// when
        effective_ms: u64,
        /// only by the unit itself (the parent may still void it)
        by_self_only: bool,
    },
}

/// One certified key of a unit.
#[derive(Clone, Debug)]
pub struct KeyRow {
    /// The unit.
    pub unit: UnitId,
    /// The key.
    pub key: UnitKey,
    /// The certificate that certified it.
    pub certificate: EntryHash,
    /// Valid from.
    pub from_ms: u64,
    /// How and when it ends, if it does.
    pub end: Option<KeyEnd>,
    /// Whether it is valid now.
    pub valid_now: bool,
    /// Who certified it: the signer unit and key.
    pub signer: (UnitId, UnitKey),
}

/// Every key certified for `unit`, oldest first (the root's key first for the root).
pub fn keys_of(d: &Directory, unit: &UnitId, now_ms: u64) -> Vec<KeyRow> {
    let mut rows = Vec::new();
    let mut certs: Vec<_> = d.certificates_of(unit).collect();
    certs.sort_by_key(|c| (c.from_ms, c.hash));
    for c in certs {
        let revoked = d
            .key_valid_at(unit, &c.cert.key, u64::MAX / 2)
            .err()
            .and_then(|p| match p {
                KeyProblem::Revoked {
                    effective_ms,
                    by_self_only,
                } => Some(KeyEnd::Revoked {
                    effective_ms,
                    by_self_only,
                }),
                _ => None,
            });
        let end = match (revoked, c.until_ms) {
            (Some(KeyEnd::Revoked { effective_ms, .. }), Some(u)) if u <= effective_ms => {
                Some(KeyEnd::Replaced(u))
            }
            (Some(r), _) => Some(r),
            (None, Some(u)) => Some(KeyEnd::Replaced(u)),
            (None, None) => None,
        };
        rows.push(KeyRow {
            unit: unit.clone(),
            key: c.cert.key,
            certificate: c.hash,
            from_ms: c.from_ms,
            end,
            valid_now: d.key_valid_at(unit, &c.cert.key, now_ms).is_ok(),
            signer: (c.signer.clone(), c.signer_key),
        });
    }
    rows
}

/// The chain a unit's current key rests on: the unit, then each certifying unit up to the root,
/// with the key each signed with.
pub fn chain_of(d: &Directory, unit: &UnitId, now_ms: u64) -> Vec<(UnitId, UnitKey)> {
    let mut out = Vec::new();
    let mut cur = d.cert_at(unit, now_ms).or_else(|| d.latest_cert(unit));
    if cur.is_none() && unit == d.root() {
        return vec![(unit.clone(), d.genesis().root_key)];
    }
    let mut seen = BTreeSet::new();
    while let Some(c) = cur {
        if !seen.insert(c.hash) || out.len() > sync_protocol::directory::MAX_TREE_DEPTH {
            break;
        }
        out.push((c.cert.unit.clone(), c.cert.key));
        if c.signer == *d.root() && c.signer_key == d.genesis().root_key {
            out.push((c.signer.clone(), c.signer_key));
            break;
        }
        cur = d
            .certificates_of(&c.signer)
            .filter(|s| s.cert.key == c.signer_key && s.from_ms <= c.from_ms)
            .last();
    }
    out
}

/// Why a fingerprint prefix names no single key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLookupError {
    /// Not hexadecimal (or empty, or longer than a key).
    #[error("{0:?} is not a key fingerprint (hexadecimal digits)")]
    NotAFingerprint(String),
    /// No key starts so.
    #[error("no key starts with {0}")]
    Unknown(String),
    /// Several keys start so.
    #[error("{prefix} is the start of {} keys: {}", .matches.len(), .matches.iter().map(|(u, k)| format!("{u} {}", k.to_hex())).collect::<Vec<_>>().join(", "))]
    Ambiguous {
        /// the prefix
        prefix: String,
        /// the keys it starts
        matches: Vec<(UnitId, UnitKey)>,
    },
    /// The unit is not known.
    #[error("unit {0} is not known here")]
    UnknownUnit(UnitId),
}

/// The (unit, key) a fingerprint prefix names (case-insensitive; spaces and dashes ignored, as
/// people copy them). A short prefix that happens to name one key is taken: the revocation
/// shows the full key and its unit before it is confirmed.
pub fn find_key(d: &Directory, prefix: &str) -> Result<(UnitId, UnitKey), KeyLookupError> {
    let p: String = prefix
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if p.is_empty() || p.len() > 64 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyLookupError::NotAFingerprint(prefix.to_owned()));
    }
    let mut matches: BTreeSet<(UnitId, UnitKey)> = d
        .certificates()
        .filter(|c| c.cert.key.to_hex().starts_with(&p))
        .map(|c| (c.cert.unit.clone(), c.cert.key))
        .collect();
    if d.genesis().root_key.to_hex().starts_with(&p) {
        matches.insert((d.root().clone(), d.genesis().root_key));
    }
    let mut it = matches.into_iter();
    match (it.next(), it.next()) {
        (None, _) => Err(KeyLookupError::Unknown(p)),
        (Some(one), None) => Ok(one),
        (Some(a), Some(b)) => Err(KeyLookupError::Ambiguous {
            prefix: p,
            matches: [a, b].into_iter().chain(it).collect(),
        }),
    }
}

/// The current key of `unit` (its certificate in force now; the root's genesis key).
pub fn current_key(d: &Directory, unit: &UnitId, now_ms: u64) -> Result<UnitKey, KeyLookupError> {
    if unit == d.root() {
        return Ok(d.genesis().root_key);
    }
    d.cert_at(unit, now_ms)
        .map(|c| c.cert.key)
        .ok_or_else(|| KeyLookupError::UnknownUnit(unit.clone()))
}

/// What a revocation would invalidate, worked out before it is signed.
#[derive(Debug, Clone, Default)]
pub struct Cascade {
    /// Certificates that would no longer be valid (signed by the key, or by a key certified
    /// through it, from the effective time on): unit, key, since.
    pub certificates: Vec<(UnitId, UnitKey, u64)>,
    /// Entries held here that would no longer verify (signed from the effective time on by the
    /// revoked key or a key in `certificates`), by signing unit.
    pub entries: Vec<(UnitId, usize)>,
}

impl Cascade {
    /// How many entries in all.
    pub fn entry_count(&self) -> usize {
        self.entries.iter().map(|(_, n)| n).sum()
    }
}

/// Why a revocation cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The verifier refuses it (e.g. this unit is not the key's unit or an ancestor of it).
    #[error("refused: {0}")]
    Refused(RejectReason),
    /// The node.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Signs (without storing) the revocation of `key` of `unit` from `effective_ms`, and works out
/// what it would invalidate at this node: the directory with the revocation added, compared
/// with the directory as it is. Returns the entry to store with [`Node::write_signed`] once the
/// operator confirms.
pub fn prepare_revocation(
    node: &Node,
    unit: &UnitId,
    key: UnitKey,
    effective_ms: u64,
    reason: sync_protocol::text::Text,
    now_ms: u64,
) -> Result<(Entry, Cascade), RevokeError> {
    let entry = node.author()?.sign(
        now_ms,
        EntryBody::Revocation(Revocation {
            unit: unit.clone(),
            key,
            effective_ms,
            reason,
        }),
    );
    let before = node.directory();
    let mut after = before.clone();
    let outcome = import_batch(
        node.store(),
        &mut after,
        vec![entry.clone()],
        Some(node.unit()),
        now_ms,
    )
    .map_err(|e| RevokeError::Node(e.into()))?;
    if let Some((_, r)) = outcome.rejected.into_iter().next() {
        return Err(RevokeError::Refused(r));
    }
    let mut cascade = Cascade::default();
    let mut affected: BTreeSet<(UnitId, UnitKey)> = BTreeSet::from([(unit.clone(), key)]);
    for c in before.certificates() {
        let t = c.from_ms;
        if before.key_valid_at(&c.cert.unit, &c.cert.key, t).is_ok()
            && after.key_valid_at(&c.cert.unit, &c.cert.key, t).is_err()
        {
            cascade
                .certificates
                .push((c.cert.unit.clone(), c.cert.key, t));
            affected.insert((c.cert.unit.clone(), c.cert.key));
        }
    }
    let store = node.store();
    let mut counts: std::collections::BTreeMap<UnitId, usize> = Default::default();
    let mut check = |e: &Entry| {
        let who = (e.author().clone(), e.key());
        if affected.contains(&who)
            && before.key_valid_at(&who.0, &who.1, e.time_ms()).is_ok()
            && after.key_valid_at(&who.0, &who.1, e.time_ms()).is_err()
        {
            *counts.entry(who.0).or_default() += 1;
        }
    };
    for e in store.trust_entries().map_err(NodeError::from)? {
        // Certificates are listed above; revocations it signed count as entries.
        if matches!(e.body(), EntryBody::Revocation(_)) {
            check(&e);
        }
    }
    for r in store.records().map_err(NodeError::from)? {
        for e in store.record_entries(&r).map_err(NodeError::from)? {
            check(&e);
        }
    }
    cascade.entries = counts.into_iter().collect();
    Ok((entry, cascade))
}
