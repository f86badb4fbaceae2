//! One language at a time: everything a person reads — help of every command, clap's own
//! errors, refusals from the core — is Vietnamese under `--lang vi` (no English words) and
//! English under `--lang en` (no Vietnamese letters except in names). Also the input the way
//! officers write it: printed dates and amounts, Vietnamese sector names, every missing flag at
//! once, the closest known unit, the programme phase's dates.

mod support;

use std::process::Output;

use support::{sangkien, text};

use support::TempDir;

/// Words that give English away (clap's own vocabulary and common function words).
const ENGLISH: &[&str] = &[
    "error",
    "usage",
    "the",
    "options",
    "option",
    "commands",
    "command",
    "arguments",
    "argument",
    "for",
    "more",
    "information",
    "required",
    "not",
    "invalid",
    "help",
    "print",
    "version",
    "unexpected",
    "found",
    "value",
    "values",
    "missing",
    "possible",
    "default",
    "try",
    "did",
    "you",
    "mean",
    "refused",
    "unknown",
    "is",
    "of",
    "to",
    "and",
    "with",
    "this",
    "cannot",
    "could",
    "entry",
    "waiting",
    "signed",
    "which",
    "file",
];

/// Names that stay Vietnamese in English output (forms, units and titles the test creates).
const NAMES: &[&str] = &[
    "Mẫu",
    "Tổng Liên đoàn Lao động Việt Nam",
    "Liên đoàn Lao động tỉnh Phú Yên",
    "Liên đoàn Lao động thành phố Tuy Hòa",
    "Công đoàn Công ty TNHH Thủy sản Tuy Hòa",
    "Cấp đông nhanh",
    "Lê Thị Mai",
    "Kỹ sư",
    "Giai đoạn 1",
    "Giai đoạn 2",
    "01 triệu sáng kiến",
];

/// The English words of a line, leaving out flags, codes, placeholders, `commands` in
/// backticks and quoted values.
fn english_words(line: &str) -> Vec<String> {
    let mut kept = String::new();
    let mut in_tick = false;
    for c in line.chars() {
        if c == '`' {
            in_tick = !in_tick;
        } else if !in_tick {
            kept.push(c);
        }
    }
    kept.split_whitespace()
        .filter(|t| !t.starts_with('-') && !t.starts_with('<') && !t.starts_with('\''))
        .filter(|t| !t.contains('-') && !t.contains('_') && !t.contains('/'))
        .flat_map(|t| {
            t.split(|c: char| !c.is_alphanumeric())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|w| ENGLISH.contains(&w.as_str()))
        .collect()
}

/// Whether a line holds Vietnamese letters outside the known names.
fn vietnamese(line: &str) -> bool {
    let mut l = line.to_owned();
    for n in NAMES {
        l = l.replace(n, "");
    }
    l.chars()
        .any(|c| c.is_alphabetic() && ('\u{00C0}'..='\u{1EFF}').contains(&c))
}

/// Every line of `out`, in `lang`, is in that language only.
fn check(lang: &str, what: &str, out: &str, bad: &mut Vec<String>) {
    for line in out.lines() {
        match lang {
            "vi" => {
                let w = english_words(line);
                if !w.is_empty() {
                    bad.push(format!("[vi] {what}: {line:?} (English: {w:?})"));
                }
            }
            _ => {
                if vietnamese(line) {
                    bad.push(format!("[en] {what}: {line:?}"));
                }
            }
        }
    }
}

/// The subcommands listed in a help text (the section after "Lệnh:" / "Commands:").
fn subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line == "Lệnh:" || line == "Commands:" {
            inside = true;
        } else if inside {
            match line.split_whitespace().next() {
                // clap's own `help` subcommand (if it shows) is read through --help of the rest
                Some("help") if line.starts_with("  ") => {}
                Some(w) if line.starts_with("  ") => out.push(w.to_owned()),
                _ => break,
            }
        }
    }
    out
}

/// Walks `--help` of `path` and of every subcommand below it.
fn walk_help(lang: &str, path: &mut Vec<String>, bad: &mut Vec<String>, seen: &mut usize) {
    let mut args = vec!["--lang".to_owned(), lang.to_owned()];
    args.extend(path.iter().cloned());
    args.push("--help".into());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = sangkien(&a);
    assert!(o.status.success(), "{a:?}: {}", text(&o));
    let help = text(&o);
    *seen += 1;
    check(lang, &format!("{path:?} --help"), &help, bad);
    for s in subcommands(&help) {
        path.push(s);
        walk_help(lang, path, bad, seen);
        path.pop();
    }
}

/// A federation of four levels with a programme, a grassroots node holding it.
struct Fed {
    tmp: TempDir,
}

impl Fed {
    fn dir(&self, unit: &str) -> String {
        self.tmp.path().join(unit).to_string_lossy().into_owned()
    }
    fn run(&self, unit: &str, lang: &str, args: &[&str]) -> Output {
        let d = self.dir(unit);
        let mut all = vec!["--data", &d, "--lang", lang];
        all.extend_from_slice(args);
        sangkien(&all)
    }
    fn ok(&self, unit: &str, args: &[&str]) -> String {
        let o = self.run(unit, "vi", args);
        assert!(o.status.success(), "{unit} {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    fn send(&self, from: &str, to: &str) {
        let f = self
            .tmp
            .path()
            .join(format!("{from}-{to}.bundle"))
            .to_string_lossy()
            .into_owned();
        self.ok(from, &["bundle", "export", "--for", to, &f]);
        self.ok(to, &["bundle", "import", &f]);
    }
    fn new(name: &str) -> Self {
        let f = Fed {
            tmp: TempDir::new(name),
        };
        f.ok("tld", &["federation", "init"]);
        for (parent, id, role, unit_name) in [
            (
                "tld",
                "ldld-phu-yen",
                "provincial",
                "Liên đoàn Lao động tỉnh Phú Yên",
            ),
            (
                "ldld-phu-yen",
                "ldld-tuy-hoa",
                "direct-superior",
                "Liên đoàn Lao động thành phố Tuy Hòa",
            ),
            (
                "ldld-tuy-hoa",
                "cdcs-thuy-san",
                "grassroots",
                "Công đoàn Công ty TNHH Thủy sản Tuy Hòa",
            ),
        ] {
            let into = f.dir(id);
            f.ok(
                parent,
                &[
                    "unit", "enrol", "--id", id, "--role", role, "--name", unit_name, "--into",
                    &into,
                ],
            );
        }
        f.ok(
            "tld",
            &[
                "programme",
                "new",
                "--name",
                "01 triệu sáng kiến",
                "--phase",
                "Giai đoạn 1|2021-12-15|2022-05-31|300000",
                "--phase",
                "Giai đoạn 2|2022-06-01|2023-08-31|700000",
                "--national-target",
                "1000000",
            ],
        );
        f.send("tld", "ldld-phu-yen");
        f.send("ldld-phu-yen", "ldld-tuy-hoa");
        f.send("ldld-tuy-hoa", "cdcs-thuy-san");
        f
    }
}

const GS: &str = "cdcs-thuy-san";

#[test]
fn help_errors_and_refusals_in_one_language() {
    let f = Fed::new("one-language");
    let garbage = f.tmp.path().join("garbage.bundle");
    std::fs::write(&garbage, b"not a bundle at all").expect("write");
    let garbage = garbage.to_string_lossy().into_owned();
    let registered = f.ok(
        GS,
        &[
            "--json",
            "initiative",
            "new",
            "--title",
            "Cấp đông nhanh",
            "--author",
            "Lê Thị Mai|Kỹ sư",
            "--sector",
            "production-business",
            "--summary",
            "Cấp đông nhanh",
            "--phase",
            "2",
            "--registered",
            "2022-12-20",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&registered).expect("json");
    let id = v["id"].as_str().expect("id").to_owned();

    let mut bad = Vec::new();
    for lang in ["vi", "en"] {
        let mut seen = 0;
        walk_help(lang, &mut Vec::new(), &mut bad, &mut seen);
        assert!(seen > 30, "{lang}: only {seen} help pages walked");
        let vo = sangkien(&["--lang", lang, "--version"]);
        check(lang, "--version", &text(&vo), &mut bad);

        // clap's own refusals, each exit 2
        let clap_cases: Vec<Vec<&str>> = vec![
            vec!["--bogus"],
            vec!["initiative", "frobnicate"],
            vec!["unit", "enrol"],
            vec!["report", "--format", "pdf"],
            vec!["initiative", "new", "--phase", "x"],
            vec!["initiative", "new", "--trial", "--applied"],
            vec!["initiative"],
        ];
        for c in &clap_cases {
            let mut a = vec!["--lang", lang];
            a.extend_from_slice(c);
            let o = sangkien(&a);
            assert_eq!(o.status.code(), Some(2), "{a:?}: {}", text(&o));
            check(lang, &format!("{c:?}"), &text(&o), &mut bad);
        }
        // refusals from the core and the CLI's checks
        let core_cases: Vec<Vec<&str>> = vec![
            vec!["verify"],
            vec!["bundle", "import", &garbage],
            vec!["initiative", "show", "0123456789abcdef"],
            vec!["report", "--unit", "cdcs-thuy"],
            vec!["initiative", "new"],
            vec![
                "initiative",
                "new",
                "--registered",
                "2022-13-45",
                "--benefit",
                "2,5",
            ],
            vec![
                "decide",
                "approve",
                &id,
                "--officer",
                "Lê Thị Mai",
                "--title",
                "Kỹ sư",
            ],
            vec![
                "initiative",
                "new",
                "--title",
                "x",
                "--author",
                "y",
                "--summary",
                "z",
                "--sector",
                "khoa hoc",
                "--phase",
                "2",
                "--registered",
                "01/01/2020",
            ],
            vec![
                "initiative",
                "new",
                "--title",
                " ",
                "--author",
                "y",
                "--summary",
                "z",
                "--sector",
                "other",
                "--phase",
                "2",
                "--registered",
                "15/07/2022",
            ],
            vec![
                "initiative",
                "new",
                "--title",
                "x",
                "--author",
                "y",
                "--summary",
                "z",
                "--sector",
                "other",
                "--programme",
                "no such programme",
                "--phase",
                "2",
            ],
            vec![
                "unit", "enrol", "--id", "Bad Id", "--role", "king", "--name", "x", "--into",
                "nowhere",
            ],
            vec![
                "unit", "enrol", "--id", "cdcs-x", "--role", "king", "--name", "x", "--into",
                "nowhere",
            ],
            vec![
                "unit",
                "revoke",
                "--unit",
                "cdcs-thuy-san",
                "--key",
                "zz",
                "--reason",
                "x",
            ],
            vec!["report", "--today", "31/02/2023"],
            vec!["bundle", "import", "/nonexistent/x.bundle"],
        ];
        for c in &core_cases {
            let o = if c[0] == "verify" {
                let mut a = vec!["--lang", lang];
                a.extend_from_slice(c);
                sangkien(&a)
            } else {
                f.run(GS, lang, c)
            };
            assert!(!o.status.success(), "{c:?} should be refused: {}", text(&o));
            check(lang, &format!("{c:?}"), &text(&o), &mut bad);
        }
    }
    assert!(
        bad.is_empty(),
        "{} lines in the wrong language:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The word lists can fail: today's clap output and a Vietnamese line are caught.
#[test]
fn the_checks_catch_the_other_language() {
    let mut bad = Vec::new();
    check(
        "vi",
        "clap",
        "error: unexpected argument '--bogus' found\n\nUsage: sangkien [OPTIONS] <COMMAND>\n\nFor more information, try '--help'.",
        &mut bad,
    );
    assert_eq!(bad.len(), 3, "{bad:?}");
    let mut bad = Vec::new();
    check("en", "mixed", "Ngôn ngữ / language", &mut bad);
    check(
        "en",
        "name",
        "Registered initiative «Cấp đông nhanh»",
        &mut bad,
    );
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(
        english_words("  -h, --help   In trợ giúp"),
        Vec::<String>::new()
    );
}

fn stored(f: &Fed, id: &str) -> serde_json::Value {
    let out = f.ok(GS, &["--json", "initiative", "show", id]);
    serde_json::from_str(&out).expect("json")
}

#[test]
fn dates_and_amounts_as_printed_are_accepted() {
    let f = Fed::new("printed-input");
    let out = f.ok(
        GS,
        &[
            "--json",
            "initiative",
            "new",
            "--title",
            "Cấp đông nhanh",
            "--author",
            "Lê Thị Mai|Kỹ sư",
            "--sector",
            "Sản xuất - kinh doanh",
            "--summary",
            "Giảm hao hụt",
            "--phase",
            "2",
            "--registered",
            "15/07/2022",
            "--benefit",
            "2.400.000.000",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let id = v["id"].as_str().expect("id").to_owned();
    let s = stored(&f, &id);
    assert_eq!(s["registered_on"], "2022-07-15", "{s}");
    assert_eq!(s["benefit_vnd"], 2_400_000_000u64, "{s}");
    assert_eq!(s["sector"], "production-business", "{s}");

    for (date, money, sector) in [
        ("15-07-2022", "2.400.000.000 đồng", "san xuat kinh doanh"),
        ("15.07.2022", "2.400.000.000đ", "PRODUCTION-BUSINESS"),
        ("2022-07-15", "2400000000 VND", "Sản xuất – kinh doanh"),
    ] {
        let out = f.ok(
            GS,
            &[
                "--json",
                "initiative",
                "new",
                "--title",
                "Cấp đông nhanh",
                "--author",
                "Lê Thị Mai",
                "--sector",
                sector,
                "--summary",
                "x",
                "--phase",
                "2",
                "--registered",
                date,
                "--benefit",
                money,
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let s = stored(&f, v["id"].as_str().expect("id"));
        assert_eq!(s["registered_on"], "2022-07-15", "{date}: {s}");
        assert_eq!(s["benefit_vnd"], 2_400_000_000u64, "{money}: {s}");
        assert_eq!(s["sector"], "production-business", "{sector}: {s}");
    }
}

fn refused(f: &Fed, lang: &str, extra: &[&str]) -> String {
    let mut a = vec![
        "initiative",
        "new",
        "--title",
        "x",
        "--author",
        "y",
        "--summary",
        "z",
        "--sector",
        "other",
        "--phase",
        "2",
    ];
    a.extend_from_slice(extra);
    let o = f.run(GS, lang, &a);
    assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
    text(&o)
}

#[test]
fn bad_forms_are_refused_with_their_message() {
    let f = Fed::new("bad-forms");
    let before = f.ok(GS, &["--json", "verify"]);
    // ambiguous or malformed amounts
    for m in [
        "2,5",
        "2.40.000",
        "2.400,000",
        "1.5",
        "2.400.000.000,50",
        "hai triệu",
        "2.400.000.000 USD",
    ] {
        let e = refused(&f, "en", &["--registered", "15/07/2022", "--benefit", m]);
        assert!(e.contains("--benefit"), "{m}: {e}");
        assert!(
            e.contains("2.400.000.000"),
            "{m}: the message shows the form: {e}"
        );
    }
    let e = refused(
        &f,
        "vi",
        &["--registered", "15/07/2022", "--benefit", "2,5"],
    );
    assert!(e.contains("số tiền"), "{e}");
    // impossible or ambiguous dates
    for d in [
        "31/02/2022",
        "15/7/22",
        "2022/07/15",
        "07-15-2022",
        "15/07/2022x",
    ] {
        let e = refused(&f, "en", &["--registered", d]);
        assert!(
            e.contains("--registered") && e.contains("15/07/2022"),
            "{d}: {e}"
        );
    }
    // unknown sector names the choices in the person's language
    let e = f.run(
        GS,
        "vi",
        &[
            "initiative",
            "new",
            "--title",
            "x",
            "--author",
            "y",
            "--summary",
            "z",
            "--sector",
            "nông nghiệp",
        ],
    );
    let e = text(&e);
    assert!(e.contains("Giáo dục") && e.contains("education"), "{e}");
    // a registration date outside the phase names the phase's dates
    let e = refused(&f, "vi", &["--registered", "01/01/2020"]);
    assert!(e.contains("01/06/2022") && e.contains("31/08/2023"), "{e}");
    let e = refused(&f, "en", &["--registered", "01/01/2020"]);
    assert!(e.contains("1 Jun 2022") && e.contains("31 Aug 2023"), "{e}");
    assert!(e.contains("--outside-phase"), "{e}");
    // every missing flag at once
    let o = f.run(GS, "en", &["initiative", "new"]);
    let e = text(&o);
    for flag in ["--title", "--author", "--sector", "--summary"] {
        assert!(e.contains(flag), "{flag} missing from: {e}");
    }
    // an unknown unit answered with the closest known ones
    let o = f.run(GS, "en", &["report", "--unit", "cdcs-thuy"]);
    let e = text(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("cdcs-thuy-san"), "{e}");
    let o = f.run(GS, "vi", &["report", "--unit", "ldld-tuy-ho"]);
    assert!(text(&o).contains("ldld-tuy-hoa"), "{}", text(&o));
    // nothing was stored by any of these
    assert_eq!(before, f.ok(GS, &["--json", "verify"]));
}

#[test]
fn outside_phase_is_stored_when_asked_and_programme_by_name() {
    let f = Fed::new("override");
    let out = f.ok(
        GS,
        &[
            "--json",
            "initiative",
            "new",
            "--title",
            "x",
            "--author",
            "y",
            "--summary",
            "z",
            "--sector",
            "giao duc",
            "--programme",
            "01 trieu sang kien",
            "--phase",
            "1",
            "--registered",
            "01/07/2022",
            "--outside-phase",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let s = stored(&f, v["id"].as_str().expect("id"));
    assert_eq!(s["registered_on"], "2022-07-01", "{s}");
    assert_eq!(s["sector"], "education", "{s}");
    assert_eq!(s["phase"], 1, "{s}");
}

/// With neither --programme nor --phase, the node's only programme is chosen, in the phase the
/// registration date falls in; a date in no phase leaves the initiative outside programmes.
#[test]
fn the_only_programme_is_chosen_by_default() {
    let f = Fed::new("default-programme");
    let new = |date: &str| {
        let out = f.ok(
            GS,
            &[
                "--json",
                "initiative",
                "new",
                "--title",
                "x",
                "--author",
                "y",
                "--summary",
                "z",
                "--sector",
                "y te",
                "--registered",
                date,
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        stored(&f, v["id"].as_str().expect("id"))
    };
    let s = new("15/07/2022");
    assert_eq!(s["phase"], 2, "{s}");
    assert!(s["programme"].is_string(), "{s}");
    let s = new("01/03/2022");
    assert_eq!(s["phase"], 1, "{s}");
    let s = new("01/01/2030");
    assert!(s["programme"].is_null(), "{s}");
}
