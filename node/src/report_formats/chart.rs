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

/// Chart width in pixels (the download and a desktop page).
pub const WIDTH_PX: u32 = 960;
/// Width of the narrow chart a phone's page shows (text at its own size on a 360 px screen).
pub const NARROW_WIDTH_PX: u32 = 340;
/// Most child units drawn (the rest are in the table formats).
pub const MAX_CHART_UNITS: usize = 20;

const BAR_H: u32 = 22;
const BAR_GAP: u32 = 10;

/// Where the parts of a chart go.
struct Layout {
    width: u32,
    /// Bars start here; a wide chart writes each unit's name to the left of its bar, a
    /// narrow one on a line above it.
    left: u32,
    /// Room right of the bars for the figures (wide), 0 when they go on the name's line.
    right: u32,
    /// A narrow chart's name line above each bar.
    name_above: u32,
    /// Characters of a unit name kept.
    name_chars: usize,
    /// Characters of the title's unit name, the programme's and the window's.
    title_chars: usize,
    line_h: u32,
    /// Left of the line chart (room for its axis figures).
    line_x0: u32,
}

const WIDE: Layout = Layout {
    width: WIDTH_PX,
    left: 330,
    right: 150,
    name_above: 0,
    name_chars: 40,
    title_chars: 60,
    line_h: 260,
    line_x0: 80,
};

const NARROW: Layout = Layout {
    width: NARROW_WIDTH_PX,
    left: 10,
    right: 0,
    name_above: 18,
    name_chars: 22,
    title_chars: 20,
    line_h: 170,
    line_x0: 52,
};

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
    height(&WIDE, r)
}

/// The narrow chart's height for a report.
pub fn narrow_height_px(r: &Report) -> u32 {
    height(&NARROW, r)
}

fn height(l: &Layout, r: &Report) -> u32 {
    let n = r.children.len().clamp(1, MAX_CHART_UNITS) as u32;
    // A narrow chart writes its subtitle and the line's title on two lines each.
    let extra = if l.name_above > 0 { 50 } else { 0 };
    110 + extra + n * (BAR_H + BAR_GAP + l.name_above) + 60 + l.line_h + 70
}

/// The report as an SVG document (the download, the PNG, a desktop page).
pub fn svg(lang: Lang, r: &Report) -> String {
    svg_with(&WIDE, lang, r)
}

/// The report as an SVG a phone's page shows: the same parts, each unit's name above its bar
/// and the titles on two lines, so its text keeps its size at 360 px.
pub fn svg_narrow(lang: Lang, r: &Report) -> String {
    svg_with(&NARROW, lang, r)
}

fn svg_with(l: &Layout, lang: Lang, r: &Report) -> String {
    use std::fmt::Write;
    let w = l.width;
    let h = height(l, r);
    let narrow = l.name_above > 0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}, sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
    let title = format!(
        "{} — {}",
        lang.t("Tiến độ", "Progress"),
        clip(&r.unit_name, l.title_chars)
    );
    let (x_text, title_size) = if narrow { (10, 14) } else { (20, 20) };
    let _ = writeln!(
        s,
        r##"<text x="{x_text}" y="32" font-size="{title_size}" font-weight="bold" fill="#1a1a1a">{}</text>"##,
        esc(&title)
    );
    let programme = format!(
        "«{}», {} {}",
        clip(&r.programme_name, if narrow { 26 } else { 40 }),
        lang.t("giai đoạn", "phase"),
        r.phase
    );
    let figures = format!(
        "{}: {} / {} ({})",
        lang.t("đã đăng ký", "registered"),
        lang.int(r.registered),
        r.target.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
        r.progress_tenths
            .map(|t| lang.tenths_percent(t))
            .unwrap_or_else(|| "—".into()),
    );
    let mut y = 56;
    if narrow {
        for line in [programme, figures] {
            let _ = writeln!(
                s,
                r##"<text x="{x_text}" y="{y}" fill="#333333">{}</text>"##,
                esc(&line)
            );
            y += 20;
        }
    } else {
        let _ = writeln!(
            s,
            r##"<text x="{x_text}" y="{y}" fill="#333333">{} — {}</text>"##,
            esc(&programme),
            esc(&figures)
        );
    }
    let top_bars = if narrow { y + 14 } else { 90 };
    // A narrow chart's section titles are smaller, to fit its width.
    let head_size = if narrow { 13 } else { 15 };

    // Bars: each child's count (blue; green when at or over target) against its target
    // (a grey bar behind and a dark tick at the target).
    let _ = writeln!(
        s,
        r##"<text x="{x_text}" y="{top_bars}" font-size="{head_size}" font-weight="bold" fill="#1a1a1a">{}</text>"##,
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
    let (left, right) = (l.left, l.right);
    let span = (w - left - right - if narrow { 10 } else { 0 }) as f64;
    let scale = |v: u64| v as f64 / max as f64 * span;
    let mut y = top_bars + 15;
    if kids.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="{x_text}" y="{}" fill="#666666">{}</text>"##,
            y + 16,
            esc(lang.t("(không có đơn vị trực thuộc)", "(no child units)"))
        );
    }
    for c in &kids {
        let _ = writeln!(s, r##"<g class="unit" data-unit="{}">"##, esc(&c.unit));
        let label = format!(
            "{} / {} · {}",
            lang.int(c.registered),
            c.target.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
            c.progress_tenths
                .map(|t| lang.tenths_percent(t))
                .unwrap_or_else(|| "—".into())
        );
        let name = format!("{}. {}", c.rank, clip(&c.name, l.name_chars));
        if narrow {
            // The name on its own line, the figures at its right end; the bar below.
            let _ = writeln!(
                s,
                r##"<text x="{left}" y="{}" fill="#1a1a1a">{}</text>"##,
                y + 12,
                esc(&name)
            );
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" text-anchor="end" fill="#1a1a1a">{}</text>"##,
                w - 10,
                y + 12,
                esc(&label)
            );
            y += l.name_above;
        } else {
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" text-anchor="end" fill="#1a1a1a">{}</text>"##,
                left - 10,
                y + 16,
                esc(&name)
            );
        }
        if let Some(t) = c.target {
            let _ = writeln!(
                s,
                r##"<rect class="target" x="{left}" y="{y}" width="{:.1}" height="{BAR_H}" fill="#dddddd"/>"##,
                scale(t)
            );
        }
        let met = c.target.is_some_and(|t| c.registered >= t);
        let color = if met { "#2e7d32" } else { "#1565c0" };
        let _ = writeln!(
            s,
            r##"<rect class="count" x="{left}" y="{}" width="{:.1}" height="{}" fill="{color}"/>"##,
            y + 4,
            scale(c.registered),
            BAR_H - 8
        );
        if let Some(t) = c.target {
            let x = left as f64 + scale(t);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#000000" stroke-width="2"/>"##,
                y - 2,
                y + BAR_H + 2
            );
        }
        if !narrow {
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" fill="#1a1a1a">{}</text>"##,
                w - right + 8,
                y + 16,
                esc(&label)
            );
        }
        let _ = writeln!(s, "</g>");
        y += BAR_H + BAR_GAP;
    }

    // The line: cumulative registrations over the window, with the target as a dashed line.
    let o = &r.over_time;
    let top = y + 50;
    let head = lang.t("Tiến độ theo ngày đăng ký", "Progress by registration date");
    let window = format!(
        "{} ({})",
        clip(&o.window_name, if narrow { 30 } else { 50 }),
        o.target
            .map(|t| format!("{} {}", lang.t("chỉ tiêu", "target"), lang.int(t)))
            .unwrap_or_default()
    );
    let top = if narrow {
        let _ = writeln!(
            s,
            r##"<text x="{x_text}" y="{}" font-size="15" font-weight="bold" fill="#1a1a1a">{}</text>"##,
            top - 14,
            esc(head)
        );
        let _ = writeln!(
            s,
            r##"<text x="{x_text}" y="{}" fill="#333333">{}</text>"##,
            top + 6,
            esc(&window)
        );
        top + 30
    } else {
        let _ = writeln!(
            s,
            r##"<text x="{x_text}" y="{}" font-size="15" font-weight="bold" fill="#1a1a1a">{} — {}</text>"##,
            top - 14,
            esc(head),
            esc(&window)
        );
        top
    };
    let (x0, x1) = (l.line_x0 as f64, (w - if narrow { 14 } else { 40 }) as f64);
    let (y0, y1) = ((top + l.line_h) as f64, top as f64 + 10.0);
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
