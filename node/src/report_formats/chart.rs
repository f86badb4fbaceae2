//! The report as a chart: an SVG written by hand (bars of each child unit's count against its
//! target, and a line of cumulative registrations over the campaign window against its
//! target), and the same SVG rendered to PNG with resvg.
//!
//! The PNG needs a font for its text. A user's machine may have none, so the chart carries
//! its own: a subset of DejaVu Sans (Latin and Vietnamese letters, digits, punctuation; 49 KB;
//! Bitstream Vera licence, `node/assets/fonts/`) embedded in the binary, and resvg is given only
//! that font (no system fonts), so the PNG is the same on every machine.

use crate::lang::Lang;
use crate::report::{tenths, ProgressReport as Report};

/// The embedded font.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-vi-subset.ttf");
/// Its family name.
const FONT_FAMILY: &str = "DejaVu Sans";

/// Chart width in pixels.
pub const WIDTH_PX: u32 = 960;
/// Most child units drawn (the rest are in the table formats).
pub const MAX_CHART_UNITS: usize = 20;

const BAR_H: u32 = 22;
const BAR_GAP: u32 = 10;
const LEFT: u32 = 330;
const RIGHT: u32 = 150;
const LINE_H: u32 = 260;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn clip(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max_chars - 1).collect::<String>())
    }
}

/// The chart's height for a report.
pub fn height_px(r: &Report) -> u32 {
    let n = r.children.len().clamp(1, MAX_CHART_UNITS) as u32;
    110 + n * (BAR_H + BAR_GAP) + 60 + LINE_H + 70
}

/// The report as an SVG document.
pub fn svg(lang: Lang, r: &Report) -> String {
    use std::fmt::Write;
    let w = WIDTH_PX;
    let h = height_px(r);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}, sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
    let title = format!(
        "{} — {}",
        lang.t("Tiến độ", "Progress"),
        clip(&r.unit_name, 60)
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="32" font-size="20" font-weight="bold" fill="#1a1a1a">{}</text>"##,
        esc(&title)
    );
    let sub = format!(
        "«{}», {} {} — {}: {} / {} ({})",
        clip(&r.programme_name, 40),
        lang.t("giai đoạn", "phase"),
        r.phase,
        lang.t("đã đăng ký", "registered"),
        lang.int(r.registered),
        r.target.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
        r.progress_tenths
            .map(|t| lang.tenths_percent(t))
            .unwrap_or_else(|| "—".into()),
    );
    let _ = writeln!(
        s,
        r##"<text x="20" y="56" fill="#333333">{}</text>"##,
        esc(&sub)
    );

    // Bars: each child's count (blue; green when at or over target) against its target
    // (a grey bar behind and a dark tick at the target).
    let _ = writeln!(
        s,
        r##"<text x="20" y="90" font-size="15" font-weight="bold" fill="#1a1a1a">{}</text>"##,
        esc(lang.t(
            "Đơn vị trực thuộc: số sáng kiến / chỉ tiêu",
            "Child units: initiatives / target"
        ))
    );
    let kids: Vec<_> = r.children.iter().take(MAX_CHART_UNITS).collect();
    let max = kids
        .iter()
        .map(|c| c.registered.max(c.target.unwrap_or(0)))
        .max()
        .unwrap_or(0)
        .max(1);
    let span = (w - LEFT - RIGHT) as f64;
    let scale = |v: u64| v as f64 / max as f64 * span;
    let mut y = 105;
    if kids.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="20" y="{}" fill="#666666">{}</text>"##,
            y + 16,
            esc(lang.t("(không có đơn vị trực thuộc)", "(no child units)"))
        );
    }
    for c in &kids {
        let _ = writeln!(s, r##"<g class="unit" data-unit="{}">"##, esc(&c.unit));
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" fill="#1a1a1a">{}. {}</text>"##,
            LEFT - 10,
            y + 16,
            c.rank,
            esc(&clip(&c.name, 40))
        );
        if let Some(t) = c.target {
            let _ = writeln!(
                s,
                r##"<rect class="target" x="{LEFT}" y="{y}" width="{:.1}" height="{BAR_H}" fill="#dddddd"/>"##,
                scale(t)
            );
        }
        let met = c.target.is_some_and(|t| c.registered >= t);
        let color = if met { "#2e7d32" } else { "#1565c0" };
        let _ = writeln!(
            s,
            r##"<rect class="count" x="{LEFT}" y="{}" width="{:.1}" height="{}" fill="{color}"/>"##,
            y + 4,
            scale(c.registered),
            BAR_H - 8
        );
        if let Some(t) = c.target {
            let x = LEFT as f64 + scale(t);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#000000" stroke-width="2"/>"##,
                y - 2,
                y + BAR_H + 2
            );
        }
        let label = format!(
            "{} / {} · {}",
            lang.int(c.registered),
            c.target.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
            c.progress_tenths
                .map(|t| lang.tenths_percent(t))
                .unwrap_or_else(|| "—".into())
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" fill="#1a1a1a">{}</text>"##,
            w - RIGHT + 8,
            y + 16,
            esc(&label)
        );
        let _ = writeln!(s, "</g>");
        y += BAR_H + BAR_GAP;
    }

    // The line: cumulative registrations over the window, with the target as a dashed line.
    let o = &r.over_time;
    let top = y + 50;
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" font-size="15" font-weight="bold" fill="#1a1a1a">{}</text>"##,
        top - 14,
        esc(&format!(
            "{} — {} ({})",
            lang.t("Tiến độ theo ngày đăng ký", "Progress by registration date"),
            clip(&o.window_name, 50),
            o.target
                .map(|t| format!("{} {}", lang.t("chỉ tiêu", "target"), lang.int(t)))
                .unwrap_or_default()
        ))
    );
    let (x0, x1) = (80.0, (w - 40) as f64);
    let (y0, y1) = ((top + LINE_H) as f64, top as f64 + 10.0);
    let ymax = o
        .points
        .iter()
        .map(|p| p.cumulative)
        .chain(o.target)
        .max()
        .unwrap_or(0)
        .max(1);
    let px = |i: usize| {
        if o.points.len() <= 1 {
            x0
        } else {
            x0 + (x1 - x0) * i as f64 / (o.points.len() - 1) as f64
        }
    };
    let py = |v: u64| y0 - (y0 - y1) * v as f64 / ymax as f64;
    let _ = writeln!(
        s,
        r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#555555"/>"##
    );
    let _ = writeln!(
        s,
        r##"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#555555"/>"##
    );
    for frac in [0u64, 1, 2, 3, 4] {
        let v = ymax * frac / 4;
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" text-anchor="end" font-size="11" fill="#555555">{}</text>"##,
            x0 - 6.0,
            py(v) + 4.0,
            lang.int(v)
        );
    }
    if let Some(t) = o.target {
        let _ = writeln!(
            s,
            r##"<line class="target-line" x1="{x0}" y1="{:.1}" x2="{x1}" y2="{:.1}" stroke="#c62828" stroke-dasharray="6 4" stroke-width="1.5"/>"##,
            py(t),
            py(t)
        );
    }
    let pts: Vec<String> = o
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", px(i), py(p.cumulative)))
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline class="progress" points="{}" fill="none" stroke="#1565c0" stroke-width="2.5"/>"##,
        pts.join(" ")
    );
    let date = |d: &str| {
        sync_protocol::date::Date::parse(d)
            .map(|d| lang.date(d))
            .unwrap_or_default()
    };
    let _ = writeln!(
        s,
        r##"<text x="{x0}" y="{:.1}" font-size="11" fill="#555555">{}</text>"##,
        y0 + 18.0,
        esc(&date(&o.start))
    );
    let _ = writeln!(
        s,
        r##"<text x="{x1}" y="{:.1}" text-anchor="end" font-size="11" fill="#555555">{}</text>"##,
        y0 + 18.0,
        esc(&date(&o.end))
    );
    if let Some(last) = o.points.last() {
        let pct = o
            .target
            .and_then(|t| tenths(last.cumulative, t))
            .map(|t| format!(" ({})", lang.tenths_percent(t)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            r##"<text x="{x1}" y="{:.1}" text-anchor="end" font-weight="bold" fill="#1565c0">{}{}</text>"##,
            py(last.cumulative) - 8.0,
            lang.int(last.cumulative),
            esc(&pct)
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

/// The chart as PNG bytes.
pub fn png(lang: Lang, r: &Report) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options {
        font_family: FONT_FAMILY.into(),
        ..usvg::Options::default()
    };
    opt.fontdb_mut().load_font_data(FONT.to_vec());
    let tree = usvg::Tree::from_str(&svg(lang, r), &opt).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| "empty chart".to_string())?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}
