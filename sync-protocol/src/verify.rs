//! The one verification function, used by the CLI, import, sync and the simulator.
//!
//! [`verify_entry`] decides whether one entry may be stored, given what is already known;
//! [`verify_record`] re-checks a whole record as stored (every entry, forks, approval binding,
//! content, commitments). Both are pure functions of their inputs: the entries, the trust
//! directory, the verifier's unit and the verifier's clock.
//!
//! The rules, each with its own [`RejectReason`]:
//! 1. the entry decodes canonically and its signature verifies strictly (`Entry::decode`);
//! 2. it belongs to this federation and is not dated more than [`MAX_CLOCK_SKEW_MS`] ahead;
//! 3. its key was a key of its author at its time: certified by a chain to the root, not yet
//!    replaced (rotation, re-parenting), not revoked;
//! 4. authority by kind: a certificate is signed by the parent it names, whose role may have
//!    such a child; a revocation by the unit or an ancestor; a record change by the record's
//!    owner; a decision by the unit next in the chain (see [`expected_decider`]);
//! 5. record changes keep the record's kind, owner and confidentiality, and the content at
//!    that change validates (fields, bounds, dates, sector, the superior is the origin's parent);
//! 6. a decision cites the previous decision of its chain, is not dated before it nor before
//!    the state it judges, and binds to heads (or a projection) that exist in the record;
//! 7. a projection of a confidential initiative matches the private part at the verifier that
//!    holds it (commitment and public fields).

use std::collections::{BTreeMap, BTreeSet};

use crate::directory::{Directory, KeyProblem, KeyUse};
use crate::entry::{
    Binding, Decision, DecisionKind, Entry, EntryBody, Projection, RecordChange, RecordKind,
    UnitRole,
};
use crate::ids::{ChangeHash, EntryHash, FederationId, RecordId, UnitId, UnitKey};
use crate::limits::MAX_CLOCK_SKEW_MS;
use crate::record::{self, ContentError, RecordContent, StateMemo};
use crate::store::{EntryLookup, StoreError};

/// An entry that passed [`verify_entry`]. Stores accept nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEntry(Entry);

impl VerifiedEntry {
    /// The entry.
    pub fn entry(&self) -> &Entry {
        &self.0
    }
    /// The entry, owned.
    pub fn into_entry(self) -> Entry {
        self.0
    }
    /// For a store reloading entries it verified before it wrote them. Skips every check: call
    /// it on nothing that came from outside the store.
    pub fn reloaded_unchecked(entry: Entry) -> Self {
        Self(entry)
    }
}

/// What an entry waits for before it can be verified (it goes to quarantine).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Missing {
    /// A certificate for this unit and key.
    Certificate {
        /// the unit
        unit: UnitId,
        /// the key
        key: UnitKey,
    },
    /// An entry this one cites.
    Entry(EntryHash),
    /// An Automerge change of the record.
    Change(ChangeHash),
    /// Any entry of the record.
    Record(RecordId),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Certificate { unit, key } => {
                write!(f, "certificate of unit {unit} for key {}", key.short())
            }
            Missing::Entry(h) => write!(f, "entry {}", h.short()),
            Missing::Change(h) => write!(f, "automerge change {}", h.short()),
            Missing::Record(r) => write!(f, "record {}", r.short()),
        }
    }
}

/// Why an entry or record is refused. One stable enum: sent to peers and shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// Not a canonical entry, or a bad signature.
    #[error("{0}")]
    Malformed(#[from] crate::entry::EntryError),
    /// Another federation's entry.
    #[error("entry belongs to federation {found}, not {expected}")]
    WrongFederation {
        /// ours
        expected: FederationId,
        /// the entry's
        found: FederationId,
    },
    /// Dated too far in the future.
    #[error("entry is dated {ahead_ms} ms in the future of this node's clock (at most {MAX_CLOCK_SKEW_MS} allowed)")]
    FutureDated {
        /// how far ahead
        ahead_ms: u64,
    },
    /// A genesis that is not this federation's.
    #[error("genesis does not match this federation's root")]
    GenesisMismatch,
    /// The signing key does not chain to the federation root.
    #[error("key {key} of unit {unit} does not chain to the federation root")]
    NotChainedToRoot {
        /// the unit
        unit: UnitId,
        /// the key (short)
        key: String,
    },
    /// Signed by a key its unit had not been certified with yet.
    #[error("unit {unit} signed at {time_ms} with a key certified only from {from_ms}")]
    KeyNotYetValid {
        /// the unit
        unit: UnitId,
        /// entry time
        time_ms: u64,
        /// certificate time
        from_ms: u64,
    },
    /// Signed after the key was rotated away or the unit re-certified.
    #[error("unit {unit} signed at {time_ms} with a key replaced at {until_ms}")]
    KeyRotatedAway {
        /// the unit
        unit: UnitId,
        /// entry time
        time_ms: u64,
        /// replacement time
        until_ms: u64,
    },
    /// Signed at or after the key's revocation.
    #[error("unit {unit} signed at {time_ms} with a key revoked from {effective_ms}")]
    KeyRevoked {
        /// the unit
        unit: UnitId,
        /// entry time
        time_ms: u64,
        /// revocation time
        effective_ms: u64,
    },
    /// A key certified by a key that was not valid when it signed (revoked, rotated away).
    #[error("key of unit {unit} was certified by {issuer} with a key not valid at that time")]
    IssuerKeyInvalid {
        /// the unit
        unit: UnitId,
        /// the certifying parent
        issuer: UnitId,
    },
    /// A second certificate for a unit that does not replace its current one, or a
    /// replacement signed by a unit that is neither the old parent nor its ancestor.
    #[error("{signer} may not re-certify {unit}: {why}")]
    CertificateTakeover {
        /// the unit
        unit: UnitId,
        /// who signed
        signer: UnitId,
        /// why not
        why: &'static str,
    },
    /// A certificate signed by a unit other than the parent it names (e.g. a sibling).
    #[error("certificate of {unit} names parent {parent} but is signed by {signer}")]
    SignerNotParent {
        /// the certified unit
        unit: UnitId,
        /// the parent named
        parent: UnitId,
        /// who signed
        signer: UnitId,
    },
    /// A role that may not sit under its parent's role.
    #[error("a {child} unit may not sit under a {parent} unit")]
    RoleNotAllowed {
        /// parent role code
        parent: &'static str,
        /// child role code
        child: &'static str,
    },
    /// A certificate that would make the tree a cycle, or certify the root.
    #[error("certificate of {0} would put it under itself or re-certify the root")]
    CertificateCycle(UnitId),
    /// A certificate replacing a certificate of another unit.
    #[error("certificate of {unit} replaces a certificate that is not of {unit}")]
    ReplacesOtherUnit {
        /// the unit
        unit: UnitId,
    },
    /// A revocation by a unit that is neither the unit nor its ancestor.
    #[error("{signer} may not revoke keys of {unit}: not the unit nor its ancestor")]
    RevokerNotAncestor {
        /// the revoked unit
        unit: UnitId,
        /// who signed
        signer: UnitId,
    },
    /// A record change signed by a unit that does not own the record.
    #[error("record {record} belongs to {owner}; {signer} may not change it")]
    NotRecordOwner {
        /// the record
        record: RecordId,
        /// its owner
        owner: UnitId,
        /// who signed
        signer: UnitId,
    },
    /// Entries of one record disagree on kind, owner or confidentiality.
    #[error("record {record}: entries disagree on its {what}")]
    RecordMismatch {
        /// the record
        record: RecordId,
        /// what differs
        what: &'static str,
    },
    /// A record owner whose role may not own such a record.
    #[error("a {role} unit may not own a {kind} record")]
    OwnerRoleNotAllowed {
        /// role code
        role: &'static str,
        /// kind code
        kind: &'static str,
    },
    /// The record content fails validation.
    #[error("record {record}: {error}")]
    BadContent {
        /// the record
        record: RecordId,
        /// the field error
        error: ContentError,
    },
    /// A record change beyond [`crate::limits::MAX_RECORD_CHANGES`].
    #[error(
        "record {record} would have {count} changes, over the limit of {}",
        crate::limits::MAX_RECORD_CHANGES
    )]
    TooManyChanges {
        /// the record
        record: RecordId,
        /// its changes with this one
        count: usize,
    },
    /// The initiative's superior is not its origin's parent.
    #[error("initiative names {superior} as direct superior, but {origin}'s parent is {parent}")]
    SuperiorNotParent {
        /// named superior
        superior: UnitId,
        /// origin
        origin: UnitId,
        /// actual parent
        parent: String,
    },
    /// A target assigned to a unit that is not the assigner's child.
    #[error("target assigns to {unit}, which is not a child of {owner}")]
    TargetNotChild {
        /// the unit
        unit: UnitId,
        /// the assigner
        owner: UnitId,
    },
    /// An initiative, projection or target under a programme launched by a unit that is not
    /// the unit itself nor one of its ancestors: a unit launches programmes for its own
    /// subtree only.
    #[error(
        "programme {programme} was launched by {launcher}, which has no authority over {unit}"
    )]
    ProgrammeOutsideAuthority {
        /// the programme
        programme: RecordId,
        /// the unit that launched it
        launcher: UnitId,
        /// the unit whose record names it
        unit: UnitId,
    },
    /// A decision or projection on a record that is not an initiative.
    #[error("record {0} is not an initiative")]
    NotAnInitiative(RecordId),
    /// A decision out of the chain's order.
    #[error("decision out of order: {0}")]
    DecisionOutOfOrder(&'static str),
    /// A decision by an ancestor above the unit whose turn it was.
    #[error("decision skips a level: it is {expected}'s turn, not {signer}'s")]
    DecisionSkipsLevel {
        /// whose turn it was
        expected: UnitId,
        /// who signed
        signer: UnitId,
    },
    /// A decision by a unit outside the origin's line of ancestors.
    #[error("{signer} may not decide on initiatives of {origin}: outside its subtree")]
    DecisionOutsideSubtree {
        /// who signed
        signer: UnitId,
        /// the origin
        origin: UnitId,
    },
    /// A decision dated before the previous decision or the state it judges.
    #[error("decision is dated before {0}")]
    DecisionBackdated(&'static str),
    /// A decision binding to heads the record never had.
    #[error("decision binds to state {head} that is not in the record's history")]
    UnknownHeads {
        /// the missing head
        head: ChangeHash,
    },
    /// A decision citing an entry that is missing from the complete record.
    #[error("cites {0}, which this node does not hold")]
    MissingDependency(String),
    /// A binding of the wrong form (confidential initiatives bind to projections).
    #[error("decision binding: {0}")]
    WrongBinding(&'static str),
    /// A projection whose commitment does not match the private part.
    #[error("the private part does not match its commitment")]
    CommitmentMismatch,
    /// An entry outside the receiving node's scope (e.g. a confidential initiative's private
    /// part beyond its direct superior, or another subtree's initiative).
    #[error("entry is outside the scope of unit {unit}")]
    OutOfScope {
        /// the receiving unit
        unit: UnitId,
    },
    /// A projection whose public field differs from the private record.
    #[error("projection's {0} differs from the initiative")]
    ProjectionMismatch(&'static str),
    /// Signed by, certifying, or placing something under a unit that had ended (merged or
    /// closed) by then.
    #[error("unit {unit} ended (merged or closed) at {end_ms}")]
    UnitEnded {
        /// the unit
        unit: UnitId,
        /// when it ended
        end_ms: u64,
    },
    /// An end (merge, closure) that breaks a re-organisation rule.
    #[error("{signer} may not end {unit}: {why}")]
    EndRefused {
        /// the unit
        unit: UnitId,
        /// who signed
        signer: UnitId,
        /// why not
        why: &'static str,
    },
}

/// The outcome of verifying one entry, when it is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Waits for something not yet known: quarantine.
    #[error("waiting for {0}")]
    Waiting(Missing),
    /// Refused.
    #[error(transparent)]
    Rejected(#[from] RejectReason),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who verifies, and when.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions<'a> {
    /// The verifier's unit: decides whether it should hold confidential private parts. `None`
    /// means "holds everything" (tests, tools).
    pub local_unit: Option<&'a UnitId>,
    /// The verifier's wall clock, Unix milliseconds.
    pub now_ms: u64,
    /// Whether everything the entry cites should be present (re-checking a stored record):
    /// then something missing is a rejection, not a wait.
    pub complete: bool,
}

/// Verifies one decoded entry against what `lookup` and `directory` know.
pub fn verify_entry<L: EntryLookup>(
    lookup: &L,
    directory: &Directory,
    entry: &Entry,
    opts: VerifyOptions<'_>,
) -> Result<VerifiedEntry, VerifyError> {
    verify_entry_with(lookup, directory, entry, opts, &StateMemo::default())
}

/// [`verify_entry`], reading first-change states from `memo` where it holds them (the same
/// result, computed earlier; see [`StateMemo`]).
pub fn verify_entry_with<L: EntryLookup>(
    lookup: &L,
    directory: &Directory,
    entry: &Entry,
    opts: VerifyOptions<'_>,
    memo: &StateMemo,
) -> Result<VerifiedEntry, VerifyError> {
    let v = Verifier {
        lookup,
        directory,
        opts,
        memo,
    };
    v.entry(entry)?;
    Ok(VerifiedEntry(entry.clone()))
}

struct Verifier<'a, L> {
    lookup: &'a L,
    directory: &'a Directory,
    opts: VerifyOptions<'a>,
    memo: &'a StateMemo,
}

/// Kind, owner and confidentiality of a record, from any of its entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// The kind.
    pub kind: RecordKind,
    /// The owner (origin unit of an initiative).
    pub owner: UnitId,
    /// Whether confidential.
    pub confidential: bool,
}

/// The header of a record as its stored changes or projections state it.
pub fn record_header(entries: &[Entry]) -> Option<RecordHeader> {
    entries.iter().find_map(|e| match e.body() {
        EntryBody::RecordChange(c) => Some(RecordHeader {
            kind: c.kind,
            owner: c.owner.clone(),
            confidential: c.confidential,
        }),
        EntryBody::Projection(_) => Some(RecordHeader {
            kind: RecordKind::Initiative,
            owner: e.author().clone(),
            confidential: true,
        }),
        _ => None,
    })
}

impl<L: EntryLookup> Verifier<'_, L> {
    fn missing(&self, m: Missing, reason: RejectReason) -> VerifyError {
        if self.opts.complete {
            VerifyError::Rejected(reason)
        } else {
            VerifyError::Waiting(m)
        }
    }

    fn entry(&self, e: &Entry) -> Result<(), VerifyError> {
        if e.federation() != self.directory.federation() {
            return Err(RejectReason::WrongFederation {
                expected: self.directory.federation(),
                found: e.federation(),
            }
            .into());
        }
        let limit = self.opts.now_ms.saturating_add(MAX_CLOCK_SKEW_MS);
        if e.time_ms() > limit {
            return Err(RejectReason::FutureDated {
                ahead_ms: e.time_ms() - self.opts.now_ms,
            }
            .into());
        }
        if let EntryBody::Genesis(g) = e.body() {
            let ours = self.directory.genesis();
            if g != ours || e.author() != &ours.root_unit || e.key() != ours.root_key {
                return Err(RejectReason::GenesisMismatch.into());
            }
            return Ok(());
        }
        // Certificates, and a unit's revocation of its own key, are judged without
        // self-revocations (see `directory`): a unit's own key cannot void what it certified.
        let usage = match e.body() {
            EntryBody::Certificate(_) => KeyUse::Certify,
            EntryBody::Revocation(r) if r.unit == *e.author() => KeyUse::Certify,
            _ => KeyUse::Sign,
        };
        self.key(e.author(), &e.key(), e.time_ms(), usage)?;
        match e.body() {
            EntryBody::Genesis(_) => Ok(()),
            EntryBody::Certificate(c) => self.certificate(e, c),
            EntryBody::Revocation(r) => {
                if !self
                    .directory
                    .is_self_or_ancestor_at(e.author(), &r.unit, e.time_ms())
                {
                    let reason = RejectReason::RevokerNotAncestor {
                        unit: r.unit.clone(),
                        signer: e.author().clone(),
                    };
                    if !self.directory.knows(&r.unit) {
                        // The revoked unit's certificate has not arrived yet: its place in the
                        // tree is unknown, so wait for it rather than refuse for good.
                        return Err(self.missing(
                            Missing::Certificate {
                                unit: r.unit.clone(),
                                key: r.key,
                            },
                            reason,
                        ));
                    }
                    return Err(reason.into());
                }
                Ok(())
            }
            EntryBody::RecordChange(c) => self.record_change(e, c),
            EntryBody::Decision(d) => self.decision(e, d),
            EntryBody::Projection(p) => self.projection(e, p),
            EntryBody::UnitEnd(x) => self.unit_end(e, x),
        }
    }

    /// An end (merge, closure): signed by an ancestor of the unit, as re-parenting is; a merge
    /// names a successor of the same role, outside the unit's subtree, not ended, that the
    /// signer is or is an ancestor of.
    fn unit_end(&self, e: &Entry, x: &crate::entry::UnitEnd) -> Result<(), VerifyError> {
        let t = e.time_ms();
        let refuse = |why: &'static str| -> VerifyError {
            RejectReason::EndRefused {
                unit: x.unit.clone(),
                signer: e.author().clone(),
                why,
            }
            .into()
        };
        let wait_for = |u: &UnitId| {
            self.missing(
                Missing::Certificate {
                    unit: u.clone(),
                    key: e.key(),
                },
                RejectReason::NotChainedToRoot {
                    unit: u.clone(),
                    key: e.key().short(),
                },
            )
        };
        if x.unit == *self.directory.root() {
            return Err(refuse("the root never ends"));
        }
        let Some(role) = self.directory.role_at(&x.unit, t) else {
            return Err(wait_for(&x.unit));
        };
        if !self.directory.ancestors_at(&x.unit, t).contains(e.author()) {
            return Err(refuse(
                "only the unit's parent or an ancestor of it may merge or close it",
            ));
        }
        if let Some(s) = &x.successor {
            if *s == x.unit {
                return Err(refuse("a unit cannot be merged into itself"));
            }
            let Some(s_role) = self.directory.role_at(s, t) else {
                return Err(wait_for(s));
            };
            if self.directory.is_self_or_ancestor_at(&x.unit, s, t) {
                return Err(refuse("the successor is inside the merged unit's subtree"));
            }
            if s_role != role {
                return Err(refuse("the successor has another role"));
            }
            if !self.directory.is_self_or_ancestor_at(e.author(), s, t) {
                return Err(refuse(
                    "the signer is neither the successor nor an ancestor of it",
                ));
            }
            if let Some(end) = self.directory.end_of(s) {
                if end.end_ms <= t.max(x.effective_ms) {
                    return Err(RejectReason::UnitEnded {
                        unit: s.clone(),
                        end_ms: end.end_ms,
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    fn key(&self, unit: &UnitId, key: &UnitKey, t: u64, usage: KeyUse) -> Result<(), VerifyError> {
        match self.directory.key_valid_for(unit, key, t, usage) {
            Ok(()) => Ok(()),
            Err(KeyProblem::Unknown) => {
                let reason = RejectReason::NotChainedToRoot {
                    unit: unit.clone(),
                    key: key.short(),
                };
                if unit == self.directory.root() {
                    // The root has exactly one key, fixed at genesis: nothing can arrive later.
                    return Err(reason.into());
                }
                Err(self.missing(
                    Missing::Certificate {
                        unit: unit.clone(),
                        key: *key,
                    },
                    reason,
                ))
            }
            Err(KeyProblem::NotYetValid { from_ms }) => Err(RejectReason::KeyNotYetValid {
                unit: unit.clone(),
                time_ms: t,
                from_ms,
            }
            .into()),
            Err(KeyProblem::RotatedAway { until_ms }) => Err(RejectReason::KeyRotatedAway {
                unit: unit.clone(),
                time_ms: t,
                until_ms,
            }
            .into()),
            Err(KeyProblem::Revoked {
                effective_ms,
                by_self_only,
            }) => {
                let reason = RejectReason::KeyRevoked {
                    unit: unit.clone(),
                    time_ms: t,
                    effective_ms,
                };
                if by_self_only {
                    // Only the unit's own key says so: a rotation or an ancestor's revocation
                    // of that key may still void it (see `directory`), so wait for one.
                    return Err(self.missing(
                        Missing::Certificate {
                            unit: unit.clone(),
                            key: *key,
                        },
                        reason,
                    ));
                }
                Err(reason.into())
            }
            Err(KeyProblem::Ended { end_ms }) => Err(RejectReason::UnitEnded {
                unit: unit.clone(),
                end_ms,
            }
            .into()),
            Err(KeyProblem::IssuerInvalid { issuer }) => Err(RejectReason::IssuerKeyInvalid {
                unit: unit.clone(),
                issuer,
            }
            .into()),
        }
    }

    fn certificate(&self, e: &Entry, c: &crate::entry::Certificate) -> Result<(), VerifyError> {
        // A certificate is signed by the parent it names or by an ancestor of it (a
        // re-organisation certifies new commune unions from above). A replacement (rotation,
        // re-parenting) signed by an ancestor must be by the old parent or one of its
        // ancestors too (checked below).
        let t = e.time_ms();
        let signer_ok = e.author() == &c.parent
            || self
                .directory
                .ancestors_at(&c.parent, t)
                .contains(e.author());
        if !signer_ok {
            return Err(RejectReason::SignerNotParent {
                unit: c.unit.clone(),
                parent: c.parent.clone(),
                signer: e.author().clone(),
            }
            .into());
        }
        // Nothing is certified for, or placed under, a unit that has ended.
        for u in [&c.unit, &c.parent] {
            if let Some(end) = self.directory.end_of(u) {
                if end.end_ms <= t {
                    return Err(RejectReason::UnitEnded {
                        unit: u.clone(),
                        end_ms: end.end_ms,
                    }
                    .into());
                }
            }
        }
        if c.unit == *self.directory.root()
            || c.parent == c.unit
            || self.directory.ancestors_at(&c.parent, t).contains(&c.unit)
        {
            return Err(RejectReason::CertificateCycle(c.unit.clone()).into());
        }
        let parent_role = self.directory.role_at(&c.parent, t).ok_or_else(|| {
            self.missing(
                Missing::Certificate {
                    unit: c.parent.clone(),
                    key: e.key(),
                },
                RejectReason::NotChainedToRoot {
                    unit: c.parent.clone(),
                    key: e.key().short(),
                },
            )
        })?;
        if !parent_role.may_parent(c.role) {
            return Err(RejectReason::RoleNotAllowed {
                parent: parent_role.code(),
                child: c.role.code(),
            }
            .into());
        }
        if c.replaces.is_none() {
            // Another first certificate of the unit makes this one a takeover; the unit's own
            // rotations and moves (which replace) do not.
            let other = self
                .directory
                .certificates_of(&c.unit)
                .any(|r| r.hash != e.hash() && r.cert.replaces.is_none());
            if other {
                return Err(RejectReason::CertificateTakeover {
                    unit: c.unit.clone(),
                    signer: e.author().clone(),
                    why: "the unit is already certified; a new certificate must replace its current one",
                }
                .into());
            }
        }
        if let Some(replaced) = c.replaces {
            let Some(old) = self.lookup.entry(&replaced)? else {
                return Err(self.missing(
                    Missing::Entry(replaced),
                    RejectReason::MissingDependency(format!("certificate {}", replaced.short())),
                ));
            };
            match old.body() {
                EntryBody::Certificate(oc) if oc.unit == c.unit => {
                    // Rotation by the same parent, or re-parenting signed by the old parent or
                    // one of its ancestors (e.g. a province taking over a commune union when
                    // the district level ended). A sibling may not take a unit over.
                    let ok = oc.parent == *e.author()
                        || self
                            .directory
                            .ancestors_at(&oc.parent, t)
                            .contains(e.author());
                    if !ok {
                        return Err(RejectReason::CertificateTakeover {
                            unit: c.unit.clone(),
                            signer: e.author().clone(),
                            why: "only the unit's parent or an ancestor of it may replace its certificate",
                        }
                        .into());
                    }
                }
                _ => {
                    return Err(RejectReason::ReplacesOtherUnit {
                        unit: c.unit.clone(),
                    }
                    .into())
                }
            }
        }
        Ok(())
    }

    fn header(&self, record: &RecordId) -> Result<(Vec<Entry>, Option<RecordHeader>), VerifyError> {
        let entries = self.lookup.record_entries(record)?;
        let header = record_header(&entries);
        Ok((entries, header))
    }

    fn record_change(&self, e: &Entry, c: &RecordChange) -> Result<(), VerifyError> {
        if e.author() != &c.owner {
            return Err(RejectReason::NotRecordOwner {
                record: c.record,
                owner: c.owner.clone(),
                signer: e.author().clone(),
            }
            .into());
        }
        let t = e.time_ms();
        let role = self
            .directory
            .role_at(&c.owner, t)
            .unwrap_or(UnitRole::National);
        let role_ok = match c.kind {
            RecordKind::Initiative => role == UnitRole::Grassroots,
            RecordKind::Programme | RecordKind::Target => role != UnitRole::Grassroots,
        };
        if !role_ok {
            return Err(RejectReason::OwnerRoleNotAllowed {
                role: role.code(),
                kind: c.kind.code(),
            }
            .into());
        }
        let (entries, header) = self.header(&c.record)?;
        if let Some(h) = header {
            let what = if h.kind != c.kind {
                Some("kind")
            } else if h.owner != c.owner {
                Some("owner")
            } else if h.confidential != c.confidential {
                Some("confidentiality")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(RejectReason::RecordMismatch {
                    record: c.record,
                    what,
                }
                .into());
            }
        }
        // Causal dependencies must be present, in this record.
        let mut known: BTreeMap<ChangeHash, crate::record::AutomergeChange> = BTreeMap::new();
        for other in &entries {
            if let EntryBody::RecordChange(oc) = other.body() {
                known.insert(oc.change.hash(), oc.change.clone());
            }
        }
        for dep in c.change.deps() {
            if !known.contains_key(dep) {
                let reason = RejectReason::MissingDependency(format!("change {}", dep.short()));
                if self.lookup.change_entry(dep)?.is_some() {
                    // The dependency exists but belongs to another record.
                    return Err(RejectReason::RecordMismatch {
                        record: c.record,
                        what: "change history",
                    }
                    .into());
                }
                return Err(self.missing(Missing::Change(*dep), reason));
            }
        }
        // The content at this change must validate.
        known.insert(c.change.hash(), c.change.clone());
        if known.len() > crate::limits::MAX_RECORD_CHANGES {
            return Err(RejectReason::TooManyChanges {
                record: c.record,
                count: known.len(),
            }
            .into());
        }
        let bad = |error| RejectReason::BadContent {
            record: c.record,
            error,
        };
        let content =
            record::record_state_at(c.record, &known, &[c.change.hash()], c.kind, self.memo)
                .map_err(bad)?
                .content
                .map_err(bad)?;
        self.content_in_tree(c.record, &c.owner, c.confidential, &content, t)
    }

    fn content_in_tree(
        &self,
        record: RecordId,
        owner: &UnitId,
        confidential: bool,
        content: &RecordContent,
        t: u64,
    ) -> Result<(), VerifyError> {
        match content {
            RecordContent::Initiative(i) => {
                if i.origin != *owner {
                    return Err(RejectReason::BadContent {
                        record,
                        error: ContentError::Invalid {
                            field: "origin",
                            reason: format!("is {}, but the record belongs to {owner}", i.origin),
                        },
                    }
                    .into());
                }
                if i.confidential != confidential {
                    return Err(RejectReason::RecordMismatch {
                        record,
                        what: "confidentiality",
                    }
                    .into());
                }
                if let Some(programme) = i.programme {
                    self.programme_authority(programme, owner, t)?;
                }
                let parent = self.directory.parent_at(owner, t);
                if parent != Some(&i.superior) {
                    return Err(RejectReason::SuperiorNotParent {
                        superior: i.superior.clone(),
                        origin: owner.clone(),
                        parent: parent.map_or("(none)".into(), |p| p.to_string()),
                    }
                    .into());
                }
            }
            RecordContent::Target(tg) => {
                self.programme_authority(tg.programme, owner, t)?;
                for unit in tg.assignments.keys() {
                    if self.directory.parent_at(unit, t) != Some(owner) {
                        return Err(RejectReason::TargetNotChild {
                            unit: unit.clone(),
                            owner: owner.clone(),
                        }
                        .into());
                    }
                }
            }
            RecordContent::Programme(_) => {}
        }
        Ok(())
    }

    /// A record of `unit` may name a programme only if the programme's launcher is `unit` or
    /// one of its ancestors at `t`. A programme not held here is not waited for: where the
    /// record is in scope, a programme it may name is in scope too, and `verify` re-checks a
    /// stored record when it is complete.
    fn programme_authority(
        &self,
        programme: RecordId,
        unit: &UnitId,
        t: u64,
    ) -> Result<(), VerifyError> {
        let (_, header) = self.header(&programme)?;
        match header {
            Some(h) if h.kind == RecordKind::Programme => {
                if self.directory.is_self_or_ancestor_at(&h.owner, unit, t) {
                    Ok(())
                } else {
                    Err(RejectReason::ProgrammeOutsideAuthority {
                        programme,
                        launcher: h.owner,
                        unit: unit.clone(),
                    }
                    .into())
                }
            }
            Some(_) => Err(RejectReason::BadContent {
                record: programme,
                error: ContentError::Invalid {
                    field: "programme",
                    reason: "names a record that is not a programme".into(),
                },
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Whether this verifier should hold the private part of a confidential initiative of
    /// `origin`: it is the origin or its direct superior (or holds everything).
    fn holds_private(&self, origin: &UnitId, t: u64) -> bool {
        match self.opts.local_unit {
            None => true,
            Some(me) => me == origin || self.directory.parent_at(origin, t) == Some(me),
        }
    }

    fn initiative_header(
        &self,
        record: &RecordId,
    ) -> Result<(Vec<Entry>, RecordHeader), VerifyError> {
        let (entries, header) = self.header(record)?;
        let Some(h) = header else {
            return Err(self.missing(
                Missing::Record(*record),
                RejectReason::MissingDependency(format!("record {}", record.short())),
            ));
        };
        if h.kind != RecordKind::Initiative {
            return Err(RejectReason::NotAnInitiative(*record).into());
        }
        Ok((entries, h))
    }

    fn projection(&self, e: &Entry, p: &Projection) -> Result<(), VerifyError> {
        // A projection may be the first entry of a confidential initiative a node sees (above
        // the direct superior it is the only one): it then defines the record's header.
        let (entries, header) = self.header(&p.record)?;
        let h = match header {
            Some(h) => h,
            None => {
                // Initiatives come from grassroots units, whichever entry introduces them.
                let role = self.directory.role_at(e.author(), e.time_ms());
                if role != Some(UnitRole::Grassroots) {
                    return Err(RejectReason::OwnerRoleNotAllowed {
                        role: role.map_or("unknown", |r| r.code()),
                        kind: RecordKind::Initiative.code(),
                    }
                    .into());
                }
                RecordHeader {
                    kind: RecordKind::Initiative,
                    owner: e.author().clone(),
                    confidential: true,
                }
            }
        };
        if h.kind != RecordKind::Initiative {
            return Err(RejectReason::NotAnInitiative(p.record).into());
        }
        if e.author() != &h.owner {
            return Err(RejectReason::NotRecordOwner {
                record: p.record,
                owner: h.owner,
                signer: e.author().clone(),
            }
            .into());
        }
        if !h.confidential {
            return Err(RejectReason::WrongBinding(
                "only confidential initiatives have projections",
            )
            .into());
        }
        if let Some(programme) = p.programme {
            self.programme_authority(programme, &h.owner, e.time_ms())?;
        }
        if !self.holds_private(&h.owner, e.time_ms()) {
            return Ok(());
        }
        let known = changes_of(&entries);
        for head in &p.heads {
            if !known.contains_key(head) {
                return Err(self.missing(
                    Missing::Change(*head),
                    RejectReason::UnknownHeads { head: *head },
                ));
            }
        }
        let bad = |error| RejectReason::BadContent {
            record: p.record,
            error,
        };
        let RecordContent::Initiative(i) = record::record_state_at(
            p.record,
            &known,
            &p.heads,
            RecordKind::Initiative,
            self.memo,
        )
        .map_err(bad)?
        .content
        .map_err(bad)?
        else {
            return Err(RejectReason::NotAnInitiative(p.record).into());
        };
        check_projection(p, &i)?;
        Ok(())
    }

    fn decision(&self, e: &Entry, d: &Decision) -> Result<(), VerifyError> {
        let (entries, h) = self.initiative_header(&d.record)?;
        let t = e.time_ms();
        // Binding: which state was judged, and when did it exist.
        let state_time = match (&d.binding, h.confidential) {
            (Binding::Heads(_), true) => {
                return Err(RejectReason::WrongBinding(
                    "decisions on a confidential initiative bind to its public projection",
                )
                .into())
            }
            (Binding::Projection(_), false) => {
                return Err(RejectReason::WrongBinding(
                    "decisions on a public initiative bind to its automerge heads",
                )
                .into())
            }
            (Binding::Heads(heads), false) => {
                if heads.is_empty() {
                    return Err(RejectReason::WrongBinding("no heads named").into());
                }
                let mut latest = 0;
                for head in heads {
                    let found = entries.iter().find(|x| {
                        matches!(x.body(), EntryBody::RecordChange(c) if c.change.hash() == *head)
                    });
                    match found {
                        Some(x) => latest = latest.max(x.time_ms()),
                        None => {
                            return Err(self.missing(
                                Missing::Change(*head),
                                RejectReason::UnknownHeads { head: *head },
                            ))
                        }
                    }
                }
                latest
            }
            (Binding::Projection(p), true) => {
                let found = entries.iter().find(|x| x.hash() == *p);
                match found {
                    Some(x) if matches!(x.body(), EntryBody::Projection(_)) => x.time_ms(),
                    Some(_) => {
                        return Err(
                            RejectReason::WrongBinding("cited entry is not a projection").into(),
                        )
                    }
                    None => {
                        return Err(self.missing(
                            Missing::Entry(*p),
                            RejectReason::MissingDependency(format!("projection {}", p.short())),
                        ))
                    }
                }
            }
        };
        // Clocks differ: an entry may be dated up to MAX_CLOCK_SKEW_MS ahead, so a decision may
        // be dated that much before what it follows without blocking the next level until the
        // previous signer's clock is reached. A key with a revocation on record gets no such
        // allowance (it bounds how far a thief can back-date).
        let slack = if self
            .directory
            .revocations_of(e.author(), &e.key())
            .is_empty()
        {
            MAX_CLOCK_SKEW_MS
        } else {
            0
        };
        if t.saturating_add(slack) < state_time {
            return Err(RejectReason::DecisionBackdated("the state it judges").into());
        }
        // Order in the chain.
        let previous = match d.previous {
            None => None,
            Some(ph) => {
                let Some(p) = entries.iter().find(|x| x.hash() == ph) else {
                    if self.lookup.entry(&ph)?.is_some() {
                        return Err(RejectReason::DecisionOutOfOrder(
                            "the previous decision it cites belongs to another record",
                        )
                        .into());
                    }
                    return Err(self.missing(
                        Missing::Entry(ph),
                        RejectReason::MissingDependency(format!(
                            "previous decision {}",
                            ph.short()
                        )),
                    ));
                };
                let EntryBody::Decision(pd) = p.body() else {
                    return Err(RejectReason::DecisionOutOfOrder(
                        "the cited previous entry is not a decision",
                    )
                    .into());
                };
                if t.saturating_add(slack) < p.time_ms() {
                    return Err(RejectReason::DecisionBackdated("the previous decision").into());
                }
                Some((p.author().clone(), pd.kind))
            }
        };
        let expected = expected_decider(self.directory, &h.owner, d.kind, previous.as_ref(), t)
            .map_err(RejectReason::DecisionOutOfOrder)?;
        let signer = e.author();
        if *signer == expected {
            return Ok(());
        }
        if self.directory.ancestors_at(&expected, t).contains(signer) {
            return Err(RejectReason::DecisionSkipsLevel {
                expected,
                signer: signer.clone(),
            }
            .into());
        }
        if self.directory.is_self_or_ancestor_at(signer, &h.owner, t) {
            return Err(RejectReason::DecisionOutOfOrder(
                "it is not this unit's turn in the chain",
            )
            .into());
        }
        Err(RejectReason::DecisionOutsideSubtree {
            signer: signer.clone(),
            origin: h.owner,
        }
        .into())
    }
}

/// Which unit must sign a decision of `kind` that follows `previous` (its signer and kind) on an
/// initiative of `origin`, at `t_ms`. "One level above" follows the tree at that time, not a
/// fixed depth.
pub fn expected_decider(
    directory: &Directory,
    origin: &UnitId,
    kind: DecisionKind,
    previous: Option<&(UnitId, DecisionKind)>,
    t_ms: u64,
) -> Result<UnitId, &'static str> {
    match (kind, previous) {
        (DecisionKind::Submit, None) => Ok(origin.clone()),
        (DecisionKind::Submit, Some((_, DecisionKind::ReturnForRevision))) => Ok(origin.clone()),
        (DecisionKind::Submit, Some(_)) => {
            Err("a submission may only start a chain or follow a return for revision")
        }
        (_, None) => Err("the first decision on an initiative must be its submission"),
        (_, Some((_, DecisionKind::Reject))) => Err("nothing may follow a rejection"),
        (_, Some((_, DecisionKind::ReturnForRevision))) => {
            Err("after a return for revision the origin must submit again")
        }
        (_, Some((_, DecisionKind::Submit))) => directory
            .parent_at(origin, t_ms)
            .map(|p| acting_for(directory, p, t_ms))
            .ok_or("the origin has no direct superior"),
        (_, Some((prev_signer, _))) => directory
            .parent_at(prev_signer, t_ms)
            .map(|p| acting_for(directory, p, t_ms))
            .ok_or("the chain already reached the national level"),
    }
}

/// Who decides in `unit`'s place at `t_ms`: a merged unit's successor (followed through
/// successive merges) once the merge has taken effect, otherwise the unit itself. An initiative
/// a district approved before the July 2025 reform, waiting at a province merged since, is
/// decided by the province it merged into (its keys sign nothing any more, and the initiative
/// is no longer in its scope).
fn acting_for(directory: &Directory, unit: &UnitId, t_ms: u64) -> UnitId {
    if directory.ended_at(unit, t_ms) {
        if let Some(s) = directory.successor_of(unit) {
            return s;
        }
    }
    unit.clone()
}

/// Checks a projection's public fields and commitment against the private initiative.
pub fn check_projection(p: &Projection, i: &record::Initiative) -> Result<(), RejectReason> {
    if record::private_commitment(i) != Some(p.commitment) {
        return Err(RejectReason::CommitmentMismatch);
    }
    let checks: [(&'static str, bool); 7] = [
        ("title", p.title == i.title),
        ("summary", p.summary == i.summary),
        ("benefit value", p.benefit_vnd == i.benefit_vnd),
        ("reward", p.reward == record::reward_text(i)),
        ("programme", p.programme == i.programme),
        ("phase", p.phase == i.phase),
        ("sector", p.sector == i.sector),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
        return Err(RejectReason::ProjectionMismatch(field));
    }
    Ok(())
}

/// The Automerge changes of a record's entries, by hash.
pub fn changes_of(entries: &[Entry]) -> BTreeMap<ChangeHash, record::AutomergeChange> {
    entries
        .iter()
        .filter_map(|e| match e.body() {
            EntryBody::RecordChange(c) => Some((c.change.hash(), c.change.clone())),
            _ => None,
        })
        .collect()
}

/// The changes reachable from `heads` (the state at those heads).
pub fn ancestry(
    known: &BTreeMap<ChangeHash, record::AutomergeChange>,
    heads: &[ChangeHash],
) -> Vec<record::AutomergeChange> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<ChangeHash> = heads.to_vec();
    let mut out = Vec::new();
    while let Some(h) = stack.pop() {
        if !seen.insert(h) {
            continue;
        }
        if let Some(c) = known.get(&h) {
            stack.extend(c.deps().iter().copied());
            out.push(c.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests;
