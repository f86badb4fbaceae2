//! Officer workflow commands: `initiative`, `decide`, `programme`, `target`, `list mau2` and
//! `report`. Every write goes through `node::records` (create, edit, decide), which signs an
//! entry and stores it through the node's verified import: a refused write stores nothing.
//!
//! Exit codes: 0 success; 1 the command ran and the node refused the write (a rule of the
//! approval chain, e.g. a decision out of turn) or found a problem; 2 bad usage or bad input
//! (a missing or malformed flag, an unknown record), nothing stored.

mod decide;
mod initiative;
mod mau2;
mod programme;
mod report;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use node::{now_ms, records, Node, NodeError};
use sync_protocol::date::Date;
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::Programme;
use sync_protocol::text::{Lines, Text};

use crate::i18n::Lang;
use crate::{Ctx, Failure};

pub use decide::DecideCommand;
pub use initiative::InitiativeCommand;
pub use programme::{ProgrammeCommand, TargetCommand};

/// Officer subcommands, flattened into the top level.
#[derive(Subcommand, Debug)]
pub enum OfficerCommand {
    /// Sáng kiến: đăng ký, sửa, xem, liệt kê, tìm, đính kèm / initiatives: register, edit,
    /// show, list, search, attach.
    #[command(subcommand)]
    Initiative(InitiativeCommand),
    /// Quyết định: nộp, trả lại, không công nhận, duyệt, công nhận, khen thưởng / decisions:
    /// submit, return, reject, approve, recognise, award.
    #[command(subcommand)]
    Decide(DecideCommand),
    /// Chương trình, giai đoạn, hạn, đợt cao điểm / programmes: phases, deadlines, campaigns.
    #[command(subcommand)]
    Programme(ProgrammeCommand),
    /// Chỉ tiêu: giao cho đơn vị trực thuộc, xem / targets: assign to child units, show.
    #[command(subcommand)]
    Target(TargetCommand),
    /// Danh sách tổng hợp (Mẫu 2) / consolidated lists (Mẫu 2).
    #[command(subcommand)]
    List(ListCommand),
    /// Báo cáo tiến độ của đơn vị và cấp dưới / progress report of a unit and its subtree.
    Report(ReportArgs),
}

/// `sangkien list ...`
#[derive(Subcommand, Debug)]
pub enum ListCommand {
    /// Danh sách sáng kiến đã duyệt gửi cấp trên (Mẫu 2), kèm mã băm các quyết định đã ký /
    /// the consolidated Mẫu 2 list sent up, with the hashes of the signed decisions it lists.
    Mau2(mau2::Mau2Args),
}

/// `sangkien report ...`
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Đơn vị (mặc định: đơn vị của nút) / unit (default: this node's unit).
    #[arg(long)]
    pub unit: Option<String>,
    /// Chương trình (mã, ít nhất 8 chữ số hex; bỏ qua nếu chỉ có một) / programme id or
    /// prefix (optional when only one is held).
    #[arg(long)]
    pub programme: Option<String>,
    /// Giai đoạn (mặc định: giai đoạn đang diễn ra hoặc gần nhất) / phase (default: the
    /// current or latest phase).
    #[arg(long)]
    pub phase: Option<u32>,
    /// Định dạng / format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: report::Format,
    /// Tệp kết quả (bắt buộc với xlsx, png) / output file (required for xlsx and png).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Ngày báo cáo, ví dụ 15/07/2022 (mặc định: hôm nay) / report date, e.g. 15/07/2022
    /// (default: today).
    #[arg(long)]
    pub today: Option<String>,
    /// Theo cơ cấu và số liệu cuối ngày này, ví dụ 30/06/2025 (trước sắp xếp) / as it was at
    /// the end of this day, e.g. 30/06/2025 (before the re-organisation).
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Runs an officer subcommand.
pub fn run(ctx: &Ctx, c: OfficerCommand) -> Result<u8, Failure> {
    match c {
        OfficerCommand::Initiative(c) => initiative::run(ctx, c),
        OfficerCommand::Decide(c) => decide::run(ctx, c),
        OfficerCommand::Programme(c) => programme::run_programme(ctx, c),
        OfficerCommand::Target(c) => programme::run_target(ctx, c),
        OfficerCommand::List(ListCommand::Mau2(a)) => mau2::run(ctx, a),
        OfficerCommand::Report(a) => report::run(ctx, a),
    }
}

// ---- shared helpers -----------------------------------------------------------------------

pub(crate) fn open(ctx: &Ctx) -> Result<crate::commands::NodeRef, Failure> {
    crate::commands::open(ctx)
}

/// A write the node refused (a rule of the chain) or could not store: exit 1, nothing stored.
/// The reason is the core's typed reason, worded by [`crate::refusal`].
pub(crate) fn refused(lang: Lang, what: &str, e: NodeError) -> Failure {
    let msg = format!(
        "{what}: {}. {}",
        crate::refusal::node_error(lang, &e),
        lang.t(
            "Không có gì được lưu; sửa điều trên rồi chạy lại lệnh",
            "Nothing was stored; fix the above and run the command again"
        )
    );
    Failure::problem(msg).because(e)
}

/// Reading the store failed.
pub(crate) fn store_failed(lang: Lang, e: impl Into<anyhow::Error> + std::fmt::Display) -> Failure {
    Failure::problem(lang.t(
        "không đọc được dữ liệu của nút (chi tiết: --verbose)",
        "could not read the node's data (details: --verbose)",
    ))
    .because(e)
}

/// Finds a record by its id or a unique prefix of at least 8 hexadecimal digits.
pub(crate) fn resolve(ctx: &Ctx, node: &Node, given: &str) -> Result<RecordId, Failure> {
    records::resolve(node, given).map_err(|e| {
        let hint = ctx.lang.t(
            "xem mã bằng `sangkien initiative list` hoặc `sangkien programme show`",
            "find ids with `sangkien initiative list` or `sangkien programme show`",
        );
        let head = ctx.lang.t("mã hồ sơ", "record id");
        let why = crate::refusal::resolve_error(ctx.lang, &e);
        Failure::input(format!("{head}: {why}; {hint}")).because(e)
    })
}

/// A one-line text flag (a title, a name, a decision number): NFC, trimmed, bounded, no line
/// break, control, invisible or direction-changing character; `required` refuses empty text.
pub(crate) fn text(
    lang: Lang,
    flag: &'static str,
    s: &str,
    limit: usize,
    required: bool,
) -> Result<Text, Failure> {
    text_lines(lang, flag, s, limit, required, Lines::One)
}

/// A multi-line text flag (summary, description sections, note): line breaks kept.
pub(crate) fn multiline(
    lang: Lang,
    flag: &'static str,
    s: &str,
    limit: usize,
    required: bool,
) -> Result<Text, Failure> {
    text_lines(lang, flag, s, limit, required, Lines::Many)
}

fn text_lines(
    lang: Lang,
    flag: &'static str,
    s: &str,
    limit: usize,
    required: bool,
    lines: Lines,
) -> Result<Text, Failure> {
    Text::checked(flag, s, limit, lines, required).map_err(|e| {
        Failure::input(format!(
            "{} ({})",
            crate::refusal::text_error(lang, &e),
            lang.t("sửa giá trị rồi chạy lại", "fix the value and run again")
        ))
        .because(e)
    })
}

/// A missing flag a command needs.
pub(crate) fn missing(lang: Lang, flag: &str, what_vi: &str, what_en: &str) -> Failure {
    Failure::input(format!(
        "{} --{flag} ({}) {}",
        lang.t("thiếu", "missing"),
        lang.t(what_vi, what_en),
        lang.t("— thêm cờ này vào lệnh", "— add this flag to the command")
    ))
}

/// Several missing flags, reported at once: `(flag, what in Vietnamese, what in English)`.
pub(crate) fn missing_all(lang: Lang, absent: &[(&str, &str, &str)]) -> Failure {
    let list: Vec<String> = absent
        .iter()
        .map(|(flag, vi, en)| format!("--{flag} ({})", lang.t(vi, en)))
        .collect();
    Failure::input(format!(
        "{}: {} {}",
        lang.t("thiếu", "missing"),
        list.join(", "),
        lang.t(
            "— thêm các cờ này vào lệnh",
            "— add these flags to the command"
        )
    ))
}

/// A date flag, as printed (15/07/2022) or ISO (see [`crate::input::date`]).
pub(crate) fn date(lang: Lang, flag: &str, s: &str) -> Result<Date, Failure> {
    crate::input::date_flag(lang, flag, s)
}

/// A unit id flag that names a unit this node knows.
pub(crate) fn known_unit(ctx: &Ctx, node: &Node, flag: &str, s: &str) -> Result<UnitId, Failure> {
    let closest = |s: &str| {
        let near = node::suggest::closest_units(node, s);
        if near.is_empty() {
            String::new()
        } else {
            format!(
                "; {} {}?",
                ctx.lang.t("có phải ý bạn là", "did you mean"),
                near.iter()
                    .map(|u| format!("{u} ({})", unit_name(node, u)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let u = UnitId::new(s.trim()).map_err(|_| {
        Failure::input(format!(
            "--{flag} {s:?}: {}{}",
            ctx.lang
                .t("mã đơn vị gồm a-z, 0-9 và -", "unit ids are a-z, 0-9 and -"),
            closest(s)
        ))
    })?;
    if !node.directory().knows(&u) {
        return Err(Failure::input(format!(
            "--{flag}: {u}: {}{}",
            ctx.lang.t(
                "đơn vị chưa được biết tại nút này (xem `sangkien unit list`)",
                "unit not known at this node (see `sangkien unit list`)"
            ),
            closest(s)
        )));
    }
    Ok(u)
}

/// Today as a date (UTC), or `--today`.
pub(crate) fn today(lang: Lang, given: Option<&str>) -> Result<Date, Failure> {
    match given {
        Some(s) => date(lang, "today", s),
        None => Ok(Date::from_unix_ms(now_ms())),
    }
}

/// Every programme held here, by record id.
pub(crate) fn programmes(ctx: &Ctx, node: &Node) -> Result<Vec<(RecordId, Programme)>, Failure> {
    Ok(held_programmes(ctx, node)?
        .into_iter()
        .map(|h| (h.id, h.programme))
        .collect())
}

/// A valid programme this node holds, with the unit that launched it (its record's owner).
#[derive(Clone, Debug)]
pub(crate) struct HeldProgramme {
    pub id: RecordId,
    pub programme: Programme,
    pub launcher: UnitId,
}

/// Every valid programme held, with its launcher.
pub(crate) fn held_programmes(ctx: &Ctx, node: &Node) -> Result<Vec<HeldProgramme>, Failure> {
    Ok(node::report::programmes(node, now_ms())
        .map_err(|e| store_failed(ctx.lang, e))?
        .into_iter()
        .map(|h| HeldProgramme {
            id: h.id,
            programme: h.programme,
            launcher: h.launcher,
        })
        .collect())
}

/// The unit that launched a programme (its record's owner), if held.
pub(crate) fn launcher_of(node: &Node, id: RecordId) -> Option<UnitId> {
    use sync_protocol::store::EntryLookup;
    let entries = node.store().record_entries(&id).ok()?;
    sync_protocol::verify::record_header(&entries).map(|h| h.owner)
}

/// A launcher as people read it: its name and id.
pub(crate) fn launched_by(node: &Node, u: &UnitId) -> String {
    format!("{} [{u}]", unit_name(node, u))
}

/// The programme named by `--programme`; without it, the one this node's reports are about:
/// among the programmes launched by this unit or one of its ancestors (those it takes part in;
/// if there are none, every programme held), the current ones (a phase contains today; if none
/// is current, all of them), and of those the one launched **highest** up the tree — the
/// widest programme, so a programme launched lower down never displaces its ancestors' by
/// default. If that still leaves more than one, the choices are listed. The choice is said on
/// standard error.
pub(crate) fn programme(
    ctx: &Ctx,
    node: &Node,
    given: Option<&str>,
) -> Result<(RecordId, Programme), Failure> {
    let all = held_programmes(ctx, node)?;
    if let Some(g) = given {
        // By name first (diacritics and case optional); several programmes of that name are
        // listed with who launched each, to be chosen by id.
        let folded = sync_protocol::text::fold_for_search(g.trim());
        let by_name: Vec<&HeldProgramme> = all
            .iter()
            .filter(|h| sync_protocol::text::fold_for_search(h.programme.name.as_str()) == folded)
            .collect();
        if let [h] = by_name[..] {
            return Ok((h.id, h.programme.clone()));
        }
        let hex = g.trim().bytes().all(|b| b.is_ascii_hexdigit());
        let several = by_name.len() > 1;
        if several || !hex {
            let listed: Vec<&HeldProgramme> = if by_name.is_empty() {
                all.iter().collect()
            } else {
                by_name
            };
            let names: Vec<String> = listed
                .iter()
                .map(|h| {
                    format!(
                        "«{}» ({}, {} {})",
                        h.programme.name,
                        h.id.short(),
                        ctx.lang.t("do", "launched by"),
                        launched_by(node, &h.launcher)
                    )
                })
                .collect();
            return Err(Failure::input(format!(
                "--programme {g:?}: {} {}",
                if several {
                    ctx.lang.t(
                        "có nhiều chương trình cùng tên; chọn bằng mã:",
                        "several programmes have this name; choose one by id:",
                    )
                } else {
                    ctx.lang.t(
                        "không có chương trình nào tên như vậy; nút này có:",
                        "no programme has this name; this node holds:",
                    )
                },
                names.join(", ")
            )));
        }
        let id = resolve(ctx, node, g)?;
        return all
            .into_iter()
            .find(|h| h.id == id)
            .map(|h| (h.id, h.programme))
            .ok_or_else(|| {
                Failure::input(format!(
                    "--programme {g}: {}",
                    ctx.lang.t(
                        "hồ sơ này không phải một chương trình hợp lệ",
                        "this record is not a valid programme"
                    )
                ))
            });
    }
    if all.is_empty() {
        return Err(Failure::input(ctx.lang.t(
            "nút này chưa có chương trình nào: nhập gói từ cấp trên hoặc tạo bằng `sangkien programme new`",
            "this node holds no programme: import a bundle from above or create one with `sangkien programme new`",
        )));
    }
    if all.len() == 1 {
        let h = all.into_iter().next().expect("one");
        return Ok((h.id, h.programme));
    }
    let now = now_ms();
    let me = node.unit().clone();
    let d = node.directory();
    // Distance from the root of each launcher on this unit's line (0 = the root).
    let mut line = d.ancestors_at(&me, now);
    line.reverse();
    line.push(me.clone());
    let depth_on_line = |u: &UnitId| line.iter().position(|x| x == u);
    let mine: Vec<&HeldProgramme> = all
        .iter()
        .filter(|h| depth_on_line(&h.launcher).is_some())
        .collect();
    let pool: Vec<&HeldProgramme> = if mine.is_empty() {
        all.iter().collect()
    } else {
        mine
    };
    let today = Date::from_unix_ms(now);
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
    let best = pool
        .iter()
        .map(|h| depth_on_line(&h.launcher).unwrap_or(usize::MAX))
        .min()
        .unwrap_or(usize::MAX);
    let chosen: Vec<&HeldProgramme> = pool
        .into_iter()
        .filter(|h| depth_on_line(&h.launcher).unwrap_or(usize::MAX) == best)
        .collect();
    if let [h] = chosen[..] {
        crate::errln!(
            "{} «{}» {} {} ({}: --programme {})",
            ctx.lang.t("Chương trình", "Programme"),
            h.programme.name,
            ctx.lang.t("do", "launched by"),
            launched_by(node, &h.launcher),
            ctx.lang.t(
                "nút có nhiều chương trình; chọn khác bằng",
                "this node holds several; choose another with"
            ),
            h.id.short()
        );
        return Ok((h.id, h.programme.clone()));
    }
    let mut list = String::new();
    for h in &chosen {
        list.push_str(&format!(
            "\n  {}  «{}» {} {}",
            h.id.short(),
            h.programme.name,
            ctx.lang.t("do", "launched by"),
            launched_by(node, &h.launcher)
        ));
    }
    Err(Failure::input(format!(
        "{} {} {}{list}",
        ctx.lang.t("nút này có", "this node holds"),
        chosen.len(),
        ctx.lang.t(
            "chương trình ngang nhau: chọn một bằng --programme MÃ",
            "equally likely programmes: choose one with --programme ID"
        )
    )))
}

/// Checks a phase number against a programme.
pub(crate) fn phase_of(ctx: &Ctx, p: &Programme, phase: u32) -> Result<u32, Failure> {
    if phase == 0 || phase as usize > p.phases.len() {
        return Err(Failure::input(format!(
            "--phase {phase}: {} {} {}",
            ctx.lang.t(
                "chương trình có các giai đoạn 1 đến",
                "the programme has phases 1 to"
            ),
            p.phases.len(),
            ctx.lang.t("— chọn một trong số đó", "— choose one of them")
        )));
    }
    Ok(phase)
}

/// The phase containing `today`, else the last one that started, else the first.
pub(crate) fn default_phase(p: &Programme, today: Date) -> u32 {
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

/// A unit's name as the directory knows it.
pub(crate) fn unit_name(node: &Node, u: &UnitId) -> String {
    node.directory()
        .name(u)
        .map(|n| n.to_string())
        .unwrap_or_else(|| u.to_string())
}

/// Prints JSON.
pub(crate) fn print_json(v: &serde_json::Value) {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// A spinner on standard error while something slow runs; hidden when standard error is not
/// a terminal (tests, pipes).
pub(crate) fn spinner(msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
