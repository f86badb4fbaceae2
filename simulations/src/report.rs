//! What a run reports, and its three renderings: a table, JSON and an SVG chart. Nothing here
//! reads a clock: the same seed gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use node::lang::Lang;

use crate::sim::{fmt_dur, fmt_time, FaultProfile, Violation, DAY_MS};

/// The re-organisation part of the table.
fn reorg_section(s: &mut String, g: &ReorgSummary, lang: Lang) {
    let vi = lang == Lang::Vi;
    let _ = if vi {
        writeln!(
            s,
            "\ntái tổ chức: {} phương án ký lúc {}, có hiệu lực {}; {} mục đã ký và kiểm tra (bị từ chối {})",
            g.plans,
            fmt_time(g.signed_at_ms),
            fmt_time(g.effective_at_ms),
            g.entries,
            g.refused
        )
    } else {
        writeln!(
            s,
            "\nre-organisation: {} plan(s) signed at {}, in force at {}; {} entries signed and verified ({} refused)",
            g.plans,
            fmt_time(g.signed_at_ms),
            fmt_time(g.effective_at_ms),
            g.entries,
            g.refused
        )
    };
    let _ = if vi {
        writeln!(
            s,
            "  đơn vị mới {}, chuyển {}, đổi tên {}, giải thể {}, sáp nhập {}; nút có chuỗi cấp trên thay đổi {}",
            g.new_units, g.moved, g.renamed, g.closed, g.merged, g.units_moved_in_tree
        )
    } else {
        writeln!(
            s,
            "  new units {}, moved {}, renamed {}, closed {}, merged {}; nodes whose chain of superiors changed {}",
            g.new_units, g.moved, g.renamed, g.closed, g.merged, g.units_moved_in_tree
        )
    };
    let _ = if vi {
        writeln!(
            s,
            "  nút trước {} sau {} (cấp 1: {} → {}); phiên bàn giao {}; mục chưa bàn giao khi kết thúc {}; quyết định bị bỏ dở {}; quyết định chuyển cho đơn vị kế thừa {}",
            g.nodes_before, g.nodes_after, g.level1_before, g.level1_after, g.hand_off_sessions, g.entries_not_handed_off, g.decisions_stranded, g.decisions_passed_to_successor
        )
    } else {
        writeln!(
            s,
            "  nodes before {} after {} (level 1: {} -> {}); hand-off sessions {}; entries not handed on at an end {}; decisions stranded {}; decisions passed to a successor {}",
            g.nodes_before, g.nodes_after, g.level1_before, g.level1_after, g.hand_off_sessions, g.entries_not_handed_off, g.decisions_stranded, g.decisions_passed_to_successor
        )
    };
    let _ = if vi {
        writeln!(
            s,
            "  tổng toàn quốc: {} sáng kiến trước, {} sau (tính theo {} đơn vị cấp 1 trước; {} đơn vị kế thừa được đối chiếu với tổng của các đơn vị sáp nhập vào; tính sai đơn vị {}); mục của đơn vị đã chuyển được nhận {}",
            g.initiatives_before, g.initiatives_after, g.level1_counted_before, g.successors_checked, g.misattributed, g.moved_entries_accepted
        )
    } else {
        writeln!(
            s,
            "  national totals: {} initiatives before, {} after (under {} level-1 units before; {} successors checked against the sum of the units merged into them; misattributed {}); entries of moved units accepted {}",
            g.initiatives_before, g.initiatives_after, g.level1_counted_before, g.successors_checked, g.misattributed, g.moved_entries_accepted
        )
    };
}

/// Counters of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counters {
    /// Nodes.
    pub nodes: u64,
    /// Initiatives registered.
    pub initiatives: u64,
    /// Decisions made (submissions excluded).
    pub decisions: u64,
    /// Entries signed by the workload.
    pub entries_authored: u64,
    /// Entries carried by sessions.
    pub entries_transferred: u64,
    /// Entries skipped at import as already held (duplicates).
    pub duplicates_skipped: u64,
    /// Sessions started.
    pub sessions: u64,
    /// Sessions completed on both sides.
    pub sessions_completed: u64,
    /// Sessions cut (loss, outage, crash, restore).
    pub sessions_cut: u64,
    /// Ticks skipped because neither side changed since the last session.
    pub idle_polls: u64,
    /// Crashes.
    pub crashes: u64,
    /// Pending (unflushed) entries lost in crashes.
    pub pending_lost_in_crashes: u64,
    /// Restores from old backups.
    pub restores: u64,
    /// Entries whose every durable copy was wiped by restores (lost for real).
    pub lost_to_restores: u64,
    /// Records their officer gave up after a restore: a change of theirs is held nowhere.
    pub records_abandoned: u64,
    /// Outages.
    pub outages: u64,
    /// USB bundles imported.
    pub bundles: u64,
    /// Forged or misdirected entries injected.
    pub forgeries: u64,
    /// Refusals of entries that were not valid there (forgeries).
    pub forgeries_refused: u64,
    /// Records re-verified at the end.
    pub records_audited: u64,
    /// The national target of recognised initiatives.
    pub target_recognised: u64,
    /// From the last authored entry to convergence.
    pub converged_after_last_edit_ms: Option<u64>,
    /// Virtual time at the end.
    pub end_ms: u64,
    /// Events processed.
    pub events: u64,
}

/// What re-organisations did in a run, and what the checks across them counted.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReorgSummary {
    /// Plans signed.
    pub plans: u64,
    /// Virtual time the last plan was signed.
    pub signed_at_ms: u64,
    /// Virtual time the last end took effect.
    pub effective_at_ms: u64,
    /// Signed entries the plans made, all verified by the import.
    pub entries: u64,
    /// Of the plans' entries, refused or left waiting by the import (must be 0).
    pub refused: u64,
    /// New units certified.
    pub new_units: u64,
    /// Units re-parented by a certificate.
    pub moved: u64,
    /// Units renamed.
    pub renamed: u64,
    /// Units closed.
    pub closed: u64,
    /// Units merged.
    pub merged: u64,
    /// Nodes whose chain of ancestors changed (moved units and their subtrees).
    pub units_moved_in_tree: u64,
    /// Of them, moved to another level-1 unit than their old one's successor.
    pub moved_between_level1: u64,
    /// Nodes before the first plan.
    pub nodes_before: u64,
    /// Nodes running at the end (ended units' nodes shut down).
    pub nodes_after: u64,
    /// Level-1 units before.
    pub level1_before: u64,
    /// Level-1 units running at the end.
    pub level1_after: u64,
    /// Initiatives at the national node when the first plan was signed, counted under a
    /// level-1 unit by the tree then.
    pub initiatives_before: u64,
    /// The same initiatives counted under a level-1 unit by the tree at the end.
    pub initiatives_after: u64,
    /// Level-1 units they were counted under before.
    pub level1_counted_before: u64,
    /// Level-1 units whose count was checked against the sum of their predecessors'.
    pub successors_checked: u64,
    /// Initiatives counted under the wrong unit (must be 0).
    pub misattributed: u64,
    /// Units whose end took effect.
    pub ended_units: u64,
    /// Hand-off sessions of ending units with their parents.
    pub hand_off_sessions: u64,
    /// Entries an ended unit held that its parent did not when the end took effect (must be 0).
    pub entries_not_handed_off: u64,
    /// Decisions left to a unit that had stopped deciding because it ends (must be 0).
    pub decisions_stranded: u64,
    /// Decisions an ending unit could no longer make (the initiative left its scope), passed
    /// to its successor at its end.
    pub decisions_passed_to_successor: u64,
    /// Entries moved units made after the plan, accepted by other nodes.
    pub moved_entries_accepted: u64,
}

/// Traffic of one link kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LinkStats {
    /// Bytes (messages both ways, or bundle entries).
    pub bytes: u64,
    /// Messages.
    pub messages: u64,
    /// Sessions (or bundles).
    pub sessions: u64,
    /// Sessions cut.
    pub cut: u64,
}

/// Delay percentiles, milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th.
    pub p90: u64,
    /// 99th.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// Of sorted samples.
    pub fn of(sorted: &[u64]) -> Self {
        let at = |q: f64| {
            if sorted.is_empty() {
                0
            } else {
                sorted[((sorted.len() - 1) as f64 * q).round() as usize]
            }
        };
        Self {
            count: sorted.len() as u64,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// The report of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Nodes per role.
    pub roles: BTreeMap<String, u64>,
    /// This seed's fault rates.
    pub faults: FaultProfile,
    /// Counters.
    pub counters: Counters,
    /// Bytes per link kind.
    pub links: BTreeMap<String, LinkStats>,
    /// Delay from signing to arrival, by receiving level.
    pub delays_ms: BTreeMap<String, Percentiles>,
    /// What the national node saw per day: [registered, approved by a level-1 unit, recognised,
    /// rejected anywhere].
    pub national_daily: Vec<[u64; 4]>,
    /// Named invariants.
    pub invariants: BTreeMap<String, bool>,
    /// What re-organisations did (only when the scenario has some).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reorganisation: Option<ReorgSummary>,
    /// What broke them.
    pub violations: Vec<Violation>,
    /// The last events before the end (when tracing).
    pub trace: Vec<String>,
}

impl Report {
    /// Whether every invariant holds.
    pub fn ok(&self) -> bool {
        self.invariants.values().all(|v| *v)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report as a text table, in English.
    pub fn to_table(&self) -> String {
        self.to_table_in(Lang::En)
    }

    /// The report as a text table in `lang` (the numbers, unit ids and invariant names are the
    /// same in both).
    pub fn to_table_in(&self, lang: Lang) -> String {
        let vi = lang == Lang::Vi;
        let mut s = String::new();
        let c = &self.counters;
        let verdict = match (self.ok(), vi) {
            (true, true) => "ĐẠT",
            (true, false) => "OK",
            (false, true) => "KHÔNG ĐẠT",
            (false, false) => "FAILED",
        };
        let roles: Vec<String> = self.roles.iter().map(|(k, v)| format!("{k} {v}")).collect();
        if vi {
            let _ = writeln!(
                s,
                "kịch bản {}  hạt giống {}  kết luận {verdict}",
                self.scenario, self.seed
            );
            let _ = writeln!(s, "nút {} ({})", c.nodes, roles.join(", "));
            let _ = writeln!(
                s,
                "khối lượng: {} sáng kiến, {} quyết định, {} mục đã ký; chỉ tiêu {} được công nhận",
                c.initiatives, c.decisions, c.entries_authored, c.target_recognised
            );
            let _ = writeln!(
                s,
                "sự cố: mất gói {} mất kết nối {} sập máy {} ({} mục chưa ghi đĩa bị mất) khôi phục {} ({} mục mất hẳn) gói USB {} giả mạo {} (bị từ chối {})",
                self.faults.loss, c.outages, c.crashes, c.pending_lost_in_crashes, c.restores, c.lost_to_restores, c.bundles, c.forgeries, c.forgeries_refused
            );
            let _ = writeln!(
                s,
                "phiên đồng bộ {} (xong {}, bị cắt {}, lần hỏi bỏ qua vì không có gì mới {}), mục đã chuyển {}, mục trùng bỏ qua {}, sự kiện {}",
                c.sessions, c.sessions_completed, c.sessions_cut, c.idle_polls, c.entries_transferred, c.duplicates_skipped, c.events
            );
            let _ = writeln!(
                s,
                "\nnút trung ương thấy gì, khi nào (cộng dồn, theo tuần):"
            );
            let _ = writeln!(
                s,
                "{:>5} {:>11} {:>14} {:>11} {:>9} {:>8}",
                "ngày", "đăng ký", "tỉnh duyệt", "công nhận", "từ chối", "%chỉ tiêu"
            );
        } else {
            let _ = writeln!(
                s,
                "scenario {}  seed {}  verdict {verdict}",
                self.scenario, self.seed
            );
            let _ = writeln!(s, "nodes {} ({})", c.nodes, roles.join(", "));
            let _ = writeln!(
                s,
                "workload: {} initiatives, {} decisions, {} entries signed; target {} recognised",
                c.initiatives, c.decisions, c.entries_authored, c.target_recognised
            );
            let _ = writeln!(
                s,
                "faults: loss {} outages {} crashes {} ({} pending entries lost) restores {} ({} entries lost for real) bundles {} forgeries {} (refusals {})",
                self.faults.loss, c.outages, c.crashes, c.pending_lost_in_crashes, c.restores, c.lost_to_restores, c.bundles, c.forgeries, c.forgeries_refused
            );
            let _ = writeln!(
                s,
                "sessions {} (completed {}, cut {}, idle polls skipped {}), entries carried {}, duplicates skipped {}, events {}",
                c.sessions, c.sessions_completed, c.sessions_cut, c.idle_polls, c.entries_transferred, c.duplicates_skipped, c.events
            );
            let _ = writeln!(s, "\nwhen the national node saw what (cumulative, weekly):");
            let _ = writeln!(
                s,
                "{:>5} {:>11} {:>14} {:>11} {:>9} {:>8}",
                "day", "registered", "approved-prov", "recognised", "rejected", "target%"
            );
        }
        let mut cum = [0u64; 4];
        let last = self.national_daily.len().saturating_sub(1);
        for (d, row) in self.national_daily.iter().enumerate() {
            for i in 0..4 {
                cum[i] += row[i];
            }
            if d % 7 == 6 || d == last {
                let pct = if c.target_recognised > 0 {
                    cum[2] as f64 * 100.0 / c.target_recognised as f64
                } else {
                    0.0
                };
                let _ = writeln!(
                    s,
                    "{:>5} {:>11} {:>14} {:>11} {:>9} {:>7.1}%",
                    d + 1,
                    cum[0],
                    cum[1],
                    cum[2],
                    cum[3],
                    pct
                );
            }
        }
        let _ = writeln!(
            s,
            "\n{}",
            lang.t(
                "độ trễ lan truyền, từ lúc ký đến lúc tới nơi, theo cấp nhận:",
                "propagation delay, signing to arrival, by receiving level:"
            )
        );
        let _ = writeln!(
            s,
            "{:<16} {:>9} {:>10} {:>10} {:>10} {:>10}",
            lang.t("cấp", "level"),
            lang.t("mục", "entries"),
            "p50",
            "p90",
            "p99",
            "max"
        );
        for (lvl, p) in &self.delays_ms {
            let _ = writeln!(
                s,
                "{:<16} {:>9} {:>10} {:>10} {:>10} {:>10}",
                lvl,
                p.count,
                fmt_dur(p.p50),
                fmt_dur(p.p90),
                fmt_dur(p.p99),
                fmt_dur(p.max)
            );
        }
        let _ = writeln!(
            s,
            "\n{}",
            lang.t("số byte theo loại đường truyền:", "bytes per link kind:")
        );
        for (k, l) in &self.links {
            let _ = if vi {
                writeln!(
                    s,
                    "{:<18} {:>14} byte {:>9} thông điệp {:>8} phiên {:>6} bị cắt",
                    k, l.bytes, l.messages, l.sessions, l.cut
                )
            } else {
                writeln!(
                    s,
                    "{:<18} {:>14} bytes {:>9} messages {:>8} sessions {:>6} cut",
                    k, l.bytes, l.messages, l.sessions, l.cut
                )
            };
        }
        let conv = c
            .converged_after_last_edit_ms
            .map(fmt_dur)
            .unwrap_or_else(|| lang.t("không bao giờ", "never").into());
        let _ = if vi {
            writeln!(
                s,
                "\nhội tụ {conv} sau lần sửa cuối (kết thúc ảo {})",
                fmt_dur(c.end_ms)
            )
        } else {
            writeln!(
                s,
                "\nconverged {conv} after the last edit (virtual end {})",
                fmt_dur(c.end_ms)
            )
        };
        let _ = writeln!(
            s,
            "{} {}",
            lang.t(
                "hồ sơ được kiểm tra lại tại các nút được kiểm toán:",
                "records re-verified at the audited nodes:"
            ),
            c.records_audited
        );
        if let Some(g) = &self.reorganisation {
            reorg_section(&mut s, g, lang);
        }
        let _ = writeln!(s, "\n{}", lang.t("bất biến:", "invariants:"));
        for (k, v) in &self.invariants {
            let word = match (*v, vi) {
                (true, true) => "đúng",
                (true, false) => "ok",
                (false, true) => "BỊ VI PHẠM",
                (false, false) => "VIOLATED",
            };
            let _ = writeln!(s, "  {:<32} {}", k, word);
        }
        for v in self.violations.iter().take(10) {
            let _ = writeln!(
                s,
                "  ! {} {} {}: {}",
                v.invariant,
                lang.t("lúc", "at"),
                crate::sim::fmt_time(v.at_ms),
                v.detail
            );
        }
        s
    }

    /// Progress against the target over time as the national node saw it, as an SVG chart.
    pub fn to_svg(&self) -> String {
        let (w, h, left, right, top, bottom) = (900.0, 480.0, 70.0, 20.0, 50.0, 60.0);
        let pw = w - left - right;
        let ph = h - top - bottom;
        let days = self.national_daily.len().max(1) as f64;
        let mut series = [Vec::new(), Vec::new(), Vec::new()];
        let mut cum = [0u64; 3];
        for row in &self.national_daily {
            for i in 0..3 {
                cum[i] += row[i];
                series[i].push(cum[i]);
            }
        }
        let target = self.counters.target_recognised;
        // Gridlines at a round step (1, 2 or 5 times a power of ten), five or so of them.
        let top_value = (cum.iter().copied().max().unwrap_or(0).max(target) as f64 * 1.05).max(5.0);
        let step = nice_step(top_value / 5.0);
        let ticks = (top_value / step).ceil().max(1.0) as u32;
        let ymax = step * f64::from(ticks);
        let x = |d: f64| left + pw * d / days;
        let y = |v: f64| top + ph - ph * v / ymax;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="24" font-size="16">{} (seed {}): what the national node saw, cumulative</text>"#,
            xml(&self.scenario),
            self.seed
        );
        // Axes and grid.
        for k in 0..=ticks {
            let v = step * f64::from(k);
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                left + pw,
                left - 6.0,
                yy + 4.0,
                v.round()
            );
        }
        let mut d = 0.0;
        while d <= days {
            let xx = x(d);
            let _ = writeln!(
                s,
                r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#eee"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                top + ph,
                top + ph + 16.0,
                d
            );
            d += 7.0;
        }
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" stroke="black"/>"##,
            top + ph,
            left + pw,
            top + ph,
            top + ph
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">virtual day</text>"#,
            left + pw / 2.0,
            h - 20.0
        );
        // Campaign end.
        let campaign = (self.national_daily.len() as u64)
            .saturating_sub(1)
            .min(self.counters.end_ms / DAY_MS);
        let _ = campaign;
        let colours = ["#1f77b4", "#ff7f0e", "#2ca02c"];
        let names = [
            "registered (seen nationally)",
            "approved by a level-1 unit",
            "recognised nationally",
        ];
        for (i, pts) in series.iter().enumerate() {
            let path: Vec<String> = pts
                .iter()
                .enumerate()
                .map(|(d, v)| format!("{:.1},{:.1}", x(d as f64 + 1.0), y(*v as f64)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{:.1},{:.1} {}"/>"#,
                colours[i],
                x(0.0),
                y(0.0),
                path.join(" ")
            );
        }
        let ty = y(target as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#d62728" stroke-dasharray="6,4"/>"##,
            left + pw
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#d62728">target {}</text>"##,
            left + pw - 4.0,
            ty - 6.0,
            target
        );
        for (i, name) in names.iter().enumerate() {
            let ly = top + 14.0 + 18.0 * i as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="14" height="4" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                left + 12.0,
                ly - 4.0,
                colours[i],
                left + 32.0,
                ly + 1.0,
                name
            );
        }
        let _ = writeln!(s, "</svg>");
        s
    }
}

/// The smallest of 1, 2, 5 × 10^k that is at least `raw` (raw > 0).
fn nice_step(raw: f64) -> f64 {
    let mut step = 1.0;
    while step * 10.0 <= raw {
        step *= 10.0;
    }
    for m in [1.0, 2.0, 5.0, 10.0] {
        if step * m >= raw {
            return step * m;
        }
    }
    step * 10.0
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
