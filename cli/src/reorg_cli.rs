//! `sangkien unit move | merge | close | rename | reorganise | reform-plan` and
//! `sangkien federation sample-2024`: the re-organisation of the unit tree (issue 16). The use
//! cases are `node::reorg`; this parses and renders.

use std::path::PathBuf;

use clap::Args;
use node::reorg::{self, Action, LineProblem, Outcome, Plan, ReorgError, Step, StepProblem};
use node::{now_ms, Node};
use serde_json::json;
use sync_protocol::ids::UnitId;
use sync_protocol::limits::{MAX_NOTE_CHARS, MAX_UNIT_NAME_CHARS};
use sync_protocol::text::Text;

use crate::i18n::Lang;
use crate::{Ctx, Failure};

/// How many of a plan's changes a dry run prints.
const DRY_RUN_LINES_COUNT: usize = 10;

/// `unit move`
#[derive(Args, Debug)]
pub struct MoveArgs {
    /// Đơn vị cần chuyển / the unit to move.
    #[arg(long)]
    pub unit: String,
    /// Đơn vị cấp trên mới / its new parent.
    #[arg(long)]
    pub to: String,
    /// Chỉ xem sẽ thay đổi gì / only show what would change.
    #[arg(long)]
    pub dry_run: bool,
}

/// `unit merge`
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Đơn vị bị sáp nhập / the unit merged.
    #[arg(long)]
    pub unit: String,
    /// Đơn vị tiếp nhận / the unit it is merged into.
    #[arg(long = "into", id = "successor")]
    pub into: String,
    /// Ngày có hiệu lực, ví dụ 01/07/2025 (mặc định: hôm nay) / effective date (default today).
    #[arg(long)]
    pub date: Option<String>,
    /// Căn cứ (số quyết định) / why (decision number).
    #[arg(long, default_value = "")]
    pub note: String,
    /// Chỉ xem sẽ thay đổi gì / only show what would change.
    #[arg(long)]
    pub dry_run: bool,
}

/// `unit close`
#[derive(Args, Debug)]
pub struct CloseArgs {
    /// Đơn vị giải thể / the unit closed.
    #[arg(long)]
    pub unit: String,
    /// Ngày có hiệu lực, ví dụ 01/07/2025 (mặc định: hôm nay) / effective date (default today).
    #[arg(long)]
    pub date: Option<String>,
    /// Căn cứ (số quyết định) / why (decision number).
    #[arg(long, default_value = "")]
    pub note: String,
    /// Chỉ xem sẽ thay đổi gì / only show what would change.
    #[arg(long)]
    pub dry_run: bool,
}

/// `unit rename`
#[derive(Args, Debug)]
pub struct RenameArgs {
    /// Đơn vị / the unit.
    #[arg(long)]
    pub unit: String,
    /// Tên mới / its new name.
    #[arg(long)]
    pub name: String,
}

/// `unit reorganise`
#[derive(Args, Debug)]
pub struct ReorganiseArgs {
    /// Tệp kế hoạch sắp xếp / the plan file (see `sangkien unit reform-plan`).
    #[arg(long)]
    pub plan: PathBuf,
    /// Chỉ xem sẽ thay đổi gì / only show what would change.
    #[arg(long)]
    pub dry_run: bool,
    /// Thư mục ghi khóa của các đơn vị mới (mặc định: <data>/new-unit-keys) / where the new
    /// units' private keys are written (default: <data>/new-unit-keys).
    #[arg(long)]
    pub keys_out: Option<PathBuf>,
}

/// `unit reform-plan`
#[derive(Args, Debug)]
pub struct ReformPlanArgs {
    /// Tệp kết quả (mặc định: in ra màn hình) / output file (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `federation sample-2024`
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// Một công đoàn cơ sở cho mỗi N xã (1: tất cả 10.035) / one grassroots union every N
    /// communes (1: all 10,035).
    #[arg(long, default_value_t = 1)]
    pub communes_every: usize,
    /// Số sáng kiến mỗi công đoàn cơ sở / initiatives per grassroots union.
    #[arg(long, default_value_t = 2)]
    pub initiatives: u32,
    /// Hạt giống / seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn unit_id(lang: Lang, flag: &str, s: &str) -> Result<UnitId, Failure> {
    UnitId::new(s.trim()).map_err(|e| {
        Failure::input(format!(
            "--{flag} {s:?}: {}",
            lang.t("mã đơn vị gồm a-z, 0-9 và -", "unit ids are a-z, 0-9 and -")
        ))
        .because(e)
    })
}

fn date_ms(lang: Lang, s: Option<&str>) -> Result<u64, Failure> {
    match s {
        None => Ok(reorg::date_ms(sync_protocol::date::Date::from_unix_ms(
            now_ms(),
        ))),
        Some(s) => Ok(reorg::date_ms(crate::input::date_flag(lang, "date", s)?)),
    }
}

fn note(lang: Lang, s: &str) -> Result<Text, Failure> {
    Text::new("note", s, MAX_NOTE_CHARS).map_err(|e| {
        Failure::input(format!("--note: {}", crate::refusal::text_error(lang, &e))).because(e)
    })
}

/// `unit move`
pub fn move_unit(ctx: &Ctx, a: MoveArgs) -> Result<u8, Failure> {
    let step = Step::Move {
        unit: unit_id(ctx.lang, "unit", &a.unit)?,
        parent: unit_id(ctx.lang, "to", &a.to)?,
    };
    one(ctx, step, now_ms(), Text::default(), a.dry_run)
}

/// `unit merge`
pub fn merge_unit(ctx: &Ctx, a: MergeArgs) -> Result<u8, Failure> {
    let step = Step::Merge {
        unit: unit_id(ctx.lang, "unit", &a.unit)?,
        into: unit_id(ctx.lang, "into", &a.into)?,
    };
    let at = date_ms(ctx.lang, a.date.as_deref())?;
    one(ctx, step, at, note(ctx.lang, &a.note)?, a.dry_run)
}

/// `unit close`
pub fn close_unit(ctx: &Ctx, a: CloseArgs) -> Result<u8, Failure> {
    let step = Step::Close {
        unit: unit_id(ctx.lang, "unit", &a.unit)?,
    };
    let at = date_ms(ctx.lang, a.date.as_deref())?;
    one(ctx, step, at, note(ctx.lang, &a.note)?, a.dry_run)
}

/// `unit rename`
pub fn rename_unit(ctx: &Ctx, a: RenameArgs) -> Result<u8, Failure> {
    let name = Text::required("name", &a.name, MAX_UNIT_NAME_CHARS).map_err(|e| {
        Failure::input(format!(
            "--name: {}",
            crate::refusal::text_error(ctx.lang, &e)
        ))
        .because(e)
    })?;
    let step = Step::Rename {
        unit: unit_id(ctx.lang, "unit", &a.unit)?,
        name,
    };
    one(ctx, step, now_ms(), Text::default(), false)
}

fn one(ctx: &Ctx, step: Step, effective_ms: u64, note: Text, dry_run: bool) -> Result<u8, Failure> {
    let plan = Plan {
        effective_ms,
        note,
        steps: vec![(0, step)],
    };
    run_plan(ctx, &plan, dry_run, None)
}

/// `unit reorganise --plan FILE [--dry-run]`
pub fn reorganise(ctx: &Ctx, a: ReorganiseArgs) -> Result<u8, Failure> {
    let plan = reorg::read_plan(&a.plan).map_err(|e| failure(ctx.lang, e))?;
    run_plan(ctx, &plan, a.dry_run, a.keys_out)
}

fn run_plan(
    ctx: &Ctx,
    plan: &Plan,
    dry_run: bool,
    keys_out: Option<PathBuf>,
) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let mut node = crate::commands::open(ctx)?;
    let keys_dir = keys_out.unwrap_or_else(|| node.dir().join("new-unit-keys"));
    let out = reorg::apply(&mut node, plan, now_ms(), dry_run, &keys_dir)
        .map_err(|e| failure(lang, e))?;
    render(ctx, &out, dry_run);
    Ok(0)
}

fn render(ctx: &Ctx, o: &Outcome, dry_run: bool) {
    let lang = ctx.lang;
    if ctx.json {
        crate::outln!(
            "{}",
            json!({
                "dry_run": dry_run,
                "new": o.new_count,
                "moved": o.moved_count,
                "renamed": o.renamed_count,
                "closed": o.closed_count,
                "merged": o.merged_count,
                "entries": o.entries_count,
                "keys_dir": o.keys_dir,
                "first": o.actions.iter().take(DRY_RUN_LINES_COUNT).map(|a| a.to_string()).collect::<Vec<_>>(),
            })
        );
        return;
    }
    crate::outln!(
        "{}",
        if dry_run {
            lang.t(
                "Chạy thử (chưa ghi gì): kế hoạch sẽ",
                "Dry run (nothing written): the plan would",
            )
        } else {
            lang.t("Đã sắp xếp lại:", "Re-organised:")
        }
    );
    for (n, vi, en) in [
        (o.new_count, "thành lập đơn vị mới", "certify new units"),
        (
            o.moved_count,
            "chuyển đơn vị sang cấp trên mới",
            "move units to a new parent",
        ),
        (o.renamed_count, "đổi tên đơn vị", "rename units"),
        (o.closed_count, "giải thể đơn vị", "close units"),
        (o.merged_count, "sáp nhập đơn vị", "merge units"),
    ] {
        crate::outln!("  {:>8}  {}", lang.int(n as u64), lang.t(vi, en));
    }
    crate::outln!(
        "  {:>8}  {}",
        lang.int(o.entries_count as u64),
        lang.t("mục đã ký", "signed entries")
    );
    if dry_run && !o.actions.is_empty() {
        crate::outln!(
            "{}",
            lang.t("Những thay đổi đầu tiên:", "The first changes:")
        );
        for a in o.actions.iter().take(DRY_RUN_LINES_COUNT) {
            crate::outln!("  {}", action(lang, a));
        }
    }
    if let Some(dir) = &o.keys_dir {
        crate::outln!(
            "{} {}",
            lang.t(
                "Khóa bí mật của các đơn vị mới (trao tận tay từng đơn vị rồi xóa):",
                "Private keys of the new units (hand each to its unit, then delete them):"
            ),
            dir.display()
        );
    }
}

fn action(lang: Lang, a: &Action) -> String {
    match a {
        Action::New {
            unit,
            role,
            parent,
            name,
        } => format!(
            "{} {unit} ({name}, {}) {} {parent}",
            lang.t("thành lập", "new"),
            lang.role(*role),
            lang.t("thuộc", "under")
        ),
        Action::Move { unit, from, to } => format!(
            "{} {unit} {} {from} {} {to}",
            lang.t("chuyển", "move"),
            lang.t("từ", "from"),
            lang.t("sang", "to")
        ),
        Action::Rename { unit, name } => format!(
            "{} {unit} {} {name}",
            lang.t("đổi tên", "rename"),
            lang.t("thành", "to")
        ),
        Action::Close { unit } => format!("{} {unit}", lang.t("giải thể", "close")),
        Action::Merge { unit, into } => format!(
            "{} {unit} {} {into}",
            lang.t("sáp nhập", "merge"),
            lang.t("vào", "into")
        ),
    }
}

fn where_(lang: Lang, line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!("{} {line}: ", lang.t("dòng", "line"))
    }
}

/// A re-organisation error as a sentence, exit 2 (bad input) or 1 (refused, or the node
/// failed).
pub fn failure(lang: Lang, e: ReorgError) -> Failure {
    let t = |vi: &str, en: &str| lang.t(vi, en).to_owned();
    let msg = match &e {
        ReorgError::Read { path, source } => format!(
            "{}: {} ({source})",
            path.display(),
            t("không đọc được tệp kế hoạch", "cannot read the plan file")
        ),
        ReorgError::TooLarge { actual } => format!(
            "{} {} {}, {} {}",
            t("tệp kế hoạch dài", "the plan file is"),
            lang.int(*actual),
            t("byte", "bytes"),
            t("quá giới hạn", "over the limit of"),
            lang.int(sync_protocol::limits::MAX_PLAN_BYTES)
        ),
        ReorgError::TooManyLines => format!(
            "{} {}",
            t("tệp kế hoạch có quá", "the plan has over"),
            lang.int(sync_protocol::limits::MAX_PLAN_LINES_COUNT as u64)
        ) + &t(" dòng", " lines"),
        ReorgError::NoDate => t(
            "kế hoạch thiếu dòng ngày hiệu lực, ví dụ: effective,01/07/2025",
            "the plan has no effective date line, e.g. effective,01/07/2025",
        ),
        ReorgError::Line { line, problem } => format!(
            "{}{}",
            where_(lang, *line),
            match problem {
                LineProblem::UnknownInstruction(s) => format!(
                    "{} {s:?}; {}",
                    t("lệnh không rõ", "unknown instruction"),
                    t(
                        "dùng effective, note, new, move, rename, commune, children, close, merge",
                        "use effective, note, new, move, rename, commune, children, close, merge"
                    )
                ),
                LineProblem::FieldCount {
                    instruction,
                    expected,
                    found,
                } => format!(
                    "{instruction} {} {expected} {}, {} {found}",
                    t("cần", "takes"),
                    t("trường", "fields"),
                    t("có", "found")
                ),
                LineProblem::BadUnitId(s) => format!(
                    "{s:?}: {}",
                    t("mã đơn vị gồm a-z, 0-9 và -", "unit ids are a-z, 0-9 and -")
                ),
                LineProblem::BadRole(s) => format!(
                    "{s:?}: {}",
                    t(
                        "vai trò không hợp lệ (provincial, central-sector, corporation, direct-superior, grassroots)",
                        "invalid role (provincial, central-sector, corporation, direct-superior, grassroots)"
                    )
                ),
                LineProblem::BadDate(s) => format!(
                    "{s:?}: {}",
                    t(
                        "không phải ngày; viết như 01/07/2025",
                        "not a date; write it as 01/07/2025"
                    )
                ),
                LineProblem::SecondDate => t("ngày hiệu lực thứ hai", "a second effective date"),
                LineProblem::BadText(_) => t("tên hoặc ghi chú không hợp lệ", "invalid name or note"),
                LineProblem::BadCommuneCode(s) => format!(
                    "{s:?}: {}",
                    t("mã xã phải có 5 chữ số", "a commune code has 5 digits")
                ),
            }
        ),
        ReorgError::Step { line, problem } => format!(
            "{}{}",
            where_(lang, *line),
            match problem {
                StepProblem::Unknown(u) => format!(
                    "{u}: {}",
                    t("đơn vị không có ở nút này", "no such unit at this node")
                ),
                StepProblem::Exists(u) => format!(
                    "{u}: {}",
                    t("mã đơn vị đã có", "the unit id is taken")
                ),
                StepProblem::Ended(u) => format!(
                    "{u}: {}",
                    t(
                        "đơn vị đã giải thể hoặc sáp nhập",
                        "the unit has been closed or merged"
                    )
                ),
                StepProblem::Root => t(
                    "không thể chuyển, sáp nhập hay giải thể đơn vị gốc",
                    "the root unit cannot be moved, merged or closed",
                ),
                StepProblem::UnderItself { unit } => format!(
                    "{unit}: {}",
                    t(
                        "đơn vị sẽ nằm dưới chính nó",
                        "the unit would sit under itself"
                    )
                ),
                StepProblem::RoleNotAllowed { parent, child } => format!(
                    "{} ({}) {} ({})",
                    t("đơn vị loại", "a unit of role"),
                    lang.role(*child),
                    t("không được đặt dưới đơn vị loại", "may not sit under a unit of role"),
                    lang.role(*parent)
                ),
                StepProblem::RolesDiffer { unit, into, .. } => format!(
                    "{unit}, {into}: {}",
                    t(
                        "chỉ sáp nhập được vào đơn vị cùng cấp",
                        "a unit merges only into one of the same role"
                    )
                ),
                StepProblem::HasChildren { unit, count } => format!(
                    "{unit}: {} {} {}",
                    t("còn", "still has"),
                    lang.int(*count as u64),
                    t(
                        "đơn vị trực thuộc; chuyển chúng đi trước (unit move) hoặc dùng unit merge",
                        "units under it; move them first (unit move) or use unit merge"
                    )
                ),
            }
        ),
        ReorgError::Refused { action: a, source } => format!(
            "{}: {}: {}",
            t(
                "không thực hiện (không ghi gì)",
                "not carried out (nothing written)"
            ),
            action(lang, a),
            crate::refusal::node_error(lang, source)
        ),
        ReorgError::Node(n) => crate::refusal::node_error(lang, n),
    };
    match e {
        ReorgError::Refused { .. } | ReorgError::Node(_) => Failure::problem(msg).because(e),
        _ => Failure::input(msg).because(e),
    }
}

/// `unit reform-plan [--out FILE]`
pub fn reform_plan(ctx: &Ctx, a: ReformPlanArgs) -> Result<u8, Failure> {
    let plan = reorg::reform::plan_2025(&reorg::reform::ReformData::shipped());
    match a.out {
        Some(path) => {
            std::fs::write(&path, plan).map_err(|e| {
                Failure::input(format!(
                    "--out {}: {e} ({})",
                    path.display(),
                    ctx.lang
                        .t("chọn một tệp ghi được", "choose a writable file")
                ))
            })?;
            crate::errln!("{} {}", ctx.lang.t("Đã ghi", "Wrote"), path.display());
        }
        None => crate::outln!("{}", plan.trim_end()),
    }
    Ok(0)
}

/// `federation sample-2024`
pub fn sample_2024(ctx: &Ctx, a: SampleArgs) -> Result<u8, Failure> {
    let dir = ctx.data()?;
    let data = reorg::reform::ReformData::shipped();
    let (node, s) = reorg::reform::sample_2024(dir, &data, a.communes_every, a.initiatives, a.seed)
        .map_err(|e| crate::refusal::input(ctx.lang, e))?;
    drop::<Node>(node);
    if ctx.json {
        crate::outln!(
            "{}",
            json!({"units": s.units_count, "grassroots": s.grassroots_count, "initiatives": s.initiatives_count, "programme": s.programme.to_hex()})
        );
    } else {
        crate::outln!(
            "{} {}: {} {}, {} {}, {} {}",
            ctx.lang.t(
                "Đã tạo liên đoàn mẫu theo cơ cấu 2024 tại",
                "Created a sample federation of the 2024 structure at"
            ),
            dir.display(),
            ctx.lang.int(s.units_count as u64),
            ctx.lang.t("đơn vị", "units"),
            ctx.lang.int(s.grassroots_count as u64),
            ctx.lang.t("công đoàn cơ sở", "grassroots unions"),
            ctx.lang.int(s.initiatives_count as u64),
            ctx.lang.t("sáng kiến", "initiatives")
        );
    }
    Ok(0)
}
