//! `sangkien report`: a unit's progress report (DESIGN §7) for a programme phase — counts by
//! status, sector, phase and child unit, progress against targets, benefit totals, ranking of
//! child units, progress over time and deadlines coming up — as a table, CSV, JSON, XLSX, SVG
//! or PNG.
//!
//! The headline, status, sector and child-unit counts come from `node::report::UnitReport`
//! (which the storage work backs with materialised counters). What it does not give — counts
//! per phase, the time series, ranking and deadlines — is computed here from
//! `node::search::listing` and the programme record.
//!
//! Progress over time is by **registration date** (the Mẫu 1 date the officer records), not by
//! entry time: the campaign counts initiatives registered in its window, and an initiative
//! typed in later from a paper form still counts on the day it was registered. A confidential
//! initiative seen only through its projection has no registration date here; it is counted
//! on the day of its first entry.

use std::collections::BTreeMap;
use std::path::PathBuf;

use node::report::{Status, UnitReport};
use node::search::Listed;
use node::{now_ms, Node};
use serde::Serialize;
use sync_protocol::date::Date;
use sync_protocol::entry::Sector;
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::Programme;

use super::{open, store_failed, unit_name, ReportArgs};
use crate::i18n::Lang;
use crate::{Ctx, Failure};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Bảng trên màn hình / a table on the terminal.
    Table,
    /// CSV.
    Csv,
    /// JSON.
    Json,
    /// Excel (.xlsx), cần --out / needs --out.
    Xlsx,
    /// Biểu đồ SVG / an SVG chart.
    Svg,
    /// Biểu đồ PNG, cần --out / a PNG chart, needs --out.
    Png,
}

/// Most points of the progress-over-time series (one per day, or per week in a long window).
pub const MAX_SERIES_POINTS: usize = 120;

/// The report, ready to print in any format. Numbers are raw; formats localise them.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The unit.
    pub unit: String,
    /// Its name.
    pub unit_name: String,
    /// The programme's id.
    pub programme: String,
    /// The programme's name.
    pub programme_name: String,
    /// Who launched it: the unit's name and id ("Name [id]"), so that programmes of the same
    /// name are told apart.
    pub programme_launcher: String,
    /// The phase, 1-based.
    pub phase: u32,
    /// The phase's name.
    pub phase_name: String,
    /// The report's date.
    pub today: String,
    /// Initiatives of the subtree in the phase.
    pub registered: u64,
    /// The unit's target for the phase (for the root: the phase's target).
    pub target: Option<u64>,
    /// Progress in tenths of a per cent (551 = 55.1 %).
    pub progress_tenths: Option<u64>,
    /// Total benefit value, VND.
    pub benefit_vnd: u64,
    /// By status: code, count.
    pub by_status: Vec<Count>,
    /// By sector: code, count.
    pub by_sector: Vec<Count>,
    /// By phase of the programme.
    pub by_phase: Vec<PhaseRow>,
    /// Child units, ranked.
    pub children: Vec<ChildRow>,
    /// Progress over time.
    pub over_time: Series,
    /// Deadlines on or after today.
    pub deadlines: Vec<DeadlineRow>,
}

/// A count under a stable code.
#[derive(Debug, Clone, Serialize)]
pub struct Count {
    /// Stable code.
    pub code: String,
    /// How many.
    pub count: u64,
}

/// One phase's line.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRow {
    /// 1-based.
    pub phase: u32,
    /// Name.
    pub name: String,
    /// Initiatives of the subtree in that phase.
    pub registered: u64,
    /// The unit's target for it.
    pub target: Option<u64>,
    /// Tenths of a per cent.
    pub progress_tenths: Option<u64>,
}

/// One child unit's line.
#[derive(Debug, Clone, Serialize)]
pub struct ChildRow {
    /// Rank among the children (1 = best): by progress against target, then by count.
    pub rank: u32,
    /// Unit id.
    pub unit: String,
    /// Name.
    pub name: String,
    /// Initiatives of its subtree in the phase.
    pub registered: u64,
    /// Its target.
    pub target: Option<u64>,
    /// Tenths of a per cent.
    pub progress_tenths: Option<u64>,
    /// Benefit value, VND.
    pub benefit_vnd: u64,
}

/// Cumulative registrations over a window.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// "registration-date" (see the module doc).
    pub basis: String,
    /// The window: the campaign inside the phase, else the phase.
    pub window_name: String,
    /// First day.
    pub start: String,
    /// Last day.
    pub end: String,
    /// The window's target for this unit (campaign target at the root; else the unit's).
    pub target: Option<u64>,
    /// Registered before the window opened.
    pub before: u64,
    /// (day, cumulative count including `before`).
    pub points: Vec<Point>,
}

/// A point of the series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Day.
    pub date: String,
    /// Cumulative count up to and including that day.
    pub cumulative: u64,
}

/// A deadline coming up.
#[derive(Debug, Clone, Serialize)]
pub struct DeadlineRow {
    /// Day.
    pub date: String,
    /// What is due.
    pub label: String,
    /// "deadline", "phase-end" or "campaign-end".
    pub kind: String,
    /// Days from today.
    pub days_left: i64,
}

/// Tenths of a per cent, rounded half up.
pub fn tenths(num: u64, den: u64) -> Option<u64> {
    (den > 0).then(|| ((num as u128 * 1000 + den as u128 / 2) / den as u128) as u64)
}

/// Runs `sangkien report`.
pub fn run(ctx: &Ctx, a: ReportArgs) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let format = if ctx.json { Format::Json } else { a.format };
    if matches!(format, Format::Xlsx | Format::Png) && a.out.is_none() {
        return Err(Failure::input(lang.t(
            "định dạng xlsx và png cần --out TỆP",
            "the xlsx and png formats need --out FILE",
        )));
    }
    let node = open(ctx)?;
    let today = super::today(lang, a.today.as_deref())?;
    let (prog, p) = super::programme(ctx, &node, a.programme.as_deref())?;
    let phase = match a.phase {
        Some(ph) => super::phase_of(ctx, &p, ph)?,
        None => super::default_phase(&p, today),
    };
    let unit = match &a.unit {
        Some(u) => super::known_unit(ctx, &node, "unit", u)?,
        None => node.unit().clone(),
    };
    let as_of = match a.as_of.as_deref() {
        Some(s) => {
            Some(node::reorg::date_ms(crate::input::date_flag(lang, "as-of", s)?) + 86_400_000 - 1)
        }
        None => None,
    };
    let pb = super::spinner(lang.t("đang lập báo cáo…", "building the report…"));
    let report = build_as_of(&node, &unit, prog, &p, phase, today, now_ms(), as_of);
    pb.finish_and_clear();
    let report = report.map_err(|e| store_failed(lang, e))?;
    emit(lang, &report, format, a.out.as_ref())
}

fn emit(lang: Lang, r: &Report, format: Format, out: Option<&PathBuf>) -> Result<u8, Failure> {
    let write = |bytes: &[u8]| -> Result<(), Failure> {
        match out {
            Some(path) => std::fs::write(path, bytes).map_err(|e| {
                Failure::input(format!(
                    "--out {}: {e} ({})",
                    path.display(),
                    lang.t("chọn một tệp ghi được", "choose a writable file")
                ))
            }),
            None => {
                match crate::out::write_bytes(bytes) {
                    // `| head`: the reader went away; stop quietly, as `crate::outln!` does.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
                    r => r.map_err(|e| Failure::problem(e.to_string())),
                }
            }
        }
    };
    match format {
        Format::Table => write(table(lang, r).as_bytes())?,
        Format::Csv => write(csv(lang, r).as_bytes())?,
        Format::Json => {
            let s = serde_json::to_string_pretty(r).map_err(|e| Failure::problem(e.to_string()))?;
            write(format!("{s}\n").as_bytes())?
        }
        Format::Svg => write(super::chart::svg(lang, r).as_bytes())?,
        Format::Png => {
            let png = super::chart::png(lang, r).map_err(|e| {
                Failure::problem(format!(
                    "{}: {e}",
                    lang.t("không vẽ được PNG", "could not render the PNG")
                ))
            })?;
            write(&png)?
        }
        Format::Xlsx => {
            let bytes = super::xlsx::workbook(lang, r).map_err(|e| {
                Failure::problem(format!(
                    "{}: {e}",
                    lang.t("không tạo được tệp xlsx", "could not build the xlsx file")
                ))
            })?;
            write(&bytes)?
        }
    }
    if let Some(path) = out {
        crate::errln!("{} {}", lang.t("Đã ghi", "Wrote"), path.display());
    }
    Ok(0)
}

/// Builds the report of `unit`'s subtree; with `as_of` (Unix ms), as it was then: the tree of that time (a
/// unit merged by then under its successor) and the initiatives registered by then
/// (`UnitReport::as_of`).
#[allow(clippy::too_many_arguments)]
pub fn build_as_of(
    node: &Node,
    unit: &UnitId,
    prog: RecordId,
    p: &Programme,
    phase: u32,
    today: Date,
    now: u64,
    as_of: Option<u64>,
) -> Result<Report, node::NodeError> {
    let d = node.directory();
    let phase_target = p.phases.get(phase as usize - 1).map(|ph| ph.target);
    let ur = match as_of {
        Some(at) => UnitReport::as_of(node, unit, prog, phase, phase_target, at, now)?,
        None => UnitReport::build(node, unit, prog, phase, phase_target, now)?,
    };
    // Whether an origin is in the unit's subtree: now, or in the tree "as of" (walking report
    // parents, so that merged units count under their successor).
    let in_subtree = |origin: &UnitId| match as_of {
        None => {
            let mut cur = origin.clone();
            for _ in 0..=sync_protocol::directory::MAX_TREE_DEPTH {
                if cur == *unit {
                    return true;
                }
                match d.report_parent(&cur) {
                    Some(p) => cur = p.clone(),
                    None => return false,
                }
            }
            false
        }
        Some(at) => {
            let mut cur = origin.clone();
            for _ in 0..=sync_protocol::directory::MAX_TREE_DEPTH {
                if cur == *unit {
                    return true;
                }
                match d.report_parent_at(&cur, at) {
                    Some(p) => cur = p.clone(),
                    None => return false,
                }
            }
            false
        }
    };
    let listing: Vec<Listed> = node::search::listing(node, now)?
        .into_iter()
        .filter(|l| l.programme.map(|(x, _)| x) == Some(prog))
        .filter(|l| in_subtree(&l.origin))
        .collect();

    let by_status = ur
        .counts
        .by_status
        .iter()
        .map(|(s, n)| Count {
            code: match s {
                Status::Registered => "registered".into(),
                Status::Decided(k) => k.code().into(),
            },
            count: *n,
        })
        .collect();
    let by_sector = Sector::ALL
        .iter()
        .filter_map(|s| {
            ur.counts.by_sector.get(s).map(|n| Count {
                code: s.code().into(),
                count: *n,
            })
        })
        .collect();

    // Per phase: the unit's target for each phase comes from its parent's assignment.
    let parent = d.parent_at(unit, now).cloned();
    let mut by_phase = Vec::new();
    for (i, ph) in p.phases.iter().enumerate() {
        let n = i as u32 + 1;
        let registered = listing
            .iter()
            .filter(|l| l.programme == Some((prog, n)))
            .count() as u64;
        let target = match &parent {
            Some(par) => node::report::targets(node, par, prog, n, now)?
                .get(unit)
                .copied(),
            None => Some(ph.target),
        };
        by_phase.push(PhaseRow {
            phase: n,
            name: ph.name.to_string(),
            registered,
            target,
            progress_tenths: target.and_then(|t| tenths(registered, t)),
        });
    }

    // Child units, ranked: by progress against target (those with a target first), then by
    // count, then by id.
    let mut children: Vec<ChildRow> = ur
        .children
        .iter()
        .map(|c| ChildRow {
            rank: 0,
            unit: c.unit.to_string(),
            name: c.name.clone(),
            registered: c.counts.initiatives,
            target: c.target,
            progress_tenths: c.target.and_then(|t| tenths(c.counts.initiatives, t)),
            benefit_vnd: c.counts.benefit_vnd,
        })
        .collect();
    children.sort_by(|a, b| {
        b.progress_tenths
            .is_some()
            .cmp(&a.progress_tenths.is_some())
            .then(b.progress_tenths.cmp(&a.progress_tenths))
            .then(b.registered.cmp(&a.registered))
            .then(a.unit.cmp(&b.unit))
    });
    for (i, c) in children.iter_mut().enumerate() {
        c.rank = i as u32 + 1;
    }

    let over_time = series(&listing, prog, p, phase, ur.target);
    let deadlines = upcoming(p, today);
    Ok(Report {
        unit: unit.to_string(),
        unit_name: unit_name(node, unit),
        programme: prog.to_hex(),
        programme_name: p.name.to_string(),
        programme_launcher: super::launcher_of(node, prog)
            .map(|u| super::launched_by(node, &u))
            .unwrap_or_default(),
        phase,
        phase_name: p
            .phases
            .get(phase as usize - 1)
            .map(|ph| ph.name.to_string())
            .unwrap_or_default(),
        today: today.to_string(),
        registered: ur.counts.initiatives,
        target: ur.target,
        progress_tenths: ur.target.and_then(|t| tenths(ur.counts.initiatives, t)),
        benefit_vnd: ur.counts.benefit_vnd,
        by_status,
        by_sector,
        by_phase,
        children,
        over_time,
        deadlines,
    })
}

fn series(
    listing: &[Listed],
    prog: RecordId,
    p: &Programme,
    phase: u32,
    unit_target: Option<u64>,
) -> Series {
    let ph = &p.phases[(phase as usize - 1).min(p.phases.len() - 1)];
    // The campaign that overlaps the phase, if any; else the phase itself.
    let campaign = p
        .campaigns
        .iter()
        .find(|c| c.start <= ph.end && c.end >= ph.start);
    let (name, start, end, target) = match campaign {
        Some(c) => (
            c.name.to_string(),
            c.start,
            c.end,
            if unit_target == Some(ph.target) {
                Some(c.target)
            } else {
                unit_target
            },
        ),
        None => (ph.name.to_string(), ph.start, ph.end, unit_target),
    };
    let mut per_day: BTreeMap<i64, u64> = BTreeMap::new();
    let mut before = 0;
    for l in listing
        .iter()
        .filter(|l| l.programme == Some((prog, phase)))
    {
        let day = l
            .registered_on
            .unwrap_or_else(|| Date::from_unix_ms(l.first_entry_ms))
            .days_since_epoch();
        if day < start.days_since_epoch() {
            before += 1;
        } else {
            *per_day.entry(day).or_default() += 1;
        }
    }
    let (s, e) = (start.days_since_epoch(), end.days_since_epoch());
    let days = (e - s + 1).max(1);
    let step = ((days as usize).div_ceil(MAX_SERIES_POINTS)).max(1) as i64;
    let mut points = Vec::new();
    let mut cum = before;
    let mut day = s;
    let mut counted_to = s - 1;
    while day <= e {
        let upto = (day + step - 1).min(e);
        cum += per_day
            .range(counted_to + 1..=upto)
            .map(|(_, n)| n)
            .sum::<u64>();
        counted_to = upto;
        points.push(Point {
            date: Date::from_unix_ms((upto as u64) * 86_400_000).to_string(),
            cumulative: cum,
        });
        day = upto + 1;
    }
    Series {
        basis: "registration-date".into(),
        window_name: name,
        start: start.to_string(),
        end: end.to_string(),
        target,
        before,
        points,
    }
}

fn upcoming(p: &Programme, today: Date) -> Vec<DeadlineRow> {
    let mut out = Vec::new();
    let t = today.days_since_epoch();
    let mut add = |date: Date, label: String, kind: &str| {
        if date >= today {
            out.push(DeadlineRow {
                date: date.to_string(),
                label,
                kind: kind.into(),
                days_left: date.days_since_epoch() - t,
            });
        }
    };
    for d in &p.deadlines {
        add(d.date, d.label.to_string(), "deadline");
    }
    for ph in &p.phases {
        add(ph.end, ph.name.to_string(), "phase-end");
    }
    for c in &p.campaigns {
        add(c.end, c.name.to_string(), "campaign-end");
    }
    out.sort_by(|a, b| a.date.cmp(&b.date).then(a.label.cmp(&b.label)));
    out
}

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

fn opt_int(lang: Lang, v: Option<u64>) -> String {
    v.map(|n| lang.int(n)).unwrap_or_else(|| "—".into())
}

fn opt_pct(lang: Lang, v: Option<u64>) -> String {
    v.map(|n| lang.tenths_percent(n))
        .unwrap_or_else(|| "—".into())
}

/// The report as a table for the terminal.
pub fn table(lang: Lang, r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "== {} — {} — «{}» ({} {}), {} {} ({}) ==",
        lang.t("BÁO CÁO TIẾN ĐỘ", "PROGRESS REPORT"),
        r.unit_name,
        r.programme_name,
        lang.t("do", "launched by"),
        r.programme_launcher,
        lang.t("giai đoạn", "phase"),
        r.phase,
        r.phase_name
    );
    let today = Date::parse(&r.today)
        .map(|d| lang.date(d))
        .unwrap_or_default();
    let _ = writeln!(s, "{}: {today}", lang.t("Ngày báo cáo", "Report date"));
    let _ = writeln!(
        s,
        "{}: {} / {} {} = {}",
        lang.t("Sáng kiến đăng ký", "Initiatives registered"),
        lang.int(r.registered),
        opt_int(lang, r.target),
        lang.t("chỉ tiêu", "target"),
        opt_pct(lang, r.progress_tenths)
    );
    let _ = writeln!(
        s,
        "{}: {} VND",
        lang.t("Tổng giá trị làm lợi", "Total benefit value"),
        lang.int(r.benefit_vnd)
    );
    let _ = writeln!(s, "\n{}:", lang.t("Theo trạng thái", "By status"));
    for c in &r.by_status {
        let _ = writeln!(
            s,
            "  {:<34} {:>12}",
            status_label(lang, &c.code),
            lang.int(c.count)
        );
    }
    let _ = writeln!(s, "\n{}:", lang.t("Theo lĩnh vực", "By sector"));
    for c in &r.by_sector {
        let _ = writeln!(
            s,
            "  {:<34} {:>12}",
            sector_label(lang, &c.code),
            lang.int(c.count)
        );
    }
    let _ = writeln!(s, "\n{}:", lang.t("Theo giai đoạn", "By phase"));
    for ph in &r.by_phase {
        let _ = writeln!(
            s,
            "  {} {:<28} {:>12} / {:>12}  {:>9}",
            ph.phase,
            ph.name,
            lang.int(ph.registered),
            opt_int(lang, ph.target),
            opt_pct(lang, ph.progress_tenths)
        );
    }
    let _ = writeln!(
        s,
        "\n{}:\n  {:>3}  {:<50} {:>10} {:>10} {:>9} {:>20}",
        lang.t("Xếp hạng đơn vị trực thuộc", "Ranking of child units"),
        "#",
        lang.t("đơn vị", "unit"),
        lang.t("số SK", "count"),
        lang.t("chỉ tiêu", "target"),
        lang.t("đạt", "progress"),
        lang.t("giá trị làm lợi", "benefit (VND)")
    );
    for c in &r.children {
        let _ = writeln!(
            s,
            "  {:>3}  {:<50} {:>10} {:>10} {:>9} {:>20}",
            c.rank,
            c.name,
            lang.int(c.registered),
            opt_int(lang, c.target),
            opt_pct(lang, c.progress_tenths),
            lang.int(c.benefit_vnd)
        );
    }
    let o = &r.over_time;
    let d = |x: &str| Date::parse(x).map(|d| lang.date(d)).unwrap_or_default();
    let _ = writeln!(
        s,
        "\n{} — {} ({} → {}, {}; {}: {}):",
        lang.t("Tiến độ theo thời gian", "Progress over time"),
        o.window_name,
        d(&o.start),
        d(&o.end),
        lang.t("theo ngày đăng ký", "by registration date"),
        lang.t("chỉ tiêu", "target"),
        opt_int(lang, o.target)
    );
    // At most about a dozen lines on a terminal: every k-th point and the last.
    let k = o.points.len().div_ceil(12).max(1);
    for (i, pt) in o.points.iter().enumerate() {
        if i % k == 0 || i + 1 == o.points.len() {
            let pct = o.target.and_then(|t| tenths(pt.cumulative, t));
            let _ = writeln!(
                s,
                "  {:<12} {:>12}  {:>9}",
                d(&pt.date),
                lang.int(pt.cumulative),
                opt_pct(lang, pct)
            );
        }
    }
    let _ = writeln!(s, "\n{}:", lang.t("Hạn sắp tới", "Deadlines coming up"));
    if r.deadlines.is_empty() {
        let _ = writeln!(s, "  {}", lang.t("(không còn hạn nào)", "(none left)"));
    }
    for dl in &r.deadlines {
        let _ = writeln!(
            s,
            "  {:<12} {} ({}) — {} {} {}",
            d(&dl.date),
            dl.label,
            deadline_kind(lang, &dl.kind),
            lang.t("còn", "in"),
            lang.int(dl.days_left.max(0) as u64),
            lang.t("ngày", "days")
        );
    }
    s
}

/// Whether a spreadsheet would read a text cell starting like `v` as a formula (OWASP "CSV
/// injection": `=`, `+`, `-`, `@`, tab, carriage return), and `v` is not simply a number.
pub(crate) fn starts_like_formula(v: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cent_in_tenths_rounds_half_up() {
        assert_eq!(tenths(165_541, 300_437), Some(551));
        assert_eq!(tenths(1_619, 1_372), Some(1180));
        assert_eq!(tenths(27, 49), Some(551));
        assert_eq!(tenths(59, 50), Some(1180));
        assert_eq!(tenths(1, 0), None);
        assert_eq!(Lang::Vi.tenths_percent(551), "55,1 %");
        assert_eq!(Lang::En.tenths_percent(1180), "118.0 %");
        assert_eq!(Lang::Vi.plain_tenths(551), "55,1");
        assert_eq!(cell("55,1"), "\"55,1\"");
        assert_eq!(cell("Phú Yên"), "Phú Yên");
    }
}
