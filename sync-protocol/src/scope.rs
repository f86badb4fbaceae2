//! Which entries a unit's node should hold: its scope. Enforced on send (what a node offers a
//! peer or writes into a bundle) and on receive (import refuses the rest with `OutOfScope`).
//!
//! - trust entries (genesis, certificates, revocations): sent by need ([`TrustScope`]): the
//!   genesis, and the certificates and revocations of the receiver's ancestors, its own
//!   subtree, its peers and the signers of the records it holds (with their chains). On
//!   receive any valid trust entry is accepted ([`in_scope`] says yes), so a signer's chain
//!   relayed with a record is never refused;
//! - targets: every node;
//! - a programme's changes: its launcher's subtree (the units it has authority over) and the
//!   launcher's ancestors (which report on it);
//! - an initiative's changes: its origin and the origin's ancestors, except that a confidential
//!   initiative's changes stay with the origin and its direct superior;
//! - projections and decisions: the origin and its ancestors.
//!
//! "Ancestors" are judged both by the tree when the entry was signed and by the tree now, so
//! that after a re-parenting the new parent receives its new subtree's history and the old
//! parent keeps what it held.

use std::collections::{BTreeMap, BTreeSet};

use crate::directory::Directory;
use crate::entry::{Entry, EntryBody, RecordKind};
use crate::ids::UnitId;

/// Whether `unit`'s node should hold `entry`. `record_owner` is the origin of the record a
/// decision is about (decisions do not name it themselves); `None` when unknown.
pub fn in_scope(
    directory: &Directory,
    unit: &UnitId,
    entry: &Entry,
    record_owner: Option<&UnitId>,
    now_ms: u64,
) -> bool {
    let t = entry.time_ms();
    let up_from = |origin: &UnitId| {
        directory.is_self_or_ancestor_at(unit, origin, now_ms)
            || directory.is_self_or_ancestor_at(unit, origin, t)
    };
    match entry.body() {
        EntryBody::Genesis(_)
        | EntryBody::Certificate(_)
        | EntryBody::Revocation(_)
        | EntryBody::UnitEnd(_) => true,
        EntryBody::RecordChange(c) => match c.kind {
            RecordKind::Target => true,
            RecordKind::Programme => {
                up_from(&c.owner)
                    || directory.is_self_or_ancestor_at(&c.owner, unit, now_ms)
                    || directory.is_self_or_ancestor_at(&c.owner, unit, t)
            }
            RecordKind::Initiative if c.confidential => {
                *unit == c.owner
                    || directory.parent_at(&c.owner, t) == Some(unit)
                    || directory.parent_at(&c.owner, now_ms) == Some(unit)
            }
            RecordKind::Initiative => up_from(&c.owner),
        },
        // The origin signs its projections.
        EntryBody::Projection(_) => up_from(entry.author()),
        EntryBody::Decision(_) => record_owner.is_some_and(up_from),
    }
}

/// The unit a trust entry is about (the certified or revoked unit); `None` for the genesis,
/// which every node holds, and for entries that are not trust entries.
pub fn trust_subject(entry: &Entry) -> Option<&UnitId> {
    match entry.body() {
        EntryBody::Certificate(c) => Some(&c.unit),
        EntryBody::Revocation(r) => Some(&r.unit),
        EntryBody::UnitEnd(x) => Some(&x.unit),
        _ => None,
    }
}

/// Whether `entry` is a trust entry (genesis, certificate, revocation, unit end).
pub fn is_trust(entry: &Entry) -> bool {
    matches!(
        entry.body(),
        EntryBody::Genesis(_)
            | EntryBody::Certificate(_)
            | EntryBody::Revocation(_)
            | EntryBody::UnitEnd(_)
    )
}

/// The trust entries a unit's node needs, judged by need rather than by the size of the tree.
/// Pure: built from the directory and the units the caller knows the receiver deals with.
///
/// A node needs the certificates and revocations of:
/// - its ancestors and itself (its own chain);
/// - its subtree (the units that sign what it receives from below);
/// - `others` and their ancestors: its peers, and the signers of the records it holds or is
///   being sent (each with its chain, so that their signatures verify).
///
/// "Ancestor" and "subtree" are judged both now and at the entry's time, as [`in_scope`] does.
/// Siblings' subtrees are not needed unless one of their units is in `others`.
#[derive(Debug, Clone)]
pub struct TrustScope {
    holder: UnitId,
    /// `others` and all their ancestors (now).
    chains: BTreeSet<UnitId>,
    now_ms: u64,
}

impl TrustScope {
    /// The scope of `holder`'s node, with `others` (peers, signers of held records).
    pub fn new<'a>(
        directory: &Directory,
        holder: &UnitId,
        others: impl IntoIterator<Item = &'a UnitId>,
        now_ms: u64,
    ) -> Self {
        let mut chains = BTreeSet::new();
        for u in others {
            if chains.insert(u.clone()) {
                chains.extend(directory.ancestors_at(u, now_ms));
            }
        }
        Self {
            holder: holder.clone(),
            chains,
            now_ms,
        }
    }

    /// Whether the holder's node needs the trust entry `entry`. Entries that are not trust
    /// entries are out of this function's concern (`false`); the genesis is always needed.
    pub fn needs(&self, directory: &Directory, entry: &Entry) -> bool {
        if matches!(entry.body(), EntryBody::Genesis(_)) {
            return true;
        }
        let Some(subject) = trust_subject(entry) else {
            return false;
        };
        if self.chains.contains(subject) {
            return true;
        }
        let t = entry.time_ms();
        [self.now_ms, t].iter().any(|&at| {
            directory.is_self_or_ancestor_at(subject, &self.holder, at)
                || directory.is_self_or_ancestor_at(&self.holder, subject, at)
        })
    }
}

/// Sorts trust entries so that nothing depends on an entry after it: the genesis first, then
/// by the depth of the unit they are about (at the entry's time), then by time. A receiver
/// importing them in this order (even in several batches) parks nothing in quarantine for a
/// missing parent certificate.
pub fn sort_parents_first(directory: &Directory, entries: &mut [Entry]) {
    entries.sort_by_cached_key(|e| {
        let depth = match trust_subject(e) {
            None => 0,
            Some(u) => 1 + directory.ancestors_at(u, e.time_ms()).len(),
        };
        (depth, e.time_ms(), e.hash())
    });
}

/// Sorts entries into the order a sender sends them in, so that a receiver gets what an entry
/// depends on before the entry whenever the sender holds both: trust entries first (the genesis,
/// then certificates by their unit's depth among the certificates being sent, a certificate's
/// parent's certificate before it, then revocations), then every other entry by (time, hash),
/// the order in which records' changes were made. Pure and self-contained: the depth comes from
/// the certificates' `parent` fields, so no directory is needed. A receiver importing entries in
/// this order, even in several batches, parks nothing in quarantine for a missing certificate or
/// an earlier change that it is being sent.
pub fn sort_for_sending(entries: &mut [Entry]) {
    // The parent named by each unit's certificates in the batch (several for a re-parented unit).
    let mut parents: BTreeMap<&UnitId, Vec<&UnitId>> = BTreeMap::new();
    for e in entries.iter() {
        if let EntryBody::Certificate(c) = e.body() {
            parents.entry(&c.unit).or_default().push(&c.parent);
        }
    }
    let mut depths: BTreeMap<UnitId, usize> = BTreeMap::new();
    let units: Vec<&UnitId> = parents.keys().copied().collect();
    for u in units {
        cert_depth(&parents, &mut depths, u);
    }
    entries.sort_by_cached_key(|e| {
        let (class, depth) = match e.body() {
            EntryBody::Genesis(_) => (0u8, 0usize),
            EntryBody::Certificate(c) => (1, depths.get(&c.unit).copied().unwrap_or(1)),
            // An end names its successor: after the certificates, like a revocation.
            EntryBody::Revocation(_) | EntryBody::UnitEnd(_) => (2, 0),
            _ => (3, 0),
        };
        (class, depth, e.time_ms(), e.hash())
    });
}

/// The depth of `unit` among the certificates being sent: 1 when its parents have none there,
/// else one more than its deepest parent's. A cycle (impossible in a verified store) is cut.
fn cert_depth<'a>(
    parents: &BTreeMap<&'a UnitId, Vec<&'a UnitId>>,
    depths: &mut BTreeMap<UnitId, usize>,
    unit: &'a UnitId,
) -> usize {
    if let Some(d) = depths.get(unit) {
        return *d;
    }
    // Walk up iteratively: the chain from `unit` to units whose depth is known or have no
    // certificate in the batch.
    let mut stack: Vec<&UnitId> = vec![unit];
    let mut on_stack: BTreeSet<&UnitId> = BTreeSet::from([unit]);
    while let Some(&u) = stack.last() {
        let pending: Vec<&UnitId> = parents
            .get(u)
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| {
                parents.contains_key(*p) && !depths.contains_key(*p) && !on_stack.contains(*p)
            })
            .collect();
        if let Some(p) = pending.first() {
            on_stack.insert(p);
            stack.push(p);
            continue;
        }
        let d = 1 + parents
            .get(u)
            .into_iter()
            .flatten()
            .filter_map(|p| depths.get(*p))
            .max()
            .copied()
            .unwrap_or(0);
        depths.insert(u.clone(), d);
        on_stack.remove(u);
        stack.pop();
    }
    depths.get(unit).copied().unwrap_or(1)
}

/// The children of any of `parents` (now), in one pass over the directory: the units a
/// target of one of `parents` may name (a target assigns to the owner's children).
pub fn children_of(
    directory: &Directory,
    parents: &BTreeSet<UnitId>,
    now_ms: u64,
) -> BTreeSet<UnitId> {
    directory
        .units()
        .into_iter()
        .filter(|u| {
            directory
                .parent_at(u, now_ms)
                .is_some_and(|p| parents.contains(p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Revocation;
    use crate::ids::UnitKey;
    use crate::testkit::{text, unit, Federation};

    fn subjects(fed: &Federation, scope: &TrustScope, entries: &[Entry]) -> BTreeSet<String> {
        entries
            .iter()
            .filter(|e| scope.needs(&fed.directory, e))
            .map(|e| trust_subject(e).map_or("genesis".into(), |u| u.as_str().to_owned()))
            .collect()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn trust_scope_is_ancestors_subtree_peers_and_signers_not_siblings_subtrees() {
        let fed = Federation::new();
        let now = fed.now_ms();
        let revoke = |by: &str, whose: &str| {
            fed.author(by).sign(
                now,
                EntryBody::Revocation(Revocation {
                    unit: unit(whose),
                    key: UnitKey([7; 32]),
                    effective_ms: now,
                    reason: text("reason", "lost", 100),
                }),
            )
        };
        let mut entries = fed.trust_entries.clone();
        entries.push(revoke("ldld-tuy-hoa", "cdcs-b"));
        entries.push(revoke("cd-tct-dien-luc", "cdcs-dien-luc-phu-yen"));

        // A district: genesis, its ancestors, itself, its subtree (with the revocation in it).
        let district = TrustScope::new(&fed.directory, &unit("ldld-tuy-hoa"), [], now);
        assert_eq!(
            subjects(&fed, &district, &entries),
            set(&[
                "genesis",
                "ldld-phu-yen",
                "ldld-tuy-hoa",
                "cdcs-a",
                "cdcs-b"
            ])
        );
        // The revocation inside the subtree travels; the one in another subtree does not.
        assert_eq!(
            entries
                .iter()
                .filter(|e| matches!(e.body(), EntryBody::Revocation(_)))
                .filter(|e| district.needs(&fed.directory, e))
                .count(),
            1
        );

        // A signer of a held record from a sibling's subtree brings its chain, and only it.
        let signer = unit("cdcs-c");
        let with_signer = TrustScope::new(&fed.directory, &unit("ldld-tuy-hoa"), [&signer], now);
        assert_eq!(
            subjects(&fed, &with_signer, &entries),
            set(&[
                "genesis",
                "ldld-phu-yen",
                "ldld-tuy-hoa",
                "cdcs-a",
                "cdcs-b",
                "cdcs-c",
                "ldld-tp-tra-vinh",
                "ldld-tra-vinh"
            ])
        );

        // A grassroots unit with its peer (its district): its chain only, not its siblings.
        let peer = unit("ldld-tuy-hoa");
        let grass = TrustScope::new(&fed.directory, &unit("cdcs-a"), [&peer], now);
        assert_eq!(
            subjects(&fed, &grass, &entries),
            set(&["genesis", "ldld-phu-yen", "ldld-tuy-hoa", "cdcs-a"])
        );

        // A target of the district names its children: their certificates are needed.
        let target_owner = BTreeSet::from([unit("ldld-tuy-hoa")]);
        assert_eq!(
            children_of(&fed.directory, &target_owner, now),
            BTreeSet::from([unit("cdcs-a"), unit("cdcs-b")])
        );
    }

    #[test]
    fn trust_entries_sort_parents_first() {
        let fed = Federation::new();
        let mut entries = fed.trust_entries.clone();
        entries.reverse();
        sort_parents_first(&fed.directory, &mut entries);
        assert!(matches!(entries[0].body(), EntryBody::Genesis(_)));
        let mut seen = BTreeSet::from([fed.genesis.root_unit.clone()]);
        for e in &entries[1..] {
            let EntryBody::Certificate(c) = e.body() else {
                panic!("only certificates")
            };
            assert!(seen.contains(&c.parent), "{} before its parent", c.unit);
            seen.insert(c.unit.clone());
        }
    }

    #[test]
    fn sending_order_puts_what_an_entry_depends_on_before_it() {
        let mut fed = Federation::new();
        let (_, first) = fed.new_initiative("cdcs-a", "Một", false);
        let (_, second) = fed.new_initiative("ldld-tuy-hoa", "Hai", false);
        let t = fed.now_ms();
        let revocation = fed.revoke("ldld-phu-yen", "cdcs-a", t);
        // The worst order: records newest first, the revocation, then the tree leaves first.
        let mut entries: Vec<Entry> = second.iter().chain(first.iter()).cloned().collect();
        entries.push(revocation.clone());
        entries.extend(fed.trust_entries.iter().rev().cloned());
        sort_for_sending(&mut entries);
        assert!(matches!(entries[0].body(), EntryBody::Genesis(_)));
        let mut seen = BTreeSet::from([fed.genesis.root_unit.clone()]);
        let certs = fed.trust_entries.len() - 1;
        for e in &entries[1..=certs] {
            let EntryBody::Certificate(c) = e.body() else {
                panic!("certificates after the genesis")
            };
            assert!(seen.contains(&c.parent), "{} before its parent", c.unit);
            seen.insert(c.unit.clone());
        }
        assert_eq!(entries[certs + 1].hash(), revocation.hash());
        let records = &entries[certs + 2..];
        assert_eq!(records.len(), first.len() + second.len());
        assert!(records.windows(2).all(|w| w[0].time_ms() <= w[1].time_ms()));
        assert_eq!(records[0].hash(), first[0].hash());
    }
}
