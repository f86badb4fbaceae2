//! Storage: materialised counters equal a recount through decisions, targets, confidential
//! initiatives, re-parenting and revocation; `check` finds damage and `--repair` fixes it;
//! schema versions; backup and restore; keys encrypted at rest.

use std::collections::BTreeMap;

use node::report::UnitReport;
use node::sled_store::{t, SledStore, TREES};
use node::{backup, check, keys, records, Node};
use sync_protocol::date::Date;
use sync_protocol::entry::{Certificate, DecisionKind, EntryBody, Revocation, Sector, UnitRole};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::{
    Application, Author, Description, Initiative, RecordContent, TargetAssignment,
};
use sync_protocol::store::EntryStore;
use tests::{decide, enrol, root, text, unit, TempDir};

const T0: u64 = 1_764_000_000_000;
const PROGRAMME: RecordId = RecordId([9; 16]);

fn initiative(
    node: &mut Node,
    title: &str,
    sector: Sector,
    benefit: u64,
    confidential: bool,
    t: u64,
) -> RecordId {
    let superior = node
        .directory()
        .parent_at(node.unit(), t)
        .cloned()
        .expect("a parent");
    let i = Initiative {
        title: text(title),
        authors: vec![Author {
            name: text("Nguyễn Văn A"),
            position: text("Kỹ sư"),
        }],
        origin: node.unit().clone(),
        superior,
        programme: Some(PROGRAMME),
        phase: 1,
        sector,
        summary: text("Giảm chi phí"),
        registered_on: Date::parse("2026-01-10").expect("date"),
        description: Description::default(),
        benefit_vnd: benefit,
        application: Application::Applied,
        recognition: None,
        confidential,
        attachments: vec![],
        commitment_salt: confidential.then_some([7; 32]),
    };
    records::create(node, &RecordContent::Initiative(Box::new(i)), t).expect("initiative")
}

/// Everything `from` holds that `to` should hold goes to `to`.
fn push(from: &Node, to: &mut Node, t: u64) {
    let entries = from.entries_for(to.unit(), t).expect("entries");
    let report = to.import(entries, t).expect("import");
    assert!(report.rejected.is_empty(), "{report:?}");
}

/// Counters agree with the recount for every unit the node knows, and `check` is clean.
fn assert_consistent(n: &mut Node, t: u64) {
    for u in n.directory().units() {
        let built = UnitReport::build(n, &u, PROGRAMME, 1, Some(100), t).expect("build");
        let recount = UnitReport::recount(n, &u, PROGRAMME, 1, Some(100), t).expect("recount");
        assert_eq!(built, recount, "report of {u} at {}", n.unit());
    }
    let r = check::run(n, t, false).expect("check");
    assert!(r.is_clean(), "{:?}", r.problems);
}

struct Fed {
    _tmp: TempDir,
    prov: Node,
    district: Node,
    other_district: Node,
    a: Node,
    b: Node,
}

fn federation(name: &str) -> Fed {
    let tmp = TempDir::new(name);
    let p = tmp.path().to_owned();
    let mut tld = root(&p, T0);
    let mut prov = enrol(
        &mut tld,
        &p,
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let mut district = enrol(
        &mut prov,
        &p,
        "ldld-tuy-hoa",
        UnitRole::DirectSuperior,
        T0 + 2,
    );
    let other_district = enrol(
        &mut prov,
        &p,
        "ldld-dong-hoa",
        UnitRole::DirectSuperior,
        T0 + 3,
    );
    let a = enrol(&mut district, &p, "cdcs-a", UnitRole::Grassroots, T0 + 4);
    let b = enrol(&mut district, &p, "cdcs-b", UnitRole::Grassroots, T0 + 5);
    push(&district, &mut prov, T0 + 6);
    Fed {
        _tmp: tmp,
        prov,
        district,
        other_district,
        a,
        b,
    }
}

/// A target re-assigned many times, each edit applied to the Automerge document the node kept
/// from its last write (not its whole history replayed), with refused edits and imports in
/// between: content, view and target index equal a full re-verification, and the record's
/// entries read through the decoded ones kept equal the store's.
#[test]
fn a_target_edited_through_kept_documents_equals_a_full_reading() {
    use sync_protocol::store::EntryLookup;
    let mut f = federation("kept-documents");
    let target = TargetAssignment {
        programme: PROGRAMME,
        phase: 1,
        assignments: BTreeMap::from([(unit("cdcs-a"), 1)]),
    };
    let r =
        records::create(&mut f.district, &RecordContent::Target(target), T0 + 10).expect("target");
    let mut t = T0 + 11;
    for i in 0..30u64 {
        t += 1;
        let changed = records::edit(
            &mut f.district,
            r,
            |c| {
                if let RecordContent::Target(x) = c {
                    x.assignments.insert(unit("cdcs-a"), 100 + i);
                    x.assignments.insert(unit("cdcs-b"), i);
                }
            },
            t,
        )
        .expect("edit");
        assert!(changed);
        if i % 7 == 3 {
            // Refused (not a child): nothing is stored, and the next edit reads the store.
            let refused = records::edit(
                &mut f.district,
                r,
                |c| {
                    if let RecordContent::Target(x) = c {
                        x.assignments.insert(unit("ldld-dong-hoa"), 5);
                    }
                },
                t,
            );
            assert!(refused.is_err());
        }
        if i % 10 == 5 {
            t += 1;
            initiative(&mut f.a, "Băng tải", Sector::Education, 1, false, t);
            push(&f.a, &mut f.district, t);
        }
    }
    let rep = records::check(&f.district, r, t).expect("check");
    assert!(rep.is_valid(), "{:?}", rep.problems);
    let want = BTreeMap::from([(unit("cdcs-a"), 129), (unit("cdcs-b"), 29)]);
    assert_eq!(
        rep.content,
        Some(RecordContent::Target(TargetAssignment {
            programme: PROGRAMME,
            phase: 1,
            assignments: want.clone(),
        }))
    );
    let (own, read) = node::targets::own_record(&f.district, PROGRAMME, 1)
        .expect("read")
        .expect("the district's target");
    assert_eq!((own, &read.assignments), (r, &want));
    assert_eq!(
        f.district
            .store()
            .targets_of(PROGRAMME, 1, f.district.unit())
            .expect("index"),
        want
    );
    let hashes = |mut v: Vec<sync_protocol::entry::Entry>| {
        v.sort_by_key(|e| e.hash());
        v.iter().map(|e| e.hash()).collect::<Vec<_>>()
    };
    let kept = f.district.store().record_entries_kept(&r).expect("kept");
    let stored = f.district.store().record_entries(&r).expect("stored");
    assert_eq!(kept.len(), 31);
    assert_eq!(hashes(kept), hashes(stored));
    assert_consistent(&mut f.district, t + 1);
}

#[test]
fn counters_equal_a_recount_through_decisions_targets_reparenting_and_revocation() {
    let mut f = federation("storage-counters");
    let a1 = initiative(
        &mut f.a,
        "Băng tải",
        Sector::ProductionBusiness,
        150_000_000,
        false,
        T0 + 10,
    );
    let a2 = initiative(
        &mut f.a,
        "Bí mật",
        Sector::Health,
        70_000_000,
        true,
        T0 + 11,
    );
    let b1 = initiative(
        &mut f.b,
        "Sổ tay",
        Sector::Education,
        5_000_000,
        false,
        T0 + 12,
    );
    decide(&mut f.a, a1, DecisionKind::Submit, T0 + 13);
    decide(&mut f.a, a2, DecisionKind::Submit, T0 + 14);
    decide(&mut f.b, b1, DecisionKind::Submit, T0 + 15);
    assert_consistent(&mut f.a, T0 + 16);
    // The district receives them, decides, and assigns targets.
    push(&f.a, &mut f.district, T0 + 20);
    push(&f.b, &mut f.district, T0 + 20);
    decide(&mut f.district, a1, DecisionKind::Approve, T0 + 21);
    decide(&mut f.district, b1, DecisionKind::Reject, T0 + 22);
    let target = TargetAssignment {
        programme: PROGRAMME,
        phase: 1,
        assignments: BTreeMap::from([(unit("cdcs-a"), 10), (unit("cdcs-b"), 4)]),
    };
    records::create(&mut f.district, &RecordContent::Target(target), T0 + 23).expect("target");
    assert_consistent(&mut f.district, T0 + 24);
    let r = UnitReport::build(
        &f.district,
        &unit("ldld-tuy-hoa"),
        PROGRAMME,
        1,
        None,
        T0 + 24,
    )
    .expect("report");
    assert_eq!(r.counts.initiatives, 3);
    assert_eq!(r.counts.benefit_vnd, 225_000_000);
    assert_eq!(r.children.len(), 2);
    assert_eq!(r.children[0].unit, unit("cdcs-a"));
    assert_eq!(r.children[0].counts.initiatives, 2);
    assert_eq!(r.children[0].target, Some(10));
    assert_eq!(
        r.counts.by_status[&node::report::Status::Decided(DecisionKind::Reject)],
        1
    );
    // The province (which sees the confidential one only by its projection).
    push(&f.district, &mut f.prov, T0 + 30);
    assert_consistent(&mut f.prov, T0 + 31);
    let r = UnitReport::build(&f.prov, &unit("ldld-phu-yen"), PROGRAMME, 1, None, T0 + 31)
        .expect("report");
    assert_eq!(r.counts.initiatives, 3);

    // Re-parenting: cdcs-a moves to the other district; its counts move with it.
    let old = f
        .prov
        .directory()
        .latest_cert(&unit("cdcs-a"))
        .expect("certified")
        .clone();
    f.prov
        .write(
            EntryBody::Certificate(Certificate {
                unit: unit("cdcs-a"),
                name: old.cert.name.clone(),
                role: UnitRole::Grassroots,
                parent: unit("ldld-dong-hoa"),
                key: old.cert.key,
                replaces: Some(old.hash),
            }),
            T0 + 40,
        )
        .expect("re-parenting");
    assert_consistent(&mut f.prov, T0 + 41);
    let moved = |n: &Node, u: &str| {
        UnitReport::build(n, &unit(u), PROGRAMME, 1, None, T0 + 41)
            .expect("report")
            .counts
            .initiatives
    };
    assert_eq!(moved(&f.prov, "ldld-tuy-hoa"), 1);
    assert_eq!(moved(&f.prov, "ldld-dong-hoa"), 2);
    assert_eq!(moved(&f.prov, "ldld-phu-yen"), 3);
    push(&f.prov, &mut f.other_district, T0 + 42);
    assert_consistent(&mut f.other_district, T0 + 43);

    // Revocation of cdcs-b's key from before its initiative: the initiative no longer counts.
    let b_key = f
        .prov
        .directory()
        .latest_cert(&unit("cdcs-b"))
        .expect("certified")
        .cert
        .key;
    f.prov
        .write(
            EntryBody::Revocation(Revocation {
                unit: unit("cdcs-b"),
                key: b_key,
                effective_ms: T0 + 6,
                reason: text("khóa bị lộ"),
            }),
            T0 + 50,
        )
        .expect("revocation");
    assert_consistent(&mut f.prov, T0 + 51);
    assert_eq!(moved(&f.prov, "ldld-tuy-hoa"), 0);
    assert_eq!(moved(&f.prov, "ldld-phu-yen"), 2);

    // Everything survives reopening.
    let dir = f.prov.dir().to_owned();
    drop(f.prov);
    let mut prov = Node::open(&dir).expect("reopen");
    assert_consistent(&mut prov, T0 + 60);
}

#[test]
fn a_damaged_counter_tree_is_reported_and_repaired() {
    let mut f = federation("storage-repair");
    for i in 0..5 {
        initiative(
            &mut f.a,
            &format!("Sáng kiến {i}"),
            Sector::Other,
            1_000,
            false,
            T0 + 10 + i,
        );
    }
    push(&f.a, &mut f.district, T0 + 20);
    let n = &mut f.district;
    assert!(check::run(n, T0 + 21, false).expect("check").is_clean());
    let entries = n.store().len().expect("len");
    // Damage: one counter changed, one removed, one invented, one view dropped.
    let counters = n.store().tree(t::COUNTERS).clone();
    let (k, _) = counters.iter().next().expect("a counter").expect("read");
    counters.insert(&k, vec![0u8; 144]).expect("damage");
    let (k2, _) = counters.iter().nth(1).expect("a counter").expect("read");
    counters.remove(&k2).expect("damage");
    counters
        .insert(b"sbogus\0xxxxxxxxxxxxxxxxxxxx", vec![1, 2, 3])
        .expect("damage");
    let views = n.store().tree(t::VIEWS).clone();
    let (v, _) = views.iter().next().expect("a view").expect("read");
    views.remove(&v).expect("damage");
    let r = check::run(n, T0 + 22, false).expect("check");
    assert!(!r.is_clean());
    assert!(r.problem_count >= 4, "{:?}", r.problems);
    assert!(
        r.problems.iter().any(|p| p.starts_with("counters:")),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems.iter().any(|p| p.starts_with("views:")),
        "{:?}",
        r.problems
    );
    // Repair rebuilds from the entries, deleting none.
    let r = check::run(n, T0 + 23, true).expect("repair");
    assert!(r.repaired);
    let r = check::run(n, T0 + 24, false).expect("check");
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(n.store().len().expect("len"), entries);
    assert_consistent(n, T0 + 25);
}

#[test]
fn version_3_is_migrated_by_emptying_the_retired_trees() {
    let mut f = federation("storage-schema-3");
    initiative(&mut f.a, "Một", Sector::Other, 1, false, T0 + 10);
    let dir = f.a.dir().to_owned();
    let db = dir.join(node::node::DB_DIR);
    drop(f.a);
    // Schema 3 wrote a `by_kind` row per entry and a `heads` row per record.
    {
        let s = SledStore::open(&db).expect("open");
        s.tree(t::BY_KIND)
            .insert([3u8; 41], &[][..])
            .expect("old row");
        s.tree(t::HEADS)
            .insert([7u8; 16], vec![1u8; 32])
            .expect("old row");
        s.set_meta("schema_version", &3u32.to_be_bytes())
            .expect("meta");
    }
    let mut a = Node::open(&dir).expect("migrated");
    assert_eq!(
        a.store().meta("schema_version").expect("meta"),
        Some(node::sled_store::SCHEMA_VERSION.to_be_bytes().to_vec())
    );
    for i in t::RETIRED {
        assert!(a.store().tree(i).is_empty(), "{} still has rows", TREES[i]);
    }
    assert_consistent(&mut a, T0 + 11);
}

#[test]
fn another_schema_version_is_refused_and_version_1_is_migrated() {
    let mut f = federation("storage-schema");
    initiative(&mut f.a, "Một", Sector::Other, 1, false, T0 + 10);
    let dir = f.a.dir().to_owned();
    let db = dir.join(node::node::DB_DIR);
    drop(f.a);
    // Version 1: derived trees of the first form; migrated by a rebuild on open.
    {
        let s = SledStore::open(&db).expect("open");
        s.tree(t::COUNTERS).clear().expect("clear");
        s.tree(t::VIEWS).clear().expect("clear");
        s.set_meta("schema_version", &1u32.to_be_bytes())
            .expect("meta");
    }
    let mut a = Node::open(&dir).expect("migrated");
    assert_eq!(
        a.store().meta("schema_version").expect("meta"),
        Some(node::sled_store::SCHEMA_VERSION.to_be_bytes().to_vec())
    );
    assert_consistent(&mut a, T0 + 11);
    drop(a);
    // An unknown version: a clear error naming the directory; nothing rewritten.
    {
        let s = SledStore::open(&db).expect("open");
        s.set_meta("schema_version", &99u32.to_be_bytes())
            .expect("meta");
    }
    let e = match Node::open(&dir) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("version 99 opened"),
    };
    assert!(
        e.contains("schema version") && e.contains(&db.display().to_string()),
        "{e}"
    );
    let s = SledStore::open(&db)
        .err()
        .expect("still refused")
        .to_string();
    assert!(s.contains("00000063"), "{s}");
}

#[test]
fn a_backup_restores_to_the_same_entries_and_counters() {
    let mut f = federation("storage-backup");
    for i in 0..4 {
        let r = initiative(
            &mut f.a,
            &format!("SK {i}"),
            Sector::Health,
            10,
            i == 2,
            T0 + 10 + i,
        );
        decide(&mut f.a, r, DecisionKind::Submit, T0 + 20 + i);
    }
    push(&f.a, &mut f.district, T0 + 30);
    let file = f.district.dir().with_extension("skbackup");
    let s = backup::write(&f.district, &file, false).expect("backup");
    assert_eq!(s.entries, f.district.store().len().expect("len"));
    let into = f.district.dir().with_extension("restored");
    let (mut restored, _) = backup::restore(&file, &into, T0 + 31).expect("restore");
    assert_eq!(
        restored.store().hashes().expect("hashes"),
        f.district.store().hashes().expect("hashes")
    );
    assert_consistent(&mut restored, T0 + 32);
    let u = unit("ldld-tuy-hoa");
    assert_eq!(
        UnitReport::build(&restored, &u, PROGRAMME, 1, None, T0 + 32).expect("report"),
        UnitReport::build(&f.district, &u, PROGRAMME, 1, None, T0 + 32).expect("report")
    );
    assert!(restored.author().is_err(), "the key was not in the backup");
    // A damaged backup is refused with the file named; nothing is created.
    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&file, &bytes).expect("write");
    let other = f.district.dir().with_extension("restored2");
    let e = backup::restore(&file, &other, T0 + 33)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains(&file.display().to_string()), "{e}");
    assert!(!other.join("node.json").exists());
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir_all(&into);
}

#[test]
fn a_key_encrypted_at_rest_opens_only_with_its_passphrase() {
    let tmp = TempDir::new("storage-keys");
    let key = keys::generate();
    let path = tmp.path().join("unit.key");
    let text = keys::encrypt(&path, &key, "mật khẩu dài").expect("encrypt");
    assert!(!text.contains(&hex_of(&key)), "the key is not in the clear");
    keys::write_raw_new(&path, &text).expect("write");
    let back = keys::read_with(&path, Some("mật khẩu dài")).expect("decrypt");
    assert_eq!(back.to_bytes(), key.to_bytes());
    assert!(matches!(
        keys::read_with(&path, Some("sai")),
        Err(keys::KeyError::WrongPassphrase(_))
    ));
    assert!(matches!(
        keys::read_with(&path, None),
        Err(keys::KeyError::NeedPassphrase(_))
    ));
    // A node whose key is encrypted opens without the passphrase for reading and checking,
    // and says why it cannot sign.
    let f = federation("storage-keys-node");
    let dir = f.a.dir().to_owned();
    let key_path = dir.join(node::node::KEY_FILE);
    let k = keys::read_with(&key_path, None).expect("plain key");
    drop(f.a);
    std::fs::remove_file(&key_path).expect("remove");
    keys::write_raw_new(
        &key_path,
        &keys::encrypt(&key_path, &k, "pw").expect("encrypt"),
    )
    .expect("write");
    let mut a = Node::open(&dir).expect("opens without the passphrase");
    let e = a.author().expect_err("cannot sign").to_string();
    assert!(e.contains("SANGKIEN_PASSPHRASE_FILE"), "{e}");
    assert!(check::run(&mut a, T0 + 10, false)
        .expect("check")
        .is_clean());
    let _: UnitId = unit("tld");
    f.district.dir();
}

fn hex_of(k: &ed25519_dalek::SigningKey) -> String {
    k.to_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_reparenting_that_arrives_after_the_entries_it_concerns_keeps_counters_exact() {
    let mut f = federation("storage-late-cert");
    initiative(&mut f.a, "Trước", Sector::Other, 10, false, T0 + 10);
    // The province moves cdcs-a at T0 + 40; cdcs-a, not knowing, registers another initiative
    // at T0 + 45 naming its old superior; the district receives that first.
    let old = f
        .prov
        .directory()
        .latest_cert(&unit("cdcs-a"))
        .expect("certified")
        .clone();
    f.prov
        .write(
            EntryBody::Certificate(Certificate {
                unit: unit("cdcs-a"),
                name: old.cert.name.clone(),
                role: UnitRole::Grassroots,
                parent: unit("ldld-dong-hoa"),
                key: old.cert.key,
                replaces: Some(old.hash),
            }),
            T0 + 40,
        )
        .expect("re-parenting");
    initiative(&mut f.a, "Sau", Sector::Other, 20, false, T0 + 45);
    push(&f.a, &mut f.district, T0 + 50);
    assert_consistent(&mut f.district, T0 + 51);
    // Then the certificate arrives at the district.
    let cert = f.prov.store().trust_entries().expect("trust");
    let r = f.district.import(cert, T0 + 52).expect("import");
    assert!(r.rejected.is_empty(), "{r:?}");
    assert_consistent(&mut f.district, T0 + 53);
    let dir = f.district.dir().to_owned();
    drop(f.district);
    let mut d = Node::open(&dir).expect("reopen");
    assert_consistent(&mut d, T0 + 54);
}
