//! Verified import of a batch of entries: the single door through which entries from
//! anywhere (another node, a bundle, the simulator) enter a store.
//!
//! Entries are tried in dependency-friendly order (trust entries first, then by time) and
//! retried until no more can be accepted, so a batch may carry a certificate after the entries
//! it certifies. What still waits for something goes to quarantine; what waits for an entry this
//! batch rejected is rejected in cascade.

use std::collections::{BTreeMap, BTreeSet};

use crate::directory::Directory;
use crate::entry::{Entry, EntryBody};
use crate::ids::{ChangeHash, EntryHash, RecordId, UnitId};
use crate::limits::MAX_BATCH_ENTRIES;
use crate::record::StateMemo;
use crate::store::{EntryLookup, EntryStore, StoreError};
use crate::verify::{
    verify_entry_with, Missing, RejectReason, VerifiedEntry, VerifyError, VerifyOptions,
};

/// What happened to a batch.
#[derive(Debug, Default)]
pub struct ImportOutcome {
    /// Verified, ready to store atomically, in acceptance order.
    pub accepted: Vec<VerifiedEntry>,
    /// Already stored: skipped.
    pub duplicates: usize,
    /// Waiting for something: for quarantine.
    pub waiting: Vec<(Entry, Missing)>,
    /// Refused, with the reason.
    pub rejected: Vec<(EntryHash, RejectReason)>,
}

/// A batch over the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Too many entries in one batch.
    #[error("batch of {0} entries is over the limit of {MAX_BATCH_ENTRIES}")]
    BatchTooLarge(usize),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies a batch against `store` (not modified) and `directory` (updated with the trust
/// entries accepted). The caller stores `accepted` in one atomic write.
pub fn import_batch<S: EntryStore>(
    store: &S,
    directory: &mut Directory,
    entries: Vec<Entry>,
    local_unit: Option<&UnitId>,
    now_ms: u64,
) -> Result<ImportOutcome, ImportError> {
    import_batch_with(
        store,
        directory,
        entries,
        local_unit,
        now_ms,
        &StateMemo::default(),
    )
}

/// [`import_batch`], with first-change states computed ahead (see [`StateMemo`]).
pub fn import_batch_with<S: EntryStore>(
    store: &S,
    directory: &mut Directory,
    entries: Vec<Entry>,
    local_unit: Option<&UnitId>,
    now_ms: u64,
    memo: &StateMemo,
) -> Result<ImportOutcome, ImportError> {
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(ImportError::BatchTooLarge(entries.len()));
    }
    let mut out = ImportOutcome::default();
    let mut pending: Vec<Entry> = Vec::new();
    let mut seen = BTreeSet::new();
    for e in entries {
        if !seen.insert(e.hash()) || store.contains_entry(&e)? {
            out.duplicates += 1;
        } else {
            pending.push(e);
        }
    }
    pending.sort_by_key(|e| (order_class(e), e.time_ms(), e.hash()));
    let opts = VerifyOptions {
        local_unit,
        now_ms,
        complete: false,
    };
    let mut overlay = Overlay {
        store,
        added: BTreeMap::new(),
        by_record: BTreeMap::new(),
        by_change: BTreeMap::new(),
    };
    loop {
        let mut progress = false;
        let mut still = Vec::new();
        for e in pending {
            match verify_entry_with(&overlay, directory, &e, opts, memo).and_then(|v| {
                check_scope(&overlay, directory, &e, local_unit, now_ms)?;
                Ok(v)
            }) {
                Ok(v) => {
                    add_trust_entry(directory, &e);
                    overlay.add(&e);
                    out.accepted.push(v);
                    progress = true;
                }
                Err(VerifyError::Waiting(m)) => still.push((e, m)),
                Err(VerifyError::Rejected(r)) => out.rejected.push((e.hash(), r)),
                Err(VerifyError::Store(s)) => return Err(s.into()),
            }
        }
        pending = still.into_iter().map(|(e, _)| e).collect();
        if !progress || pending.is_empty() {
            // One more pass to learn what each still waits for.
            for e in pending {
                match verify_entry_with(&overlay, directory, &e, opts, memo).and_then(|v| {
                    check_scope(&overlay, directory, &e, local_unit, now_ms)?;
                    Ok(v)
                }) {
                    Err(VerifyError::Waiting(m)) => out.waiting.push((e, m)),
                    Err(VerifyError::Rejected(r)) => out.rejected.push((e.hash(), r)),
                    Err(VerifyError::Store(s)) => return Err(s.into()),
                    Ok(v) => {
                        overlay.add(&e);
                        out.accepted.push(v);
                    }
                }
            }
            break;
        }
    }
    // Cascade: whatever waits for an entry this batch rejected is rejected too.
    let mut rejected: BTreeSet<EntryHash> = out.rejected.iter().map(|(h, _)| *h).collect();
    loop {
        let before = out.waiting.len();
        let (cascade, keep): (Vec<_>, Vec<_>) = out
            .waiting
            .drain(..)
            .partition(|(_, m)| matches!(m, Missing::Entry(h) if rejected.contains(h)));
        for (e, m) in cascade {
            rejected.insert(e.hash());
            out.rejected.push((
                e.hash(),
                RejectReason::MissingDependency(format!("{m}, which was rejected")),
            ));
        }
        out.waiting = keep;
        if out.waiting.len() == before {
            break;
        }
    }
    Ok(out)
}

/// Refuses an entry outside the receiving unit's scope (see [`crate::scope`]).
fn check_scope<L: EntryLookup>(
    lookup: &L,
    directory: &Directory,
    e: &Entry,
    local_unit: Option<&UnitId>,
    now_ms: u64,
) -> Result<(), VerifyError> {
    let Some(unit) = local_unit else {
        return Ok(());
    };
    let owner = match e.body() {
        // A record change names its record's owner, and verification has just checked that
        // it agrees with the record's other entries.
        EntryBody::RecordChange(c) => Some(c.owner.clone()),
        body => match body.record() {
            Some(r) => crate::verify::record_header(&lookup.record_entries(&r)?).map(|h| h.owner),
            None => None,
        },
    };
    if crate::scope::in_scope(directory, unit, e, owner.as_ref(), now_ms) {
        Ok(())
    } else {
        Err(RejectReason::OutOfScope { unit: unit.clone() }.into())
    }
}

/// Trust entries first, then record changes, projections, decisions.
fn order_class(e: &Entry) -> u8 {
    match e.body() {
        EntryBody::Genesis(_) => 0,
        // Revocations first, so that a batch carrying a revocation and certificates signed by
        // the revoked key refuses the certificates.
        EntryBody::Revocation(_) => 1,
        EntryBody::Certificate(_) => 2,
        // After the certificates it may rest on (the unit, its successor).
        EntryBody::UnitEnd(_) => 2,
        EntryBody::RecordChange(_) => 3,
        EntryBody::Projection(_) => 4,
        EntryBody::Decision(_) => 5,
    }
}

/// The store plus what this batch has accepted so far.
struct Overlay<'a, S> {
    store: &'a S,
    added: BTreeMap<EntryHash, Entry>,
    by_record: BTreeMap<RecordId, Vec<EntryHash>>,
    by_change: BTreeMap<ChangeHash, EntryHash>,
}

impl<S> Overlay<'_, S> {
    fn add(&mut self, e: &Entry) {
        if let Some(r) = e.body().record() {
            self.by_record.entry(r).or_default().push(e.hash());
        }
        if let EntryBody::RecordChange(c) = e.body() {
            self.by_change.insert(c.change.hash(), e.hash());
        }
        self.added.insert(e.hash(), e.clone());
    }
}

impl<S: EntryLookup> EntryLookup for Overlay<'_, S> {
    fn entry(&self, hash: &EntryHash) -> Result<Option<Entry>, StoreError> {
        match self.added.get(hash) {
            Some(e) => Ok(Some(e.clone())),
            None => self.store.entry(hash),
        }
    }
    fn record_entries(&self, record: &RecordId) -> Result<Vec<Entry>, StoreError> {
        let mut v = self.store.record_entries(record)?;
        if let Some(hs) = self.by_record.get(record) {
            v.extend(hs.iter().filter_map(|h| self.added.get(h).cloned()));
        }
        Ok(v)
    }
    fn change_entry(&self, change: &ChangeHash) -> Result<Option<EntryHash>, StoreError> {
        match self.by_change.get(change) {
            Some(h) => Ok(Some(*h)),
            None => self.store.change_entry(change),
        }
    }
}

/// Builds the trust directory from a store's genesis, certificates and revocations. The store
/// verified them when it accepted them; they are replayed in time order.
pub fn directory_from_store<S: EntryStore>(store: &S) -> Result<Option<Directory>, StoreError> {
    let mut sorted = store.trust_entries()?;
    sorted.sort_by_key(|e| (e.time_ms(), e.hash()));
    directory_from_ordered(sorted.into_iter().map(Ok))
}

/// [`directory_from_store`] from trust entries already in (time, hash) order, taken one at a
/// time: a store that reads them in that order (a node's `trust` index) builds the directory
/// without holding every entry at once. Entries before the genesis wait for it.
pub fn directory_from_ordered<I>(entries: I) -> Result<Option<Directory>, StoreError>
where
    I: IntoIterator<Item = Result<Entry, StoreError>>,
{
    let mut d: Option<Directory> = None;
    let mut early: Vec<Entry> = Vec::new();
    for e in entries {
        let e = e?;
        match (&mut d, e.body()) {
            (None, EntryBody::Genesis(g)) => {
                let mut dir = Directory::new(g.clone(), e.hash());
                for x in early.drain(..) {
                    add_trust_entry(&mut dir, &x);
                }
                d = Some(dir);
            }
            (None, _) => early.push(e),
            (Some(dir), _) => add_trust_entry(dir, &e),
        }
    }
    Ok(d)
}

fn add_trust_entry(d: &mut Directory, e: &Entry) {
    match e.body() {
        EntryBody::Certificate(c) => d.add_certificate(
            e.hash(),
            e.time_ms(),
            c.clone(),
            e.author().clone(),
            e.key(),
        ),
        EntryBody::Revocation(r) => d.add_revocation(
            r.unit.clone(),
            r.key,
            r.effective_ms,
            e.time_ms(),
            e.author().clone(),
            e.key(),
        ),
        EntryBody::UnitEnd(x) => d.add_end(
            e.hash(),
            x.unit.clone(),
            x.successor.clone(),
            x.effective_ms,
            e.time_ms(),
            e.author().clone(),
            e.key(),
        ),
        _ => {}
    }
}

/// Whether `key` is a valid key of `unit` at `now_ms`: by `directory` alone, or else once the
/// certificates a peer `presented` with its key (its own chain, see
/// [`crate::limits::MAX_PRESENTED_TRUST_ENTRIES`]) are verified against `directory` exactly as
/// an import would verify them. This is how a node accepts a peer's rotated key before the
/// rotation certificate has reached it by sync: the certificate comes with the key, and the
/// key is trusted only if the certificate chains to keys this directory already trusts.
///
/// `directory` is not changed (the certificates are checked on a copy, made only when the
/// directory alone does not accept the key); the caller stores them through the normal
/// import when it wants to keep them.
pub fn key_valid_with_presented(
    directory: &Directory,
    unit: &UnitId,
    key: &crate::ids::UnitKey,
    now_ms: u64,
    presented: &[Entry],
) -> Result<(), crate::directory::KeyProblem> {
    let plain = directory.key_valid_at(unit, key, now_ms);
    let certifies_it = |e: &Entry| matches!(e.body(), EntryBody::Certificate(c) if c.unit == *unit && c.key == *key);
    if plain.is_ok()
        || presented.len() > crate::limits::MAX_PRESENTED_TRUST_ENTRIES
        || !presented.iter().any(certifies_it)
    {
        return plain;
    }
    // Only certificates: a presented revocation could only take trust away, and is better
    // received through sync where it is stored.
    let certificates: Vec<Entry> = presented
        .iter()
        .filter(|e| matches!(e.body(), EntryBody::Certificate(_)))
        .cloned()
        .collect();
    let mut copy = directory.clone();
    let empty = crate::store::MemStore::new();
    match import_batch(&empty, &mut copy, certificates, None, now_ms) {
        Ok(_) => copy.key_valid_at(unit, key, now_ms),
        Err(_) => plain,
    }
}

#[cfg(test)]
mod presented_tests {
    use super::*;
    use crate::directory::KeyProblem;
    use crate::entry::Certificate;
    use crate::ids::UnitKey;
    use crate::testkit::{unit, Federation};

    fn key_of(fed: &Federation, u: &str) -> UnitKey {
        UnitKey(fed.signing_key(u).verifying_key().to_bytes())
    }

    #[test]
    fn a_rotated_key_is_accepted_with_the_certificates_that_prove_it_and_only_then() {
        let mut fed = Federation::new();
        let known = fed.directory.clone();
        let u = unit("ldld-tuy-hoa");
        let old = fed
            .store
            .entry(&fed.certificate_of("ldld-tuy-hoa"))
            .unwrap()
            .unwrap();
        let rotation = fed.rotate_key("ldld-tuy-hoa");
        let new_key = key_of(&fed, "ldld-tuy-hoa");
        let now = fed.now_ms() + 1;
        // Not known yet, and nothing presented: unknown.
        assert_eq!(
            known.key_valid_at(&u, &new_key, now),
            Err(KeyProblem::Unknown)
        );
        assert_eq!(
            key_valid_with_presented(&known, &u, &new_key, now, &[]),
            Err(KeyProblem::Unknown)
        );
        // The rotation with the certificate it replaces proves it; the directory is unchanged.
        let chain = [rotation.clone(), old.clone()];
        assert_eq!(
            key_valid_with_presented(&known, &u, &new_key, now, &chain),
            Ok(())
        );
        assert_eq!(
            known.key_valid_at(&u, &new_key, now),
            Err(KeyProblem::Unknown)
        );
        // A sibling's "rotation" of the unit, with a key of its own, proves nothing.
        let thief = fed.new_key();
        let thief_key = UnitKey(thief.verifying_key().to_bytes());
        let by_sibling = fed.sign_certificate_as(
            "ldld-tp-tra-vinh",
            Certificate {
                key: thief_key,
                replaces: Some(old.hash()),
                ..match old.body() {
                    EntryBody::Certificate(c) => c.clone(),
                    _ => unreachable!(),
                }
            },
            thief,
        );
        assert!(
            key_valid_with_presented(&known, &u, &thief_key, now, &[by_sibling, old.clone()])
                .is_err()
        );
        // More than the limit presented: not even looked at.
        let many = vec![old.clone(); crate::limits::MAX_PRESENTED_TRUST_ENTRIES]
            .into_iter()
            .chain([rotation])
            .collect::<Vec<_>>();
        assert_eq!(
            key_valid_with_presented(&known, &u, &new_key, now, &many),
            Err(KeyProblem::Unknown)
        );
    }
}
