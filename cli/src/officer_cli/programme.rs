//! `sangkien programme new | show` (phases, deadlines, campaigns, national target) and
//! `sangkien target assign | show` (a parent assigns counts to its children for a programme
//! phase; children re-assign to theirs).

use std::collections::BTreeMap;

use clap::Subcommand;
use node::{now_ms, records};
use serde_json::json;
use sync_protocol::entry::UnitRole;
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::limits::*;
use sync_protocol::record::{Campaign, Deadline, Phase, Programme, RecordContent};

use super::{date, open, print_json, refused, store_failed, text, unit_name};
use crate::i18n::Lang;
use crate::{Ctx, Failure};

/// `sangkien programme ...`
#[derive(Subcommand, Debug)]
pub enum ProgrammeCommand {
    /// Phát động chương trình mới / launch a new programme.
    New {
        /// Tên chương trình / name.
        #[arg(long)]
        name: String,
        /// Giai đoạn "Tên|bắt đầu|kết thúc|chỉ tiêu", lặp lại / phase
        /// "Name|start|end|target", repeat.
        #[arg(long = "phase", required = true)]
        phases: Vec<String>,
        /// Hạn "Việc|ngày" / deadline "What|date", repeat.
        #[arg(long = "deadline")]
        deadlines: Vec<String>,
        /// Đợt cao điểm "Tên|bắt đầu|kết thúc|chỉ tiêu" / campaign "Name|start|end|target".
        #[arg(long = "campaign")]
        campaigns: Vec<String>,
        /// Chỉ tiêu toàn chương trình / the overall target.
        #[arg(long)]
        national_target: u64,
    },
    /// Xem chương trình (mặc định: tất cả) / show a programme (default: all).
    Show {
        /// Mã chương trình / programme id.
        id: Option<String>,
    },
}

/// `sangkien target ...`
#[derive(Subcommand, Debug)]
pub enum TargetCommand {
    /// Giao chỉ tiêu cho đơn vị trực thuộc / assign targets to child units.
    Assign {
        /// Chương trình / programme id (optional when only one is held).
        #[arg(long)]
        programme: Option<String>,
        /// Giai đoạn / phase.
        #[arg(long)]
        phase: u32,
        /// "đơn-vị=số", lặp lại / "unit=count", repeat.
        #[arg(long = "set", required = true)]
        sets: Vec<String>,
    },
    /// Xem chỉ tiêu được giao và đã giao / show targets received and assigned.
    Show {
        /// Chương trình / programme id.
        #[arg(long)]
        programme: Option<String>,
        /// Giai đoạn / phase.
        #[arg(long)]
        phase: Option<u32>,
        /// Đơn vị (mặc định: của nút) / unit (default: this node's).
        #[arg(long)]
        unit: Option<String>,
    },
}

/// Runs a programme subcommand.
pub fn run_programme(ctx: &Ctx, c: ProgrammeCommand) -> Result<u8, Failure> {
    let lang = ctx.lang;
    match c {
        ProgrammeCommand::New {
            name,
            phases,
            deadlines,
            campaigns,
            national_target,
        } => {
            let p = Programme {
                name: text(lang, "name", &name, MAX_TITLE_CHARS, true)?,
                phases: phases
                    .iter()
                    .map(|s| {
                        let (n, a, b, t) = window(lang, "phase", s)?;
                        Ok(Phase {
                            name: n,
                            start: a,
                            end: b,
                            target: t,
                        })
                    })
                    .collect::<Result<_, Failure>>()?,
                deadlines: deadlines
                    .iter()
                    .map(|s| {
                        let parts: Vec<&str> = s.split('|').collect();
                        let [label, d] = parts.as_slice() else {
                            return Err(Failure::input(format!(
                                "--deadline {s:?}: {}",
                                lang.t(
                                    "viết dạng \"Việc|NĂM-THÁNG-NGÀY\"",
                                    "write it as \"What|YYYY-MM-DD\""
                                )
                            )));
                        };
                        Ok(Deadline {
                            label: text(lang, "deadline", label, MAX_TITLE_CHARS, true)?,
                            date: date(lang, "deadline", d)?,
                        })
                    })
                    .collect::<Result<_, Failure>>()?,
                campaigns: campaigns
                    .iter()
                    .map(|s| {
                        let (n, a, b, t) = window(lang, "campaign", s)?;
                        Ok(Campaign {
                            name: n,
                            start: a,
                            end: b,
                            target: t,
                        })
                    })
                    .collect::<Result<_, Failure>>()?,
                national_target,
            };
            if national_target > MAX_TARGET_COUNT {
                return Err(Failure::input(format!(
                    "--national-target {national_target}: {} {MAX_TARGET_COUNT}",
                    lang.t("vượt giới hạn", "over the limit of")
                )));
            }
            let mut node = open(ctx)?;
            if node.directory().role_at(node.unit(), now_ms()) == Some(UnitRole::Grassroots) {
                return Err(Failure::input(lang.t(
                    "công đoàn cơ sở không phát động chương trình: chạy trên nút của cấp trên",
                    "a grassroots union does not launch programmes: run this on a higher unit's node",
                )));
            }
            let id = records::create(&mut node, &RecordContent::Programme(p.clone()), now_ms())
                .map_err(|e| {
                    refused(
                        lang,
                        lang.t(
                            "không tạo được chương trình",
                            "could not create the programme",
                        ),
                        e,
                    )
                })?;
            if ctx.json {
                print_json(&programme_json(id, &p));
            } else {
                crate::outln!(
                    "{} «{}» — {}: {}",
                    lang.t("Đã phát động chương trình", "Launched programme"),
                    p.name,
                    lang.t("mã", "id"),
                    id.to_hex()
                );
            }
            Ok(0)
        }
        ProgrammeCommand::Show { id } => {
            let node = open(ctx)?;
            let all = match id {
                Some(g) => vec![super::programme(ctx, &node, Some(&g))?],
                None => super::programmes(ctx, &node)?,
            };
            let launchers: Vec<String> = all
                .iter()
                .map(|(r, _)| {
                    super::launcher_of(&node, *r)
                        .map(|u| super::launched_by(&node, &u))
                        .unwrap_or_default()
                })
                .collect();
            if ctx.json {
                print_json(&serde_json::Value::Array(
                    all.iter()
                        .zip(&launchers)
                        .map(|((r, p), l)| {
                            let mut v = programme_json(*r, p);
                            v["launched_by"] = json!(l);
                            v
                        })
                        .collect(),
                ));
                return Ok(0);
            }
            if all.is_empty() {
                crate::outln!(
                    "{}",
                    lang.t(
                        "Nút này chưa có chương trình nào",
                        "This node holds no programme"
                    )
                );
            }
            for ((r, p), l) in all.iter().zip(&launchers) {
                print_programme(lang, *r, p);
                crate::outln!("  {}: {l}", lang.t("Đơn vị phát động", "Launched by"));
            }
            Ok(0)
        }
    }
}

fn window(
    lang: Lang,
    flag: &str,
    s: &str,
) -> Result<
    (
        sync_protocol::text::Text,
        sync_protocol::date::Date,
        sync_protocol::date::Date,
        u64,
    ),
    Failure,
> {
    let parts: Vec<&str> = s.split('|').collect();
    let [name, a, b, t] = parts.as_slice() else {
        return Err(Failure::input(format!(
            "--{flag} {s:?}: {}",
            lang.t("viết dạng \"Tên|bắt đầu|kết thúc|chỉ tiêu\", ví dụ \"Giai đoạn 1|2021-12-15|2022-05-31|300000\"", "write it as \"Name|start|end|target\", e.g. \"Phase 1|2021-12-15|2022-05-31|300000\"")
        )));
    };
    let target: u64 = t
        .trim()
        .parse()
        .ok()
        .filter(|n| *n <= MAX_TARGET_COUNT)
        .ok_or_else(|| {
            Failure::input(format!(
                "--{flag} {s:?}: {} {t:?} ({} {MAX_TARGET_COUNT})",
                lang.t("chỉ tiêu không hợp lệ", "invalid target"),
                lang.t("số nguyên từ 0 đến", "a whole number from 0 to")
            ))
        })?;
    let (start, end) = (date(lang, flag, a)?, date(lang, flag, b)?);
    if end < start {
        return Err(Failure::input(format!(
            "--{flag} {s:?}: {}",
            lang.t("ngày kết thúc trước ngày bắt đầu", "ends before it starts")
        )));
    }
    Ok((
        text(lang, "name", name, MAX_TITLE_CHARS, true)?,
        start,
        end,
        target,
    ))
}

fn programme_json(id: RecordId, p: &Programme) -> serde_json::Value {
    json!({
        "id": id.to_hex(),
        "name": p.name.as_str(),
        "national_target": p.national_target,
        "phases": p.phases.iter().enumerate().map(|(i, ph)| json!({"phase": i + 1, "name": ph.name.as_str(), "start": ph.start.to_string(), "end": ph.end.to_string(), "target": ph.target})).collect::<Vec<_>>(),
        "deadlines": p.deadlines.iter().map(|d| json!({"label": d.label.as_str(), "date": d.date.to_string()})).collect::<Vec<_>>(),
        "campaigns": p.campaigns.iter().map(|c| json!({"name": c.name.as_str(), "start": c.start.to_string(), "end": c.end.to_string(), "target": c.target})).collect::<Vec<_>>(),
    })
}

fn print_programme(lang: Lang, id: RecordId, p: &Programme) {
    crate::outln!(
        "{} «{}» — {}",
        lang.t("Chương trình", "Programme"),
        p.name,
        id.to_hex()
    );
    crate::outln!(
        "  {}: {}",
        lang.t("Chỉ tiêu toàn chương trình", "Overall target"),
        lang.int(p.national_target)
    );
    for (i, ph) in p.phases.iter().enumerate() {
        crate::outln!(
            "  {} {}: {} — {} → {}, {} {}",
            lang.t("Giai đoạn", "Phase"),
            i + 1,
            ph.name,
            lang.date(ph.start),
            lang.date(ph.end),
            lang.t("chỉ tiêu", "target"),
            lang.int(ph.target)
        );
    }
    for c in &p.campaigns {
        crate::outln!(
            "  {}: {} — {} → {}, {} {}",
            lang.t("Đợt cao điểm", "Campaign"),
            c.name,
            lang.date(c.start),
            lang.date(c.end),
            lang.t("chỉ tiêu", "target"),
            lang.int(c.target)
        );
    }
    for d in &p.deadlines {
        crate::outln!(
            "  {}: {} — {}",
            lang.t("Hạn", "Deadline"),
            lang.date(d.date),
            d.label
        );
    }
}

/// Runs a target subcommand.
pub fn run_target(ctx: &Ctx, c: TargetCommand) -> Result<u8, Failure> {
    let lang = ctx.lang;
    match c {
        TargetCommand::Assign {
            programme,
            phase,
            sets,
        } => {
            let mut node = open(ctx)?;
            let now = now_ms();
            let (prog, p) = super::programme(ctx, &node, programme.as_deref())?;
            let phase = super::phase_of(ctx, &p, phase)?;
            let mut given = BTreeMap::new();
            for s in &sets {
                let Some((u, n)) = s.split_once('=') else {
                    return Err(Failure::input(format!(
                        "--set {s:?}: {}",
                        lang.t(
                            "viết dạng đơn-vị=số, ví dụ ldld-tuy-hoa=2400",
                            "write it as unit=count, e.g. ldld-tuy-hoa=2400"
                        )
                    )));
                };
                let unit = super::known_unit(ctx, &node, "set", u)?;
                // A child of this unit now (one lookup, not a walk of every unit).
                if node.directory().parent_at(&unit, now) != Some(node.unit()) {
                    return Err(Failure::input(format!("--set {s:?}: {unit} {}", lang.t("không phải đơn vị trực thuộc của đơn vị này; chỉ giao chỉ tiêu cho cấp ngay dưới", "is not a child of this unit; targets go to the level just below"))));
                }
                let n: u64 = n
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n <= MAX_TARGET_COUNT)
                    .ok_or_else(|| {
                        Failure::input(format!(
                            "--set {s:?}: {} ({} {MAX_TARGET_COUNT})",
                            lang.t("số không hợp lệ", "invalid count"),
                            lang.t("số nguyên từ 0 đến", "a whole number from 0 to")
                        ))
                    })?;
                given.insert(unit, n);
            }
            // The node's use case (the web interface's targets page calls the same).
            let node::targets::Assigned {
                record: id,
                assignments: all,
            } = node::targets::assign(&mut node, (prog, &p), phase, given, now).map_err(
                |e| match e {
                    node::targets::AssignError::Node(e) => refused(
                        lang,
                        lang.t("không giao được chỉ tiêu", "could not assign the targets"),
                        e,
                    ),
                    e => Failure::input(e.sentence(lang)),
                },
            )?;
            if ctx.json {
                print_json(
                    &json!({"record": id.to_hex(), "programme": prog.to_hex(), "phase": phase, "assignments": all.iter().map(|(u, n)| (u.to_string(), json!(n))).collect::<serde_json::Map<_, _>>()}),
                );
            } else {
                crate::outln!(
                    "{} {phase} «{}»:",
                    lang.t("Đã giao chỉ tiêu giai đoạn", "Assigned targets for phase"),
                    p.name
                );
                for (u, n) in &all {
                    crate::outln!("  {:<48} {:>10}", unit_name(&node, u), lang.int(*n));
                }
            }
            Ok(0)
        }
        TargetCommand::Show {
            programme,
            phase,
            unit,
        } => {
            let node = open(ctx)?;
            let now = now_ms();
            let (prog, p) = super::programme(ctx, &node, programme.as_deref())?;
            let phase = match phase {
                Some(ph) => super::phase_of(ctx, &p, ph)?,
                None => super::default_phase(&p, super::today(lang, None)?),
            };
            let unit = match unit {
                Some(u) => super::known_unit(ctx, &node, "unit", &u)?,
                None => node.unit().clone(),
            };
            let d = node.directory();
            let received = match d.parent_at(&unit, now) {
                Some(parent) => node::report::targets(&node, parent, prog, phase, now)
                    .map_err(|e| store_failed(lang, e))?
                    .get(&unit)
                    .copied(),
                None => p.phases.get(phase as usize - 1).map(|ph| ph.target),
            };
            let assigned = node::report::targets(&node, &unit, prog, phase, now)
                .map_err(|e| store_failed(lang, e))?;
            let children: Vec<UnitId> = d.children_at(&unit, now);
            let sum: u64 = assigned.values().sum();
            if ctx.json {
                print_json(&json!({
                    "unit": unit.as_str(), "programme": prog.to_hex(), "phase": phase,
                    "received": received, "assigned_total": sum,
                    "assigned": children.iter().map(|c| json!({"unit": c.as_str(), "name": unit_name(&node, c), "target": assigned.get(c)})).collect::<Vec<_>>(),
                }));
                return Ok(0);
            }
            crate::outln!(
                "{} — «{}», {} {phase}",
                unit_name(&node, &unit),
                p.name,
                lang.t("giai đoạn", "phase")
            );
            crate::outln!(
                "  {}: {}",
                lang.t("Chỉ tiêu được giao", "Target received"),
                received.map(|t| lang.int(t)).unwrap_or_else(|| "—".into())
            );
            crate::outln!(
                "  {}: {}",
                lang.t(
                    "Đã giao cho cấp dưới (tổng)",
                    "Assigned to children (total)"
                ),
                lang.int(sum)
            );
            for c in &children {
                crate::outln!(
                    "    {:<48} {:>10}",
                    unit_name(&node, c),
                    assigned
                        .get(c)
                        .map(|t| lang.int(*t))
                        .unwrap_or_else(|| lang.t("chưa giao", "not assigned").into())
                );
            }
            if let Some(r) = received {
                if !children.is_empty() && sum < r {
                    crate::outln!(
                        "  {}: {}",
                        lang.t(
                            "LƯU Ý: tổng đã giao thấp hơn chỉ tiêu được giao, còn thiếu",
                            "NOTE: assigned less than received, short by"
                        ),
                        lang.int(r - sum)
                    );
                }
            }
            Ok(0)
        }
    }
}
