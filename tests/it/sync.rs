//! Sync between real on-disk nodes over the in-memory transport: a 3-level tree converges,
//! relays, restores from an old backup, duplicated sessions, scope on send and receive.

use node::records;
use node::sync::sync_in_memory;
use node::Node;
use sync_protocol::date::Date;
use sync_protocol::entry::{DecisionKind, Sector, UnitRole};
use sync_protocol::ids::RecordId;
use sync_protocol::record::{Application, Author, Description, Initiative, RecordContent};
use sync_protocol::store::{EntryLookup, EntryStore};
use tests::{enrol, root, sync_quic, text, unit, TempDir};

const T0: u64 = 1_764_000_000_000;

struct Tree {
    _tmp: TempDir,
    tld: Node,
    prov: Node,
    district: Node,
    grass: Node,
    sibling: Node,
}

fn tree(name: &str) -> Tree {
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
    let sibling = enrol(
        &mut prov,
        &p,
        "ldld-dong-hoa",
        UnitRole::DirectSuperior,
        T0 + 3,
    );
    let grass = enrol(&mut district, &p, "cdcs-a", UnitRole::Grassroots, T0 + 4);
    Tree {
        _tmp: tmp,
        tld,
        prov,
        district,
        grass,
        sibling,
    }
}

fn initiative(node: &mut Node, title: &str, confidential: bool, t: u64) -> RecordId {
    let superior = node.directory().parent_at(node.unit(), t).cloned().unwrap();
    let i = Initiative {
        title: text(title),
        authors: vec![Author {
            name: text("Nguyễn Văn A"),
            position: text("Kỹ sư"),
        }],
        origin: node.unit().clone(),
        superior,
        programme: None,
        phase: 0,
        sector: Sector::ProductionBusiness,
        summary: text("Giảm chi phí"),
        registered_on: Date::parse("2026-01-10").unwrap(),
        description: Description::default(),
        benefit_vnd: 1_000_000,
        application: Application::Applied,
        recognition: None,
        confidential,
        attachments: vec![],
        commitment_salt: confidential.then_some([7; 32]),
    };
    records::create(node, &RecordContent::Initiative(Box::new(i)), t).unwrap()
}

fn hashes(n: &Node) -> Vec<sync_protocol::ids::EntryHash> {
    n.store().hashes().unwrap()
}

fn holds(n: &Node, r: RecordId) -> usize {
    n.store().record_entries(&r).unwrap().len()
}

#[test]
fn a_three_level_tree_converges_and_decisions_flow_back_down() {
    let mut t = tree("sync-tree");
    let r = initiative(&mut t.grass, "Băng tải", false, T0 + 10);
    let secret = initiative(&mut t.grass, "Bí mật", true, T0 + 11);
    records::decide(
        &mut t.grass,
        r,
        DecisionKind::Submit,
        text("A"),
        text("Chủ tịch"),
        text(""),
        T0 + 12,
    )
    .unwrap();
    // Up: grassroots → district → province → national.
    sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 20).unwrap();
    sync_in_memory(&mut t.district, &mut t.prov, None, T0 + 21).unwrap();
    sync_in_memory(&mut t.prov, &mut t.tld, None, T0 + 22).unwrap();
    assert_eq!(
        holds(&t.tld, r),
        2,
        "the change and the submission reached the national node"
    );
    // The confidential initiative's private part stopped at the direct superior.
    assert_eq!(
        holds(&t.district, secret),
        2,
        "change and projection at the district"
    );
    assert_eq!(
        holds(&t.prov, secret),
        1,
        "only the projection at the province"
    );
    assert_eq!(holds(&t.tld, secret), 1);
    // A decision at the district flows down to the grassroots node.
    records::decide(
        &mut t.district,
        r,
        DecisionKind::Approve,
        text("B"),
        text("Chủ tịch"),
        text(""),
        T0 + 30,
    )
    .unwrap();
    let (a, _) = sync_in_memory(&mut t.district, &mut t.grass, None, T0 + 31).unwrap();
    assert!(a.import.rejected.is_empty(), "{a:?}");
    assert_eq!(holds(&t.grass, r), 3);
    // The sibling district holds nothing of cdcs-a's initiatives after syncing with the province.
    sync_in_memory(&mut t.sibling, &mut t.prov, None, T0 + 32).unwrap();
    assert_eq!(holds(&t.sibling, r), 0);
    assert_eq!(holds(&t.sibling, secret), 0);
    // Everything every node holds verifies there.
    for n in [&t.tld, &t.prov, &t.district, &t.grass, &t.sibling] {
        let rep =
            sync_protocol::audit::verify_store(n.store(), n.directory(), Some(n.unit()), T0 + 40)
                .unwrap();
        assert!(rep.records.iter().all(|r| r.is_valid()), "{}", n.unit());
    }
}

#[test]
fn a_second_session_moves_nothing_and_the_cursor_takes_one_round_trip() {
    let mut t = tree("sync-again");
    initiative(&mut t.grass, "Một", false, T0 + 10);
    let (a, b) = sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 20).unwrap();
    assert!(a.stats.entries_sent > 0);
    assert_eq!(b.import.accepted as u64, a.stats.entries_sent);
    let (a, b) = sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 21).unwrap();
    assert_eq!(a.stats.entries_sent + b.stats.entries_sent, 0);
    // New work since the last session: the cursor fast path settles it in one round trip.
    initiative(&mut t.grass, "Hai", false, T0 + 30);
    let (a, b) = sync_in_memory(&mut t.grass, &mut t.district, Some(T0 + 25), T0 + 31).unwrap();
    assert_eq!(a.stats.reconcile_messages_sent, 1, "{a:?}");
    assert_eq!(b.import.accepted, 1);
}

#[test]
fn a_district_relays_straight_to_the_national_node_while_its_province_is_down() {
    let mut t = tree("sync-relay");
    let r = initiative(&mut t.grass, "Qua trung gian", false, T0 + 10);
    sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 20).unwrap();
    // The province is down: the district syncs with the national node directly.
    sync_in_memory(&mut t.district, &mut t.tld, None, T0 + 21).unwrap();
    assert_eq!(holds(&t.tld, r), 1);
    assert_eq!(holds(&t.prov, r), 0);
    // The province comes back and converges from the national node.
    sync_in_memory(&mut t.prov, &mut t.tld, None, T0 + 22).unwrap();
    assert_eq!(holds(&t.prov, r), 1);
}

#[test]
fn a_node_restored_from_an_old_backup_converges() {
    let Tree {
        _tmp,
        mut district,
        grass,
        ..
    } = tree("sync-restore");
    let mut grass = grass;
    initiative(&mut grass, "Trước sao lưu", false, T0 + 10);
    sync_in_memory(&mut grass, &mut district, None, T0 + 20).unwrap();
    // Back up the grassroots node (closed), then work on.
    let dir = grass.dir().to_owned();
    let backup = dir.with_extension("backup");
    drop(grass);
    copy_dir(&dir, &backup);
    let mut grass = Node::open(&dir).unwrap();
    let later = initiative(&mut grass, "Sau sao lưu", false, T0 + 30);
    sync_in_memory(&mut grass, &mut district, None, T0 + 31).unwrap();
    drop(grass);
    // The disk dies; the old backup is restored. It lacks `later`, and gets it back.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&backup, &dir).unwrap();
    let mut grass = Node::open(&dir).unwrap();
    assert_eq!(holds(&grass, later), 0);
    sync_in_memory(&mut grass, &mut district, None, T0 + 40).unwrap();
    assert_eq!(holds(&grass, later), 1);
    let expected: std::collections::BTreeSet<_> = district
        .entries_for(&unit("cdcs-a"), T0 + 40)
        .unwrap()
        .iter()
        .map(|e| e.hash())
        .collect();
    assert_eq!(hashes(&grass), expected.into_iter().collect::<Vec<_>>());
}

#[test]
fn an_out_of_scope_entry_is_refused_and_reported() {
    let mut t = tree("sync-scope");
    let r = initiative(&mut t.grass, "Của Tuy Hòa", false, T0 + 10);
    sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 20).unwrap();
    sync_in_memory(&mut t.district, &mut t.prov, None, T0 + 20).unwrap();
    sync_in_memory(&mut t.sibling, &mut t.prov, None, T0 + 20).unwrap();
    assert_eq!(
        holds(&t.sibling, r),
        0,
        "scope on send: the province offered nothing of it"
    );
    // Certificates travel by need: the sibling was not sent cdcs-a's. Any valid certificate
    // is accepted on receive, though: hand it the district's.
    let trust = t.district.store().trust_entries().unwrap();
    let report = t.sibling.import(trust, T0 + 21).unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    // Pushed to the sibling district by hand (as a faulty relay would): refused with a reason.
    let entries = t.district.store().record_entries(&r).unwrap();
    let report = t.sibling.import(entries, T0 + 21).unwrap();
    assert_eq!(report.accepted, 0);
    assert!(
        report.rejected[0].1.contains("outside the scope"),
        "{report:?}"
    );
    assert_eq!(holds(&t.sibling, r), 0);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_three_level_tree_converges_over_quic() {
    let mut t = tree("sync-quic");
    let mut records = Vec::new();
    for i in 0..20 {
        records.push(initiative(
            &mut t.grass,
            &format!("Sáng kiến {i}"),
            i % 5 == 0,
            T0 + 10 + i,
        ));
    }
    let (up, down) = sync_quic(&mut t.grass, &mut t.district, None).await;
    assert!(up.stats.entries_sent >= 24, "{up:?}");
    assert_eq!(
        down.import.accepted as u64, up.stats.entries_sent,
        "{down:?}"
    );
    assert!(down.import.rejected.is_empty(), "{down:?}");
    sync_quic(&mut t.district, &mut t.prov, None).await;
    sync_quic(&mut t.prov, &mut t.tld, None).await;
    for r in &records {
        assert!(holds(&t.tld, *r) >= 1);
    }
    // A decision at the province comes back down to the grassroots node in two hops.
    records::decide(
        &mut t.grass,
        records[1],
        DecisionKind::Submit,
        text("A"),
        text("Chủ tịch"),
        text(""),
        T0 + 100,
    )
    .unwrap();
    sync_quic(&mut t.grass, &mut t.district, None).await;
    records::decide(
        &mut t.district,
        records[1],
        DecisionKind::Approve,
        text("B"),
        text("Chủ tịch"),
        text(""),
        T0 + 101,
    )
    .unwrap();
    sync_quic(&mut t.district, &mut t.prov, None).await;
    records::decide(
        &mut t.prov,
        records[1],
        DecisionKind::Recognise,
        text("C"),
        text("Chủ tịch"),
        text(""),
        T0 + 102,
    )
    .unwrap();
    sync_quic(&mut t.prov, &mut t.district, None).await;
    sync_quic(&mut t.grass, &mut t.district, None).await;
    assert_eq!(
        holds(&t.grass, records[1]),
        4,
        "change, submit, approve, recognise"
    );
    // Nothing left to move: a second session sends nothing.
    let (a, b) = sync_quic(&mut t.grass, &mut t.district, None).await;
    assert_eq!(a.stats.entries_sent + b.stats.entries_sent, 0);
}

#[test]
fn duplicated_and_reordered_delivery_converges_to_the_same_store() {
    let mut t = tree("sync-dup");
    let mut made = Vec::new();
    for i in 0..6 {
        made.push(initiative(
            &mut t.grass,
            &format!("Lặp {i}"),
            i == 3,
            T0 + 10 + i,
        ));
    }
    records::decide(
        &mut t.grass,
        made[0],
        DecisionKind::Submit,
        text("A"),
        text("Chủ tịch"),
        text(""),
        T0 + 20,
    )
    .unwrap();
    // The district gets everything twice, newest first, as a flaky relay would deliver it.
    let mut entries = t.grass.entries_for(&unit("ldld-tuy-hoa"), T0 + 30).unwrap();
    entries.reverse();
    let twice: Vec<_> = entries.iter().chain(entries.iter()).cloned().collect();
    let r = t.district.import(twice, T0 + 30).unwrap();
    assert!(r.rejected.is_empty(), "{r:?}");
    assert!(
        r.quarantined.is_empty(),
        "reordering is absorbed by the batch: {r:?}"
    );
    // A sync afterwards finds nothing left to move.
    let (a, _) = sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 31).unwrap();
    assert_eq!(
        a.stats.entries_sent, 0,
        "nothing left to send after the duplicated delivery"
    );
    for r in &made {
        assert!(holds(&t.district, *r) >= 1);
    }
}

#[tokio::test]
async fn a_node_cut_off_mid_sync_resumes_after_restart() {
    let Tree {
        _tmp,
        mut grass,
        district,
        ..
    } = tree("sync-cut");
    let mut district = district;
    for i in 0..400 {
        initiative(&mut grass, &format!("Sáng kiến {i}"), false, T0 + 10 + i);
    }
    let offered = grass.entries_for(&unit("ldld-tuy-hoa"), T0 + 500).unwrap();
    let held_before = hashes(&district).len();
    // The session is cut a few milliseconds in: the link drops, or the process dies.
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(30),
        node::sync::sync_pair_over_quic(&mut grass, &mut district, None),
    )
    .await;
    let finished_anyway = matches!(cut, Ok(Ok(_)));
    eprintln!("first session cut before it finished: {}", !finished_anyway);
    // Restart the district node from disk: everything it acknowledged is still there.
    let dir = district.dir().to_owned();
    let held_after_cut = hashes(&district);
    drop(district);
    let mut district = Node::open(&dir).unwrap();
    assert_eq!(
        hashes(&district),
        held_after_cut,
        "a restart loses nothing acknowledged"
    );
    // The next session moves only what is still missing, and converges.
    let (a, _) = node::sync::sync_pair_over_quic(&mut grass, &mut district, None)
        .await
        .unwrap();
    let moved_first = held_after_cut.len() - held_before;
    assert_eq!(
        moved_first + a.stats.entries_sent as usize,
        offered.iter().filter(|e| !matches!(e.body(), sync_protocol::entry::EntryBody::Genesis(_) | sync_protocol::entry::EntryBody::Certificate(_))).count(),
        "the two sessions together sent each missing entry once (first session finished: {finished_anyway})"
    );
    for e in &offered {
        assert!(district.store().contains(&e.hash()).unwrap());
    }
}

// ---- programme authority over QUIC (issue 12, h-trust) -------------------------------------

/// A programme launched by a district reaches its subtree and its ancestors over real QUIC,
/// never the sibling district; the national programme reaches everyone.
#[tokio::test]
async fn a_districts_programme_reaches_its_subtree_and_ancestors_only() {
    use sync_protocol::record::{Phase, Programme};
    let mut t = tree("sync-programme");
    let programme = |name: &str| {
        RecordContent::Programme(Programme {
            name: text(name),
            phases: vec![Phase {
                name: text("Giai đoạn 1"),
                start: Date::parse("2025-01-01").unwrap(),
                end: Date::parse("2025-12-31").unwrap(),
                target: 100,
            }],
            deadlines: Vec::new(),
            campaigns: Vec::new(),
            national_target: 100,
        })
    };
    // Same name, two launchers.
    let national = records::create(&mut t.tld, &programme("01 triệu sáng kiến"), T0 + 10).unwrap();
    let district =
        records::create(&mut t.district, &programme("01 triệu sáng kiến"), T0 + 11).unwrap();
    sync_quic(&mut t.prov, &mut t.tld, None).await;
    sync_quic(&mut t.district, &mut t.prov, None).await;
    sync_quic(&mut t.prov, &mut t.tld, None).await;
    sync_quic(&mut t.prov, &mut t.sibling, None).await;
    sync_quic(&mut t.grass, &mut t.district, None).await;
    for (n, name) in [
        (&t.tld, "tld"),
        (&t.prov, "prov"),
        (&t.district, "district"),
        (&t.grass, "grass"),
        (&t.sibling, "sibling"),
    ] {
        assert_eq!(holds(n, national), 1, "{name}: the national programme");
        let expected = usize::from(name != "sibling");
        assert_eq!(
            holds(n, district),
            expected,
            "{name}: the district's programme"
        );
    }
}

// ---- h-sync: what a node offers a peer ----

/// The keys `PeerSource` offers (trust keys read from the index, record entries scope-checked)
/// are exactly the keys of `entries_for`, for every pair of units of a varied federation:
/// parent, child, sibling, relays two levels away, programmes launched at the top and at a
/// district, confidential initiatives, decisions flowing down.
#[test]
fn the_offer_to_every_peer_is_exactly_what_its_scope_gives() {
    use sync_protocol::record::{Phase, Programme};
    use sync_protocol::sync::SyncKey;
    let mut t = tree("sync-offer");
    let programme = |name: &str| {
        RecordContent::Programme(Programme {
            name: text(name),
            phases: vec![Phase {
                name: text("Giai đoạn 1"),
                start: Date::parse("2025-01-01").unwrap(),
                end: Date::parse("2025-12-31").unwrap(),
                target: 100,
            }],
            deadlines: Vec::new(),
            campaigns: Vec::new(),
            national_target: 100,
        })
    };
    records::create(&mut t.tld, &programme("Quốc gia"), T0 + 10).unwrap();
    records::create(&mut t.district, &programme("Huyện"), T0 + 11).unwrap();
    let r = initiative(&mut t.grass, "Băng tải", false, T0 + 12);
    initiative(&mut t.grass, "Bí mật", true, T0 + 13);
    records::decide(
        &mut t.grass,
        r,
        DecisionKind::Submit,
        text("A"),
        text("Chủ tịch"),
        text(""),
        T0 + 16,
    )
    .unwrap();
    let units = [
        "tld",
        "ldld-phu-yen",
        "ldld-tuy-hoa",
        "ldld-dong-hoa",
        "cdcs-a",
    ];
    let check = |t: &Tree, now: u64| {
        for n in [&t.tld, &t.prov, &t.district, &t.grass, &t.sibling] {
            for u in units {
                let mut want: Vec<SyncKey> = n
                    .entries_for(&unit(u), now)
                    .unwrap()
                    .iter()
                    .map(|e| SyncKey {
                        time_ms: e.time_ms(),
                        hash: e.hash(),
                    })
                    .collect();
                want.sort();
                want.dedup();
                assert_eq!(
                    n.offer_keys(&unit(u), now).unwrap(),
                    want,
                    "{} → {u}",
                    n.unit()
                );
            }
        }
    };
    check(&t, T0 + 20);
    // Everything up to the national node, and back down.
    sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 20).unwrap();
    sync_in_memory(&mut t.sibling, &mut t.prov, None, T0 + 21).unwrap();
    sync_in_memory(&mut t.district, &mut t.prov, None, T0 + 22).unwrap();
    sync_in_memory(&mut t.prov, &mut t.tld, None, T0 + 23).unwrap();
    records::decide(
        &mut t.district,
        r,
        DecisionKind::Approve,
        text("B"),
        text("Chủ tịch"),
        text(""),
        T0 + 30,
    )
    .unwrap();
    sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 31).unwrap();
    sync_in_memory(&mut t.district, &mut t.prov, None, T0 + 32).unwrap();
    sync_in_memory(&mut t.prov, &mut t.tld, None, T0 + 33).unwrap();
    check(&t, T0 + 40);
}

// ---- certificates by need; bundles in sections ----------------------------------------------

#[test]
fn a_bundle_of_several_sections_exports_and_imports_section_by_section() {
    let mut t = tree("bundle-sections");
    let mut records = Vec::new();
    for i in 0..5 {
        records.push(initiative(
            &mut t.grass,
            &format!("Sáng kiến {i}"),
            false,
            T0 + 10 + i,
        ));
    }
    sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 20).unwrap();
    let entries = t.district.entries_for(t.prov.unit(), T0 + 21).unwrap();
    assert!(entries.len() > 6, "{}", entries.len());
    // The real writer with sections of 3 entries (MAX_BATCH_ENTRIES in use): the same code.
    let file = t.district.dir().with_extension("bundle");
    node::bundle::write_signed_in_sections(
        &file,
        t.district.author().unwrap(),
        t.prov.unit(),
        None,
        T0 + 21,
        &entries,
        3,
    )
    .unwrap();
    let read = node::bundle::read_signed(&file, t.prov.directory()).unwrap();
    assert_eq!(read.sections.len(), entries.len().div_ceil(3));
    assert!(read.sections.iter().all(|&n| (1..=3).contains(&n)));
    let report = node::bundle::import(&mut t.prov, "bundle:test", read, T0 + 22).unwrap();
    // Trust entries come parents first: nothing waits, even split across sections.
    assert!(report.quarantined.is_empty(), "{report:?}");
    assert!(report.rejected.is_empty(), "{report:?}");
    for r in records {
        assert!(holds(&t.prov, r) > 0);
    }
    // Importing it again changes nothing.
    let again = node::bundle::read_signed(&file, t.prov.directory()).unwrap();
    let report = node::bundle::import(&mut t.prov, "bundle:test", again, T0 + 23).unwrap();
    assert_eq!(report.accepted, 0);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn entries_for_carries_the_certificates_the_receiver_needs_not_the_trees() {
    let t = tree("trust-by-need");
    // The national node holds every certificate; a province's sibling subtree is not sent
    // to the grassroots unit cdcs-a, only its chain.
    let sent: Vec<String> = t
        .district
        .entries_for(t.grass.unit(), T0 + 30)
        .unwrap()
        .iter()
        .filter_map(|e| sync_protocol::scope::trust_subject(e).map(|u| u.as_str().to_owned()))
        .collect();
    assert_eq!(
        sent,
        ["ldld-phu-yen", "ldld-tuy-hoa", "cdcs-a"],
        "parents first"
    );
    let to_sibling: Vec<String> = t
        .prov
        .entries_for(t.sibling.unit(), T0 + 30)
        .unwrap()
        .iter()
        .filter_map(|e| sync_protocol::scope::trust_subject(e).map(|u| u.as_str().to_owned()))
        .collect();
    assert!(
        !to_sibling.contains(&"ldld-tuy-hoa".to_owned()),
        "{to_sibling:?}"
    );
    assert!(!to_sibling.contains(&"cdcs-a".to_owned()), "{to_sibling:?}");
}

// ---- h-sync: the sync index ------------------------------------------------------------------

/// The keys of what `entries_for` gives `u`, sorted.
fn scope_keys(n: &Node, u: &str, now: u64) -> Vec<sync_protocol::sync::SyncKey> {
    let mut want: Vec<_> = n
        .entries_for(&unit(u), now)
        .unwrap()
        .iter()
        .map(|e| sync_protocol::sync::SyncKey {
            time_ms: e.time_ms(),
            hash: e.hash(),
        })
        .collect();
    want.sort();
    want.dedup();
    want
}

/// The index answers every range as the sorted offer would (counts, fingerprints, keys, ids),
/// and cuts big ranges into non-empty ascending parts: on a node whose buckets hold several
/// chunks, filled both one write at a time and by a synced batch.
#[test]
fn the_sync_index_answers_ranges_as_the_sorted_offer_does() {
    use node::sync_index::{IndexSource, CHUNK_KEYS};
    use sync_protocol::sync::{Bound, IdPrefix, SortedKeys, SyncSource};
    let mut t = tree("sync-index-ranges");
    // Each write its own batch (chunks grow and are cut one key at a time)...
    let n = 2 * CHUNK_KEYS + 150;
    for i in 0..n {
        initiative(
            &mut t.grass,
            &format!("Sáng kiến {i}"),
            i % 7 == 0,
            T0 + 10 + i as u64,
        );
    }
    // ... and the district receives them in a few big batches.
    sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 5_000).unwrap();
    let now = T0 + 6_000;
    for (node, peer) in [
        (&t.grass, "ldld-tuy-hoa"),
        (&t.district, "ldld-phu-yen"),
        (&t.district, "cdcs-a"),
    ] {
        let want = scope_keys(node, peer, now);
        assert!(want.len() > n, "{} → {peer}: {}", node.unit(), want.len());
        let index = IndexSource::for_peer(node, &unit(peer), now).unwrap();
        let sorted = SortedKeys::new(want.clone());
        assert_eq!(index.keys_in(None, &Bound::Infinity), want);
        // Bounds at, between and around the keys, with short and long hash prefixes.
        let mut bounds = vec![None, Some(Bound::Infinity)];
        let mut x: u64 = 12345;
        for _ in 0..60 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = &want[(x >> 33) as usize % want.len()];
            let plen = (x >> 20) as usize % 4;
            bounds.push(Some(Bound::Key {
                time_ms: k.time_ms + (x >> 60) % 2,
                prefix: k.hash.0[..plen * 3].to_vec(),
            }));
        }
        for lo in &bounds {
            for hi in &bounds {
                let Some(hi) = hi else { continue };
                if matches!(lo, Some(Bound::Infinity)) {
                    continue;
                }
                assert_eq!(
                    index.summarize(lo.as_ref(), hi),
                    sorted.summarize(lo.as_ref(), hi),
                    "{lo:?}..{hi:?}"
                );
                assert_eq!(
                    index.keys_in(lo.as_ref(), hi),
                    sorted.keys_in(lo.as_ref(), hi)
                );
            }
        }
        // A big range is cut into ascending, non-empty parts of about equal counts.
        for parts in [2, 16] {
            let cuts = index.split(None, &Bound::Infinity, parts);
            assert!(!cuts.is_empty() && cuts.len() < parts, "{cuts:?}");
            let mut prev: Option<Bound> = None;
            for c in cuts.iter().chain([&Bound::Infinity]) {
                let (count, _) = sorted.summarize(prev.as_ref(), c);
                assert!(count > 0, "an empty part below {c:?}");
                assert!(count <= want.len() / parts + 2 * CHUNK_KEYS + 1, "{count}");
                prev = Some(c.clone());
            }
        }
        for k in &want {
            assert_eq!(index.hash_of(&IdPrefix::of(&k.hash)), Some(k.hash));
            assert!(index.entry_bytes(&k.hash).is_some());
        }
        assert_eq!(index.hash_of(&IdPrefix([0xab; 16])), None);
    }
    // Nothing out of scope: the sibling district is offered none of the grassroots' records.
    let to_sibling = t.district.offer_keys(&unit("ldld-dong-hoa"), now).unwrap();
    assert_eq!(to_sibling, scope_keys(&t.district, "ldld-dong-hoa", now));
    assert!(to_sibling.len() < 10, "{}", to_sibling.len());
    // The chunks filed one write at a time and by batches count what they cover, and the
    // rows equal a rebuild's.
    for n in [&mut t.grass, &mut t.district] {
        let r = node::check::run(n, now, false).unwrap();
        assert!(r.is_clean(), "{:?}", r.problems);
    }
}

/// A node stored without the sync index (or stopped while filing a batch) builds it when it
/// opens, and then offers exactly what its scope gives.
#[test]
fn a_node_without_the_sync_index_builds_it_when_it_opens() {
    let tmp = TempDir::new("sync-index-migrate");
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
    let mut grass = enrol(&mut district, &p, "cdcs-a", UnitRole::Grassroots, T0 + 4);
    for i in 0..5 {
        initiative(&mut grass, &format!("Sáng kiến {i}"), i == 3, T0 + 10 + i);
    }
    sync_in_memory(&mut grass, &mut district, None, T0 + 20).unwrap();
    sync_in_memory(&mut district, &mut prov, None, T0 + 21).unwrap();
    let dir = prov.dir().to_owned();
    let now = T0 + 30;
    let want: Vec<_> = ["tld", "ldld-tuy-hoa", "cdcs-a"]
        .iter()
        .map(|u| scope_keys(&prov, u, now))
        .collect();
    drop(prov);
    for damage in ["missing", "half-filed"] {
        {
            let store = node::SledStore::open(&dir.join("db")).unwrap();
            match damage {
                "missing" => {
                    store.db().drop_tree(node::sync_index::TREE_NAME).unwrap();
                    store.remove_meta(node::sync_index::META_KEY).unwrap();
                }
                _ => {
                    let tree = store.db().open_tree(node::sync_index::TREE_NAME).unwrap();
                    // A batch filed halfway: its marker stayed, one of its keys is missing.
                    tree.insert(b"~dirty", &[1u8][..]).unwrap();
                    let k = tree.scan_prefix(b"k").keys().last().unwrap().unwrap();
                    tree.remove(k).unwrap();
                    store.durable().unwrap();
                }
            }
            assert!(!node::sync_index::is_ready(&store).unwrap(), "{damage}");
        }
        let prov = Node::open(&dir).unwrap();
        assert!(
            node::sync_index::is_ready(prov.store()).unwrap(),
            "{damage}"
        );
        for (u, w) in ["tld", "ldld-tuy-hoa", "cdcs-a"].iter().zip(&want) {
            assert_eq!(
                &prov.offer_keys(&unit(u), now).unwrap(),
                w,
                "{damage}: → {u}"
            );
        }
        let mut prov = prov;
        let report = node::check::run(&mut prov, now, false).unwrap();
        assert!(report.is_clean(), "{damage}: {:?}", report.problems);
    }
}

/// `node check` finds a missing key, a key too many and a chunk that miscounts in the sync
/// index; `--repair` rebuilds it, and the offer is whole again.
#[test]
fn node_check_finds_a_damaged_sync_index_and_repair_rebuilds_it() {
    let mut t = tree("sync-index-check");
    for i in 0..4 {
        initiative(&mut t.grass, &format!("Sáng kiến {i}"), false, T0 + 10 + i);
    }
    sync_in_memory(&mut t.grass, &mut t.district, None, T0 + 20).unwrap();
    let now = T0 + 30;
    let want = scope_keys(&t.district, "ldld-phu-yen", now);
    assert!(node::check::run(&mut t.district, now, false)
        .unwrap()
        .is_clean());
    let tree_ = t
        .district
        .store()
        .db()
        .open_tree(node::sync_index::TREE_NAME)
        .unwrap();
    let keys: Vec<_> = tree_.scan_prefix(b"k").keys().map(|k| k.unwrap()).collect();
    let chunk = tree_.scan_prefix(b"c").keys().next().unwrap().unwrap();
    for damage in ["missing key", "extra key", "chunk"] {
        match damage {
            "missing key" => {
                tree_.remove(&keys[keys.len() / 2]).unwrap();
            }
            "extra key" => {
                let mut k = keys[0].to_vec();
                let last = k.len() - 1;
                k[last] ^= 1;
                tree_.insert(k, &[][..]).unwrap();
            }
            _ => {
                tree_.insert(&chunk, &[0u8; 40][..]).unwrap();
            }
        }
        let report = node::check::run(&mut t.district, now, false).unwrap();
        assert!(!report.is_clean(), "{damage}");
        assert!(
            report.problems.iter().any(|p| p.contains("sync index")),
            "{damage}: {:?}",
            report.problems
        );
        let repaired = node::check::run(&mut t.district, now, true).unwrap();
        assert!(repaired.repaired, "{damage}");
        assert!(node::check::run(&mut t.district, now, false)
            .unwrap()
            .is_clean());
        assert_eq!(
            t.district.offer_keys(&unit("ldld-phu-yen"), now).unwrap(),
            want
        );
    }
}

/// A unit moved to another parent: the index files its subtree's entries again, so the new
/// parent is offered them (the tree now) and the old one keeps what it held (the tree at the
/// entries' time), exactly as `entries_for` judges.
#[test]
fn after_a_reparenting_the_offer_follows_the_new_tree_and_keeps_the_old() {
    use sync_protocol::entry::{Certificate, EntryBody};
    let tmp = TempDir::new("sync-index-move");
    let p = tmp.path().to_owned();
    let mut tld = root(&p, T0);
    let mut a = enrol(
        &mut tld,
        &p,
        "ldld-a",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let _b = enrol(
        &mut tld,
        &p,
        "ldld-b",
        UnitRole::ProvincialFederation,
        T0 + 2,
    );
    let mut g = enrol(&mut a, &p, "cdcs-b", UnitRole::Grassroots, T0 + 3);
    for i in 0..3 {
        initiative(&mut g, &format!("Sáng kiến {i}"), i == 1, T0 + 10 + i);
    }
    sync_in_memory(&mut g, &mut a, None, T0 + 20).unwrap();
    sync_in_memory(&mut a, &mut tld, None, T0 + 21).unwrap();
    let cert = tld
        .directory()
        .latest_cert(&unit("cdcs-b"))
        .unwrap()
        .clone();
    tld.write(
        EntryBody::Certificate(Certificate {
            unit: unit("cdcs-b"),
            name: cert.cert.name.clone(),
            role: UnitRole::Grassroots,
            parent: unit("ldld-b"),
            key: cert.cert.key,
            replaces: Some(cert.hash),
        }),
        T0 + 30,
    )
    .expect("re-parenting");
    let now = T0 + 40;
    for u in ["ldld-a", "ldld-b", "cdcs-b"] {
        assert_eq!(
            tld.offer_keys(&unit(u), now).unwrap(),
            scope_keys(&tld, u, now),
            "→ {u}"
        );
    }
    // The new parent is offered the moved unit's non-confidential initiatives.
    let to_b = tld.offer_keys(&unit("ldld-b"), now).unwrap();
    assert!(to_b.len() >= 2 + 2, "{}", to_b.len());
    assert!(node::check::run(&mut tld, now, false).unwrap().is_clean());
}

/// A new province's first sync from the national node: the national node sends what each entry
/// depends on before it (the grassroots units' certificates before their initiatives, a parent's
/// certificate before its children's), so even a receiver that imports the stream one entry at
/// a time (as it does message by message when the first sync spans many messages) parks
/// nothing in quarantine.
#[test]
fn a_new_provinces_first_sync_parks_nothing_in_quarantine() {
    use sync_protocol::sync::{Event, Role, SyncSession};
    let tmp = TempDir::new("sync-first-province");
    let p = tmp.path().to_owned();
    let mut tld = root(&p, T0);
    let prov = enrol(
        &mut tld,
        &p,
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    // The province as it was when it was enrolled: a new node holding only its own chain.
    let dir = prov.dir().to_owned();
    let fresh_dir = dir.with_extension("fresh");
    drop(prov);
    copy_dir(&dir, &fresh_dir);
    let mut prov = Node::open(&dir).unwrap();
    let mut t = T0 + 10;
    for d in 0..2 {
        let mut district = enrol(
            &mut prov,
            &p,
            &format!("ldld-huyen-{d}"),
            UnitRole::DirectSuperior,
            t,
        );
        t += 1;
        for g in 0..3 {
            let mut grass = enrol(
                &mut district,
                &p,
                &format!("cdcs-{d}-{g}"),
                UnitRole::Grassroots,
                t,
            );
            t += 1;
            for i in 0..3 {
                initiative(&mut grass, &format!("Sáng kiến {d}-{g}-{i}"), false, t);
                t += 1;
            }
            sync_in_memory(&mut grass, &mut district, None, t).unwrap();
            t += 1;
        }
        sync_in_memory(&mut district, &mut prov, None, t).unwrap();
        t += 1;
    }
    sync_in_memory(&mut prov, &mut tld, None, t).unwrap();
    t += 1;
    let expected: std::collections::BTreeSet<_> = tld
        .entries_for(&unit("ldld-phu-yen"), t)
        .unwrap()
        .iter()
        .map(|e| e.hash())
        .collect();
    // The fresh province syncs with the national node, importing entry by entry.
    let mut fresh = Node::open(&fresh_dir).unwrap();
    let federation = fresh.federation();
    let src_fresh = node::sync::PeerSource::for_peer(&fresh, tld.unit(), t).unwrap();
    let src_tld = node::sync::PeerSource::for_peer(&tld, fresh.unit(), t).unwrap();
    let mut a = SyncSession::new(Role::Initiator, federation, t);
    let mut b = SyncSession::new(Role::Responder, federation, t);
    a.start(t, &src_fresh, None);
    let (mut accepted, mut parked) = (0usize, Vec::new());
    for _ in 0..1_000 {
        let mut moved = false;
        while let Some(m) = a.poll_transmit() {
            moved = true;
            b.handle_message(t, m, &src_tld);
        }
        while let Some(m) = b.poll_transmit() {
            moved = true;
            a.handle_message(t, m, &src_fresh);
        }
        while let Some(ev) = a.poll_event() {
            if let Event::Received(raw) = ev {
                for bytes in raw {
                    let e = sync_protocol::entry::Entry::decode(&bytes).unwrap();
                    let r = fresh.import(vec![e], t).unwrap();
                    assert!(r.rejected.is_empty(), "{r:?}");
                    accepted += r.accepted + r.released;
                    parked.extend(r.quarantined);
                }
            }
        }
        while b.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
    assert!(a.is_finished() && b.is_finished());
    assert!(parked.is_empty(), "parked in quarantine: {parked:?}");
    // 6 grassroots units and 2 districts, their certificates and 18 initiatives at least.
    assert!(accepted >= 26, "{accepted}");
    let held: std::collections::BTreeSet<_> = hashes(&fresh).into_iter().collect();
    assert!(
        expected.is_subset(&held),
        "the province lacks some of its scope"
    );
}
