//! The word, filter and inbox index (`node::search_index`): every page of a search, of a
//! list filtered by status, sector, phase and unit (alone and together), and of the inbox
//! equals the walk over the verified records — same records, in listing order — at every
//! node of a federation synced over real QUIC, before and after edits, decisions and a
//! confidential initiative; a node without the index builds it on open; `node check` finds
//! damage in it and `--repair` rebuilds it.

use std::collections::BTreeSet;

use node::search::{find_page, inbox_page, inbox_walk, listing, Find, Listed, Query};
use node::{check, records, report_index, search_index, Node};
use sync_protocol::date::Date;
use sync_protocol::entry::{DecisionKind, Sector, UnitRole};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::{
    Application, Author, Description, Initiative, Phase, Programme, RecordContent,
};
use tests::{decide, enrol, root, status_code, sync_quic, text, TempDir};

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
        deadlines: vec![],
        campaigns: vec![],
        national_target: 100,
    }
}

const WORDS: [&str; 12] = [
    "Sáng kiến",
    "cải tiến",
    "máy",
    "băng tải",
    "cá ngừ",
    "đông lạnh",
    "tiết kiệm điện",
    "Phú Yên",
    "quy trình",
    "an toàn",
    "Đức",
    "bảo quản",
];

/// A small deterministic generator (no clock, no OS randomness).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
    fn phrase(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| WORDS[self.next(WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn initiative(node: &mut Node, prog: RecordId, g: &mut Lcg, i: usize, t: u64) -> RecordId {
    let superior = node
        .directory()
        .parent_at(node.unit(), t)
        .cloned()
        .expect("a parent");
    let confidential = i % 7 == 3;
    let n = 1 + g.next(3);
    let i = Initiative {
        title: text(&format!("{}, số {i}", g.phrase(n))),
        authors: vec![Author {
            name: text(if i.is_multiple_of(2) {
                "Trần Thị Đức"
            } else {
                "Lê Văn An"
            }),
            position: text("Kỹ sư"),
        }],
        origin: node.unit().clone(),
        superior,
        programme: Some(prog),
        phase: 1 + (i % 2) as u32,
        sector: Sector::ALL[g.next(Sector::ALL.len())],
        summary: text(&g.phrase(2)),
        registered_on: Date::parse(if i.is_multiple_of(2) {
            "2025-03-01"
        } else {
            "2026-03-01"
        })
        .expect("date"),
        description: Description::default(),
        benefit_vnd: 1_000_000,
        application: Application::Applied,
        recognition: None,
        confidential,
        attachments: vec![],
        commitment_salt: confidential.then_some([7; 32]),
    };
    records::create(node, &RecordContent::Initiative(Box::new(i)), t).expect("initiative")
}

fn listing_order(v: &mut [Listed]) {
    v.sort_by(|a, b| {
        (a.origin.as_str().as_bytes(), a.record.0).cmp(&(b.origin.as_str().as_bytes(), b.record.0))
    });
}

/// `records` in the listing's depth-first order: a unit's own initiatives by record id, then
/// each child's subtree, children by id (the tree the counters follow).
fn tree_order(
    d: &sync_protocol::directory::Directory,
    all: &[Listed],
    records: &[RecordId],
) -> Vec<RecordId> {
    let path = |u: &UnitId| {
        let mut p = vec![u.clone()];
        while let Some(up) = d.report_parent(p.last().expect("one")) {
            p.push(up.clone());
        }
        p.reverse();
        p
    };
    let mut v: Vec<(Vec<UnitId>, RecordId)> = all
        .iter()
        .filter(|l| records.contains(&l.record))
        .map(|l| (path(&l.origin), l.record))
        .collect();
    v.sort();
    v.into_iter().map(|(_, r)| r).collect()
}

/// Every page of `find` (pages of `limit`), and the last page's total.
fn all_pages(n: &Node, find: &Find<'_>, limit: usize) -> (Vec<RecordId>, u64) {
    let t = node::now_ms();
    let mut out = Vec::new();
    let mut p = 1;
    loop {
        let got = find_page(n, find, p, limit, t).expect("page");
        assert!(got.exact, "small stores count exactly");
        out.extend(got.items.iter().map(|l| l.record));
        match got.next() {
            Some(x) => {
                assert_eq!(got.items.len(), limit, "a full page before the last");
                p = x;
            }
            None => return (out, got.total),
        }
    }
}

/// Every combination checked at `n` equals the walk, in listing order.
fn assert_index(n: &mut Node, prog: RecordId) {
    let t = node::now_ms();
    let mut all = listing(n, t).expect("listing");
    listing_order(&mut all);
    let d = n.directory().clone();
    let mut units: Vec<UnitId> = d.units();
    units.sort();
    let queries = [
        None,
        Some("sang kien"),
        Some("CA NGU"),
        Some("duc"),
        Some("phu yen"),
        Some("tuy hoa may"),
        Some("an, toàn!"),
        Some("bang tai dong hoa"),
        Some("kie"),
        Some("khong co"),
    ];
    let mut filters: Vec<Find<'static>> = vec![Find::default()];
    for s in report_index::STATUS_CODES {
        filters.push(Find {
            statuses: vec![s],
            ..Find::default()
        });
    }
    filters.push(Find {
        statuses: vec!["submit", "approve"],
        ..Find::default()
    });
    for s in Sector::ALL {
        filters.push(Find {
            sector: Some(s),
            ..Find::default()
        });
        filters.push(Find {
            sector: Some(s),
            statuses: vec!["registered"],
            ..Find::default()
        });
    }
    for ph in [1, 2] {
        filters.push(Find {
            phase: Some((prog, ph)),
            ..Find::default()
        });
    }
    let mut checked = 0;
    let mut found = 0;
    for q in queries {
        let query = q.map(|q| Query::new(q).expect("query"));
        let mut combos: Vec<(Find<'_>, Option<&UnitId>)> =
            filters.iter().map(|f| (f.clone(), None)).collect();
        for u in &units {
            combos.push((Find::default(), Some(u)));
            combos.push((
                Find {
                    statuses: vec!["submit"],
                    sector: Some(Sector::ALL[0]),
                    ..Find::default()
                },
                Some(u),
            ));
        }
        for (mut f, u) in combos {
            f.query = q;
            f.unit = u;
            let expected: Vec<RecordId> = all
                .iter()
                .filter(|l| query.as_ref().is_none_or(|q| q.matches(l).is_some()))
                .filter(|l| f.statuses.is_empty() || f.statuses.contains(&status_code(l)))
                .filter(|l| f.sector.is_none_or(|s| l.sector == s))
                .filter(|l| f.phase.is_none_or(|p| l.programme == Some(p)))
                .filter(|l| {
                    u.is_none_or(|u| d.is_self_or_ancestor_at(u, &l.origin, counters_time()))
                })
                .map(|l| l.record)
                .collect();
            // With no search, sector or phase and at most one status, the page is the
            // listing's (`list_page`): the tree's depth-first order, not the word index's.
            let expected = if f.query.is_none()
                && f.sector.is_none()
                && f.phase.is_none()
                && f.statuses.len() <= 1
            {
                tree_order(&d, &all, &expected)
            } else {
                expected
            };
            let (got, total) = all_pages(n, &f, 3);
            assert_eq!(got, expected, "{} {f:?}", n.unit());
            assert_eq!(total, expected.len() as u64, "{} {f:?}", n.unit());
            checked += 1;
            if !expected.is_empty() && (q.is_some() || f.sector.is_some()) {
                found += 1;
            }
        }
    }
    assert!(checked > 100);
    if !all.is_empty() {
        assert!(
            found > 20,
            "{}: only {found} searches found something",
            n.unit()
        );
    }
    // The inbox: what waits for this unit's decision.
    let mut expected: Vec<RecordId> = inbox_walk(n, t)
        .expect("inbox walk")
        .iter()
        .map(|l| l.record)
        .collect();
    expected.sort();
    let mut got = Vec::new();
    let mut p = 1;
    loop {
        let page = inbox_page(n, p, 2, t).expect("inbox");
        assert_eq!(page.total, expected.len() as u64, "inbox of {}", n.unit());
        got.extend(page.items.iter().map(|l| l.record));
        match page.next() {
            Some(x) => p = x,
            None => break,
        }
    }
    got.sort();
    assert_eq!(got, expected, "inbox of {}", n.unit());
    assert_eq!(
        node::search::inbox_count(n).expect("count"),
        expected.len() as u64
    );
    let r = check::run(n, t, false).expect("check");
    assert!(r.is_clean(), "{}: {:?}", n.unit(), r.problems);
}

fn counters_time() -> u64 {
    node::counters::TREE_TIME
}

#[tokio::test]
async fn search_filter_and_inbox_pages_equal_the_walk_across_a_federation_synced_over_quic() {
    let tmp = TempDir::new("search-index");
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

    let mut g = Lcg(15);
    let mut t = T0 + 100;
    let mut made: Vec<(u8, RecordId)> = Vec::new();
    for i in 0..30usize {
        let (which, node): (u8, &mut Node) = match i % 3 {
            0 => (0, &mut a),
            1 => (1, &mut b),
            _ => (2, &mut c),
        };
        let r = initiative(node, prog, &mut g, i, t);
        t += 1;
        if i % 3 != 2 {
            decide(node, r, DecisionKind::Submit, t);
            t += 1;
        }
        made.push((which, r));
    }
    assert_index(&mut a, prog);
    for g in [&mut a, &mut b] {
        sync_quic(g, &mut da, None).await;
    }
    sync_quic(&mut c, &mut db, None).await;
    assert_index(&mut da, prog);
    // The districts decide: approve (forwarded to the province), reject, return.
    for (k, (which, r)) in made.iter().enumerate().filter(|(k, _)| k % 3 != 2) {
        let node = if *which == 2 { &mut db } else { &mut da };
        let kind = match k % 4 {
            0 | 1 => DecisionKind::Approve,
            2 => DecisionKind::Reject,
            _ => DecisionKind::ReturnForRevision,
        };
        decide(node, *r, kind, t);
        t += 1;
    }
    sync_quic(&mut da, &mut prov, None).await;
    sync_quic(&mut db, &mut prov, None).await;
    assert_index(&mut prov, prog);
    // The province approves some of what was forwarded: it goes on to the national node.
    let forwarded: Vec<RecordId> = inbox_page(&prov, 1, 50, node::now_ms())
        .expect("inbox")
        .items
        .iter()
        .map(|l| l.record)
        .collect();
    assert!(!forwarded.is_empty(), "the districts forwarded approvals");
    for r in forwarded.iter().step_by(2) {
        decide(&mut prov, *r, DecisionKind::Approve, t);
        t += 1;
    }
    // Edits after the first sync: titles and summaries change, words leave and arrive.
    for (k, (which, r)) in made.iter().enumerate().filter(|(k, _)| k % 5 == 0) {
        let node = match which {
            0 => &mut a,
            1 => &mut b,
            _ => &mut c,
        };
        let changed = records::edit(
            node,
            *r,
            |c| {
                if let RecordContent::Initiative(i) = c {
                    i.title = text(&format!("Băng tải an toàn mới {k}"));
                    i.summary = text("không dấu gì cả");
                }
            },
            t,
        )
        .expect("edit");
        assert!(changed);
        t += 1;
    }
    assert_index(&mut a, prog);
    sync_quic(&mut prov, &mut tld, None).await;
    for g in [&mut a, &mut b] {
        sync_quic(g, &mut da, None).await;
    }
    sync_quic(&mut c, &mut db, None).await;
    sync_quic(&mut da, &mut prov, None).await;
    sync_quic(&mut db, &mut prov, None).await;
    sync_quic(&mut prov, &mut tld, None).await;
    sync_quic(&mut a, &mut da, None).await;
    for n in [
        &mut tld, &mut prov, &mut da, &mut db, &mut a, &mut b, &mut c,
    ] {
        assert_index(n, prog);
    }
    // A confidential initiative's authors are not searchable above its direct superior (only
    // its projection is held there), and they are at its origin.
    let secret = made
        .iter()
        .map(|(_, r)| *r)
        .find(|r| {
            listing(&tld, node::now_ms())
                .expect("listing")
                .iter()
                .any(|l| l.record == *r && l.full.is_none())
        })
        .expect("a confidential initiative seen by its projection");
    let by_author = |n: &Node, who: &str| -> BTreeSet<RecordId> {
        let find = Find {
            query: Some(who),
            ..Find::default()
        };
        find_page(n, &find, 1, 50, node::now_ms())
            .expect("search")
            .items
            .iter()
            .map(|l| l.record)
            .collect()
    };
    let origin = made.iter().find(|(_, r)| *r == secret).expect("made").0;
    let at_origin = match origin {
        0 => &a,
        1 => &b,
        _ => &c,
    };
    let who = ["tran thi duc", "le van an"];
    assert!(
        who.iter()
            .any(|w| by_author(at_origin, w).contains(&secret)),
        "its origin finds it by author"
    );
    assert!(
        who.iter().all(|w| !by_author(&tld, w).contains(&secret)),
        "the national node does not"
    );
}

#[test]
fn a_node_without_the_word_index_builds_it_on_open_and_check_repairs_it() {
    let tmp = TempDir::new("search-index-migrate");
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
    let entries = tld.entries_for(prov.unit(), T0 + 4).expect("entries");
    prov.import(entries, T0 + 4).expect("import");
    let entries = prov.entries_for(g.unit(), T0 + 4).expect("entries");
    g.import(entries, T0 + 4).expect("import");
    let mut gen = Lcg(7);
    for i in 0..9 {
        let r = initiative(&mut g, prog, &mut gen, i, T0 + 10 + i as u64);
        if i % 2 == 1 {
            decide(&mut g, r, DecisionKind::Submit, T0 + 30 + i as u64);
        }
    }
    // Ids resolve from their prefixes (even and odd lengths, any case) by a key range.
    for r in node::search::listing(&g, node::now_ms()).expect("listing") {
        let hex = r.record.to_hex();
        for n in [8, 9, 15, 32] {
            assert_eq!(
                records::resolve(&g, &hex[..n].to_uppercase()).expect("resolves"),
                r.record
            );
        }
    }
    assert!(matches!(
        records::resolve(&g, "0000000000000000000000000000000f"),
        Err(records::ResolveError::NotFound { .. })
    ));
    let find = Find {
        query: Some("sang kien"),
        ..Find::default()
    };
    let before = find_page(&g, &find, 1, 50, node::now_ms()).expect("search");
    let inbox_before = inbox_page(&g, 1, 50, node::now_ms()).expect("inbox").total;
    assert!(inbox_before > 0);
    let ids = |p: &node::search::Page| p.items.iter().map(|l| l.record).collect::<Vec<_>>();
    // An older node (or one stopped while building): no meta key, nothing in the trees.
    let path = g.dir().to_owned();
    g.store().remove_meta(search_index::META_KEY).expect("meta");
    for i in [search_index::t::KEYS, search_index::t::DOCS] {
        g.store().tree(i).clear().expect("clear");
    }
    g.store().durable().expect("durable");
    drop(g);
    let mut g = Node::open(&path).expect("open builds the index");
    assert!(g
        .store()
        .meta(search_index::META_KEY)
        .expect("meta")
        .is_some());
    let after = find_page(&g, &find, 1, 50, node::now_ms()).expect("search");
    assert_eq!(ids(&after), ids(&before));
    assert!(!after.items.is_empty());
    assert_eq!(
        inbox_page(&g, 1, 50, node::now_ms()).expect("inbox").total,
        inbox_before
    );
    assert!(check::run(&mut g, node::now_ms(), false)
        .expect("check")
        .is_clean());
    // Damage: a word key lost, an inbox count wrong.
    let keys = g.store().tree(search_index::t::KEYS).clone();
    let word = keys
        .iter()
        .keys()
        .map(|k| k.expect("key"))
        .find(|k| k.first() == Some(&b'w'))
        .expect("a word key");
    keys.remove(&word).expect("remove");
    let count = keys
        .iter()
        .map(|kv| kv.expect("row"))
        .find(|(k, _)| k.first() == Some(&b'n'))
        .expect("a count")
        .0;
    keys.insert(count, &99i64.to_be_bytes()[..])
        .expect("insert");
    let r = check::run(&mut g, node::now_ms(), false).expect("check");
    assert!(!r.is_clean());
    assert!(
        r.problems.iter().any(|p| p.starts_with("word index")),
        "{:?}",
        r.problems
    );
    let r = check::run(&mut g, node::now_ms(), true).expect("repair");
    assert!(r.repaired);
    assert!(check::run(&mut g, node::now_ms(), false)
        .expect("check")
        .is_clean());
    let repaired = find_page(&g, &find, 1, 50, node::now_ms()).expect("search");
    assert_eq!(ids(&repaired), ids(&before));
    assert_eq!(
        inbox_page(&g, 1, 50, node::now_ms()).expect("inbox").total,
        inbox_before
    );
}
