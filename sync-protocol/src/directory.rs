//! The trust directory: which key belonged to which unit, under which parent, when.
//!
//! Built only from verified genesis, certificate and revocation entries. A key of a unit is
//! valid at time `t` when a certificate for that (unit, key) took effect at or before `t`, no
//! certificate replacing it took effect at or before `t` (rotation, re-parenting), and no
//! revocation of that key is effective at or before `t`. The unit's parent and role at `t` come
//! from the certificate in force at `t`, so a unit re-parented by the 2025 reform keeps every
//! earlier decision verifying under the tree as it was when the decision was signed.
//!
//! **Revocations** are kept with their signer and evaluated when a key is checked, so the
//! result is a pure function of the set of trust entries, whatever order they arrived in:
//! - a revocation counts only if the key that signed it was valid when it signed it (a thief's
//!   revocations dated after the thief's own key was revoked are void);
//! - a **self-revocation** (signed by the revoked unit itself) takes effect no earlier than its
//!   own time, whatever `effective_ms` says, and never voids a certificate: it ends the key's
//!   own record changes, decisions, projections and revocations only. A unit's own (possibly
//!   stolen) key therefore cannot void what its children were certified with. It is void once
//!   the parent has spoken: the key rotated away, or revoked by an ancestor;
//! - a revocation by an **ancestor** may reach back (`effective_ms` before its own time): it
//!   ends the key's own signatures from `effective_ms` and voids the certificates that key
//!   signed from `effective_ms` on (certificates it signed before stay valid). A reaching-back
//!   revocation signed by a key that an ancestor has since revoked is void, whenever dated.
//!
//! **Ends** (re-organisation: a merge into a successor, or a closure; `EntryBody::UnitEnd`) are
//! kept with their signer too. An end counts when its signer's key was valid when it signed;
//! of those that count the earliest (time, hash) wins, so the result does not depend on arrival
//! order. From the end's time — its `effective_ms`, never earlier than the entry's own time —
//! every key of the unit signs and certifies nothing ([`KeyProblem::Ended`]). A merged unit's
//! history is reported under its successor: [`Directory::report_parent`].

use std::collections::BTreeMap;

use crate::entry::{Certificate, Genesis, UnitRole};
use crate::ids::{EntryHash, FederationId, UnitId, UnitKey};
use crate::text::Text;

/// Deepest unit tree walked when computing ancestors; guards against cycles.
pub const MAX_TREE_DEPTH: usize = 16;

/// One certificate as the directory keeps it.
#[derive(Clone, Debug)]
pub struct CertRecord {
    /// Entry hash of the certificate.
    pub hash: EntryHash,
    /// When it took effect (its entry time).
    pub from_ms: u64,
    /// When a replacing certificate took effect, if one did.
    pub until_ms: Option<u64>,
    /// The certificate.
    pub cert: Certificate,
    /// The unit that signed it (the parent, or for a re-parenting an ancestor).
    pub signer: UnitId,
    /// The key that signed it.
    pub signer_key: UnitKey,
}

/// Why a key was not valid for a unit at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// No certificate for this unit and key is known (yet).
    Unknown,
    /// Certified only after the time in question.
    NotYetValid {
        /// when its certificate took effect
        from_ms: u64,
    },
    /// Replaced by a newer certificate before the time.
    RotatedAway {
        /// when the replacement took effect
        until_ms: u64,
    },
    /// Revoked before the time.
    Revoked {
        /// when the revocation took effect
        effective_ms: u64,
        /// whether only the unit's own revocation says so (the parent may still void it by
        /// rotating or revoking the key: see the module doc)
        by_self_only: bool,
    },
    /// The unit ended (merged or closed) at or before the time.
    Ended {
        /// when the end took effect
        end_ms: u64,
    },
    /// The certificate was signed by a key that was not valid then (revoked, rotated away):
    /// nothing it certified is valid.
    IssuerInvalid {
        /// the unit whose key signed the certificate
        issuer: UnitId,
    },
}

/// Certificates and revocations of one federation.
#[derive(Clone, Debug)]
pub struct Directory {
    federation: FederationId,
    genesis: Genesis,
    genesis_hash: EntryHash,
    certs: BTreeMap<UnitId, Vec<CertRecord>>,
    revoked: BTreeMap<(UnitId, UnitKey), Vec<RevocationRecord>>,
    /// How many certificates and revocations were added: see [`Directory::changes`].
    changes: u64,
    ended: BTreeMap<UnitId, Vec<EndRecord>>,
    /// Units merged into each unit (by any recorded end naming it), for reports.
    merged_into: BTreeMap<UnitId, Vec<UnitId>>,
}

/// One end of a unit (merge or closure) as the directory keeps it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndRecord {
    /// From when the unit's keys sign nothing: the end's `effective_ms`, no earlier than the
    /// entry's own time.
    pub end_ms: u64,
    /// The entry's hash.
    pub hash: EntryHash,
    /// The date the re-organisation names (reports "as of" a date use it).
    pub effective_ms: u64,
    /// The unit it was merged into; `None` for a closure.
    pub successor: Option<UnitId>,
    /// The entry's own time.
    pub time_ms: u64,
    /// The unit that signed it.
    pub signer: UnitId,
    /// The key that signed it.
    pub signer_key: UnitKey,
}

/// One revocation as the directory keeps it (see the module doc for what it counts for).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RevocationRecord {
    /// From when the key's own signatures are refused: `effective_ms`, or for a
    /// self-revocation no earlier than the revocation's own time.
    pub effective_ms: u64,
    /// Whether the revoked unit signed it itself (then it voids no certificate).
    pub by_self: bool,
    /// The revocation's own time.
    pub time_ms: u64,
    /// The unit that signed it.
    pub signer: UnitId,
    /// The key that signed it.
    pub signer_key: UnitKey,
}

/// What a key is being checked for: its own signature on an entry, or certifying a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// Signing a record change, decision, projection or revocation.
    Sign,
    /// Signing a certificate (and being the issuer of a certificate another key rests on):
    /// self-revocations do not count.
    Certify,
}

impl Directory {
    /// A directory holding only the root.
    pub fn new(genesis: Genesis, genesis_hash: EntryHash) -> Self {
        Self {
            federation: genesis.federation_id(),
            genesis,
            genesis_hash,
            certs: BTreeMap::new(),
            revoked: BTreeMap::new(),
            changes: 0,
            ended: BTreeMap::new(),
            merged_into: BTreeMap::new(),
        }
    }
    /// How many certificates, revocations and ends were added to this directory (or to the one it
    /// was cloned from): a copy whose count is the same is not stale, so a service refreshes
    /// its copy only when this moved, not after every session (a national directory is
    /// about 128,500 certificates).
    pub fn changes(&self) -> u64 {
        self.changes
    }
    /// The federation.
    pub fn federation(&self) -> FederationId {
        self.federation
    }
    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }
    /// The genesis entry's hash.
    pub fn genesis_hash(&self) -> EntryHash {
        self.genesis_hash
    }
    /// The root unit.
    pub fn root(&self) -> &UnitId {
        &self.genesis.root_unit
    }

    /// Records a verified certificate. Only [`crate::verify`] and [`crate::import`] call this,
    /// after verification.
    pub(crate) fn add_certificate(
        &mut self,
        hash: EntryHash,
        time_ms: u64,
        cert: Certificate,
        signer: UnitId,
        signer_key: UnitKey,
    ) {
        self.changes += 1;
        let list = self.certs.entry(cert.unit.clone()).or_default();
        if list.iter().any(|c| c.hash == hash) {
            return;
        }
        // A later-arriving certificate may replace one we have, or be replaced by one we have.
        let mut until_ms = None;
        for other in list.iter() {
            if other.cert.replaces == Some(hash) {
                until_ms = Some(until_ms.map_or(other.from_ms, |u: u64| u.min(other.from_ms)));
            }
        }
        if let Some(replaced) = cert.replaces {
            for other in list.iter_mut() {
                if other.hash == replaced {
                    other.until_ms = Some(other.until_ms.map_or(time_ms, |u| u.min(time_ms)));
                }
            }
        }
        list.push(CertRecord {
            hash,
            from_ms: time_ms,
            until_ms,
            cert,
            signer,
            signer_key,
        });
        list.sort_by_key(|c| (c.from_ms, c.hash));
    }

    /// Records a verified revocation of `key` of `unit`, signed by `signer` with `signer_key`
    /// at `time_ms`. Only [`crate::verify`] and [`crate::import`] call this, after verification.
    /// Revocations only remove: of those that count, the earliest effective time wins.
    pub(crate) fn add_revocation(
        &mut self,
        unit: UnitId,
        key: UnitKey,
        effective_ms: u64,
        time_ms: u64,
        signer: UnitId,
        signer_key: UnitKey,
    ) {
        self.changes += 1;
        let by_self = signer == unit;
        let record = RevocationRecord {
            effective_ms: if by_self {
                effective_ms.max(time_ms)
            } else {
                effective_ms
            },
            by_self,
            time_ms,
            signer,
            signer_key,
        };
        let list = self.revoked.entry((unit, key)).or_default();
        if !list.contains(&record) {
            list.push(record);
            list.sort();
        }
    }

    /// Records a verified end (merge or closure) of `unit`, signed by `signer` with
    /// `signer_key` at `time_ms`. Only [`crate::verify`] and [`crate::import`] call this, after
    /// verification.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_end(
        &mut self,
        hash: EntryHash,
        unit: UnitId,
        successor: Option<UnitId>,
        effective_ms: u64,
        time_ms: u64,
        signer: UnitId,
        signer_key: UnitKey,
    ) {
        let record = EndRecord {
            end_ms: effective_ms.max(time_ms),
            hash,
            effective_ms,
            successor: successor.clone(),
            time_ms,
            signer,
            signer_key,
        };
        let list = self.ended.entry(unit.clone()).or_default();
        if list.contains(&record) {
            return;
        }
        list.push(record);
        list.sort();
        self.changes += 1;
        if let Some(s) = successor {
            let preds = self.merged_into.entry(s).or_default();
            if !preds.contains(&unit) {
                preds.push(unit);
                preds.sort();
            }
        }
    }

    /// The end of `unit` that counts (the earliest whose signer's key was valid when it
    /// signed), whatever its time; `None` while the unit has not ended.
    pub fn end_of(&self, unit: &UnitId) -> Option<&EndRecord> {
        self.end_of_depth(unit, 0)
    }

    fn end_of_depth(&self, unit: &UnitId, depth: usize) -> Option<&EndRecord> {
        let list = self.ended.get(unit)?;
        list.iter().find(|r| {
            depth >= MAX_TREE_DEPTH
                || self
                    .key_valid_at_depth(
                        &r.signer,
                        &r.signer_key,
                        r.time_ms,
                        KeyUse::Sign,
                        depth + 1,
                    )
                    .is_ok()
        })
    }

    /// Whether `unit` had ended at `t_ms` (by the date its end names).
    pub fn ended_at(&self, unit: &UnitId, t_ms: u64) -> bool {
        self.end_of(unit).is_some_and(|e| e.effective_ms <= t_ms)
    }

    /// The unit a merged unit's history is reported under: its successor, followed through
    /// successive merges (bounded by [`MAX_TREE_DEPTH`]); `None` when it was not merged.
    pub fn successor_of(&self, unit: &UnitId) -> Option<UnitId> {
        let mut cur = self.end_of(unit)?.successor.clone()?;
        for _ in 0..MAX_TREE_DEPTH {
            match self.end_of(&cur).and_then(|e| e.successor.clone()) {
                Some(next) if next != *unit => cur = next,
                _ => break,
            }
        }
        Some(cur)
    }

    /// The units merged into `unit` (directly), by id.
    pub fn predecessors_of(&self, unit: &UnitId) -> Vec<UnitId> {
        self.merged_into
            .get(unit)
            .map(|v| {
                v.iter()
                    .filter(|p| {
                        self.end_of(p)
                            .is_some_and(|e| e.successor.as_ref() == Some(unit))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The parent a unit is reported under in the tree every certificate and end held
    /// defines: a merged unit's direct successor (its history is carried there), otherwise
    /// its latest certificate's parent. Counters and reports follow this tree.
    pub fn report_parent(&self, unit: &UnitId) -> Option<&UnitId> {
        if let Some(s) = self.end_of(unit).and_then(|e| e.successor.as_ref()) {
            return Some(s);
        }
        self.parent_at(unit, u64::MAX)
    }

    /// [`Directory::report_parent`] as it was at `t_ms`: the certificate in force then, and
    /// ends whose date had come.
    pub fn report_parent_at(&self, unit: &UnitId, t_ms: u64) -> Option<&UnitId> {
        if let Some(e) = self.end_of(unit) {
            if e.effective_ms <= t_ms {
                if let Some(s) = e.successor.as_ref() {
                    return Some(s);
                }
            }
        }
        self.parent_at(unit, t_ms)
    }

    /// The revocations recorded for a key (whether each counts is decided when a key is checked).
    pub fn revocations_of(&self, unit: &UnitId, key: &UnitKey) -> &[RevocationRecord] {
        self.revoked
            .get(&(unit.clone(), *key))
            .map_or(&[], |v| v.as_slice())
    }

    /// Whether `key` was a valid key of `unit` at `t_ms` for signing an entry: certified by a
    /// chain of certificates, each signed by a key valid when it signed (so an ancestor's
    /// revocation also voids what the key certified from its effective time on), not replaced
    /// and not revoked.
    pub fn key_valid_at(&self, unit: &UnitId, key: &UnitKey, t_ms: u64) -> Result<(), KeyProblem> {
        self.key_valid_for(unit, key, t_ms, KeyUse::Sign)
    }

    /// [`Directory::key_valid_at`] for a given use: for [`KeyUse::Certify`] self-revocations do
    /// not count.
    pub fn key_valid_for(
        &self,
        unit: &UnitId,
        key: &UnitKey,
        t_ms: u64,
        usage: KeyUse,
    ) -> Result<(), KeyProblem> {
        self.key_valid_at_depth(unit, key, t_ms, usage, 0)
    }

    /// The earliest effective time, at or before `t_ms`, of a revocation of (unit, key) that
    /// counts for `usage` (see the module doc).
    fn revoked_at(
        &self,
        unit: &UnitId,
        key: &UnitKey,
        t_ms: u64,
        usage: KeyUse,
        depth: usize,
    ) -> Option<(u64, bool)> {
        let list = self.revoked.get(&(unit.clone(), *key))?;
        let counted: Vec<&RevocationRecord> = list
            .iter()
            .filter(|r| r.effective_ms <= t_ms)
            .filter(|r| usage == KeyUse::Sign || !r.by_self)
            .filter(|r| self.revocation_counts(unit, key, r, depth))
            .collect();
        let effective = counted.iter().map(|r| r.effective_ms).min()?;
        Some((effective, counted.iter().all(|r| r.by_self)))
    }

    /// Whether a recorded revocation of (unit, key) counts. Past the depth bound it does:
    /// revocations only remove.
    fn revocation_counts(
        &self,
        unit: &UnitId,
        key: &UnitKey,
        r: &RevocationRecord,
        depth: usize,
    ) -> bool {
        if depth >= MAX_TREE_DEPTH {
            return true;
        }
        if r.by_self {
            // The parent's word replaces the key's own: a self-revocation is void once the
            // key has been rotated away or revoked by an ancestor. Its signer is judged
            // without self-revocations (else it would void itself).
            !self.superseded(unit, key, depth)
                && self
                    .key_valid_at_depth(
                        &r.signer,
                        &r.signer_key,
                        r.time_ms,
                        KeyUse::Certify,
                        depth + 1,
                    )
                    .is_ok()
        } else {
            // A revocation reaching back before its own time, signed by a key an ancestor has
            // since revoked, is void: a compromised key's retroactive judgements do not stand.
            if r.effective_ms < r.time_ms
                && self.revoked_by_ancestor(&r.signer, &r.signer_key, depth + 1)
            {
                return false;
            }
            self.key_valid_at_depth(&r.signer, &r.signer_key, r.time_ms, KeyUse::Sign, depth + 1)
                .is_ok()
        }
    }

    /// Whether (unit, key) carries a revocation by an ancestor that counts, at any time.
    fn revoked_by_ancestor(&self, unit: &UnitId, key: &UnitKey, depth: usize) -> bool {
        self.revoked.get(&(unit.clone(), *key)).is_some_and(|list| {
            list.iter()
                .any(|r| !r.by_self && self.revocation_counts(unit, key, r, depth))
        })
    }

    /// Whether the parent has spoken about (unit, key): every certificate of that key was
    /// replaced (rotation), or an ancestor revoked it.
    fn superseded(&self, unit: &UnitId, key: &UnitKey, depth: usize) -> bool {
        let mut with_key = self
            .certificates_of(unit)
            .filter(|c| c.cert.key == *key)
            .peekable();
        let rotated = with_key.peek().is_some() && with_key.all(|c| c.until_ms.is_some());
        rotated || self.revoked_by_ancestor(unit, key, depth + 1)
    }

    fn key_valid_at_depth(
        &self,
        unit: &UnitId,
        key: &UnitKey,
        t_ms: u64,
        usage: KeyUse,
        depth: usize,
    ) -> Result<(), KeyProblem> {
        if let Some((effective_ms, by_self_only)) = self.revoked_at(unit, key, t_ms, usage, depth) {
            return Err(KeyProblem::Revoked {
                effective_ms,
                by_self_only,
            });
        }
        if *unit == self.genesis.root_unit && *key == self.genesis.root_key {
            return Ok(());
        }
        if let Some(e) = self.end_of_depth(unit, depth) {
            if e.end_ms <= t_ms {
                return Err(KeyProblem::Ended { end_ms: e.end_ms });
            }
        }
        let Some(list) = self.certs.get(unit) else {
            return Err(KeyProblem::Unknown);
        };
        let mut problem = KeyProblem::Unknown;
        for c in list.iter().filter(|c| c.cert.key == *key) {
            if t_ms < c.from_ms {
                problem = KeyProblem::NotYetValid { from_ms: c.from_ms };
                continue;
            }
            match c.until_ms {
                Some(until_ms) if t_ms >= until_ms => {
                    problem = KeyProblem::RotatedAway { until_ms };
                }
                _ => {
                    if depth >= MAX_TREE_DEPTH {
                        problem = KeyProblem::IssuerInvalid {
                            issuer: c.signer.clone(),
                        };
                        continue;
                    }
                    match self.key_valid_at_depth(
                        &c.signer,
                        &c.signer_key,
                        c.from_ms,
                        KeyUse::Certify,
                        depth + 1,
                    ) {
                        Ok(()) => return Ok(()),
                        Err(_) => {
                            problem = KeyProblem::IssuerInvalid {
                                issuer: c.signer.clone(),
                            }
                        }
                    }
                }
            }
        }
        Err(problem)
    }

    /// The certificate of `unit` in force at `t_ms` (the latest that took effect and was not
    /// replaced). `None` for the root and for unknown units.
    pub fn cert_at(&self, unit: &UnitId, t_ms: u64) -> Option<&CertRecord> {
        self.certs
            .get(unit)?
            .iter()
            .rev()
            .find(|c| c.from_ms <= t_ms && c.until_ms.is_none_or(|u| t_ms < u))
    }

    /// The latest certificate of `unit`, whatever its time.
    pub fn latest_cert(&self, unit: &UnitId) -> Option<&CertRecord> {
        self.certs
            .get(unit)?
            .iter()
            .rev()
            .find(|c| c.until_ms.is_none())
    }

    /// Whether the unit is known (the root or certified).
    pub fn knows(&self, unit: &UnitId) -> bool {
        *unit == self.genesis.root_unit || self.certs.contains_key(unit)
    }

    /// The unit's role at `t_ms`.
    pub fn role_at(&self, unit: &UnitId, t_ms: u64) -> Option<UnitRole> {
        if *unit == self.genesis.root_unit {
            return Some(UnitRole::National);
        }
        self.cert_at(unit, t_ms).map(|c| c.cert.role)
    }

    /// The unit's name (latest certificate).
    pub fn name(&self, unit: &UnitId) -> Option<&Text> {
        if *unit == self.genesis.root_unit {
            return Some(&self.genesis.root_name);
        }
        self.latest_cert(unit).map(|c| &c.cert.name)
    }

    /// The unit's parent at `t_ms`; `None` for the root and unknown units.
    pub fn parent_at(&self, unit: &UnitId, t_ms: u64) -> Option<&UnitId> {
        self.cert_at(unit, t_ms).map(|c| &c.cert.parent)
    }

    /// The unit's ancestors at `t_ms`, nearest first, ending at the root. Stops at
    /// [`MAX_TREE_DEPTH`] or at a repeat.
    pub fn ancestors_at(&self, unit: &UnitId, t_ms: u64) -> Vec<UnitId> {
        let mut out: Vec<UnitId> = Vec::new();
        let mut cur = unit.clone();
        while let Some(p) = self.parent_at(&cur, t_ms) {
            if out.contains(p) || *p == *unit || out.len() >= MAX_TREE_DEPTH {
                break;
            }
            out.push(p.clone());
            cur = p.clone();
        }
        out
    }

    /// Whether `ancestor` is `unit` or one of its ancestors at `t_ms`.
    pub fn is_self_or_ancestor_at(&self, ancestor: &UnitId, unit: &UnitId, t_ms: u64) -> bool {
        ancestor == unit || self.ancestors_at(unit, t_ms).contains(ancestor)
    }

    /// Every unit known, the root first then by id.
    pub fn units(&self) -> Vec<UnitId> {
        let mut v = vec![self.genesis.root_unit.clone()];
        v.extend(
            self.certs
                .keys()
                .filter(|u| **u != self.genesis.root_unit)
                .cloned(),
        );
        v
    }

    /// The children of `unit` at `t_ms`, by id.
    pub fn children_at(&self, unit: &UnitId, t_ms: u64) -> Vec<UnitId> {
        self.certs
            .keys()
            .filter(|u| self.parent_at(u, t_ms) == Some(unit))
            .cloned()
            .collect()
    }

    /// Every certificate record, for listing.
    pub fn certificates(&self) -> impl Iterator<Item = &CertRecord> {
        self.certs.values().flatten()
    }

    /// The certificate records of one unit (a map lookup, not a scan: verifying a certificate
    /// asks this for every certificate, and a national directory holds about 128,500).
    pub fn certificates_of(&self, unit: &UnitId) -> impl Iterator<Item = &CertRecord> {
        self.certs.get(unit).into_iter().flatten()
    }
}
