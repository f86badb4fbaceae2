//! What the dashboard, the targets page and the reports page share: choosing the programme and
//! phase a page is about, the node's progress report ([`crate::report::progress`], the use case
//! `sangkien report` runs: O(children + days), from the counters and the report index, never
//! a walk over records) rendered for a page, the chart, and the server-time header.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use minijinja::{context, Value};
use sync_protocol::date::Date;
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::Programme;

use super::{Form, WebError};
use crate::lang::Lang;
use crate::node::Node;
use crate::report::{HeldProgramme, ProgressReport};
use crate::report_formats::{deadline_kind, status_label};

/// Child units the dashboard shows (the reports page pages through all of them).
pub(super) const DASHBOARD_CHILDREN_COUNT: usize = 10;

/// The programme and phase a page is about, and every programme held (for the chooser).
pub(super) struct Chosen {
    pub id: RecordId,
    pub programme: Programme,
    pub phase: u32,
    pub held: Vec<HeldProgramme>,
}

/// The programme and phase named by the query (`programme` as the record id in hex, `phase`),
/// or by default the one `sangkien report` chooses: among the programmes launched by this unit
/// or an ancestor (else all), the current ones (else all), the one launched highest; its
/// current phase (else the last begun). Unknown values in the query are ignored, as the list's
/// filters are. `None`: the node holds no programme.
pub(super) fn choose(
    node: &Node,
    q: &Form,
    today: Date,
    now: u64,
) -> Result<Option<Chosen>, WebError> {
    let held = crate::report::programmes(node, now).map_err(super::store_error)?;
    let asked = q.get("programme").and_then(|h| {
        held.iter()
            .find(|p| p.id.to_hex().eq_ignore_ascii_case(h.trim()))
    });
    let pick = match asked {
        Some(p) => Some(p),
        None => default_programme(node, &held, today, now),
    };
    let Some(p) = pick else {
        return Ok(None);
    };
    let phase = q
        .get("phase")
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|n| *n >= 1 && *n as usize <= p.programme.phases.len())
        .unwrap_or_else(|| default_phase(&p.programme, today));
    Ok(Some(Chosen {
        id: p.id,
        programme: p.programme.clone(),
        phase,
        held: held.clone(),
    }))
}

fn default_programme<'a>(
    node: &Node,
    held: &'a [HeldProgramme],
    today: Date,
    now: u64,
) -> Option<&'a HeldProgramme> {
    let d = node.directory();
    let mut line = d.ancestors_at(node.unit(), now);
    line.reverse();
    line.push(node.unit().clone());
    let depth = |u: &UnitId| line.iter().position(|x| x == u);
    let mine: Vec<&HeldProgramme> = held
        .iter()
        .filter(|h| depth(&h.launcher).is_some())
        .collect();
    let pool = if mine.is_empty() {
        held.iter().collect()
    } else {
        mine
    };
    let current: Vec<&HeldProgramme> = pool
        .iter()
        .copied()
        .filter(|h| {
            h.programme
                .phases
                .iter()
                .any(|ph| ph.start <= today && today <= ph.end)
        })
        .collect();
    let pool = if current.is_empty() { pool } else { current };
    pool.into_iter()
        .min_by_key(|h| (depth(&h.launcher).unwrap_or(usize::MAX), h.id))
}

/// The phase containing `today`, else the last one begun, else the first.
pub(super) fn default_phase(p: &Programme, today: Date) -> u32 {
    let mut chosen = 1;
    for (i, ph) in p.phases.iter().enumerate() {
        if ph.start <= today {
            chosen = i as u32 + 1;
        }
        if ph.start <= today && today <= ph.end {
            return i as u32 + 1;
        }
    }
    chosen
}

/// The chooser: a link per programme and phase, the chosen one marked.
pub(super) fn chooser(c: &Chosen, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for h in &c.held {
        for (i, ph) in h.programme.phases.iter().enumerate() {
            let n = i as u32 + 1;
            out.push(context! {
                href => format!("{path}?programme={}&phase={n}", h.id.to_hex()),
                label => format!("{} — {}", h.programme.name, ph.name),
                on => h.id == c.id && n == c.phase,
            });
        }
    }
    out
}

/// The query string naming the chosen programme and phase.
pub(super) fn query(c: &Chosen) -> String {
    format!("programme={}&phase={}", c.id.to_hex(), c.phase)
}

/// The node's progress report of this unit for the chosen programme and phase.
pub(super) fn report(
    node: &Node,
    c: &Chosen,
    today: Date,
    now: u64,
) -> Result<ProgressReport, WebError> {
    let unit = node.unit().clone();
    crate::report::progress(node, &unit, c.id, &c.programme, c.phase, today, now)
        .map_err(super::store_error)
}

fn opt_int(lang: Lang, v: Option<u64>) -> String {
    v.map(|n| lang.int(n)).unwrap_or_else(|| "—".into())
}

fn opt_pct(lang: Lang, v: Option<u64>) -> String {
    v.map(|n| lang.tenths_percent(n))
        .unwrap_or_else(|| "—".into())
}

fn date(lang: Lang, s: &str) -> String {
    Date::parse(s).map(|d| lang.date(d)).unwrap_or_default()
}

/// A child unit's line, as the pages show it.
pub(super) fn child_row(lang: Lang, c: &crate::report::RankedChild) -> Value {
    context! {
        rank => c.rank, unit => c.unit.clone(), name => c.name.clone(),
        count => lang.int(c.registered), target => opt_int(lang, c.target),
        percent => opt_pct(lang, c.progress_tenths), benefit => lang.money(c.benefit_vnd),
        met => c.target.is_some_and(|t| c.registered >= t),
    }
}

/// The report as the pages show it: headline, statuses, sectors, phases, deadlines, the
/// progress over time (about a dozen points), the chart; children apart (see [`child_row`]).
pub(super) fn report_ctx(lang: Lang, r: &ProgressReport) -> Value {
    let statuses: Vec<(String, String)> = r
        .by_status
        .iter()
        .map(|c| (status_label(lang, &c.code), lang.int(c.count)))
        .collect();
    let sectors: Vec<(String, String)> = r
        .by_sector
        .iter()
        .map(|c| {
            (
                crate::report_formats::sector_label(lang, &c.code),
                lang.int(c.count),
            )
        })
        .collect();
    let phases: Vec<Value> = r
        .by_phase
        .iter()
        .map(|p| {
            context! {
                phase => p.phase, name => p.name.clone(), count => lang.int(p.registered),
                target => opt_int(lang, p.target), percent => opt_pct(lang, p.progress_tenths),
            }
        })
        .collect();
    let deadlines: Vec<Value> = r
        .deadlines
        .iter()
        .map(|d| {
            context! {
                date => date(lang, &d.date), label => d.label.clone(),
                kind => deadline_kind(lang, &d.kind), days => lang.int(d.days_left.max(0) as u64),
            }
        })
        .collect();
    let o = &r.over_time;
    let k = o.points.len().div_ceil(12).max(1);
    let points: Vec<(String, String, String)> = o
        .points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % k == 0 || i + 1 == o.points.len())
        .map(|(_, p)| {
            (
                date(lang, &p.date),
                lang.int(p.cumulative),
                opt_pct(
                    lang,
                    o.target
                        .and_then(|t| crate::report::tenths(p.cumulative, t)),
                ),
            )
        })
        .collect();
    context! {
        unit_name => r.unit_name.clone(), programme => r.programme_name.clone(),
        launcher => r.programme_launcher.clone(), phase => r.phase, phase_name => r.phase_name.clone(),
        today => date(lang, &r.today),
        count => lang.int(r.registered), target => opt_int(lang, r.target),
        percent => opt_pct(lang, r.progress_tenths),
        bar => r.progress_tenths.map(|t| t.min(1000) / 10).unwrap_or(0),
        benefit => lang.money(r.benefit_vnd),
        statuses, sectors, phases, deadlines,
        window => o.window_name.clone(), window_start => date(lang, &o.start),
        window_end => date(lang, &o.end), window_target => opt_int(lang, o.target),
        points,
        chart => Value::from_safe_string(chart(lang, r)),
    }
}

/// The report's chart (the same SVG as the PNG download, [`crate::report_formats::chart`]),
/// sized to the page's width, and its narrow form, which a phone's page shows instead (the
/// style sheet picks one by the screen's width), so the text keeps its size at 360 px.
/// Presentation attributes only: no style, no script (the pages' Content-Security-Policy
/// allows neither inline).
pub(super) fn chart(lang: Lang, r: &ProgressReport) -> String {
    use crate::report_formats::chart;
    let fit = |svg: String, class: &str, w: u32, h: u32| {
        svg.replacen(
            &format!(r#"width="{w}" height="{h}" "#),
            &format!(
                r#"class="{class}" width="100%" role="img" preserveAspectRatio="xMinYMin meet" "#
            ),
            1,
        )
    };
    let wide = fit(
        chart::svg(lang, r),
        "chart-wide",
        chart::WIDTH_PX,
        chart::height_px(r),
    );
    let narrow = fit(
        chart::svg_narrow(lang, r),
        "chart-narrow",
        chart::NARROW_WIDTH_PX,
        chart::narrow_height_px(r),
    );
    format!("{wide}{narrow}")
}

/// Adds `Server-Timing: app;dur=<ms>` to every answer: the time from the request reaching the
/// router to the answer leaving it (locks, store reads and rendering; not the network).
/// `sangkien bench web` reads it.
pub(super) async fn server_timing(req: Request, next: Next) -> Response {
    let t = Instant::now();
    let mut resp = next.run(req).await;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.3}")) {
        resp.headers_mut().append("server-timing", v);
    }
    resp
}
