//! Plan parsing: every instruction, and each kind of bad line.

use super::*;

fn check(text: &str, expected: Result<usize, &str>) {
    match (parse_plan(text), expected) {
        (Ok(p), Ok(n)) => assert_eq!(p.steps.len(), n, "{text}"),
        (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{e} does not say {msg}"),
        (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn plans_parse_and_bad_lines_are_named() {
    check(
        "# the reform\neffective,01/07/2025\nnote,Nghị quyết 202/2025/QH15\n\
         new,x00004,direct-superior,t01,Công đoàn phường Ba Đình\nmove,a,b\nrename,a,Tên mới\n\
         commune,00001,x00004\nchildren,h001,x00004\nclose,h001\nmerge,t02,t08\n",
        Ok(7),
    );
    check("move,a,b\n", Err("no `effective"));
    check(
        "effective,31/06/2025\n",
        Err("line 1: \"31/06/2025\" is not a date"),
    );
    check(
        "effective,01/07/2025\nsplit,a,b\n",
        Err("line 2: unknown instruction"),
    );
    check(
        "effective,01/07/2025\nmove,a\n",
        Err("line 2: move takes 3 fields, found 2"),
    );
    check(
        "effective,01/07/2025\nmove,A B,b\n",
        Err("is not a unit id"),
    );
    check(
        "effective,01/07/2025\nnew,a,mayor,b,Tên\n",
        Err("is not a unit role"),
    );
    check(
        "effective,01/07/2025\ncommune,0001,b\n",
        Err("5-digit commune code"),
    );
    check(
        "effective,01/07/2025\neffective,02/07/2025\n",
        Err("a second effective date"),
    );
}

#[test]
fn communes_are_read_from_grassroots_ids() {
    let u = |s: &str| UnitId::new(s).unwrap();
    assert_eq!(commune_of(&u("cs00001-3")), Some("00001"));
    assert_eq!(commune_of(&u("cs00001")), None);
    assert_eq!(commune_of(&u("cs0000a-1")), None);
    assert_eq!(commune_of(&u("x00001-1")), None);
}

#[test]
fn the_committed_reform_plan_is_the_generated_one() {
    let generated = reform::plan_2025(&reform::ReformData::shipped());
    let committed = include_str!("../../../data/reform_2025.plan");
    assert!(
        generated == committed,
        "data/reform_2025.plan is stale: run `sangkien unit reform-plan --out data/reform_2025.plan`"
    );
    let plan = parse_plan(committed).expect("the committed plan parses");
    let count = |f: fn(&Step) -> bool| plan.steps.iter().filter(|(_, s)| f(s)).count();
    assert_eq!(count(|s| matches!(s, Step::New { .. })), 3_321);
    assert_eq!(count(|s| matches!(s, Step::Close { .. })), 696);
    assert_eq!(count(|s| matches!(s, Step::Merge { .. })), 63 - 34);
    assert_eq!(count(|s| matches!(s, Step::Commune { .. })), 10_035);
    assert_eq!(plan.effective_ms, reorg_date());
}

fn reorg_date() -> u64 {
    date_ms(Date::parse("2025-07-01").unwrap())
}

/// After a move, the origin's next edit of an initiative in flight names its new direct
/// superior (an edit keeping the old one would be refused by its own node's verifier).
#[test]
fn an_edit_after_a_move_names_the_new_superior() {
    use sync_protocol::record::{self, Application, Description, Initiative, RecordContent};
    let dir = std::env::temp_dir().join(format!("sangkien-reorg-edit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let t0 = reform::SAMPLE_T0_MS;
    let txt = |s: &str| Text::new("text", s, 2_000).unwrap();
    let u = |s: &str| UnitId::new(s).unwrap();
    let mut root = Node::create_root(&dir.join("tld"), u("tld"), txt("TLĐ"), t0).unwrap();
    let root_author = root.author().unwrap().clone();
    let fed = root.federation();
    let key = |n: u8| SigningKey::from_bytes(&[n; 32]);
    let cert = |signer: &Author, t: u64, id: &str, role, parent: &str, k: &SigningKey| {
        signer.sign(
            t,
            EntryBody::Certificate(Certificate {
                unit: u(id),
                name: txt(id),
                role,
                parent: u(parent),
                key: UnitKey(k.verifying_key().to_bytes()),
                replaces: None,
            }),
        )
    };
    let d1 = Author::new(fed, u("h001"), key(1));
    let g_key = key(3);
    let certs = vec![
        cert(
            &root_author,
            t0 + 1,
            "t01",
            UnitRole::ProvincialFederation,
            "tld",
            &key(9),
        ),
        cert(
            &root_author,
            t0 + 2,
            "h001",
            UnitRole::DirectSuperior,
            "t01",
            &key(1),
        ),
        cert(
            &root_author,
            t0 + 3,
            "h002",
            UnitRole::DirectSuperior,
            "t01",
            &key(2),
        ),
        cert(
            &d1,
            t0 + 4,
            "cs00001-1",
            UnitRole::Grassroots,
            "h001",
            &g_key,
        ),
    ];
    let r = root.import(certs.clone(), t0 + 10).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let (ff, genesis) = root.federation_file().unwrap();
    let gdir = dir.join("g");
    crate::node::create_private_dir(&gdir).unwrap();
    crate::keys::write_new(&gdir.join(crate::node::KEY_FILE), &g_key).unwrap();
    let mut g = Node::create_enrolled(&gdir, &ff, genesis, u("cs00001-1"), certs, t0 + 20).unwrap();
    let d = |s: &str| Text::new("description", s, 2_000).unwrap();
    let initiative = Initiative {
        title: txt("Cảm biến rung"),
        authors: vec![record::Author {
            name: txt("Nguyễn Văn An"),
            position: txt("Kỹ sư"),
        }],
        origin: u("cs00001-1"),
        superior: u("h001"),
        programme: None,
        phase: 0,
        sector: sync_protocol::entry::Sector::ALL[0],
        summary: txt("Giảm thời gian dừng máy"),
        registered_on: Date::from_unix_ms(t0),
        description: Description {
            current_state: d("Dừng máy."),
            solution: d("Cảm biến."),
            novelty: d("Mới."),
            scope: d("Phân xưởng."),
            effectiveness: d("Làm lợi."),
        },
        benefit_vnd: 1_000_000,
        application: Application::Applied,
        recognition: None,
        confidential: false,
        attachments: Vec::new(),
        commitment_salt: None,
    };
    let rec = crate::records::create(
        &mut g,
        &RecordContent::Initiative(Box::new(initiative)),
        t0 + 30,
    )
    .unwrap();
    // The province moves the grassroots union to the other district.
    let current = g.directory().latest_cert(&u("cs00001-1")).unwrap().clone();
    let moved = root_author.sign(
        t0 + 40,
        EntryBody::Certificate(Certificate {
            parent: u("h002"),
            replaces: Some(current.hash),
            ..current.cert.clone()
        }),
    );
    let r = g.import(vec![moved], t0 + 41).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let changed = crate::records::edit(
        &mut g,
        rec,
        |c| {
            if let RecordContent::Initiative(i) = c {
                i.benefit_vnd += 1;
            }
        },
        t0 + 50,
    )
    .unwrap();
    assert!(changed);
    let report = crate::records::check(&g, rec, t0 + 60).unwrap();
    match report.content {
        Some(RecordContent::Initiative(i)) => assert_eq!(i.superior, u("h002")),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
