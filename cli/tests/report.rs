//! Reports are right: a subtree whose numbers are known, built through the real write path
//! (`node::records::create`, signed and imported like any entry), reported by the real binary
//! in every format, each figure checked. The seeds' figures are scaled down so the per cents
//! stay the same: 76 of a phase target of 138 is 55,1 % (the confederation's 165.541 of its
//! plan), and Phú Yên's 59 of 50 is 118,0 % (1.619 of 1.372).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use node::{records, Node};
use sync_protocol::date::Date;
use sync_protocol::entry::Sector;
use sync_protocol::ids::RecordId;
use sync_protocol::record::{Application, Author, Description, Initiative, RecordContent};
use sync_protocol::text::Text;

struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(dir: &Path, unit: &str, args: &[&str]) -> Output {
    let mut all = vec![
        "--data".to_string(),
        dir.join(unit).to_string_lossy().into_owned(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_sangkien"))
        .args(&all)
        .env_remove("SANGKIEN_DATA")
        .env_remove("SANGKIEN_LANG")
        .output()
        .expect("the sangkien binary runs")
}

fn ok(dir: &Path, unit: &str, args: &[&str]) -> String {
    let o = run(dir, unit, args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{unit} {args:?}: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn send(dir: &Path, from: &str, to: &str) {
    let f = dir.join("x.bundle").to_string_lossy().into_owned();
    ok(dir, from, &["bundle", "export", "--for", to, &f]);
    ok(dir, to, &["bundle", "import", &f]);
}

const UNITS: &[(&str, &str, &str, &str)] = &[
    (
        "ldld-phu-yen",
        "provincial",
        "Liên đoàn Lao động tỉnh Phú Yên",
        "tld",
    ),
    (
        "ldld-ninh-thuan",
        "provincial",
        "Liên đoàn Lao động tỉnh Ninh Thuận",
        "tld",
    ),
    (
        "ldld-tuy-hoa",
        "direct-superior",
        "Liên đoàn Lao động thành phố Tuy Hòa",
        "ldld-phu-yen",
    ),
    (
        "ldld-phan-rang",
        "direct-superior",
        "Liên đoàn Lao động thành phố Phan Rang - Tháp Chàm",
        "ldld-ninh-thuan",
    ),
    (
        "cdcs-thuy-san",
        "grassroots",
        "Công đoàn Công ty TNHH Thủy sản Tuy Hòa",
        "ldld-tuy-hoa",
    ),
    (
        "cdcs-bv-phu-yen",
        "grassroots",
        "Công đoàn Bệnh viện Đa khoa tỉnh Phú Yên",
        "ldld-tuy-hoa",
    ),
    (
        "cdcs-thpt",
        "grassroots",
        "Công đoàn Trường THPT Chu Văn An",
        "ldld-phan-rang",
    ),
];

/// Grassroots unit, how many initiatives, sector.
const WORK: &[(&str, u64, Sector)] = &[
    ("cdcs-thuy-san", 40, Sector::ProductionBusiness),
    ("cdcs-bv-phu-yen", 19, Sector::Health),
    ("cdcs-thpt", 17, Sector::Education),
];

fn t(s: &str) -> Text {
    Text::new("test", s, 2_000).expect("text")
}

/// Registers `n` initiatives at `unit`, the k-th on 2022-04-22 + (k mod 40) days, except
/// every tenth one, registered on 2022-03-01 (before the campaign).
fn register(dir: &Path, unit: &str, n: u64, sector: Sector, prog: RecordId) -> u64 {
    let mut node = Node::open(&dir.join(unit)).expect("open");
    let superior = node
        .directory()
        .parent_at(node.unit(), node::now_ms())
        .cloned()
        .expect("parent");
    let start = Date::parse("2022-04-22").expect("date").days_since_epoch();
    let mut benefit = 0;
    for k in 0..n {
        let day = if k % 10 == 9 {
            Date::parse("2022-03-01").expect("date")
        } else {
            Date::from_unix_ms(((start + (k % 40) as i64) as u64) * 86_400_000)
        };
        let i = Initiative {
            title: t(&format!("Sáng kiến số {k} của {unit}")),
            authors: vec![Author {
                name: t("Nguyễn Văn Đức"),
                position: t("Công nhân"),
            }],
            origin: node.unit().clone(),
            superior: superior.clone(),
            programme: Some(prog),
            phase: 1,
            sector,
            summary: t("Tăng năng suất"),
            registered_on: day,
            description: Description::default(),
            benefit_vnd: 1_000_000 * (k + 1),
            application: Application::Applied,
            recognition: None,
            confidential: false,
            attachments: Vec::new(),
            commitment_salt: None,
        };
        benefit += i.benefit_vnd;
        records::create(
            &mut node,
            &RecordContent::Initiative(Box::new(i)),
            node::now_ms(),
        )
        .expect("create");
    }
    benefit
}

fn report(dir: &Path, unit: &str, extra: &[&str]) -> String {
    let mut a = vec!["report", "--phase", "1", "--today", "2022-05-10"];
    a.extend_from_slice(extra);
    ok(dir, unit, &a)
}

#[test]
fn every_figure_in_every_format() {
    let tmp = Tmp(std::env::temp_dir().join(format!("sangkien-report-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0).expect("tmp");
    let dir = tmp.0.as_path();
    ok(dir, "tld", &["federation", "init"]);
    for (id, role, name, parent) in UNITS {
        let into = dir.join(id).to_string_lossy().into_owned();
        ok(
            dir,
            parent,
            &[
                "unit", "enrol", "--id", id, "--role", role, "--name", name, "--into", &into,
            ],
        );
    }
    let out = ok(
        dir,
        "tld",
        &[
            "--json",
            "programme",
            "new",
            "--name",
            "01 triệu sáng kiến",
            "--phase",
            "Giai đoạn 1|2021-12-15|2022-05-31|138",
            "--phase",
            "Giai đoạn 2|2022-06-01|2023-08-31|700",
            "--campaign",
            "Chiến dịch cao điểm 40 ngày|2022-04-22|2022-05-31|120",
            "--deadline",
            "Đăng ký sáng kiến (Mẫu 1)|2023-01-15",
            "--national-target",
            "1000",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let prog = RecordId::from_hex(v["id"].as_str().expect("id")).expect("hex");
    ok(
        dir,
        "tld",
        &[
            "target",
            "assign",
            "--phase",
            "1",
            "--set",
            "ldld-phu-yen=50",
            "--set",
            "ldld-ninh-thuan=40",
        ],
    );
    for (down, up) in [
        ("ldld-phu-yen", "tld"),
        ("ldld-ninh-thuan", "tld"),
        ("ldld-tuy-hoa", "ldld-phu-yen"),
        ("ldld-phan-rang", "ldld-ninh-thuan"),
        ("cdcs-thuy-san", "ldld-tuy-hoa"),
        ("cdcs-bv-phu-yen", "ldld-tuy-hoa"),
        ("cdcs-thpt", "ldld-phan-rang"),
    ] {
        send(dir, up, down);
    }
    let mut benefit = 0;
    for (unit, n, sector) in WORK {
        benefit += register(dir, unit, *n, *sector, prog);
    }
    for (from, to) in [
        ("cdcs-thuy-san", "ldld-tuy-hoa"),
        ("cdcs-bv-phu-yen", "ldld-tuy-hoa"),
        ("cdcs-thpt", "ldld-phan-rang"),
        ("ldld-tuy-hoa", "ldld-phu-yen"),
        ("ldld-phan-rang", "ldld-ninh-thuan"),
        ("ldld-phu-yen", "tld"),
        ("ldld-ninh-thuan", "tld"),
    ] {
        send(dir, from, to);
    }

    // JSON: the figures themselves.
    let j: serde_json::Value =
        serde_json::from_str(&report(dir, "tld", &["--format", "json"])).expect("json");
    assert_eq!(j["registered"], 76);
    assert_eq!(j["target"], 138);
    assert_eq!(j["progress_tenths"], 551);
    assert_eq!(j["benefit_vnd"], benefit);
    assert_eq!(j["by_status"][0]["code"], "registered");
    assert_eq!(j["by_status"][0]["count"], 76);
    let sectors: Vec<(String, u64)> = j["by_sector"]
        .as_array()
        .expect("s")
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap_or("").into(),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        sectors,
        [
            ("production-business".into(), 40),
            ("education".into(), 17),
            ("health".into(), 19)
        ]
    );
    assert_eq!(j["by_phase"][0]["registered"], 76);
    assert_eq!(j["by_phase"][1]["registered"], 0);
    assert_eq!(j["children"][0]["unit"], "ldld-phu-yen");
    assert_eq!(j["children"][0]["rank"], 1);
    assert_eq!(j["children"][0]["registered"], 59);
    assert_eq!(j["children"][0]["target"], 50);
    assert_eq!(j["children"][0]["progress_tenths"], 1180);
    assert_eq!(j["children"][1]["unit"], "ldld-ninh-thuan");
    assert_eq!(j["children"][1]["progress_tenths"], 425);
    // Over time: 8 registered before the campaign (every tenth: k = 9, 19, 29, 39 at the
    // first unit; 9 at the second and the third... counted below), then by day.
    let before: u64 = WORK.iter().map(|(_, n, _)| n / 10).sum();
    let o = &j["over_time"];
    assert_eq!(o["window_name"], "Chiến dịch cao điểm 40 ngày");
    assert_eq!(o["target"], 120, "at the root the campaign's own target");
    assert_eq!(o["before"], before);
    let pts = o["points"].as_array().expect("points");
    assert_eq!(pts.len(), 40, "one point a day for a 40-day campaign");
    assert_eq!(pts[0]["date"], "2022-04-22");
    assert_eq!(
        pts[0]["cumulative"],
        before + 3,
        "k = 0 at each of the three units"
    );
    assert_eq!(pts[39]["cumulative"], 76);
    let dl: Vec<&str> = j["deadlines"]
        .as_array()
        .expect("d")
        .iter()
        .filter_map(|d| d["date"].as_str())
        .collect();
    assert_eq!(dl, ["2022-05-31", "2022-05-31", "2023-01-15", "2023-08-31"]);
    assert_eq!(j["deadlines"][0]["days_left"], 21);

    // The province: 118,0 %.
    let pj: serde_json::Value = serde_json::from_str(&report(
        dir,
        "tld",
        &["--format", "json", "--unit", "ldld-phu-yen"],
    ))
    .expect("json");
    assert_eq!(pj["registered"], 59);
    assert_eq!(pj["progress_tenths"], 1180);

    // Table, both languages.
    let vi = report(dir, "tld", &[]);
    for want in [
        "76 / 138 chỉ tiêu = 55,1 %",
        "118,0 %",
        "42,5 %",
        "Liên đoàn Lao động tỉnh Phú Yên",
        &format!("{} VND", vi_int(benefit)),
        "Sản xuất - kinh doanh",
        "còn 21 ngày",
    ] {
        assert!(vi.contains(want), "missing {want:?} in\n{vi}");
    }
    let en = report(dir, "tld", &["--lang", "en"]);
    for want in [
        "76 / 138 target = 55.1 %",
        "118.0 %",
        "42.5 %",
        "Production and business",
        "in 21 days",
    ] {
        assert!(en.contains(want), "missing {want:?} in\n{en}");
    }
    let pv = report(dir, "ldld-phu-yen", &[]);
    assert!(pv.contains("59 / 50 chỉ tiêu = 118,0 %"), "{pv}");

    // CSV.
    let csv = report(dir, "tld", &["--format", "csv"]);
    assert!(
        csv.contains(&format!(
            "total,tld,Tổng Liên đoàn Lao động Việt Nam,76,138,\"55,1\",{benefit}\r\n"
        )),
        "{csv}"
    );
    assert!(
        csv.contains("child-1,ldld-phu-yen,Liên đoàn Lao động tỉnh Phú Yên,59,50,\"118,0\","),
        "{csv}"
    );
    let csv_en = report(dir, "tld", &["--format", "csv", "--lang", "en"]);
    assert!(csv_en.contains(",76,138,55.1,"), "{csv_en}");

    // XLSX, read back with a real reader.
    let xlsx = dir.join("r.xlsx");
    report(
        dir,
        "tld",
        &["--format", "xlsx", "--out", &xlsx.to_string_lossy()],
    );
    check_xlsx(&xlsx, benefit);
    let o = run(dir, "tld", &["report", "--format", "xlsx"]);
    assert_eq!(o.status.code(), Some(2), "xlsx without --out is bad usage");

    // SVG: parses, has a bar per child and the progress line; PNG: decodes at the SVG's size.
    let svg = report(dir, "tld", &["--format", "svg"]);
    let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default())
        .expect("the SVG parses");
    assert_eq!(tree.size().width(), 960.0);
    assert_eq!(svg.matches(r#"<g class="unit""#).count(), 2);
    assert_eq!(svg.matches(r#"class="count""#).count(), 2);
    assert_eq!(svg.matches(r#"class="progress""#).count(), 1);
    assert!(svg.contains("59 / 50 · 118,0 %"), "{svg}");
    let png = dir.join("r.png");
    report(
        dir,
        "tld",
        &["--format", "png", "--out", &png.to_string_lossy()],
    );
    let bytes = std::fs::read(&png).expect("png");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let w = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let h = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    assert_eq!(
        (w as f32, h as f32),
        (tree.size().width(), tree.size().height())
    );
    if let Ok(keep) = std::env::var("SANGKIEN_KEEP_CHARTS") {
        let _ = std::fs::copy(&png, Path::new(&keep).join("report.png"));
        let _ = std::fs::write(Path::new(&keep).join("report.svg"), &svg);
        let _ = std::fs::copy(&xlsx, Path::new(&keep).join("report.xlsx"));
    }

    // The report's counts agree with a recount from the records.
    let node = Node::open(&dir.join("tld")).expect("open");
    let listing = node::search::listing(&node, node::now_ms()).expect("listing");
    assert_eq!(listing.len(), 76);
    assert_eq!(listing.iter().map(|l| l.benefit_vnd).sum::<u64>(), benefit);
}

fn vi_int(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

fn check_xlsx(path: &Path, benefit: u64) {
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let mut wb: Xlsx<_> = open_workbook(path).expect("the xlsx opens");
    assert_eq!(
        wb.sheet_names(),
        ["Tổng hợp", "Đơn vị", "Theo thời gian", "Hạn"]
    );
    let s = wb.worksheet_range("Tổng hợp").expect("summary");
    assert_eq!(
        s.get_value((5, 0)),
        Some(&Data::String("Sáng kiến đăng ký".into()))
    );
    assert_eq!(s.get_value((5, 1)), Some(&Data::Float(76.0)));
    assert_eq!(s.get_value((5, 2)), Some(&Data::Float(138.0)));
    assert_eq!(s.get_value((5, 3)), Some(&Data::Float(0.551)));
    assert_eq!(s.get_value((6, 1)), Some(&Data::Float(benefit as f64)));
    let u = wb.worksheet_range("Đơn vị").expect("units");
    assert_eq!(
        u.get_value((1, 1)),
        Some(&Data::String("ldld-phu-yen".into()))
    );
    assert_eq!(u.get_value((1, 3)), Some(&Data::Float(59.0)));
    assert_eq!(u.get_value((1, 4)), Some(&Data::Float(50.0)));
    assert_eq!(u.get_value((1, 5)), Some(&Data::Float(1.18)));
    assert_eq!(u.get_value((2, 5)), Some(&Data::Float(0.425)));
    let o = wb.worksheet_range("Theo thời gian").expect("time");
    assert_eq!(o.get_value((41, 1)), Some(&Data::Float(76.0)));
    let d = wb.worksheet_range("Hạn").expect("deadlines");
    assert_eq!(
        d.get_value((3, 0)),
        Some(&Data::String("2023-01-15".into()))
    );
}

/// Issue 12: names that a spreadsheet would take for formulas (`=`, `+`, `-`, `@`) are
/// neutralised in the CSV (a leading `'`) and kept as text with Excel's quote prefix in the
/// workbook; the figures beside them stay numbers.
#[test]
fn names_that_look_like_formulas_are_neutralised_in_csv_and_xlsx() {
    let tmp = Tmp(std::env::temp_dir().join(format!("sangkien-formula-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&tmp.0);
    std::fs::create_dir_all(&tmp.0).expect("tmp");
    let dir = tmp.0.as_path();
    ok(dir, "tld", &["federation", "init"]);
    let evil_unit = "=HYPERLINK(\"http://x.invalid\",\"Bấm vào\")";
    let into = dir.join("ldld-x").to_string_lossy().into_owned();
    ok(
        dir,
        "tld",
        &[
            "unit",
            "enrol",
            "--id",
            "ldld-x",
            "--role",
            "provincial",
            "--name",
            evil_unit,
            "--into",
            &into,
        ],
    );
    ok(
        dir,
        "tld",
        &[
            "programme",
            "new",
            "--name",
            "+Chương trình",
            "--phase=-Giai đoạn 1|2021-12-15|2022-05-31|138",
            "--deadline",
            "@SUM(A1)|2023-01-15",
            "--national-target",
            "1000",
        ],
    );
    ok(
        dir,
        "tld",
        &["target", "assign", "--phase", "1", "--set", "ldld-x=50"],
    );
    let csv = report(dir, "tld", &["--format", "csv", "--lang", "en"]);
    assert!(
        csv.contains("child-1,ldld-x,\"'=HYPERLINK(\"\"http://x.invalid\"\",\"\"Bấm vào\"\")\",0,50,0.0,0\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("phase,1,'-Giai đoạn 1,0,138,0.0,\r\n"),
        "{csv}"
    );
    assert!(csv.contains(",'@SUM(A1),"), "{csv}");
    for line in csv.lines() {
        for field in line.split(',') {
            assert!(
                !field.starts_with(['=', '+', '@']) && !field.starts_with("\"="),
                "a cell starts like a formula: {line}"
            );
        }
    }
    let x = dir.join("r.xlsx");
    report(
        dir,
        "tld",
        &["--format", "xlsx", "--out", x.to_str().unwrap()],
    );
    use calamine::{open_workbook, Data, Reader, Xlsx};
    let mut wb: Xlsx<_> = open_workbook(&x).expect("the xlsx opens");
    let u = wb.worksheet_range("Đơn vị").expect("units");
    assert_eq!(u.get_value((1, 2)), Some(&Data::String(evil_unit.into())));
    assert_eq!(u.get_value((1, 4)), Some(&Data::Float(50.0)));
    // The workbook stores no formula at all: every cell is a string or a number.
    for sheet in wb.sheet_names() {
        let r = wb.worksheet_formula(&sheet).expect("formulas");
        assert!(r.used_cells().all(|(_, _, f)| f.is_empty()), "{sheet}");
    }
}
