//! `sangkien report`: a unit's progress report (DESIGN §7) for a programme phase — counts by
//! status, sector, phase and child unit, progress against targets, benefit totals, ranking of
//! child units, progress over time and deadlines coming up — as a table, CSV, JSON, XLSX, SVG
//! or PNG.
//!
//! Every figure is computed by the node ([`node::report::progress`], from materialised counters
//! and per-day series: O(children + days), never O(records)); this module only renders it.
//!
//! Progress over time is by **registration date** (the Mẫu 1 date the officer records), not by
//! entry time: the campaign counts initiatives registered in its window, and an initiative
//! typed in later from a paper form still counts on the day it was registered. A confidential
//! initiative seen only through its projection has no registration date here; it is counted
//! on the day of its first entry.

use std::path::PathBuf;

use node::report_formats::{self as formats, deadline_kind, sector_label, status_label};
use node::{now_ms, Node};
use sync_protocol::date::Date;
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::Programme;

use super::{open, store_failed, ReportArgs};
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

pub use node::report::{tenths, ProgressReport as Report};

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
        Format::Csv => write(formats::csv(lang, r).as_bytes())?,
        Format::Json => {
            let s = serde_json::to_string_pretty(r).map_err(|e| Failure::problem(e.to_string()))?;
            write(format!("{s}\n").as_bytes())?
        }
        Format::Svg => write(formats::chart::svg(lang, r).as_bytes())?,
        Format::Png => {
            let png = formats::chart::png(lang, r).map_err(|e| {
                Failure::problem(format!(
                    "{}: {e}",
                    lang.t("không vẽ được PNG", "could not render the PNG")
                ))
            })?;
            write(&png)?
        }
        Format::Xlsx => {
            let bytes = formats::xlsx::workbook(lang, r).map_err(|e| {
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

/// Builds the report of `unit`'s subtree: the node's [`node::report::progress`], from its
/// materialised counters and series; with `as_of` (Unix ms), as it was then
/// ([`node::report::progress_as_of`]: the tree of that time, a unit merged by then under its
/// successor, and the initiatives registered by then).
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
    match as_of {
        Some(at) => node::report::progress_as_of(node, unit, prog, p, phase, today, now, at),
        None => node::report::progress(node, unit, prog, p, phase, today, now),
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
    }
}
