//! The progress report ([`crate::report::ProgressReport`]) in the formats people download:
//! CSV, XLSX ([`xlsx`]), an SVG chart and its PNG ([`chart`]), with labels in the reader's
//! language. Shared by `sangkien report` and the web interface's reports page, so both give
//! the same bytes for the same report.
//!
//! Numbers stay raw in the report (`progress_tenths`: 551 = 55,1 %); the formats localise
//! them. Any text cell that could start a spreadsheet formula is neutralised (OWASP "CSV
//! injection").

pub mod chart;
pub mod xlsx;

use sync_protocol::entry::Sector;

use crate::lang::Lang;
use crate::report::{tenths, ProgressReport as Report};

/// The label of a status code.
pub fn status_label(lang: Lang, code: &str) -> String {
    use sync_protocol::entry::{AwardGrade, DecisionKind as K};
    let k = match code {
        "submit" => K::Submit,
        "return" => K::ReturnForRevision,
        "reject" => K::Reject,
        "approve" => K::Approve,
        "recognise" => K::Recognise,
        "award-typical" => K::Award(AwardGrade::Typical),
        "award-excellent" => K::Award(AwardGrade::Excellent),
        _ => return lang.t("chưa nộp", "not submitted").into(),
    };
    lang.decision(k).into()
}

/// The label of a sector code.
pub fn sector_label(lang: Lang, code: &str) -> String {
    Sector::from_code(code)
        .map(|s| lang.sector(s).to_string())
        .unwrap_or_else(|| code.into())
}

/// The label of a deadline kind.
pub fn deadline_kind(lang: Lang, kind: &str) -> &'static str {
    match kind {
        "phase-end" => lang.t("kết thúc giai đoạn", "phase ends"),
        "campaign-end" => lang.t("kết thúc đợt cao điểm", "campaign ends"),
        _ => lang.t("hạn", "deadline"),
    }
}

/// Whether a spreadsheet would read a text cell starting like `v` as a formula (OWASP "CSV
/// injection": `=`, `+`, `-`, `@`, tab, carriage return), and `v` is not simply a number.
pub fn starts_like_formula(v: &str) -> bool {
    let Some(first) = v.chars().next() else {
        return false;
    };
    if !matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r') {
        return false;
    }
    // A signed number ("-12", "+5,5") stays a number.
    let rest = &v[1..];
    let mut seps = 0;
    let numeric = !rest.is_empty()
        && rest.starts_with(|c: char| c.is_ascii_digit())
        && rest.chars().all(|c| {
            if c == '.' || c == ',' {
                seps += 1;
                seps == 1
            } else {
                c.is_ascii_digit()
            }
        });
    !(matches!(first, '-' | '+') && numeric)
}

/// A CSV field: a text that could start a formula is neutralised with a leading `'` (OWASP),
/// then quoted when needed (RFC 4180).
fn cell(v: &str) -> String {
    let v = if starts_like_formula(v) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The report as CSV: one table of (section, key, label, count, target, per cent, benefit)
/// rows. Labels in the user's language; counts as plain integers; per cent with one decimal
/// written the language's way ("55,1" / "55.1"), so a spreadsheet in that locale reads them as
/// numbers.
pub fn csv(lang: Lang, r: &Report) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        lang.t("phần", "section").into(),
        lang.t("mã", "key").into(),
        lang.t("tên", "label").into(),
        lang.t("số sáng kiến", "initiatives").into(),
        lang.t("chỉ tiêu", "target").into(),
        lang.t("tỷ lệ (%)", "progress (%)").into(),
        lang.t("giá trị làm lợi (VND)", "benefit (VND)").into(),
    ]];
    let pct = |t: Option<u64>| t.map(|x| lang.plain_tenths(x)).unwrap_or_default();
    let opt = |t: Option<u64>| t.map(|x| x.to_string()).unwrap_or_default();
    rows.push([
        "total".into(),
        r.unit.clone(),
        r.unit_name.clone(),
        r.registered.to_string(),
        opt(r.target),
        pct(r.progress_tenths),
        r.benefit_vnd.to_string(),
    ]);
    for c in &r.by_status {
        rows.push([
            "status".into(),
            c.code.clone(),
            status_label(lang, &c.code),
            c.count.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for c in &r.by_sector {
        rows.push([
            "sector".into(),
            c.code.clone(),
            sector_label(lang, &c.code),
            c.count.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for ph in &r.by_phase {
        rows.push([
            "phase".into(),
            ph.phase.to_string(),
            ph.name.clone(),
            ph.registered.to_string(),
            opt(ph.target),
            pct(ph.progress_tenths),
            String::new(),
        ]);
    }
    for c in &r.children {
        rows.push([
            format!("child-{}", c.rank),
            c.unit.clone(),
            c.name.clone(),
            c.registered.to_string(),
            opt(c.target),
            pct(c.progress_tenths),
            c.benefit_vnd.to_string(),
        ]);
    }
    for pt in &r.over_time.points {
        rows.push([
            "over-time".into(),
            pt.date.clone(),
            r.over_time.window_name.clone(),
            pt.cumulative.to_string(),
            opt(r.over_time.target),
            pct(r.over_time.target.and_then(|t| tenths(pt.cumulative, t))),
            String::new(),
        ]);
    }
    for d in &r.deadlines {
        rows.push([
            format!("deadline-{}", d.kind),
            d.date.clone(),
            d.label.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    let mut s = String::new();
    for row in rows {
        s.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        s.push_str("\r\n");
    }
    s
}

#[cfg(test)]
mod formula_tests {
    use super::{cell, starts_like_formula};

    #[test]
    fn a_cell_that_could_start_a_formula_is_neutralised_and_numbers_stay_numbers() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\",\"a\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"a\"\")\""
        );
        assert_eq!(cell("+1+cmd|' /C calc'!A0"), "'+1+cmd|' /C calc'!A0");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(cell("\rx"), "\"'\rx\"");
        for n in ["12", "-12", "+5", "55,1", "-55.1", "0", ""] {
            assert!(!starts_like_formula(n), "{n}");
            assert_eq!(
                cell(n),
                if n.contains(',') {
                    format!("\"{n}\"")
                } else {
                    n.to_string()
                }
            );
        }
        assert_eq!(cell("Công đoàn Thủy sản"), "Công đoàn Thủy sản");
    }
}
