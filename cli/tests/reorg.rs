//! Re-organisation through the commands an operator runs (issue 16): the real July 2025 plan
//! applied to a federation of the 2024 structure, and the single-unit commands.

mod support;

use serde_json::Value;
use support::{sangkien, text, TempDir};

fn run(args: &[&str]) -> String {
    let o = sangkien(args);
    assert!(o.status.success(), "{args:?} failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (registered, benefit) of a unit's report, and its children's ids.
fn report(data: &str, unit: &str, extra: &[&str]) -> (u64, u64, Vec<String>) {
    let mut args = vec!["--data", data, "report", "--format", "json", "--unit", unit];
    args.extend_from_slice(extra);
    let r: Value = serde_json::from_str(&run(&args)).expect("report json");
    let children = r["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| c["unit"].as_str().expect("unit").to_owned())
        .collect();
    (
        r["registered"].as_u64().expect("registered"),
        r["benefit_vnd"].as_u64().expect("benefit"),
        children,
    )
}

/// The real 2025 plan (shipped in data/) applied to a generated federation of the 2024
/// structure (the real 63 provinces, 696 districts and commune mapping; one grassroots union in
/// every 25th commune): `verify` clean, national totals equal before and after, and each merged
/// province's report equal to the sum of its predecessors'.
#[test]
fn the_real_2025_plan_keeps_every_total() {
    let dir = TempDir::new("reform");
    let data = dir.path().join("tld");
    let data = data.to_str().unwrap();
    run(&[
        "--data",
        data,
        "federation",
        "sample-2024",
        "--communes-every",
        "25",
        "--initiatives",
        "2",
    ]);
    let (national, benefit, provinces) = report(data, "tld", &[]);
    assert_eq!(provinces.len(), 63);
    assert!(national > 700, "{national} initiatives");
    // Before: every 2024 province's totals.
    let mut before = std::collections::BTreeMap::new();
    for p in &provinces {
        before.insert(p.clone(), report(data, p, &[]));
    }

    let plan = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/reform_2025.plan");
    let dry = run(&[
        "--lang",
        "en",
        "--data",
        data,
        "unit",
        "reorganise",
        "--plan",
        plan,
        "--dry-run",
    ]);
    assert!(dry.contains("Dry run (nothing written)"), "{dry}");
    assert!(dry.contains("3,321  certify new units"), "{dry}");
    assert!(dry.contains("696  close units"), "{dry}");
    assert!(dry.contains("29  merge units"), "{dry}");
    assert!(dry.contains("The first changes:"), "{dry}");
    // A dry run writes nothing.
    assert_eq!(report(data, "tld", &[]).2.len(), 63);

    let keys = dir.path().join("keys");
    run(&[
        "--data",
        data,
        "unit",
        "reorganise",
        "--plan",
        plan,
        "--keys-out",
        keys.to_str().unwrap(),
    ]);
    assert!(keys.join("x00004.key").exists());
    let v = sangkien(&["--lang", "en", "--data", data, "verify"]);
    assert!(v.status.success(), "verify: {}", text(&v));
    let c = sangkien(&["--lang", "en", "--data", data, "node", "check"]);
    assert!(
        c.status.success() && text(&c).contains("consistent"),
        "{}",
        text(&c)
    );

    let (after, after_benefit, provinces_after) = report(data, "tld", &[]);
    assert_eq!((after, after_benefit), (national, benefit));
    assert_eq!(provinces_after.len(), 34);
    // Each 2025 province = the sum of the 2024 provinces merged into it (from data/).
    let map = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/province_map_2024_2025.csv"
    ))
    .unwrap();
    let mut sums: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for line in map.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (r, b, _) = &before[&format!("t{}", f[0])];
        let s = sums.entry(format!("t{}", f[2])).or_default();
        s.0 += r;
        s.1 += b;
    }
    assert_eq!(sums.len(), 34);
    for (p, (r, b)) in &sums {
        let (ar, ab, _) = report(data, p, &[]);
        assert_eq!((ar, ab), (*r, *b), "{p}");
    }
    // Tuyên Quang (08) took in Hà Giang (02): both predecessors counted.
    assert_eq!(
        sums["t08"].0,
        before["t02"].0 + before["t08"].0,
        "t08 is the sum of t02 and t08"
    );
    // As it was on 30/06/2025: the 63 provinces, the same national total.
    let (asof, _, asof_children) = report(data, "tld", &["--as-of", "30/06/2025"]);
    assert_eq!(asof, national);
    assert_eq!(asof_children.len(), 63);
    let (t02_asof, _, _) = report(data, "t02", &["--as-of", "30/06/2025"]);
    assert_eq!(t02_asof, before["t02"].0);
}

/// `unit move | rename | merge | close` one at a time, with their refusals.
#[test]
fn single_unit_commands_and_their_refusals() {
    let dir = TempDir::new("single");
    let data = dir.path().join("tld");
    let data = data.to_str().unwrap();
    run(&[
        "--data",
        data,
        "federation",
        "sample-2024",
        "--communes-every",
        "400",
        "--initiatives",
        "1",
    ]);
    let (national, _, _) = report(data, "tld", &[]);
    let (t01_before, _, _) = report(data, "t01", &[]);
    let (t02_before, _, _) = report(data, "t02", &[]);
    // The first grassroots union sits in Ba Đình (h001, Hà Nội).
    let (h001, _, kids) = report(data, "h001", &[]);
    assert_eq!(kids, vec!["cs00001-1".to_owned()]);
    // Move it to a district of Hà Giang: Hà Nội's totals pass to Hà Giang.
    run(&[
        "--data",
        data,
        "unit",
        "move",
        "--unit",
        "cs00001-1",
        "--to",
        "h024",
    ]);
    assert_eq!(report(data, "t01", &[]).0, t01_before - h001);
    assert_eq!(report(data, "t02", &[]).0, t02_before + h001);
    run(&[
        "--data",
        data,
        "unit",
        "rename",
        "--unit",
        "t02",
        "--name",
        "Liên đoàn Lao động tỉnh Hà Giang (mới)",
    ]);
    // Merge Hà Giang into Tuyên Quang: its children follow, its total is reported there.
    let (t08_before, _, _) = report(data, "t08", &[]);
    run(&[
        "--data",
        data,
        "unit",
        "merge",
        "--unit",
        "t02",
        "--into",
        "t08",
        "--date",
        "01/07/2025",
    ]);
    assert_eq!(report(data, "t08", &[]).0, t08_before + t02_before + h001);
    assert_eq!(report(data, "tld", &[]).0, national);
    let v = sangkien(&["--data", data, "verify"]);
    assert!(v.status.success(), "{}", text(&v));

    // Refusals: in Vietnamese by default, in English on request; nothing written.
    let cases: &[(&[&str], &str, &str)] = &[
        (&["unit", "close", "--unit", "t01"], "còn", "still has"),
        (
            &["unit", "merge", "--unit", "h001", "--into", "t01"],
            "chỉ sáp nhập được vào đơn vị cùng cấp",
            "a unit merges only into one of the same role",
        ),
        (
            &["unit", "move", "--unit", "t04", "--to", "h001"],
            "không được đặt dưới",
            "may not sit under",
        ),
        (
            &["unit", "move", "--unit", "t02", "--to", "tld"],
            "đã giải thể hoặc sáp nhập",
            "has been closed or merged",
        ),
        (
            &[
                "unit",
                "merge",
                "--unit",
                "t04",
                "--into",
                "t06",
                "--date",
                "31/06/2025",
            ],
            "31/06/2025",
            "31/06/2025",
        ),
        (
            &["unit", "move", "--unit", "nope", "--to", "tld"],
            "không có ở nút này",
            "no such unit at this node",
        ),
    ];
    for (args, vi, en) in cases {
        let mut a = vec!["--data", data];
        a.extend_from_slice(args);
        let o = sangkien(&a);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(text(&o).contains(vi), "{args:?}: {}", text(&o));
        if !en.is_empty() {
            let mut a = vec!["--lang", "en", "--data", data];
            a.extend_from_slice(args);
            let o = sangkien(&a);
            assert!(text(&o).contains(en), "{args:?}: {}", text(&o));
        }
    }
    // Closing h001 (now empty) works, and its unit then signs nothing.
    run(&[
        "--data",
        data,
        "unit",
        "close",
        "--unit",
        "h001",
        "--date",
        "01/07/2025",
    ]);
    assert_eq!(report(data, "tld", &[]).0, national);
}

/// `unit merge --into` takes a unit id (shown as UNIT / ĐƠN_VỊ), while `unit enrol --into`
/// still takes a directory.
#[test]
fn merge_into_is_shown_as_a_unit() {
    let en = run(&["--lang", "en", "unit", "merge", "--help"]);
    assert!(en.contains("--into <UNIT>"), "{en}");
    let vi = run(&["unit", "merge", "--help"]);
    assert!(vi.contains("--into <ĐƠN_VỊ>"), "{vi}");
    let enrol = run(&["--lang", "en", "unit", "enrol", "--help"]);
    assert!(enrol.contains("--into <DIR>"), "{enrol}");
}
