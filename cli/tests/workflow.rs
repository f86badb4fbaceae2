//! A campaign worked through the real `sangkien` binary at three levels — a grassroots union,
//! its district union, the province — with the national root launching the programme. Every
//! step is a command a person would type; entries move between nodes only as bundles.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("sangkien-wf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Fed {
    root: PathBuf,
}

impl Fed {
    fn dir(&self, unit: &str) -> String {
        self.root.join(unit).to_string_lossy().into_owned()
    }
    /// Runs `sangkien --data <unit> args...`.
    fn run(&self, unit: &str, args: &[&str]) -> Output {
        let mut all = vec!["--data".to_string(), self.dir(unit)];
        all.extend(args.iter().map(|s| s.to_string()));
        Command::new(env!("CARGO_BIN_EXE_sangkien"))
            .args(&all)
            .env_remove("SANGKIEN_DATA")
            .env_remove("SANGKIEN_LANG")
            .output()
            .expect("the sangkien binary runs")
    }
    fn ok(&self, unit: &str, args: &[&str]) -> String {
        let o = self.run(unit, args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{unit}: {args:?} failed: {out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }
    fn json(&self, unit: &str, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.ok(unit, &a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }
    /// Moves what `to` should hold from `from`, as a bundle.
    fn send(&self, from: &str, to: &str) {
        let file = self.root.join(format!("{from}-{to}.bundle"));
        let f = file.to_string_lossy();
        self.ok(from, &["bundle", "export", "--for", to, &f]);
        self.ok(to, &["bundle", "import", &f]);
    }
    fn entries(&self, unit: &str) -> usize {
        self.json(unit, &["verify"])["details"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|x| x["entries"].as_u64().unwrap_or(0) as usize)
                    .sum()
            })
            .unwrap_or(0)
    }
}

fn enrol(f: &Fed, parent: &str, id: &str, role: &str, name: &str) {
    f.ok(
        parent,
        &[
            "unit",
            "enrol",
            "--id",
            id,
            "--role",
            role,
            "--name",
            name,
            "--into",
            &f.dir(id),
        ],
    );
}

#[test]
fn a_campaign_at_grassroots_district_and_province() {
    let tmp = Tmp::new("campaign");
    let f = Fed {
        root: tmp.0.clone(),
    };
    let (tld, py, th, ts) = ("tld", "ldld-phu-yen", "ldld-tuy-hoa", "cdcs-thuy-san");
    f.ok(tld, &["federation", "init"]);
    enrol(&f, tld, py, "provincial", "Liên đoàn Lao động tỉnh Phú Yên");
    enrol(
        &f,
        py,
        th,
        "direct-superior",
        "Liên đoàn Lao động thành phố Tuy Hòa",
    );
    enrol(
        &f,
        th,
        ts,
        "grassroots",
        "Công đoàn Công ty TNHH Thủy sản Tuy Hòa",
    );

    // The confederation launches the programme; targets go down level by level.
    let prog = f.json(
        tld,
        &[
            "programme",
            "new",
            "--name",
            "01 triệu sáng kiến",
            "--phase",
            "Giai đoạn 1|2021-12-15|2022-05-31|300000",
            "--phase",
            "Giai đoạn 2|2022-06-01|2023-08-31|700000",
            "--campaign",
            "Chiến dịch cao điểm 40 ngày|2022-04-22|2022-05-31|300000",
            "--deadline",
            "Đăng ký sáng kiến (Mẫu 1)|2023-01-15",
            "--deadline",
            "Nộp hồ sơ đề nghị công nhận|2023-08-05",
            "--national-target",
            "1000000",
        ],
    );
    let prog = prog["id"].as_str().expect("programme id").to_string();
    f.ok(
        tld,
        &[
            "target",
            "assign",
            "--phase",
            "2",
            "--set",
            "ldld-phu-yen=4133",
        ],
    );
    f.send(tld, py);
    f.ok(
        py,
        &[
            "target",
            "assign",
            "--phase",
            "2",
            "--set",
            "ldld-tuy-hoa=2400",
        ],
    );
    f.send(py, th);
    f.ok(
        th,
        &[
            "target",
            "assign",
            "--phase",
            "2",
            "--set",
            "cdcs-thuy-san=60",
        ],
    );
    f.send(th, ts);
    let t = f.json(ts, &["target", "show", "--phase", "2"]);
    assert_eq!(t["received"], 60);

    // The grassroots support team registers two initiatives (Mẫu 1, Mẫu 4).
    let a = f.json(
        ts,
        &[
            "initiative",
            "new",
            "--title",
            "Quy trình cấp đông nhanh cá ngừ đại dương",
            "--author",
            "Lê Thị Mai|Kỹ sư chế biến",
            "--author",
            "Đặng Văn Đức|Tổ trưởng",
            "--sector",
            "production-business",
            "--summary",
            "Giảm hao hụt, rút ngắn thời gian cấp đông",
            "--programme",
            &prog,
            "--phase",
            "2",
            "--registered",
            "2022-12-20",
            "--benefit",
            "2400000000",
            "--solution",
            "Hầm đông gió cưỡng bức",
        ],
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    let b = f.json(
        ts,
        &[
            "initiative",
            "new",
            "--title",
            "Sáng kiến sắp xếp kho lạnh",
            "--author",
            "Phạm Thu|Thủ kho",
            "--sector",
            "production-business",
            "--summary",
            "Tiết kiệm điện",
            "--programme",
            &prog,
            "--phase",
            "2",
            "--registered",
            "2022-12-21",
            "--benefit",
            "150000000",
        ],
    )["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Search ignores diacritics and case; ids may be given as a prefix of 8 digits.
    let hits = f.json(ts, &["initiative", "search", "sang kien"]);
    assert_eq!(hits.as_array().map(Vec::len), Some(1), "{hits}");
    assert_eq!(
        f.json(ts, &["initiative", "search", "phu yen"])
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        f.json(ts, &["initiative", "search", "CA NGU dai duong"])[0]["id"],
        a.as_str()
    );
    assert_eq!(
        f.json(ts, &["initiative", "search", "duc"])[0]["id"],
        a.as_str(),
        "đ matches d"
    );
    let mau4 = tmp.0.join("mau4.txt");
    std::fs::write(&mau4, "Báo cáo mô tả sáng kiến (Mẫu 4)").expect("write");
    let att = f.json(
        ts,
        &["initiative", "attach", &a[..8], &mau4.to_string_lossy()],
    );
    assert_eq!(att["size_bytes"], "Báo cáo mô tả sáng kiến (Mẫu 4)".len());

    // Bad input is refused with exit 2 and nothing stored.
    let before = f.entries(ts);
    let o = f.run(
        ts,
        &[
            "initiative",
            "new",
            "--title",
            "x",
            "--author",
            "A",
            "--sector",
            "nope",
            "--summary",
            "s",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--sector"));
    let o = f.run(
        ts,
        &[
            "decide",
            "submit",
            &a[..6],
            "--officer",
            "A",
            "--title",
            "B",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "a 6-digit prefix is too short");
    assert_eq!(f.entries(ts), before);

    // Grassroots submits both; the district returns one, which is revised and resubmitted.
    for id in [&a, &b] {
        f.ok(
            ts,
            &[
                "decide",
                "submit",
                &id[..8],
                "--officer",
                "Nguyễn Văn An",
                "--title",
                "Chủ tịch CĐCS",
            ],
        );
    }
    // A decision out of turn is refused (exit 1) and stores nothing.
    let before = f.entries(ts);
    let o = f.run(
        ts,
        &[
            "decide",
            "approve",
            &a[..8],
            "--officer",
            "Nguyễn Văn An",
            "--title",
            "Chủ tịch CĐCS",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(f.entries(ts), before);
    f.send(ts, th);
    f.ok(
        th,
        &[
            "decide",
            "return",
            &b[..8],
            "--officer",
            "Trần Thị Bình",
            "--title",
            "Chủ tịch LĐLĐ thành phố",
            "--note",
            "Bổ sung số liệu tiết kiệm điện",
        ],
    );
    f.ok(
        th,
        &[
            "decide",
            "approve",
            &a[..8],
            "--officer",
            "Trần Thị Bình",
            "--title",
            "Chủ tịch LĐLĐ thành phố",
        ],
    );
    f.send(th, ts);
    assert_eq!(
        f.json(ts, &["initiative", "show", &b[..8]])["status"],
        "return"
    );
    f.ok(
        ts,
        &[
            "initiative",
            "edit",
            &b[..8],
            "--summary",
            "Tiết kiệm 120 triệu đồng tiền điện mỗi năm",
        ],
    );
    f.ok(
        ts,
        &[
            "decide",
            "submit",
            &b[..8],
            "--officer",
            "Nguyễn Văn An",
            "--title",
            "Chủ tịch CĐCS",
        ],
    );
    f.send(ts, th);
    f.ok(
        th,
        &[
            "decide",
            "approve",
            &b[..8],
            "--officer",
            "Trần Thị Bình",
            "--title",
            "Chủ tịch LĐLĐ thành phố",
        ],
    );

    // The district's consolidated, signed Mẫu 2 list, and its bundle, go to the province.
    let bundle = tmp.0.join("mau2.bundle");
    let m = f.json(
        th,
        &[
            "list",
            "mau2",
            "--phase",
            "2",
            "--out",
            &bundle.to_string_lossy(),
        ],
    );
    let lines = m["initiatives"].as_array().expect("lines");
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .all(|l| l["decision"] == "approve" && l["entry"].as_str().map(str::len) == Some(64)));
    assert_eq!(m["digest"].as_str().map(str::len), Some(64));
    let imported = f.json(py, &["bundle", "import", &bundle.to_string_lossy()]);
    assert_eq!(
        imported["quarantined"].as_array().map(Vec::len),
        Some(0),
        "the Mẫu 2 bundle is self-contained: {imported}"
    );
    assert_eq!(
        imported["rejected"].as_array().map(Vec::len),
        Some(0),
        "{imported}"
    );

    // The province recognises one and awards the other; it ranks its units in the report.
    f.ok(
        py,
        &[
            "decide",
            "recognise",
            &a[..8],
            "--officer",
            "Võ Văn Cường",
            "--title",
            "Chủ tịch LĐLĐ tỉnh",
        ],
    );
    f.ok(
        py,
        &[
            "decide",
            "award",
            &b[..8],
            "--grade",
            "typical",
            "--officer",
            "Võ Văn Cường",
            "--title",
            "Chủ tịch LĐLĐ tỉnh",
        ],
    );
    let show = f.json(py, &["initiative", "show", &a]);
    let chain: Vec<&str> = show["decisions"]
        .as_array()
        .expect("chain")
        .iter()
        .filter_map(|d| d["decision"].as_str())
        .collect();
    assert_eq!(chain, ["submit", "approve", "recognise"]);
    let r = f.json(py, &["report", "--phase", "2", "--today", "2023-01-10"]);
    assert_eq!(r["registered"], 2);
    assert_eq!(r["target"], 4133);
    assert_eq!(r["benefit_vnd"], 2_550_000_000u64);
    assert_eq!(r["children"][0]["unit"], "ldld-tuy-hoa");
    assert_eq!(r["children"][0]["target"], 2400);
    let status: Vec<(String, u64)> = r["by_status"]
        .as_array()
        .expect("status")
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap_or("").to_string(),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        status,
        [
            ("recognise".to_string(), 1),
            ("award-typical".to_string(), 1)
        ]
    );
    let deadlines: Vec<&str> = r["deadlines"]
        .as_array()
        .expect("deadlines")
        .iter()
        .filter_map(|d| d["date"].as_str())
        .collect();
    assert_eq!(deadlines, ["2023-01-15", "2023-08-05", "2023-08-31"]);
    let table = f.ok(py, &["report", "--phase", "2", "--today", "2023-01-10"]);
    assert!(table.contains("2 / 4.133"), "{table}");
    assert!(table.contains("2.550.000.000"), "{table}");
    // Every node's chains verify.
    for u in [tld, py, th, ts] {
        let v = f.json(u, &["verify"]);
        assert_eq!(v["invalid"].as_array().map(Vec::len), Some(0), "{u}: {v}");
    }
    let _ = Path::new(&f.dir(tld));
}
