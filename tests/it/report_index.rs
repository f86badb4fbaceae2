//! The report and listing index (`node::report_index`): every figure of the progress report
//! read from materialised state equals a recount over the verified records, at every node of a
//! varied federation synced over real QUIC (statuses, sectors, phases, registration days,
//! a confidential initiative); pages cover every initiative exactly once;
//! a node without the index builds it when it opens; `node check` finds damage in it and
//! `--repair` rebuilds it.

use std::collections::BTreeSet;

use node::report::{progress, recount_progress};
use node::search::{list_page, listing, search, search_page};
use node::{check, records, report_index, Node};
use sync_protocol::date::Date;
use sync_protocol::entry::{DecisionKind, Sector, UnitRole};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::{
    Application, Author, Campaign, Deadline, Description, Initiative, Phase, Programme,
    RecordContent,
};
use tests::{decide, enrol, root, status_code, sync_quic, text, unit, TempDir};

const T0: u64 = 1_764_000_000_000;

fn programme() -> Programme {
    let d = |s: &str| Date::parse(s).unwrap();
    Programme {
        name: text("01 triệu sáng kiến"),
        phases: vec![
            Phase {
                name: text("Giai đoạn 1"),
                start: d("2025-01-01"),
                end: d("2025-12-31"),
                target: 40,
            },
            Phase {
                name: text("Giai đoạn 2"),
                start: d("2026-01-01"),
                end: d("2026-12-31"),
                target: 60,
            },
        ],
        deadlines: vec![Deadline {
            label: text("Nộp hồ sơ"),
            date: d("2026-08-05"),
        }],
        campaigns: vec![Campaign {
            name: text("40 ngày cao điểm"),
            start: d("2025-03-01"),
            end: d("2025-04-09"),
            target: 20,
        }],
        national_target: 100,
    }
}

#[allow(clippy::too_many_arguments)]
fn initiative(
    node: &mut Node,
    prog: RecordId,
    phase: u32,
    title: &str,
    sector: Sector,
    day: &str,
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
            name: text("Trần Thị Đức"),
            position: text("Kỹ sư"),
        }],
        origin: node.unit().clone(),
        superior,
        programme: Some(prog),
        phase,
        sector,
        summary: text("Giảm chi phí sản xuất"),
        registered_on: Date::parse(day).expect("date"),
        description: Description::default(),
        benefit_vnd: 1_000_000 * (1 + title.len() as u64),
        application: Application::Applied,
        recognition: None,
        confidential,
        attachments: vec![],
        commitment_salt: confidential.then_some([7; 32]),
    };
    records::create(node, &RecordContent::Initiative(Box::new(i)), t).expect("initiative")
}

/// Every figure of every unit's report, both phases, equals the recount; `check` is clean.
fn assert_reports(n: &mut Node, prog: RecordId, today: Date) {
    let p = programme();
    let t = node::now_ms();
    let mut units = n.directory().units();
    units.sort();
    for u in &units {
        for phase in 1..=2 {
            let built = progress(n, u, prog, &p, phase, today, t).expect("report");
            let recount = recount_progress(n, u, prog, &p, phase, today, t).expect("recount");
            assert_eq!(
                built,
                recount,
                "report of {u}, phase {phase}, at {}",
                n.unit()
            );
        }
    }
    let r = check::run(n, t, false).expect("check");
    assert!(r.is_clean(), "{}: {:?}", n.unit(), r.problems);
}

/// Collects every page of a listing.
fn all_pages(mut page: impl FnMut(u64) -> node::search::Page) -> (Vec<RecordId>, u64) {
    let mut out = Vec::new();
    let mut p = 1;
    loop {
        let got = page(p);
        assert!(got.items.len() <= got.limit);
        out.extend(got.items.iter().map(|l| l.record));
        match got.next() {
            Some(n) => {
                assert_eq!(got.items.len(), got.limit, "a full page before the last");
                p = n;
            }
            None => return (out, got.total),
        }
    }
}

/// Pages cover every initiative exactly once, with and without filters, and their totals are
/// the number of initiatives.
fn assert_pages(n: &Node) {
    let t = node::now_ms();
    let all = listing(n, t).expect("listing");
    let d = n.directory();
    let mut units = d.units();
    units.push(unit("nobody-here"));
    let statuses: Vec<Option<&str>> = std::iter::once(None)
        .chain(report_index::STATUS_CODES.iter().map(|s| Some(*s)))
        .collect();
    for status in &statuses {
        for u in std::iter::once(None).chain(units.iter().map(Some)) {
            if u.is_some_and(|u| d.name(u).is_none()) {
                continue;
            }
            let expected: BTreeSet<RecordId> = all
                .iter()
                .filter(|l| status.is_none_or(|s| status_code(l) == s))
                .filter(|l| u.is_none_or(|u| d.is_self_or_ancestor_at(u, &l.origin, u64::MAX)))
                .map(|l| l.record)
                .collect();
            for limit in [1, 2, 50] {
                let (got, total) = all_pages(|p| {
                    list_page(n, *status, u.map(|x: &UnitId| x), p, limit, t).expect("page")
                });
                let set: BTreeSet<RecordId> = got.iter().copied().collect();
                assert_eq!(set.len(), got.len(), "a record twice ({status:?}, {u:?})");
                assert_eq!(set, expected, "{} ({status:?}, {u:?})", n.unit());
                assert_eq!(total, expected.len() as u64);
            }
        }
    }
    for q in [
        "sang kien",
        "phu yen",
        "DUC",
        "tuy hoa giam",
        "khong co dau",
    ] {
        let expected: Vec<RecordId> = search(n, q, t)
            .expect("search")
            .iter()
            .map(|l| l.record)
            .collect();
        let (got, total) = all_pages(|p| search_page(n, q, p, 2, t).expect("search page"));
        assert_eq!(total, expected.len() as u64, "{q}");
        let a: BTreeSet<RecordId> = got.iter().copied().collect();
        let b: BTreeSet<RecordId> = expected.iter().copied().collect();
        assert_eq!(a.len(), got.len(), "{q}: a record twice");
        assert_eq!(a, b, "{q} at {}", n.unit());
    }
}

#[tokio::test]
async fn report_figures_and_pages_equal_a_recount_across_a_federation_synced_over_quic() {
    let tmp = TempDir::new("report-index");
    let dir = tmp.path().to_owned();
    let tests::PhuYen {
        mut tld,
        mut prov,
        mut da,
        mut db,
        mut a,
        mut b,
        mut c,
        prog,
    } = tests::phu_yen(&dir, T0, programme()).await;

    let sectors = Sector::ALL;
    let days = [
        "2024-12-20", // before the campaign window and the phase
        "2025-03-01",
        "2025-03-01",
        "2025-03-15",
        "2025-04-09",
        "2025-06-30",
        "2026-02-02",
    ];
    let mut t = T0 + 100;
    let mut made: Vec<(u8, RecordId)> = Vec::new();
    for i in 0..21usize {
        let (which, node): (u8, &mut Node) = match i % 3 {
            0 => (0, &mut a),
            1 => (1, &mut b),
            _ => (2, &mut c),
        };
        let phase = if days[i % days.len()].starts_with("2026") {
            2
        } else {
            1
        };
        let title = format!("Sáng kiến cải tiến số {i}");
        let r = initiative(
            node,
            prog,
            phase,
            &title,
            sectors[i % sectors.len()],
            days[i % days.len()],
            i == 4,
            t,
        );
        t += 1;
        if i % 2 == 0 {
            decide(node, r, DecisionKind::Submit, t);
            t += 1;
        }
        made.push((which, r));
    }
    assert_reports(&mut a, prog, Date::parse("2025-03-20").unwrap());
    assert_pages(&a);
    // Upward: grassroots → districts → province → national.
    for g in [&mut a, &mut b] {
        sync_quic(g, &mut da, None).await;
    }
    sync_quic(&mut c, &mut db, None).await;
    // The districts decide: approve, reject, return for revision (status changes).
    for (k, (which, r)) in made.iter().enumerate().filter(|(k, _)| k % 2 == 0) {
        let node = if *which == 2 { &mut db } else { &mut da };
        let kind = match k % 3 {
            0 => DecisionKind::Approve,
            1 => DecisionKind::Reject,
            _ => DecisionKind::ReturnForRevision,
        };
        decide(node, *r, kind, t);
        t += 1;
    }
    assert_reports(&mut da, prog, Date::parse("2025-03-20").unwrap());
    sync_quic(&mut da, &mut prov, None).await;
    sync_quic(&mut db, &mut prov, None).await;
    sync_quic(&mut prov, &mut tld, None).await;
    // Decisions flow back down.
    sync_quic(&mut a, &mut da, None).await;
    for n in [
        &mut tld, &mut prov, &mut da, &mut db, &mut a, &mut b, &mut c,
    ] {
        assert_reports(n, prog, Date::parse("2025-04-01").unwrap());
        assert_pages(n);
    }
    let national = progress(
        &tld,
        &unit("tld"),
        prog,
        &programme(),
        1,
        Date::parse("2025-04-01").unwrap(),
        node::now_ms(),
    )
    .expect("report");
    let phase1 = made.len() as u64 - 3; // three were registered in 2026 (phase 2)
    assert_eq!(national.registered, phase1);
    assert_eq!(national.by_phase[1].registered, 3);
    assert_eq!(
        national.over_time.before, 3,
        "three registered before the campaign"
    );
    // In the campaign window (2025-03-01..04-09): 12 registered, one of them confidential,
    // which the national node sees only by its projection and so counts on the day of its
    // first entry (2025-11-24, after the window); 3 registered on 2025-06-30, after it.
    assert_eq!(
        national.over_time.points.last().map(|p| p.cumulative),
        Some(3 + 11)
    );
}

#[test]
fn a_node_without_the_index_builds_it_on_open_and_check_repairs_it() {
    let tmp = TempDir::new("report-index-migrate");
    let dir = tmp.path().to_owned();
    let mut tld = root(&dir, T0);
    let mut prov = enrol(
        &mut tld,
        &dir,
        "ldld-phu-yen",
        UnitRole::ProvincialFederation,
        T0 + 1,
    );
    let mut g = enrol(&mut prov, &dir, "cdcs-x", UnitRole::Grassroots, T0 + 2);
    let prog = records::create(&mut tld, &RecordContent::Programme(programme()), T0 + 3)
        .expect("programme");
    // The programme flows down: national → province → grassroots.
    let entries = tld.entries_for(prov.unit(), T0 + 4).expect("entries");
    prov.import(entries, T0 + 4).expect("import");
    let entries = prov.entries_for(g.unit(), T0 + 4).expect("entries");
    g.import(entries, T0 + 4).expect("import");
    let mut made = Vec::new();
    for i in 0..7 {
        let r = initiative(
            &mut g,
            prog,
            1,
            &format!("Máy số {i}"),
            Sector::ALL[i % 6],
            &format!("2025-03-0{}", 1 + i % 5),
            i == 2,
            T0 + 10 + i as u64,
        );
        if i % 2 == 1 {
            decide(&mut g, r, DecisionKind::Submit, T0 + 20 + i as u64);
        }
        made.push(r);
    }
    let today = Date::parse("2025-03-20").unwrap();
    let held = node::report::programmes(&g, node::now_ms()).expect("programmes");
    assert_eq!(held.len(), 1, "the programme is listed from the index");
    assert_eq!(held[0].id, prog);
    let before = progress(
        &g,
        &unit("cdcs-x"),
        prog,
        &programme(),
        1,
        today,
        node::now_ms(),
    )
    .expect("report");
    assert_eq!(before.registered, 7);
    let gdir = g.dir().to_owned();
    drop(g);

    // An older node: no index at all (its trees empty, its meta key absent).
    {
        let store = node::sled_store::SledStore::open(&gdir.join(node::node::DB_DIR)).unwrap();
        for i in report_index::t::ALL {
            store.tree(i).clear().unwrap();
        }
        store.remove_meta(report_index::META_KEY).unwrap();
        store.durable().unwrap();
    }
    let mut g = Node::open(&gdir).expect("open builds the index");
    assert!(g.store().meta(report_index::META_KEY).unwrap().is_some());
    let after = progress(
        &g,
        &unit("cdcs-x"),
        prog,
        &programme(),
        1,
        today,
        node::now_ms(),
    )
    .expect("report");
    assert_eq!(after, before);
    assert_reports(&mut g, prog, today);
    assert_pages(&g);
    drop(g);

    // A build interrupted half-way: some rows, a stray one, no meta key.
    {
        let store = node::sled_store::SledStore::open(&gdir.join(node::node::DB_DIR)).unwrap();
        store.tree(report_index::t::SUB).clear().unwrap();
        store
            .tree(report_index::t::ROWS)
            .insert([1u8; 16], &b"stray"[..])
            .unwrap();
        store.remove_meta(report_index::META_KEY).unwrap();
        store.durable().unwrap();
    }
    let mut g = Node::open(&gdir).expect("open rebuilds the index");
    assert_reports(&mut g, prog, today);

    // Damage found by check, fixed by --repair.
    let key = report_index::series_key(
        &unit("cdcs-x"),
        prog,
        1,
        Date::parse("2025-03-02").unwrap().days_since_epoch(),
    );
    g.store()
        .tree(report_index::t::SUB)
        .insert(key, &report_index::count_value(999)[..])
        .unwrap();
    g.store()
        .tree(report_index::t::LIST)
        .remove(report_index::list_key(
            report_index::ALL,
            &unit("cdcs-x"),
            made[0],
        ))
        .unwrap();
    let r = check::run(&mut g, node::now_ms(), false).expect("check");
    assert!(!r.is_clean());
    assert!(
        r.problems.iter().any(|p| p.starts_with("rx_sub")),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems.iter().any(|p| p.starts_with("rx_list")),
        "{:?}",
        r.problems
    );
    let r = check::run(&mut g, node::now_ms(), true).expect("repair");
    assert!(r.repaired);
    assert_reports(&mut g, prog, today);
}
