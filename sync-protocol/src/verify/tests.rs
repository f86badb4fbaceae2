//! Verification tests: the positive path first, then every way an entry or a record can be
//! refused, each asserting its own [`RejectReason`].

use automerge::transaction::Transactable;

use super::*;
use crate::audit::{ApprovalError, Conflict, Problem};
use crate::author::Author;
use crate::codec::DecodeError;
use crate::entry::{AwardGrade, Certificate, EntryError, Genesis, Revocation};
use crate::ids::ContentHash;
use crate::limits::{MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS, MAX_TITLE_CHARS};
use crate::record::RecordContent;
use crate::store::EntryStore;
use crate::testkit::{key_of, resign, text, unit, Federation, STEP_MS};
use crate::text::{Text, TextError};

use DecisionKind::*;

// ---- helpers ------------------------------------------------------------------------------

/// Imports one entry and returns why it was rejected; panics if it was not.
fn rejected_on_import(fed: &mut Federation, entry: &Entry) -> RejectReason {
    let outcome = fed.import(vec![entry.clone()]);
    match &outcome.rejected[..] {
        [(h, reason)] if *h == entry.hash() => reason.clone(),
        _ => panic!("expected {entry:?} to be rejected, got {outcome:?}"),
    }
}

/// Checks that `entry` is refused both by `verify_entry` and by import, with `expected`
/// matching the reason; returns the reason.
fn check_rejected(
    fed: &mut Federation,
    entry: &Entry,
    expected: impl Fn(&RejectReason) -> bool,
) -> RejectReason {
    let direct = match fed.verify(entry) {
        Err(VerifyError::Rejected(r)) => r,
        other => panic!("expected {entry:?} to be rejected, got {other:?}"),
    };
    assert!(expected(&direct), "unexpected reason: {direct:?}");
    let imported = rejected_on_import(fed, entry);
    assert_eq!(imported, direct, "import and verify_entry disagree");
    assert!(!fed.store.contains(&entry.hash()).unwrap());
    direct
}

/// A public initiative of `cdcs-a`, imported, and its submission, imported.
fn submitted(fed: &mut Federation) -> (RecordId, Entry) {
    let (r, change) = fed.new_initiative("cdcs-a", "Cải tiến khuôn ép nhựa", false);
    fed.import_ok(change);
    let binding = fed.binding(r);
    let submit = fed.decide("cdcs-a", r, Submit, binding, None);
    fed.import_ok(vec![submit.clone()]);
    (r, submit)
}

/// The position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

/// The bytes of a length-prefixed text field, prefix included.
fn prefixed(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

// ---- the positive path --------------------------------------------------------------------

#[test]
fn full_chain_is_accepted_and_the_record_verifies() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Cải tiến khuôn ép nhựa", false);
    let outcome = fed.import(change.clone());
    assert_eq!(outcome.accepted.len(), 1);
    let chain = fed.chain(
        r,
        None,
        &[
            ("cdcs-a", Submit),
            ("ldld-tuy-hoa", Approve),
            ("ldld-phu-yen", Recognise),
            ("tld", Award(AwardGrade::Excellent)),
        ],
    );
    for e in &chain {
        assert!(fed.verify(e).is_ok(), "{e:?}: {:?}", fed.verify(e));
        fed.import_ok(vec![e.clone()]);
    }
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert!(report.conflicts.is_empty());
    assert_eq!(report.entries, 5);
    assert_eq!(
        report.chain,
        chain.iter().map(Entry::hash).collect::<Vec<_>>()
    );
    assert!(!report.approved_state_differs);
    assert_eq!(report.current_heads, fed.heads(r));
    assert_eq!(
        report.approval_of_current_state(),
        Ok((Award(AwardGrade::Excellent), unit("tld")))
    );
    let Some(RecordContent::Initiative(i)) = &report.content else {
        panic!("no content: {report:?}");
    };
    assert_eq!(**i, *fed.initiative(r));
}

#[test]
fn full_chain_in_one_shuffled_batch_is_accepted() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Cải tiến khuôn ép nhựa", false);
    let chain = fed.chain(
        r,
        None,
        &[
            ("cdcs-a", Submit),
            ("ldld-tuy-hoa", Approve),
            ("ldld-phu-yen", Recognise),
        ],
    );
    let mut batch: Vec<Entry> = chain.iter().rev().cloned().collect();
    batch.extend(change);
    fed.import_ok(batch);
    let report = fed.verify_record(r);
    assert_eq!(
        report.approval_of_current_state(),
        Ok((Recognise, unit("ldld-phu-yen")))
    );
}

#[test]
fn confidential_chain_binds_to_the_projection() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Quy trình xử lý bí mật", true);
    fed.import_ok(change);
    let p = fed.projection(r);
    fed.import_ok(vec![p.clone()]);
    let chain = fed.chain(
        r,
        None,
        &[
            ("cdcs-a", Submit),
            ("ldld-tuy-hoa", Approve),
            ("ldld-phu-yen", Recognise),
        ],
    );
    for e in &chain {
        let EntryBody::Decision(d) = e.body() else {
            unreachable!()
        };
        assert_eq!(d.binding, Binding::Projection(p.hash()));
    }
    fed.import_ok(chain);
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.latest_projection, Some(p.hash()));
    assert_eq!(
        report.approval_of_current_state(),
        Ok((Recognise, unit("ldld-phu-yen")))
    );
}

#[test]
fn return_for_revision_then_resubmission_at_new_heads() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let ret = fed.chain(
        r,
        Some(submit.hash()),
        &[("ldld-tuy-hoa", ReturnForRevision)],
    );
    fed.import_ok(ret.clone());
    let edit = fed.edit_initiative(r, |i| {
        i.summary = text("summary", "Bổ sung số liệu đo đạc", 2_000);
    });
    fed.import_ok(vec![edit]);
    let again = fed.chain(
        r,
        Some(ret[0].hash()),
        &[("cdcs-a", Submit), ("ldld-tuy-hoa", Approve)],
    );
    fed.import_ok(again);
    let report = fed.verify_record(r);
    assert_eq!(
        report.approval_of_current_state(),
        Ok((Approve, unit("ldld-tuy-hoa")))
    );
    assert_eq!(report.chain.len(), 4);
}

#[test]
fn corporation_grassroots_chain_goes_through_the_corporation_union() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-dien-luc-phu-yen", "Giảm tổn thất điện năng", false);
    fed.import_ok(change);
    let chain = fed.chain(
        r,
        None,
        &[
            ("cdcs-dien-luc-phu-yen", Submit),
            ("cd-tct-dien-luc", Approve),
            ("tld", Recognise),
        ],
    );
    fed.import_ok(chain);
    let report = fed.verify_record(r);
    assert_eq!(
        report.approval_of_current_state(),
        Ok((Recognise, unit("tld")))
    );
}

#[test]
fn a_revocation_is_not_retroactive_before_its_effective_time() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let approve = fed.chain(r, Some(submit.hash()), &[("ldld-tuy-hoa", Approve)]);
    fed.import_ok(approve.clone());
    let effective = fed.time_ms() + 1;
    let rev = fed.revoke("ldld-phu-yen", "ldld-tuy-hoa", effective);
    fed.import_ok(vec![rev]);
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(
        report.approval_of_current_state(),
        Ok((Approve, unit("ldld-tuy-hoa")))
    );
}

#[test]
fn reparented_unit_keeps_its_earlier_decisions_and_answers_to_its_new_parent() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let approve = fed.chain(r, Some(submit.hash()), &[("ldld-tuy-hoa", Approve)]);
    fed.import_ok(approve.clone());
    // July 2025: the district level goes; cdcs-a moves under a new ward union.
    let ward = fed.certify(
        "ldld-phu-yen",
        "cd-phuong-tuy-hoa",
        "Công đoàn phường Tuy Hòa",
        UnitRole::DirectSuperior,
    );
    fed.import_ok(vec![ward]);
    let old = fed.certificate_of("cdcs-a");
    let key = fed.signing_key("cdcs-a").clone();
    // The province (an ancestor of both the old and the new parent) signs the move; the ward
    // union itself, a sibling of the old district, could not take the unit over.
    let moved = fed.sign_certificate_as(
        "ldld-phu-yen",
        Certificate {
            unit: unit("cdcs-a"),
            name: text("name", "Công đoàn cơ sở Công ty Cổ phần A", 200),
            role: UnitRole::Grassroots,
            parent: unit("cd-phuong-tuy-hoa"),
            key: UnitKey(key.verifying_key().to_bytes()),
            replaces: Some(old),
        },
        key,
    );
    fed.import_ok(vec![moved]);
    // The earlier approval still verifies under the tree as it was.
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    // A new initiative now goes to the ward union, not the old district.
    let (r2, change) = fed.new_initiative("cdcs-a", "Sáng kiến sau sắp xếp", false);
    fed.import_ok(change);
    let s2 = fed.chain(r2, None, &[("cdcs-a", Submit)]);
    fed.import_ok(s2.clone());
    let by_district = fed.chain(r2, Some(s2[0].hash()), &[("ldld-tuy-hoa", Approve)]);
    check_rejected(&mut fed, &by_district[0], |r| {
        matches!(r, RejectReason::DecisionOutsideSubtree { .. })
    });
    let by_ward = fed.chain(r2, Some(s2[0].hash()), &[("cd-phuong-tuy-hoa", Approve)]);
    fed.import_ok(by_ward);
}

// ---- authority ----------------------------------------------------------------------------

fn certificate_for(unit_id: &str, parent: &str, role: UnitRole, key: u8) -> EntryBody {
    EntryBody::Certificate(Certificate {
        unit: unit(unit_id),
        name: text("name", "Công đoàn cơ sở mới", 200),
        role,
        parent: unit(parent),
        key: UnitKey(key_of(key).verifying_key().to_bytes()),
        replaces: None,
    })
}

#[test]
fn certificate_signed_by_a_sibling_is_refused() {
    let mut fed = Federation::new();
    let body = certificate_for("cdcs-x", "ldld-tuy-hoa", UnitRole::Grassroots, 200);
    for signer in ["cdcs-b", "ldld-tp-tra-vinh"] {
        let t = fed.tick();
        let e = fed.author(signer).sign(t, body.clone());
        check_rejected(&mut fed, &e, |r| {
            matches!(r, RejectReason::SignerNotParent { unit: u, parent, signer: s }
                if *u == unit("cdcs-x") && *parent == unit("ldld-tuy-hoa") && *s == unit(signer))
        });
    }
    // The parent itself may.
    let t = fed.tick();
    let ok = fed.author("ldld-tuy-hoa").sign(t, body);
    fed.import_ok(vec![ok]);
}

#[test]
fn record_change_signed_by_a_sibling_is_refused() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Cải tiến khuôn ép nhựa", false);
    fed.import_ok(change);
    let edit = fed.edit_initiative(r, |i| {
        i.benefit_vnd = 900_000_000;
    });
    let forged = fed
        .author("cdcs-b")
        .sign(edit.time_ms(), edit.body().clone());
    check_rejected(&mut fed, &forged, |reason| {
        matches!(reason, RejectReason::NotRecordOwner { record, owner, signer }
            if *record == r && *owner == unit("cdcs-a") && *signer == unit("cdcs-b"))
    });
    // Claiming the record as its own does not help either.
    let EntryBody::RecordChange(mut c) = edit.body().clone() else {
        unreachable!()
    };
    c.owner = unit("cdcs-b");
    let claimed = fed
        .author("cdcs-b")
        .sign(edit.time_ms(), EntryBody::RecordChange(c));
    check_rejected(&mut fed, &claimed, |reason| {
        matches!(reason, RejectReason::RecordMismatch { what: "owner", .. })
    });
    // The genuine edit is fine.
    fed.import_ok(vec![edit]);
}

#[test]
fn decision_that_skips_a_level_is_refused() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    for signer in ["ldld-phu-yen", "tld"] {
        let b = fed.binding(r);
        let d = fed.decide(signer, r, Approve, b, Some(submit.hash()));
        check_rejected(&mut fed, &d, |reason| {
            matches!(reason, RejectReason::DecisionSkipsLevel { expected, signer: s }
                if *expected == unit("ldld-tuy-hoa") && *s == unit(signer))
        });
    }
}

#[test]
fn decision_out_of_order_is_refused() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Cải tiến khuôn ép nhựa", false);
    fed.import_ok(change);
    // An approval that starts the chain.
    let b = fed.binding(r);
    let first = fed.decide("ldld-tuy-hoa", r, Approve, b, None);
    check_rejected(&mut fed, &first, |reason| {
        matches!(reason, RejectReason::DecisionOutOfOrder(_))
    });
    // Anything after a rejection.
    let chain = fed.chain(r, None, &[("cdcs-a", Submit), ("ldld-tuy-hoa", Reject)]);
    fed.import_ok(chain.clone());
    for (signer, kind) in [
        ("ldld-phu-yen", Approve),
        ("ldld-tuy-hoa", Approve),
        ("cdcs-a", Submit),
    ] {
        let b = fed.binding(r);
        let d = fed.decide(signer, r, kind, b, Some(chain[1].hash()));
        check_rejected(&mut fed, &d, |reason| {
            matches!(reason, RejectReason::DecisionOutOfOrder(_))
        });
    }
    let report = fed.verify_record(r);
    assert_eq!(report.status.map(|s| s.0), Some(Reject));
}

#[test]
fn second_submission_without_a_return_is_out_of_order() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let approve = fed.chain(r, Some(submit.hash()), &[("ldld-tuy-hoa", Approve)]);
    fed.import_ok(approve.clone());
    let again = fed.chain(r, Some(approve[0].hash()), &[("cdcs-a", Submit)]);
    check_rejected(&mut fed, &again[0], |reason| {
        matches!(reason, RejectReason::DecisionOutOfOrder(_))
    });
}

#[test]
fn decision_by_a_unit_outside_the_subtree_is_refused() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    for signer in [
        "ldld-tra-vinh",
        "ldld-tp-tra-vinh",
        "cdcs-b",
        "cd-tct-dien-luc",
    ] {
        let b = fed.binding(r);
        let d = fed.decide(signer, r, Approve, b, Some(submit.hash()));
        check_rejected(&mut fed, &d, |reason| {
            matches!(reason, RejectReason::DecisionOutsideSubtree { signer: s, origin }
                if *s == unit(signer) && *origin == unit("cdcs-a"))
        });
    }
    // A sibling cannot submit somebody else's initiative either.
    let b = fed.binding(r);
    let d = fed.decide("cdcs-b", r, Submit, b, None);
    check_rejected(&mut fed, &d, |reason| {
        matches!(reason, RejectReason::DecisionOutsideSubtree { .. })
    });
}

// ---- keys ---------------------------------------------------------------------------------

#[test]
fn decision_signed_after_the_signers_revocation_is_refused() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let effective = fed.time_ms();
    let rev = fed.revoke("ldld-phu-yen", "ldld-tuy-hoa", effective);
    fed.import_ok(vec![rev]);
    let b = fed.binding(r);
    let d = fed.decide("ldld-tuy-hoa", r, Approve, b, Some(submit.hash()));
    assert!(d.time_ms() > effective);
    check_rejected(&mut fed, &d, |reason| {
        matches!(reason, RejectReason::KeyRevoked { unit: u, time_ms, effective_ms }
            if *u == unit("ldld-tuy-hoa") && *time_ms == d.time_ms() && *effective_ms == effective)
    });
}

#[test]
fn revocation_in_the_same_batch_as_the_decision_still_applies() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let effective = fed.time_ms();
    let rev = fed.revoke("ldld-phu-yen", "ldld-tuy-hoa", effective);
    let b = fed.binding(r);
    let d = fed.decide("ldld-tuy-hoa", r, Approve, b, Some(submit.hash()));
    let outcome = fed.import(vec![d.clone(), rev.clone()]);
    assert_eq!(outcome.accepted.len(), 1);
    assert!(matches!(
        &outcome.rejected[..],
        [(h, RejectReason::KeyRevoked { .. })] if *h == d.hash()
    ));
}

#[test]
fn revocation_by_a_unit_that_is_not_an_ancestor_is_refused() {
    let mut fed = Federation::new();
    let rev = fed.revoke("ldld-tra-vinh", "ldld-tuy-hoa", fed.time_ms());
    check_rejected(&mut fed, &rev, |reason| {
        matches!(reason, RejectReason::RevokerNotAncestor { unit: u, signer }
            if *u == unit("ldld-tuy-hoa") && *signer == unit("ldld-tra-vinh"))
    });
}

#[test]
fn old_key_signing_after_a_rotation_is_refused() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let old = fed.author("ldld-tuy-hoa");
    let rotation = fed.rotate_key("ldld-tuy-hoa");
    fed.import_ok(vec![rotation.clone()]);
    let b = fed.binding(r);
    let body = fed.decision_body(r, Approve, b, Some(submit.hash()));
    let t = fed.tick();
    let by_old = old.sign(t, body);
    check_rejected(&mut fed, &by_old, |reason| {
        matches!(reason, RejectReason::KeyRotatedAway { unit: u, time_ms, until_ms }
            if *u == unit("ldld-tuy-hoa") && *time_ms == t && *until_ms == rotation.time_ms())
    });
    let b = fed.binding(r);
    let by_new = fed.decide("ldld-tuy-hoa", r, Approve, b, Some(submit.hash()));
    fed.import_ok(vec![by_new]);
}

#[test]
fn key_used_before_its_certificate_is_refused() {
    let mut fed = Federation::new();
    let cert = fed.certify(
        "ldld-tuy-hoa",
        "cdcs-d",
        "Công đoàn cơ sở D",
        UnitRole::Grassroots,
    );
    fed.import_ok(vec![cert.clone()]);
    let early = fed.author("cdcs-d").sign(
        cert.time_ms() - 1,
        EntryBody::Revocation(Revocation {
            unit: unit("cdcs-d"),
            key: UnitKey(fed.signing_key("cdcs-d").verifying_key().to_bytes()),
            effective_ms: cert.time_ms(),
            reason: Text::default(),
        }),
    );
    check_rejected(
        &mut fed,
        &early,
        |reason| matches!(reason, RejectReason::KeyNotYetValid { from_ms, .. } if *from_ms == cert.time_ms()),
    );
}

#[test]
fn certificate_not_chained_to_the_root_is_refused() {
    let mut fed = Federation::new();
    // A key that claims to be tld's but is not the genesis key.
    let impostor = Author::new(fed.genesis.federation_id(), unit("tld"), key_of(99));
    let t = fed.tick();
    let e = impostor.sign(
        t,
        certificate_for("ldld-gia-lai", "tld", UnitRole::ProvincialFederation, 200),
    );
    check_rejected(
        &mut fed,
        &e,
        |reason| matches!(reason, RejectReason::NotChainedToRoot { unit: u, .. } if *u == unit("tld")),
    );
}

#[test]
fn certificate_whose_parent_has_no_certificate_waits_then_is_refused_when_complete() {
    let mut fed = Federation::new();
    let ghost = Author::new(fed.genesis.federation_id(), unit("ldld-ma"), key_of(98));
    let t = fed.tick();
    let e = ghost.sign(
        t,
        certificate_for("cdcs-ma", "ldld-ma", UnitRole::Grassroots, 201),
    );
    let missing = Missing::Certificate {
        unit: unit("ldld-ma"),
        key: ghost.public_key(),
    };
    assert_eq!(fed.verify(&e), Err(VerifyError::Waiting(missing.clone())));
    assert!(matches!(
        fed.verify_with(&e, true),
        Err(VerifyError::Rejected(RejectReason::NotChainedToRoot { unit: u, .. })) if u == unit("ldld-ma")
    ));
    let outcome = fed.import(vec![e.clone()]);
    assert_eq!(outcome.waiting, vec![(e, missing)]);
    assert!(outcome.accepted.is_empty() && outcome.rejected.is_empty());
}

#[test]
fn certificate_rules_role_and_cycle() {
    let mut fed = Federation::new();
    // A grassroots unit may have no children.
    let t = fed.tick();
    let e = fed.author("cdcs-a").sign(
        t,
        certificate_for("cdcs-con", "cdcs-a", UnitRole::Grassroots, 200),
    );
    check_rejected(&mut fed, &e, |r| {
        matches!(
            r,
            RejectReason::RoleNotAllowed {
                parent: "grassroots",
                child: "grassroots"
            }
        )
    });
    // A province may not sit under its own district.
    let t = fed.tick();
    let e = fed.author("ldld-tuy-hoa").sign(
        t,
        certificate_for(
            "ldld-phu-yen",
            "ldld-tuy-hoa",
            UnitRole::DirectSuperior,
            200,
        ),
    );
    check_rejected(
        &mut fed,
        &e,
        |r| matches!(r, RejectReason::CertificateCycle(u) if *u == unit("ldld-phu-yen")),
    );
    // Nobody re-certifies the root.
    let t = fed.tick();
    let e = fed.author("ldld-phu-yen").sign(
        t,
        certificate_for("tld", "ldld-phu-yen", UnitRole::DirectSuperior, 200),
    );
    check_rejected(&mut fed, &e, |r| {
        matches!(r, RejectReason::CertificateCycle(_))
    });
}

#[test]
fn foreign_genesis_and_foreign_federation_are_refused() {
    let mut fed = Federation::new();
    let other_genesis = Genesis {
        root_unit: unit("tld"),
        root_name: text("name", "Liên đoàn khác", 200),
        root_key: UnitKey(key_of(77).verifying_key().to_bytes()),
    };
    let other = Author::new(other_genesis.federation_id(), unit("tld"), key_of(77));
    let g = other.sign(fed.tick(), EntryBody::Genesis(other_genesis.clone()));
    check_rejected(
        &mut fed,
        &g,
        |r| matches!(r, RejectReason::WrongFederation { found, .. } if *found == other_genesis.federation_id()),
    );
    // Our federation id, but not our genesis.
    let ours = Author::new(fed.genesis.federation_id(), unit("tld"), key_of(77));
    let g = ours.sign(fed.tick(), EntryBody::Genesis(other_genesis));
    check_rejected(&mut fed, &g, |r| matches!(r, RejectReason::GenesisMismatch));
    // Our genesis again is a duplicate, not a problem.
    let outcome = fed.import(vec![fed.genesis_entry.clone()]);
    assert_eq!(outcome.duplicates, 1);
}

// ---- binding ------------------------------------------------------------------------------

#[test]
fn decision_binding_to_unknown_heads_waits_then_is_refused_when_complete() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let bogus = ChangeHash([0xab; 32]);
    let d = fed.decide(
        "ldld-tuy-hoa",
        r,
        Approve,
        Binding::Heads(vec![bogus]),
        Some(submit.hash()),
    );
    assert_eq!(
        fed.verify(&d),
        Err(VerifyError::Waiting(Missing::Change(bogus)))
    );
    let outcome = fed.import(vec![d.clone()]);
    assert_eq!(outcome.waiting, vec![(d.clone(), Missing::Change(bogus))]);
    assert!(matches!(
        fed.verify_with(&d, true),
        Err(VerifyError::Rejected(RejectReason::UnknownHeads { head })) if head == bogus
    ));
    // Stored behind the verifier's back, the record audit finds it.
    fed.store
        .insert_batch(&[VerifiedEntry::reloaded_unchecked(d.clone())])
        .unwrap();
    let report = fed.verify_record(r);
    assert_eq!(
        report.problems,
        vec![Problem {
            entry: Some(d.hash()),
            reason: RejectReason::UnknownHeads { head: bogus },
        }]
    );
    assert_eq!(
        report.approval_of_current_state(),
        Err(ApprovalError::Invalid)
    );
}

#[test]
fn approval_does_not_carry_over_to_a_later_edit() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let h1 = fed.heads(r);
    let approve = fed.chain(r, Some(submit.hash()), &[("ldld-tuy-hoa", Approve)]);
    fed.import_ok(approve);
    assert_eq!(
        fed.verify_record(r).approval_of_current_state(),
        Ok((Approve, unit("ldld-tuy-hoa")))
    );
    let edit = fed.edit_initiative(r, |i| i.benefit_vnd = 2_000_000_000);
    fed.import_ok(vec![edit]);
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_ne!(report.current_heads, h1);
    assert!(report.approved_state_differs);
    assert_eq!(
        report.approval_of_current_state(),
        Err(ApprovalError::ApprovedStateDiffers)
    );
}

#[test]
fn confidential_approval_does_not_carry_over_to_a_new_projection() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Quy trình xử lý bí mật", true);
    fed.import_ok(change);
    let p1 = fed.projection(r);
    fed.import_ok(vec![p1]);
    let chain = fed.chain(r, None, &[("cdcs-a", Submit), ("ldld-tuy-hoa", Approve)]);
    fed.import_ok(chain);
    let edit = fed.edit_initiative(r, |i| i.benefit_vnd = 1);
    let p2 = fed.projection(r);
    fed.import_ok(vec![edit, p2]);
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(
        report.approval_of_current_state(),
        Err(ApprovalError::ApprovedStateDiffers)
    );
}

#[test]
fn wrong_binding_forms_are_refused() {
    let mut fed = Federation::new();
    // Heads on a confidential initiative.
    let (c, change) = fed.new_initiative("cdcs-a", "Bí mật", true);
    fed.import_ok(change);
    let heads = fed.heads(c);
    let d = fed.decide("cdcs-a", c, Submit, Binding::Heads(heads), None);
    check_rejected(&mut fed, &d, |r| matches!(r, RejectReason::WrongBinding(_)));
    // A projection on a public initiative.
    let (p, change) = fed.new_initiative("cdcs-a", "Công khai", false);
    fed.import_ok(change);
    let d = fed.decide(
        "cdcs-a",
        p,
        Submit,
        Binding::Projection(EntryHash([1; 32])),
        None,
    );
    check_rejected(&mut fed, &d, |r| matches!(r, RejectReason::WrongBinding(_)));
    // No heads at all.
    let d = fed.decide("cdcs-a", p, Submit, Binding::Heads(Vec::new()), None);
    check_rejected(&mut fed, &d, |r| matches!(r, RejectReason::WrongBinding(_)));
}

// ---- content ------------------------------------------------------------------------------

#[test]
fn initiative_rules_owner_role_and_superior() {
    let mut fed = Federation::new();
    // Only grassroots units originate initiatives.
    let (_, change) = fed.new_initiative("ldld-tuy-hoa", "Không phải cơ sở", false);
    check_rejected(&mut fed, &change[0], |r| {
        matches!(
            r,
            RejectReason::OwnerRoleNotAllowed {
                role: "direct-superior",
                kind: "initiative"
            }
        )
    });
    // The superior must be the origin's parent.
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change);
    let edit = fed.edit_initiative(r, |i| i.superior = unit("ldld-phu-yen"));
    check_rejected(
        &mut fed,
        &edit,
        |reason| matches!(reason, RejectReason::SuperiorNotParent { superior, .. } if *superior == unit("ldld-phu-yen")),
    );
}

#[test]
fn confidentiality_cannot_change() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change);
    let edit = fed.edit_initiative(r, |i| i.summary = text("summary", "Sửa", 100));
    let EntryBody::RecordChange(mut c) = edit.body().clone() else {
        unreachable!()
    };
    c.confidential = true;
    let e = fed
        .author("cdcs-a")
        .sign(edit.time_ms(), EntryBody::RecordChange(c));
    check_rejected(&mut fed, &e, |r| {
        matches!(
            r,
            RejectReason::RecordMismatch {
                what: "confidentiality",
                ..
            }
        )
    });
}

#[test]
fn projection_that_does_not_match_its_private_part_is_refused() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Quy trình xử lý bí mật", true);
    fed.import_ok(change);
    let sign = |fed: &mut Federation, p: Projection| {
        let t = fed.tick();
        fed.author("cdcs-a").sign(t, EntryBody::Projection(p))
    };
    // A commitment to something else.
    let mut p = fed.projection_body(r);
    p.commitment = ContentHash([7; 32]);
    let e = sign(&mut fed, p);
    check_rejected(&mut fed, &e, |r| {
        matches!(r, RejectReason::CommitmentMismatch)
    });
    // The right commitment, a different public title.
    let mut p = fed.projection_body(r);
    p.title = text("title", "Tên công khai khác", MAX_TITLE_CHARS);
    let e = sign(&mut fed, p);
    check_rejected(&mut fed, &e, |r| {
        matches!(r, RejectReason::ProjectionMismatch("title"))
    });
    let mut p = fed.projection_body(r);
    p.benefit_vnd += 1;
    let e = sign(&mut fed, p);
    check_rejected(&mut fed, &e, |r| {
        matches!(r, RejectReason::ProjectionMismatch("benefit value"))
    });
    // An old commitment presented with new heads: the private part changed.
    let stale = fed.projection_body(r);
    let edit = fed.edit_initiative(r, |i| {
        i.description.solution = text("solution", "Giải pháp đã sửa", 20_000);
    });
    fed.import_ok(vec![edit]);
    let p = Projection {
        heads: fed.heads(r),
        ..stale
    };
    let e = sign(&mut fed, p);
    check_rejected(&mut fed, &e, |r| {
        matches!(r, RejectReason::CommitmentMismatch)
    });
    // The genuine one passes; a unit that does not hold the private part takes it on trust.
    let genuine = fed.projection(r);
    fed.import_ok(vec![genuine]);
}

#[test]
fn projection_by_someone_else_or_of_a_public_initiative_is_refused() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Bí mật", true);
    fed.import_ok(change);
    let body = fed.projection_body(r);
    let t = fed.tick();
    let e = fed
        .author("ldld-tuy-hoa")
        .sign(t, EntryBody::Projection(body));
    check_rejected(&mut fed, &e, |r| {
        matches!(r, RejectReason::NotRecordOwner { .. })
    });
    let (p, change) = fed.new_initiative("cdcs-a", "Công khai", false);
    fed.import_ok(change);
    let mut body = fed.projection_body(r);
    body.record = p;
    let t = fed.tick();
    let e = fed.author("cdcs-a").sign(t, EntryBody::Projection(body));
    check_rejected(&mut fed, &e, |r| matches!(r, RejectReason::WrongBinding(_)));
}

// ---- bounds and encoding ------------------------------------------------------------------

#[test]
fn title_at_its_bound_is_accepted_and_over_it_refused() {
    let over = "ệ".repeat(MAX_TITLE_CHARS + 1);
    assert_eq!(
        Text::required("title", &over, MAX_TITLE_CHARS),
        Err(TextError::TooLong {
            field: "title",
            limit: MAX_TITLE_CHARS,
            actual: MAX_TITLE_CHARS + 1
        })
    );
    let exact = "ệ".repeat(MAX_TITLE_CHARS);
    assert!(Text::required("title", &exact, MAX_TITLE_CHARS).is_ok());
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", &exact, false);
    fed.import_ok(change);
    assert!(fed.verify_record(r).is_valid());
}

#[test]
fn title_over_its_bound_inside_the_automerge_document_is_refused() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change.clone());
    // Write the over-long title into the document directly, as a hostile node could.
    let EntryBody::RecordChange(c) = change[0].body() else {
        unreachable!()
    };
    let mut doc = record::load_document([c.change.clone()], [9; 16]).unwrap();
    doc.put(automerge::ROOT, "title", "ệ".repeat(MAX_TITLE_CHARS + 1))
        .unwrap();
    let t = fed.tick();
    let hash = doc
        .commit_with(automerge::transaction::CommitOptions::default().with_time((t / 1000) as i64))
        .unwrap();
    let am = doc.get_change_by_hash(&hash).unwrap();
    let change = record::AutomergeChange::from_automerge(&am).unwrap();
    let e = fed.author("cdcs-a").sign(
        t,
        EntryBody::RecordChange(RecordChange {
            record: r,
            kind: RecordKind::Initiative,
            owner: unit("cdcs-a"),
            confidential: false,
            change,
        }),
    );
    check_rejected(&mut fed, &e, |reason| {
        matches!(reason, RejectReason::BadContent {
            error: ContentError::Text(TextError::TooLong { field: "title", actual, .. }), ..
        } if *actual == MAX_TITLE_CHARS + 1)
    });
}

#[test]
fn length_prefix_over_its_limit_is_malformed() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let b = fed.binding(r);
    let d = fed.decide("ldld-tuy-hoa", r, Approve, b, Some(submit.hash()));
    let at = find(d.bytes(), &prefixed("Trần Thị Bình"));
    let limit = MAX_SHORT_TEXT_CHARS * 4;
    let mut bytes = d.bytes().to_vec();
    bytes[at..at + 4].copy_from_slice(&(limit as u32 + 1).to_be_bytes());
    let bytes = resign(&bytes, fed.signing_key("ldld-tuy-hoa"));
    assert_eq!(
        Entry::decode(&bytes),
        Err(EntryError::Malformed(DecodeError::TooLong {
            field: "officer name",
            limit,
            actual: limit + 1
        }))
    );
    // A huge prefix is refused the same way, before anything is allocated.
    let mut bytes = d.bytes().to_vec();
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Entry::decode(&bytes),
        Err(EntryError::Malformed(DecodeError::TooLong {
            field: "officer name",
            ..
        }))
    ));
}

#[test]
fn text_over_its_character_bound_inside_its_byte_bound_is_malformed() {
    let fed = Federation::new();
    let EntryBody::Decision(mut d) =
        fed.decision_body(RecordId([1; 16]), Submit, Binding::Heads(vec![]), None)
    else {
        unreachable!()
    };
    d.note = text("note", &"a".repeat(MAX_NOTE_CHARS + 1), MAX_NOTE_CHARS * 2);
    let e = fed
        .author("cdcs-a")
        .sign(fed.time_ms(), EntryBody::Decision(d));
    assert!(matches!(
        Entry::decode(e.bytes()),
        Err(EntryError::Malformed(DecodeError::Invalid {
            field: "note",
            ..
        }))
    ));
}

#[test]
fn text_that_is_not_utf8_is_malformed() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let b = fed.binding(r);
    let d = fed.decide("ldld-tuy-hoa", r, Approve, b, Some(submit.hash()));
    let key = fed.signing_key("ldld-tuy-hoa").clone();
    // Re-signing untouched bytes gives the same entry: the helper is sound.
    assert_eq!(Entry::decode(&resign(d.bytes(), &key)).as_ref(), Ok(&d));
    let at = find(d.bytes(), &prefixed("Trần Thị Bình")) + 4;
    let mut bytes = d.bytes().to_vec();
    bytes[at] = 0xff;
    let bytes = resign(&bytes, &key);
    assert_eq!(
        Entry::decode(&bytes),
        Err(EntryError::Malformed(DecodeError::NotUtf8 {
            field: "officer name"
        }))
    );
}

#[test]
fn future_dated_entry_is_refused_and_exactly_at_the_limit_accepted() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change);
    let now = fed.now_ms();
    let b = fed.binding(r);
    let body = fed.decision_body(r, Submit, b, None);
    let over = fed
        .author("cdcs-a")
        .sign(now + MAX_CLOCK_SKEW_MS + 1, body.clone());
    check_rejected(
        &mut fed,
        &over,
        |reason| matches!(reason, RejectReason::FutureDated { ahead_ms } if *ahead_ms == MAX_CLOCK_SKEW_MS + 1),
    );
    let at = fed.author("cdcs-a").sign(now + MAX_CLOCK_SKEW_MS, body);
    assert!(fed.verify(&at).is_ok());
    fed.import_ok(vec![at]);
}

// ---- forks and time -----------------------------------------------------------------------

#[test]
fn fork_is_stored_and_reported_as_a_conflict() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let b = fed.binding(r);
    let d1 = fed.decide("ldld-tuy-hoa", r, Approve, b.clone(), Some(submit.hash()));
    let d2 = fed.decide("ldld-tuy-hoa", r, ReturnForRevision, b, Some(submit.hash()));
    fed.import_ok(vec![d1.clone()]);
    fed.import_ok(vec![d2.clone()]);
    assert!(fed.store.contains(&d1.hash()).unwrap() && fed.store.contains(&d2.hash()).unwrap());
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    let mut both = vec![d1.hash(), d2.hash()];
    both.sort();
    // Neither continued: the later one (the unit's second word) is the one the chain follows.
    assert_eq!(
        report.conflicts,
        vec![Conflict {
            previous: Some(submit.hash()),
            decisions: both,
            chosen: d2.hash(),
        }]
    );
    assert_eq!(report.chain, vec![submit.hash(), d2.hash()]);
    assert_eq!(
        report.approval_of_current_state(),
        Ok((ReturnForRevision, unit("ldld-tuy-hoa")))
    );
}

#[test]
fn stolen_key_cannot_backdate_past_the_previous_decision() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change.clone());
    let t0 = change[0].time_ms();
    // The district's key is stolen; it is revoked from just after the initiative was written.
    let effective = t0 + 500;
    let rev = fed.revoke("ldld-phu-yen", "ldld-tuy-hoa", effective);
    fed.import_ok(vec![rev]);
    let submit = fed.chain(r, None, &[("cdcs-a", Submit)]);
    fed.import_ok(submit.clone());
    let b = fed.binding(r);
    let body = fed.decision_body(r, Approve, b, Some(submit[0].hash()));
    let thief = fed.author("ldld-tuy-hoa");
    // Dated now: revoked.
    let now = thief.sign(fed.tick(), body.clone());
    check_rejected(&mut fed, &now, |reason| {
        matches!(reason, RejectReason::KeyRevoked { .. })
    });
    // Dated before the revocation: before the submission it claims to follow.
    let backdated = thief.sign(effective - 1, body);
    check_rejected(&mut fed, &backdated, |reason| {
        matches!(
            reason,
            RejectReason::DecisionBackdated("the previous decision")
        )
    });
}

#[test]
fn decision_dated_before_the_state_it_judges_is_refused() {
    let mut fed = Federation::new();
    // Far enough from the certificates that the key was valid well before the state.
    for _ in 0..(2 * MAX_CLOCK_SKEW_MS / STEP_MS) {
        fed.tick();
    }
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change.clone());
    let b = fed.binding(r);
    let body = fed.decision_body(r, Submit, b, None);
    // Within the clock-skew allowance: accepted (checked, not stored).
    let within = fed
        .author("cdcs-a")
        .sign(change[0].time_ms() - MAX_CLOCK_SKEW_MS, body.clone());
    assert!(fed.verify(&within).is_ok());
    let e = fed
        .author("cdcs-a")
        .sign(change[0].time_ms() - MAX_CLOCK_SKEW_MS - 1, body);
    check_rejected(&mut fed, &e, |reason| {
        matches!(
            reason,
            RejectReason::DecisionBackdated("the state it judges")
        )
    });
}

// ---- import -------------------------------------------------------------------------------

#[test]
fn batch_with_the_certificate_after_the_entries_it_certifies_is_accepted() {
    let mut fed = Federation::new();
    let cert = fed.certify(
        "ldld-tuy-hoa",
        "cdcs-d",
        "Công đoàn cơ sở D",
        UnitRole::Grassroots,
    );
    let (r, change) = fed.new_initiative("cdcs-d", "Sáng kiến của đơn vị mới", false);
    let chain = fed.chain(r, None, &[("cdcs-d", Submit), ("ldld-tuy-hoa", Approve)]);
    let mut batch = change;
    batch.extend(chain);
    batch.push(cert);
    let n = batch.len();
    let outcome = fed.import(batch);
    assert_eq!(outcome.accepted.len(), n, "{outcome:?}");
    assert_eq!(
        fed.verify_record(r).approval_of_current_state(),
        Ok((Approve, unit("ldld-tuy-hoa")))
    );
}

#[test]
fn import_retries_an_entry_tried_before_what_it_needs() {
    // Two certificates signed at the same millisecond are tried in hash order: find a pair
    // where the child's certificate sorts before its parent's, so only a retry accepts it.
    for attempt in 0..64u8 {
        let mut fed = Federation::new();
        let t = fed.tick();
        let province_key = key_of(200);
        let province = fed.author("tld").sign(
            t,
            certificate_for("ldld-gia-lai", "tld", UnitRole::ProvincialFederation, 200),
        );
        let district = Author::new(
            fed.genesis.federation_id(),
            unit("ldld-gia-lai"),
            province_key,
        )
        .sign(
            t,
            certificate_for(
                &format!("ldld-pleiku-{attempt}"),
                "ldld-gia-lai",
                UnitRole::DirectSuperior,
                201,
            ),
        );
        if district.hash() > province.hash() {
            continue;
        }
        assert!(matches!(
            fed.verify(&district),
            Err(VerifyError::Waiting(Missing::Certificate { .. }))
        ));
        fed.import_ok(vec![province, district]);
        return;
    }
    panic!("no ordering found");
}

#[test]
fn entries_waiting_on_a_rejected_entry_are_rejected_in_cascade() {
    let mut fed = Federation::new();
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change);
    let chain = fed.chain(
        r,
        None,
        &[
            ("cdcs-b", Submit),
            ("ldld-tuy-hoa", Approve),
            ("ldld-phu-yen", Recognise),
        ],
    );
    let outcome = fed.import(chain.iter().rev().cloned().collect());
    assert!(outcome.accepted.is_empty() && outcome.waiting.is_empty());
    let reason_of = |h: EntryHash| {
        outcome
            .rejected
            .iter()
            .find(|(x, _)| *x == h)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{h:?} not rejected: {outcome:?}"))
    };
    assert!(matches!(
        reason_of(chain[0].hash()),
        RejectReason::DecisionOutsideSubtree { .. }
    ));
    for e in &chain[1..] {
        assert!(matches!(
            reason_of(e.hash()),
            RejectReason::MissingDependency(_)
        ));
    }
    assert_eq!(fed.store.record_entries(&r).unwrap().len(), 1);
}

#[test]
fn entry_waiting_on_something_never_sent_stays_waiting() {
    let mut fed = Federation::new();
    let (r, _submit) = submitted(&mut fed);
    let b = fed.binding(r);
    let d = fed.decide("ldld-tuy-hoa", r, Approve, b, Some(EntryHash([5; 32])));
    let outcome = fed.import(vec![d.clone()]);
    assert_eq!(
        outcome.waiting,
        vec![(d, Missing::Entry(EntryHash([5; 32])))]
    );
}

#[test]
fn revocation_arriving_before_the_revoked_units_certificate_waits() {
    let mut fed = Federation::new();
    let cert = fed.certify(
        "ldld-tuy-hoa",
        "cdcs-d",
        "Công đoàn cơ sở D",
        UnitRole::Grassroots,
    );
    let rev = fed.revoke("ldld-tuy-hoa", "cdcs-d", fed.time_ms());
    let key = UnitKey(fed.signing_key("cdcs-d").verifying_key().to_bytes());
    let outcome = fed.import(vec![rev.clone()]);
    assert_eq!(
        outcome.waiting,
        vec![(
            rev.clone(),
            Missing::Certificate {
                unit: unit("cdcs-d"),
                key
            }
        )]
    );
    assert!(matches!(
        fed.verify_with(&rev, true),
        Err(VerifyError::Rejected(
            RejectReason::RevokerNotAncestor { .. }
        ))
    ));
    // Once the certificate is there, the revocation goes through and takes effect.
    fed.import_ok(vec![cert, rev.clone()]);
    assert!(fed
        .directory
        .key_valid_at(&unit("cdcs-d"), &key, fed.now_ms())
        .is_err());
}

#[test]
fn a_sibling_cannot_take_a_unit_over() {
    for replaces in [true, false] {
        let mut fed = Federation::new();
        let old = fed.certificate_of("ldld-tuy-hoa");
        let key = fed.new_key();
        let e = fed.sign_certificate_as(
            "ldld-tra-vinh",
            Certificate {
                unit: unit("ldld-tuy-hoa"),
                name: text("name", "Liên đoàn Lao động thành phố Tuy Hòa", 200),
                role: UnitRole::DirectSuperior,
                parent: unit("ldld-tra-vinh"),
                key: UnitKey(key.verifying_key().to_bytes()),
                replaces: replaces.then_some(old),
            },
            key,
        );
        check_rejected(&mut fed, &e, |r| {
            matches!(r, RejectReason::CertificateTakeover { .. })
        });
    }
}

#[test]
fn revoking_a_key_voids_what_it_certified_afterwards() {
    let mut fed = Federation::new();
    // The district certifies a new grassroots unit; later its key is revoked, effective
    // before that certificate was signed (the key was stolen).
    let before = fed.tick();
    let cert = fed.certify(
        "ldld-tuy-hoa",
        "cdcs-gia",
        "Công đoàn giả",
        UnitRole::Grassroots,
    );
    fed.import_ok(vec![cert]);
    let revocation = fed.revoke("ldld-phu-yen", "ldld-tuy-hoa", before);
    fed.import_ok(vec![revocation]);
    let (_, change) = fed.new_initiative("cdcs-gia", "Sáng kiến giả", false);
    check_rejected(&mut fed, &change[0], |r| {
        matches!(r, RejectReason::IssuerKeyInvalid { .. })
    });
}

#[test]
fn a_projection_cannot_introduce_an_initiative_of_a_non_grassroots_unit() {
    let mut fed = Federation::new();
    let (r, _change) = fed.new_initiative("cdcs-a", "Bí mật", true);
    let mut body = fed.projection_body(r);
    body.record = crate::ids::RecordId([0x5a; 16]);
    let t = fed.tick();
    let e = fed
        .author("ldld-tuy-hoa")
        .sign(t, EntryBody::Projection(body));
    check_rejected(&mut fed, &e, |r| {
        matches!(r, RejectReason::OwnerRoleNotAllowed { .. })
    });
}

#[test]
fn entries_outside_the_receiver_scope_are_refused() {
    let mut fed = Federation::new();
    let (_, public) = fed.new_initiative("cdcs-a", "Công khai", false);
    let (_, secret) = fed.new_initiative("cdcs-a", "Bí mật", true);
    // Another province's node does not hold Phú Yên's initiatives.
    let sibling = unit("ldld-tra-vinh");
    let out = fed.import_as(Some(&sibling), public.clone());
    assert!(out.accepted.is_empty());
    assert!(
        matches!(out.rejected[0].1, RejectReason::OutOfScope { .. }),
        "{out:?}"
    );
    // The province does not hold a confidential initiative's private part; the district does.
    let province = unit("ldld-phu-yen");
    let out = fed.import_as(Some(&province), secret.clone());
    assert!(
        matches!(out.rejected[0].1, RejectReason::OutOfScope { .. }),
        "{out:?}"
    );
    let district = unit("ldld-tuy-hoa");
    let out = fed.import_as(Some(&district), secret);
    assert_eq!(out.accepted.len(), 1, "{out:?}");
    // The province holds the public one.
    let out = fed.import_as(Some(&province), public);
    assert_eq!(out.accepted.len(), 1, "{out:?}");
}

// ---- stolen keys, forks, decisions dated ahead (issue 12) ---------------------------------

/// Every order of `entries` (all permutations up to 5 entries, else rotations and their
/// reversals), each delivered one entry at a time to a node holding what `base` holds, what
/// waits being retried with every later entry. Returns one federation per order, with `fed`'s
/// clock.
fn delivered_in_every_order(
    fed: &Federation,
    base: &Federation,
    entries: &[Entry],
) -> Vec<Federation> {
    fn permutations(items: Vec<usize>) -> Vec<Vec<usize>> {
        if items.len() <= 1 {
            return vec![items];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.clone();
            let first = rest.remove(i);
            for mut p in permutations(rest) {
                p.insert(0, first);
                out.push(p);
            }
        }
        out
    }
    let n = entries.len();
    let orders: Vec<Vec<usize>> = if n <= 5 {
        permutations((0..n).collect())
    } else {
        (0..n)
            .flat_map(|k| {
                let rot: Vec<usize> = (0..n).map(|i| (i + k) % n).collect();
                let rev: Vec<usize> = rot.iter().rev().copied().collect();
                [rot, rev]
            })
            .collect()
    };
    orders
        .into_iter()
        .map(|order| {
            let mut f = fed.clone();
            f.store = base.store.clone();
            f.directory = base.directory.clone();
            let mut held: Vec<Entry> = Vec::new();
            for i in order {
                held.push(entries[i].clone());
                let outcome = f.import(std::mem::take(&mut held));
                held = outcome.waiting.into_iter().map(|(e, _)| e).collect();
            }
            assert!(held.is_empty(), "entries still waiting: {held:?}");
            f
        })
        .collect()
}

fn key_hex(fed: &Federation, unit_id: &str) -> UnitKey {
    UnitKey(fed.signing_key(unit_id).verifying_key().to_bytes())
}

/// The revocation a thief holding `unit_id`'s key signs against that key, dated `at`.
fn self_revocation(fed: &Federation, unit_id: &str, effective_ms: u64, at: u64) -> Entry {
    let body = EntryBody::Revocation(Revocation {
        unit: unit(unit_id),
        key: key_hex(fed, unit_id),
        effective_ms,
        reason: text("reason", "Khóa bị lộ", MAX_NOTE_CHARS),
    });
    fed.author(unit_id).sign(at, body)
}

#[test]
fn a_stolen_key_revoking_itself_from_time_zero_does_not_void_its_children() {
    let mut fed = Federation::new();
    let base = fed.clone();
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến của công đoàn cơ sở", false);
    fed.import_ok(change.clone());
    // Before the theft the district approved it.
    let decided = fed.chain(r, None, &[("cdcs-a", Submit), ("ldld-tuy-hoa", Approve)]);
    fed.import_ok(decided.clone());
    // The thief dates the self-revocation as early as the key allows: its certificate.
    let district = unit("ldld-tuy-hoa");
    let certified_at = fed.directory.latest_cert(&district).unwrap().from_ms;
    let rev = self_revocation(&fed, "ldld-tuy-hoa", 0, certified_at);
    fed.import_ok(vec![rev.clone()]);
    // It ends the district's key from its own time, no earlier...
    let old_key = key_hex(&fed, "ldld-tuy-hoa");
    let recorded = fed.directory.revocations_of(&district, &old_key);
    assert_eq!(recorded[0].effective_ms, certified_at);
    // ...and voids no certificate: the children's keys stay valid, they register and submit.
    for child in ["cdcs-a", "cdcs-b"] {
        let k = key_hex(&fed, child);
        assert_eq!(
            fed.directory.key_valid_at(&unit(child), &k, fed.now_ms()),
            Ok(())
        );
    }
    let (r2, change2) = fed.new_initiative("cdcs-b", "Sáng kiến mới", false);
    fed.import_ok(change2.clone());
    let submit2 = fed.chain(r2, None, &[("cdcs-b", Submit)]);
    fed.import_ok(submit2.clone());
    // The district's own key signs nothing more; until the province speaks, its earlier
    // decision is void too (the window the analysis names).
    let b = fed.binding(r2);
    // (It waits: the parent may still void the self-revocation; complete, it is refused.)
    let stolen = fed.decide("ldld-tuy-hoa", r2, Approve, b, Some(submit2[0].hash()));
    assert!(matches!(
        fed.verify(&stolen),
        Err(VerifyError::Waiting(Missing::Certificate { .. }))
    ));
    assert!(matches!(
        fed.verify_with(&stolen, true),
        Err(VerifyError::Rejected(RejectReason::KeyRevoked { .. }))
    ));
    assert!(!fed.verify_record(r).is_valid());
    // The province rotates the district's key: the self-revocation is void (the parent's word
    // replaces the key's own), the earlier decision stands, the new key decides and certifies.
    let rotation = fed.rotate_key("ldld-tuy-hoa");
    fed.import_ok(vec![rotation.clone()]);
    assert!(
        fed.verify_record(r).is_valid(),
        "{:?}",
        fed.verify_record(r).problems
    );
    let b = fed.binding(r2);
    let approve = fed.decide("ldld-tuy-hoa", r2, Approve, b, Some(submit2[0].hash()));
    fed.import_ok(vec![approve.clone()]);
    let newcomer = fed.certify(
        "ldld-tuy-hoa",
        "cdcs-moi",
        "Công đoàn cơ sở mới",
        UnitRole::Grassroots,
    );
    fed.import_ok(vec![newcomer.clone()]);
    let (_, change3) = fed.new_initiative("cdcs-moi", "Sáng kiến đầu tiên", false);
    fed.import_ok(change3.clone());
    let report =
        crate::audit::verify_store(&fed.store, &fed.directory, None, fed.now_ms()).unwrap();
    assert!(report.records.iter().all(|r| r.is_valid()));
    // The thief's revocation itself is reported (its key was rotated away), nothing else.
    assert!(
        report
            .trust_problems
            .iter()
            .all(|p| p.entry == Some(rev.hash())),
        "{:?}",
        report.trust_problems
    );
    assert_eq!(
        fed.verify_record(r2).approval_of_current_state(),
        Ok((Approve, district.clone()))
    );
    // Whatever order a node receives all this in, it ends the same.
    let mut all = vec![rev, rotation, approve, newcomer];
    all.extend(change.iter().cloned());
    all.extend(decided);
    all.extend(submit2);
    all.extend(change2);
    all.extend(change3);
    let expected: Vec<_> = [r, r2]
        .iter()
        .map(|x| {
            let rep = fed.verify_record(*x);
            (rep.is_valid(), rep.chain, rep.status)
        })
        .collect();
    for f in delivered_in_every_order(&fed, &base, &all) {
        let got: Vec<_> = [r, r2]
            .iter()
            .map(|x| {
                let rep = f.verify_record(*x);
                (rep.is_valid(), rep.chain, rep.status)
            })
            .collect();
        assert_eq!(got, expected);
    }
}

#[test]
fn an_ancestors_revocation_reaches_back_and_a_thiefs_later_revocations_do_not_count() {
    let mut fed = Federation::new();
    let base = fed.clone();
    // Before the theft the district certified a unit: it stays valid.
    let innocent = fed.certify(
        "ldld-tuy-hoa",
        "cdcs-truoc",
        "Công đoàn cơ sở trước",
        UnitRole::Grassroots,
    );
    fed.import_ok(vec![innocent.clone()]);
    let theft = fed.tick();
    // The thief revokes an innocent child from time zero (as its parent may), once dated
    // before the theft and once after, and certifies a unit of its own.
    let backdated_key = key_hex(&fed, "cdcs-b");
    let backdated = {
        let body = EntryBody::Revocation(Revocation {
            unit: unit("cdcs-b"),
            key: backdated_key,
            effective_ms: 0,
            reason: text("reason", "Giả mạo", MAX_NOTE_CHARS),
        });
        fed.author("ldld-tuy-hoa").sign(theft - 1, body)
    };
    fed.import_ok(vec![backdated.clone()]);
    let thief_revokes = fed.revoke("ldld-tuy-hoa", "cdcs-a", 0);
    fed.import_ok(vec![thief_revokes.clone()]);
    let forged = fed.certify(
        "ldld-tuy-hoa",
        "cdcs-gia",
        "Công đoàn giả",
        UnitRole::Grassroots,
    );
    fed.import_ok(vec![forged.clone()]);
    let child_key = key_hex(&fed, "cdcs-a");
    let now = fed.now_ms();
    assert!(fed
        .directory
        .key_valid_at(&unit("cdcs-a"), &child_key, now)
        .is_err());
    assert!(fed
        .directory
        .key_valid_at(&unit("cdcs-b"), &backdated_key, now)
        .is_err());
    // The province revokes the district's key from the theft on.
    let province = fed.revoke("ldld-phu-yen", "ldld-tuy-hoa", theft);
    fed.import_ok(vec![province.clone()]);
    // The thief's revocations no longer count (one signed after the theft, the other reaching
    // back, by a key an ancestor revoked); the forged unit is void; the unit certified before
    // the theft is valid.
    let now = fed.now_ms();
    let forged_key = key_hex(&fed, "cdcs-gia");
    let before_key = key_hex(&fed, "cdcs-truoc");
    let check = |d: &Directory| {
        assert_eq!(d.key_valid_at(&unit("cdcs-a"), &child_key, now), Ok(()));
        assert_eq!(d.key_valid_at(&unit("cdcs-b"), &backdated_key, now), Ok(()));
        // Void: refused on arrival after the province's revocation, or stored before it and
        // void since.
        let forged_now = d.key_valid_at(&unit("cdcs-gia"), &forged_key, now);
        assert!(
            matches!(
                forged_now,
                Err(KeyProblem::IssuerInvalid { .. } | KeyProblem::Unknown)
            ),
            "{forged_now:?}"
        );
        assert_eq!(
            d.key_valid_at(&unit("cdcs-truoc"), &before_key, now),
            Ok(())
        );
    };
    check(&fed.directory);
    // The same in every delivery order.
    let all = vec![innocent, backdated, thief_revokes, forged, province];
    for f in delivered_in_every_order(&fed, &base, &all) {
        check(&f.directory);
    }
}

#[test]
fn a_revoked_key_backdating_a_decision_is_bounded_and_superseded() {
    let mut fed = Federation::new();
    let (r, submit) = submitted(&mut fed);
    let b = fed.binding(r);
    let legit = fed.decide("ldld-tuy-hoa", r, Approve, b.clone(), Some(submit.hash()));
    fed.import_ok(vec![legit.clone()]);
    let theft = fed.tick();
    fed.tick();
    let rev = fed.revoke("ldld-phu-yen", "ldld-tuy-hoa", theft);
    fed.import_ok(vec![rev]);
    let body = fed.decision_body(r, Reject, b, Some(submit.hash()));
    let thief = fed.author("ldld-tuy-hoa");
    // A revoked key gets no clock-skew allowance: not even a second before what it follows.
    let before = thief.sign(submit.time_ms() - 1, body.clone());
    check_rejected(&mut fed, &before, |reason| {
        matches!(
            reason,
            RejectReason::DecisionBackdated("the previous decision")
        )
    });
    // After the revocation's effective time: refused.
    let after = thief.sign(theft, body.clone());
    check_rejected(&mut fed, &after, |reason| {
        matches!(reason, RejectReason::KeyRevoked { .. })
    });
    // Between the legitimate decision and the theft: accepted, a fork, and for now the chain
    // follows it (it is the later word of the district)...
    let forked = thief.sign(theft - 1, body);
    fed.import_ok(vec![forked.clone()]);
    let report = fed.verify_record(r);
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.chain, vec![submit.hash(), forked.hash()]);
    // ...until the district, with the key the province rotated in, decides again: a revoked key
    // can never date a decision after that.
    let rotation = fed.rotate_key("ldld-tuy-hoa");
    fed.import_ok(vec![rotation]);
    let b = fed.binding(r);
    let again = fed.decide("ldld-tuy-hoa", r, Approve, b, Some(submit.hash()));
    fed.import_ok(vec![again.clone()]);
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.conflicts[0].chosen, again.hash());
    assert_eq!(report.chain, vec![submit.hash(), again.hash()]);
    // And the province continues from there.
    let province = fed.chain(r, Some(again.hash()), &[("ldld-phu-yen", Approve)]);
    fed.import_ok(province.clone());
    assert_eq!(
        fed.verify_record(r).approval_of_current_state(),
        Ok((Approve, unit("ldld-phu-yen")))
    );
}

#[test]
fn a_fork_is_resolved_the_same_way_in_every_delivery_order_and_can_be_decided_further() {
    let mut fed = Federation::new();
    let base = fed.clone();
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change.clone());
    let submit = fed.chain(r, None, &[("cdcs-a", Submit)]);
    fed.import_ok(submit.clone());
    let b = fed.binding(r);
    // The district forks its own chain: approves, then returns, both citing the submission.
    let approve = fed.decide(
        "ldld-tuy-hoa",
        r,
        Approve,
        b.clone(),
        Some(submit[0].hash()),
    );
    let ret = fed.decide(
        "ldld-tuy-hoa",
        r,
        ReturnForRevision,
        b,
        Some(submit[0].hash()),
    );
    fed.import_ok(vec![approve.clone(), ret.clone()]);
    // The later word is followed; the record is not frozen: the origin resubmits.
    let report = fed.verify_record(r);
    assert_eq!(report.conflicts[0].chosen, ret.hash());
    assert_eq!(report.status.as_ref().map(|s| s.0), Some(ReturnForRevision));
    // The province meanwhile continued the approval: that branch now has the longer
    // continuation and settles the fork, whatever the times.
    let province = fed.chain(r, Some(approve.hash()), &[("ldld-phu-yen", Approve)]);
    fed.import_ok(province.clone());
    let report = fed.verify_record(r);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.conflicts[0].chosen, approve.hash());
    assert_eq!(
        report.chain,
        vec![submit[0].hash(), approve.hash(), province[0].hash()]
    );
    // The next level decides further.
    let national = fed.chain(r, Some(province[0].hash()), &[("tld", Approve)]);
    fed.import_ok(national.clone());
    let expected = fed.verify_record(r);
    assert_eq!(
        expected.approval_of_current_state(),
        Ok((Approve, unit("tld")))
    );
    let mut all = change;
    all.extend([
        submit[0].clone(),
        approve,
        ret,
        province[0].clone(),
        national[0].clone(),
    ]);
    let orders = delivered_in_every_order(&fed, &base, &all);
    assert!(orders.len() >= 12);
    for f in orders {
        let got = f.verify_record(r);
        assert_eq!(
            (got.chain, got.status, got.conflicts),
            (
                expected.chain.clone(),
                expected.status.clone(),
                expected.conflicts.clone()
            )
        );
    }
}

#[test]
fn a_decision_dated_a_little_ahead_does_not_block_the_next_level() {
    let mut fed = Federation::new();
    for _ in 0..(2 * MAX_CLOCK_SKEW_MS / STEP_MS) {
        fed.tick();
    }
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến", false);
    fed.import_ok(change);
    let b = fed.binding(r);
    let body = fed.decision_body(r, Submit, b.clone(), None);
    // The origin's clock runs four minutes fast.
    let ahead = fed
        .author("cdcs-a")
        .sign(fed.now_ms() + 4 * 60 * 1000, body);
    fed.import_ok(vec![ahead.clone()]);
    // The district decides by its own (correct) clock: accepted.
    let d = fed.decide("ldld-tuy-hoa", r, Approve, b.clone(), Some(ahead.hash()));
    assert!(d.time_ms() < ahead.time_ms());
    fed.import_ok(vec![d.clone()]);
    assert_eq!(fed.verify_record(r).chain, vec![ahead.hash(), d.hash()]);
    // Chain order still means something: more than the allowed skew before is refused.
    let body = fed.decision_body(r, Approve, b, Some(d.hash()));
    let long_before = fed
        .author("ldld-phu-yen")
        .sign(d.time_ms() - MAX_CLOCK_SKEW_MS - 1, body);
    check_rejected(&mut fed, &long_before, |reason| {
        matches!(
            reason,
            RejectReason::DecisionBackdated("the previous decision")
        )
    });
}

#[test]
fn a_districts_programme_reaches_only_its_subtree_and_its_ancestors() {
    let mut fed = Federation::new();
    let base = fed.clone();
    let (programme, entry) = fed.new_programme("ldld-tuy-hoa", "01 triệu sáng kiến");
    fed.import_ok(vec![entry.clone()]);
    let now = fed.now_ms();
    for (u, holds) in [
        ("ldld-tuy-hoa", true),
        ("cdcs-a", true),
        ("ldld-phu-yen", true),
        ("tld", true),
        ("ldld-tra-vinh", false),
        ("ldld-tp-tra-vinh", false),
        ("cdcs-c", false),
        ("cdcs-dien-luc-phu-yen", false),
    ] {
        let got = crate::scope::in_scope(&fed.directory, &unit(u), &entry, None, now);
        assert_eq!(got, holds, "{u}");
    }
    // A node outside the district refuses it.
    let mut outside = fed.clone();
    outside.store = base.store.clone();
    outside.directory = base.directory.clone();
    let outcome = outside.import_as(Some(&unit("cdcs-c")), vec![entry]);
    assert!(
        matches!(
            &outcome.rejected[..],
            [(_, RejectReason::OutOfScope { .. })]
        ),
        "{outcome:?}"
    );
    // A unit of the district may take part in it.
    let (r, change) = fed.new_initiative("cdcs-a", "Sáng kiến trong chương trình", false);
    fed.import_ok(change);
    let joined = fed.edit_initiative(r, |i| {
        i.programme = Some(programme);
        i.phase = 1;
    });
    fed.import_ok(vec![joined]);
    // A unit of another province may not.
    let (r, change) = fed.new_initiative("cdcs-c", "Sáng kiến ngoài chương trình", false);
    fed.import_ok(change);
    let outsider = fed.edit_initiative(r, |i| {
        i.programme = Some(programme);
        i.phase = 1;
    });
    check_rejected(&mut fed, &outsider, |reason| {
        matches!(reason, RejectReason::ProgrammeOutsideAuthority { programme: p, launcher, unit: u }
            if *p == programme && *launcher == unit("ldld-tuy-hoa") && *u == unit("cdcs-c"))
    });
}

// ---- re-organisation: ends (merge, closure) ----------------------------------------------

fn end_of(unit_id: &str, successor: Option<&str>, effective_ms: u64) -> EntryBody {
    EntryBody::UnitEnd(crate::entry::UnitEnd {
        unit: unit(unit_id),
        successor: successor.map(unit),
        effective_ms,
        note: text("note", "Nghị quyết 202/2025/QH15", 200),
    })
}

#[test]
fn an_end_is_signed_by_an_ancestor_and_names_a_successor_of_the_same_role() {
    let mut fed = Federation::new();
    let t = fed.tick();
    let cases: [(&str, EntryBody, &str); 5] = [
        (
            "cdcs-a",
            end_of("cdcs-a", None, t),
            "only the unit's parent",
        ),
        (
            "ldld-tp-tra-vinh",
            end_of("cdcs-a", None, t),
            "only the unit's parent",
        ),
        (
            "ldld-tuy-hoa",
            end_of("cdcs-a", Some("cdcs-a"), t),
            "into itself",
        ),
        (
            "tld",
            end_of("ldld-tuy-hoa", Some("ldld-phu-yen"), t),
            "another role",
        ),
        (
            "ldld-tuy-hoa",
            end_of("cdcs-a", Some("cdcs-c"), t),
            "neither the successor",
        ),
    ];
    for (signer, body, why) in cases {
        let e = fed.author(signer).sign(t, body);
        check_rejected(
            &mut fed,
            &e,
            |r| matches!(r, RejectReason::EndRefused { why: w, .. } if w.contains(why)),
        );
    }
    let root = fed.author("tld").sign(t, end_of("tld", None, t));
    check_rejected(&mut fed, &root, |r| {
        matches!(r, RejectReason::EndRefused { .. })
    });
}

#[test]
fn a_merged_unit_signs_nothing_after_its_end_and_is_reported_under_its_successor() {
    let mut fed = Federation::new();
    let t = fed.tick();
    // Before the end, cdcs-b's key works.
    let (_, before) = fed.new_initiative("cdcs-b", "Trước khi sáp nhập", false);
    fed.import_ok(before);
    let t_end = fed.tick();
    let merge = fed
        .author("ldld-tuy-hoa")
        .sign(t_end, end_of("cdcs-b", Some("cdcs-a"), t));
    fed.import_ok(vec![merge]);
    // The end takes effect at its own time, not earlier: what was signed before stays valid.
    let end = fed
        .directory
        .end_of(&unit("cdcs-b"))
        .expect("ended")
        .clone();
    assert_eq!(end.end_ms, t_end);
    assert_eq!(
        fed.directory.report_parent(&unit("cdcs-b")),
        Some(&unit("cdcs-a"))
    );
    assert_eq!(
        fed.directory.predecessors_of(&unit("cdcs-a")),
        vec![unit("cdcs-b")]
    );
    assert_eq!(
        fed.directory.report_parent_at(&unit("cdcs-b"), t - 1),
        Some(&unit("ldld-tuy-hoa"))
    );
    // After it, nothing from the merged unit, and nothing certified under it.
    fed.tick();
    let (_, after) = fed.new_initiative("cdcs-b", "Sau khi sáp nhập", false);
    check_rejected(
        &mut fed,
        &after[0],
        |r| matches!(r, RejectReason::UnitEnded { unit: u, .. } if *u == unit("cdcs-b")),
    );
    let t2 = fed.tick();
    let under = fed.author("ldld-tuy-hoa").sign(
        t2,
        EntryBody::Certificate(Certificate {
            unit: unit("cdcs-z"),
            name: text("name", "Công đoàn cơ sở Z", 200),
            role: UnitRole::Grassroots,
            parent: unit("cdcs-b"),
            key: UnitKey(key_of(201).verifying_key().to_bytes()),
            replaces: None,
        }),
    );
    check_rejected(&mut fed, &under, |r| {
        matches!(
            r,
            RejectReason::UnitEnded { .. } | RejectReason::RoleNotAllowed { .. }
        )
    });
}

#[test]
fn an_ancestor_of_the_named_parent_may_certify_a_new_unit_a_sibling_may_not() {
    let mut fed = Federation::new();
    let body = certificate_for("cdcs-moi", "ldld-tuy-hoa", UnitRole::Grassroots, 202);
    let t = fed.tick();
    let by_province = fed.author("ldld-phu-yen").sign(t, body);
    fed.import_ok(vec![by_province]);
    let body = certificate_for("cdcs-moi-2", "ldld-tuy-hoa", UnitRole::Grassroots, 203);
    let t = fed.tick();
    let by_other_province = fed.author("ldld-tra-vinh").sign(t, body);
    check_rejected(&mut fed, &by_other_province, |r| {
        matches!(r, RejectReason::SignerNotParent { .. })
    });
}

/// After a province merges, the initiatives its districts approved are decided by the province
/// it merged into: the merged one signs nothing any more (issue 16, the July 2025 reform).
#[test]
fn a_merged_units_turn_in_a_decision_chain_passes_to_its_successor() {
    let mut fed = Federation::new();
    let t = fed.tick();
    let prev = (unit("ldld-tuy-hoa"), DecisionKind::Approve);
    let next = |fed: &Federation, at: u64| {
        expected_decider(
            &fed.directory,
            &unit("cdcs-a"),
            DecisionKind::Approve,
            Some(&prev),
            at,
        )
    };
    assert_eq!(next(&fed, t), Ok(unit("ldld-phu-yen")));
    let t_sign = fed.tick();
    let effective = t_sign + 1_000;
    let merge = fed.author("tld").sign(
        t_sign,
        end_of("ldld-phu-yen", Some("ldld-tra-vinh"), effective),
    );
    fed.import_ok(vec![merge]);
    // Until the merge takes effect, the merged province still decides; from then on its
    // successor does.
    assert_eq!(next(&fed, effective - 1), Ok(unit("ldld-phu-yen")));
    assert_eq!(next(&fed, effective), Ok(unit("ldld-tra-vinh")));
    // A closed unit has no successor: the chain still names it (nothing decides in its place).
    let close = fed
        .author("ldld-phu-yen")
        .sign(t_sign, end_of("ldld-tuy-hoa", None, effective));
    fed.import_ok(vec![close]);
    let after_close = expected_decider(
        &fed.directory,
        &unit("cdcs-a"),
        DecisionKind::Approve,
        Some(&(unit("cdcs-a"), DecisionKind::Submit)),
        effective,
    );
    assert_eq!(after_close, Ok(unit("ldld-tuy-hoa")));
}
