//! `sangkien initiative new | edit | show | list | search | attach`: the grassroots support
//! team's registration (Mẫu 1) and description (Mẫu 4) of initiatives, and reading them at any
//! level.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use node::search::{self, Listed};
use node::{blobs, now_ms, records, Node};
use serde_json::json;
use sync_protocol::entry::{EntryBody, Sector, UnitRole};
use sync_protocol::limits::*;
use sync_protocol::record::{
    Application, Author, Description, EmployerRecognition, Initiative, RecordContent,
};
use sync_protocol::store::EntryLookup;

use super::{date, missing, open, print_json, refused, resolve, store_failed, text, unit_name};
use crate::i18n::Lang;
use crate::{Ctx, Failure};

/// `sangkien initiative ...`
#[derive(Subcommand, Debug)]
pub enum InitiativeCommand {
    /// Đăng ký sáng kiến mới (Mẫu 1, Mẫu 4) tại công đoàn cơ sở / register a new initiative
    /// at a grassroots union.
    New(Box<Fields>),
    /// Sửa sáng kiến (chỉ các cờ đã cho) / edit an initiative (only the flags given).
    Edit {
        /// Mã sáng kiến (hoặc ít nhất 8 chữ số đầu) / initiative id (or its first 8+ digits).
        id: String,
        #[command(flatten)]
        fields: Box<Fields>,
    },
    /// Xem một sáng kiến và chuỗi quyết định / show an initiative and its decision chain.
    Show {
        /// Mã sáng kiến / initiative id.
        id: String,
    },
    /// Liệt kê sáng kiến / list initiatives.
    List {
        /// Chỉ trạng thái / only this status: registered, submit, return, reject, approve,
        /// recognise, award-typical, award-excellent.
        #[arg(long)]
        status: Option<String>,
        /// Chỉ sáng kiến của đơn vị này và cấp dưới / only this unit's subtree.
        #[arg(long)]
        unit: Option<String>,
        /// Chỉ lĩnh vực này / only this sector.
        #[arg(long)]
        sector: Option<String>,
        /// Trang, từ 1 / page, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Số sáng kiến mỗi trang / initiatives per page.
        #[arg(long, default_value_t = sync_protocol::limits::DEFAULT_PAGE_ITEMS_COUNT)]
        limit: usize,
    },
    /// Tìm sáng kiến (không phân biệt dấu, hoa thường) / search (ignores diacritics and case).
    Search {
        /// Từ khóa / words to find.
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Chỉ trạng thái / only this status.
        #[arg(long)]
        status: Option<String>,
        /// Chỉ sáng kiến của đơn vị này và cấp dưới / only this unit's subtree.
        #[arg(long)]
        unit: Option<String>,
        /// Chỉ lĩnh vực này / only this sector.
        #[arg(long)]
        sector: Option<String>,
        /// Trang, từ 1 / page, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Số sáng kiến mỗi trang / initiatives per page.
        #[arg(long, default_value_t = sync_protocol::limits::DEFAULT_PAGE_ITEMS_COUNT)]
        limit: usize,
    },
    /// Đính kèm tệp (tối đa 25 MiB) / attach a file (at most 25 MiB).
    Attach {
        /// Mã sáng kiến / initiative id.
        id: String,
        /// Tệp / the file.
        file: PathBuf,
        /// Tên hiển thị (mặc định: tên tệp) / display name (default: the file name).
        #[arg(long)]
        name: Option<String>,
    },
}

/// The fields of an initiative as flags (all optional for `edit`).
#[derive(Args, Debug, Default)]
pub struct Fields {
    /// Tên sáng kiến / title.
    #[arg(long)]
    title: Option<String>,
    /// Tác giả "Họ tên|Chức vụ", lặp lại cho nhóm tác giả / author "Name|Position", repeat
    /// for a group.
    #[arg(long = "author")]
    authors: Vec<String>,
    /// Lĩnh vực, theo tên hoặc mã / sector, by name or code: production-business,
    /// administration, education, health, science-technology, other.
    #[arg(long)]
    sector: Option<String>,
    /// Tóm tắt hiệu quả / summary of effect.
    #[arg(long)]
    summary: Option<String>,
    /// Chương trình: tên hoặc mã (bỏ qua nếu nút chỉ có một) / programme: name or id
    /// (optional when the node holds one).
    #[arg(long)]
    programme: Option<String>,
    /// Giai đoạn của chương trình / programme phase.
    #[arg(long)]
    phase: Option<u32>,
    /// Ngày đăng ký, ví dụ 15/07/2022 (mặc định: hôm nay) / registration date, e.g.
    /// 15/07/2022 or 2022-07-15 (default: today).
    #[arg(long)]
    registered: Option<String>,
    /// Ghi nhận dù ngày đăng ký ngoài thời gian của giai đoạn / record even though the
    /// registration date is outside the phase's dates.
    #[arg(long)]
    outside_phase: bool,
    /// Giá trị làm lợi, ví dụ 2.400.000.000 (đồng) / benefit value, e.g. 2.400.000.000 or
    /// 2400000000 (VND).
    #[arg(long)]
    benefit: Option<String>,
    /// Áp dụng thử (mặc định: đã áp dụng) / on trial (default: applied).
    #[arg(long)]
    trial: bool,
    /// Đã áp dụng / applied.
    #[arg(long, conflicts_with = "trial")]
    applied: bool,
    /// Bí mật công nghệ / technology secret (confidential).
    #[arg(long)]
    confidential: bool,
    /// Mẫu 4: thực trạng / current state.
    #[arg(long)]
    current_state: Option<String>,
    /// Mẫu 4: giải pháp / solution.
    #[arg(long)]
    solution: Option<String>,
    /// Mẫu 4: tính mới / novelty.
    #[arg(long)]
    novelty: Option<String>,
    /// Mẫu 4: phạm vi áp dụng / scope of application.
    #[arg(long)]
    scope: Option<String>,
    /// Mẫu 4: hiệu quả / effectiveness.
    #[arg(long)]
    effectiveness: Option<String>,
    /// Số quyết định công nhận của người sử dụng lao động / employer's decision number.
    #[arg(long)]
    employer_decision: Option<String>,
    /// Ngày quyết định đó, ví dụ 15/07/2022 / its date, e.g. 15/07/2022.
    #[arg(long)]
    employer_date: Option<String>,
    /// Hình thức khen thưởng / reward.
    #[arg(long)]
    employer_reward: Option<String>,
}

/// Runs an initiative subcommand.
pub fn run(ctx: &Ctx, c: InitiativeCommand) -> Result<u8, Failure> {
    match c {
        InitiativeCommand::New(f) => new(ctx, *f),
        InitiativeCommand::Edit { id, fields } => edit(ctx, &id, *fields),
        InitiativeCommand::Show { id } => show(ctx, &id),
        InitiativeCommand::List {
            status,
            unit,
            sector,
            page,
            limit,
        } => list(
            ctx,
            None,
            Filters {
                status: status.as_deref(),
                unit: unit.as_deref(),
                sector: sector.as_deref(),
            },
            page,
            limit,
        ),
        InitiativeCommand::Search {
            query,
            status,
            unit,
            sector,
            page,
            limit,
        } => list(
            ctx,
            Some(&query.join(" ")),
            Filters {
                status: status.as_deref(),
                unit: unit.as_deref(),
                sector: sector.as_deref(),
            },
            page,
            limit,
        ),
        InitiativeCommand::Attach { id, file, name } => attach(ctx, &id, &file, name.as_deref()),
    }
}

fn new(ctx: &Ctx, f: Fields) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let mut node = open(ctx)?;
    let now = now_ms();
    let d = node.directory();
    if d.role_at(node.unit(), now) != Some(UnitRole::Grassroots) {
        return Err(Failure::input(lang.t(
            "chỉ công đoàn cơ sở đăng ký sáng kiến: chạy lệnh này trên nút của công đoàn cơ sở (--data)",
            "only a grassroots union registers initiatives: run this on the grassroots union's node (--data)",
        )));
    }
    let superior = d.parent_at(node.unit(), now).cloned().ok_or_else(|| {
        Failure::problem(lang.t(
            "đơn vị này chưa có cấp trên trực tiếp trong cây đơn vị",
            "this unit has no direct superior in the unit tree",
        ))
    })?;
    // Every missing flag at once, each with what it is for.
    let absent: Vec<(&str, &str, &str)> = [
        (
            f.title.is_none(),
            "title",
            "tên sáng kiến",
            "the initiative's title",
        ),
        (
            f.authors.is_empty(),
            "author",
            "tác giả \"Họ tên|Chức vụ\"",
            "an author \"Name|Position\"",
        ),
        (f.sector.is_none(), "sector", "lĩnh vực", "the sector"),
        (
            f.summary.is_none(),
            "summary",
            "tóm tắt hiệu quả",
            "the summary of effect",
        ),
    ]
    .into_iter()
    .filter(|(gone, ..)| *gone)
    .map(|(_, flag, vi, en)| (flag, vi, en))
    .collect();
    if !absent.is_empty() {
        return Err(super::missing_all(lang, &absent));
    }
    let mut i = Initiative {
        title: Default::default(),
        authors: Vec::new(),
        origin: node.unit().clone(),
        superior,
        programme: None,
        phase: 0,
        sector: Sector::Other,
        summary: Default::default(),
        registered_on: super::today(lang, None)?,
        description: Description::default(),
        benefit_vnd: 0,
        application: Application::Applied,
        recognition: None,
        confidential: f.confidential,
        attachments: Vec::new(),
        commitment_salt: f.confidential.then(records::new_salt),
    };
    apply(ctx, &node, &mut i, &f)?;
    if f.programme.is_none() && f.phase.is_none() {
        // By default, the node's only programme, in the phase the registration date falls in.
        if let [(prog, p)] = super::programmes(ctx, &node)?.as_slice() {
            let d = i.registered_on;
            if let Some(n) = p.phases.iter().position(|ph| ph.start <= d && d <= ph.end) {
                i.programme = Some(*prog);
                i.phase = n as u32 + 1;
            }
        }
    }
    let content = RecordContent::Initiative(Box::new(i.clone()));
    let id = records::create(&mut node, &content, now)
        .map_err(|e| refused(lang, lang.t("không đăng ký được", "could not register"), e))?;
    if ctx.json {
        print_json(
            &json!({"id": id.to_hex(), "title": i.title.as_str(), "origin": i.origin.as_str(), "superior": i.superior.as_str(), "confidential": i.confidential, "programme": i.programme.map(|p| p.to_hex()), "phase": i.programme.map(|_| i.phase)}),
        );
    } else {
        crate::outln!(
            "{} «{}» — {}: {}",
            lang.t("Đã đăng ký sáng kiến", "Registered initiative"),
            i.title,
            lang.t("mã", "id"),
            id.to_hex()
        );
        if let Some(p) = i.programme {
            crate::outln!(
                "  {} {}, {} {}",
                lang.t("chương trình", "programme"),
                p.short(),
                lang.t("giai đoạn", "phase"),
                i.phase
            );
        }
    }
    Ok(0)
}

fn edit(ctx: &Ctx, id: &str, f: Fields) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let mut node = open(ctx)?;
    let record = resolve(ctx, &node, id)?;
    let now = now_ms();
    let rep = records::check(&node, record, now).map_err(|e| store_failed(lang, e))?;
    let Some(RecordContent::Initiative(mut i)) = rep.content else {
        return Err(Failure::input(format!(
            "{}: {}",
            record.short(),
            lang.t(
                "không phải sáng kiến mà nút này giữ toàn văn (chỉ đơn vị gốc sửa được)",
                "not an initiative whose full record this node holds (only its origin unit may edit it)"
            )
        )));
    };
    if f.confidential && !i.confidential {
        return Err(Failure::input(lang.t(
            "--confidential: tính bí mật được chọn khi đăng ký và không đổi được",
            "--confidential: confidentiality is chosen at registration and cannot change",
        )));
    }
    apply(ctx, &node, &mut i, &f)?;
    let changed = records::edit(
        &mut node,
        record,
        |c| *c = RecordContent::Initiative(i.clone()),
        now,
    )
    .map_err(|e| refused(lang, lang.t("không sửa được", "could not edit"), e))?;
    if ctx.json {
        print_json(&json!({"id": record.to_hex(), "changed": changed}));
    } else if changed {
        crate::outln!(
            "{} {}",
            lang.t("Đã sửa sáng kiến", "Edited initiative"),
            record.to_hex()
        );
    } else {
        crate::outln!("{}", lang.t("Không có gì thay đổi", "Nothing changed"));
    }
    Ok(0)
}

/// Applies the flags given to an initiative, checking each.
fn apply(ctx: &Ctx, node: &Node, i: &mut Initiative, f: &Fields) -> Result<(), Failure> {
    let lang = ctx.lang;
    if let Some(t) = &f.title {
        i.title = text(lang, "title", t, MAX_TITLE_CHARS, true)?;
    }
    if !f.authors.is_empty() {
        if f.authors.len() > MAX_AUTHORS_COUNT {
            return Err(Failure::input(format!(
                "--author: {} {}, {} {MAX_AUTHORS_COUNT}",
                f.authors.len(),
                lang.t("tác giả", "authors"),
                lang.t("vượt giới hạn", "over the limit of")
            )));
        }
        i.authors = f
            .authors
            .iter()
            .map(|a| {
                let (name, position) = a.split_once('|').unwrap_or((a.as_str(), ""));
                Ok(Author {
                    name: text(lang, "author", name, MAX_SHORT_TEXT_CHARS, true)?,
                    position: text(lang, "author", position, MAX_SHORT_TEXT_CHARS, false)?,
                })
            })
            .collect::<Result<_, Failure>>()?;
    }
    if let Some(s) = &f.sector {
        i.sector = crate::input::sector_flag(lang, s)?;
    }
    if let Some(s) = &f.summary {
        i.summary = super::multiline(lang, "summary", s, MAX_SUMMARY_CHARS, true)?;
    }
    if let Some(d) = &f.registered {
        i.registered_on = date(lang, "registered", d)?;
    }
    let chosen = if f.programme.is_some() || f.phase.is_some() {
        // By name or id; with neither, the programme already named, else the only one held.
        let given = f.programme.clone().or(i.programme.map(|p| p.to_hex()));
        let (prog, programme) = super::programme(ctx, node, given.as_deref())?;
        let phase = match f.phase {
            Some(p) => p,
            None if i.programme == Some(prog) && i.phase != 0 => i.phase,
            None => {
                return Err(missing(
                    lang,
                    "phase",
                    "giai đoạn của chương trình",
                    "the programme phase",
                ))
            }
        };
        i.programme = Some(prog);
        i.phase = super::phase_of(ctx, &programme, phase)?;
        Some(programme)
    } else if f.registered.is_some() {
        match i.programme {
            Some(prog) => Some(super::programme(ctx, node, Some(&prog.to_hex()))?.1),
            None => None,
        }
    } else {
        None
    };
    if let (Some(programme), false) = (chosen, f.outside_phase) {
        if let Some(ph) = programme.phases.get(i.phase.wrapping_sub(1) as usize) {
            let d = i.registered_on;
            if d < ph.start || d > ph.end {
                return Err(Failure::input(format!(
                    "--registered {}: {} {} «{}» {} {} {} {}). {}",
                    lang.date(d),
                    lang.t("ngoài thời gian của giai đoạn", "is outside phase"),
                    i.phase,
                    ph.name,
                    lang.t("(từ", "(from"),
                    lang.date(ph.start),
                    lang.t("đến", "to"),
                    lang.date(ph.end),
                    lang.t(
                        "Sửa ngày hoặc giai đoạn; nếu đúng là đăng ký muộn hay sớm, thêm --outside-phase để vẫn ghi nhận",
                        "Fix the date or the phase; if it really was registered early or late, add --outside-phase to record it anyway"
                    )
                )));
            }
        }
    }
    if let Some(b) = &f.benefit {
        let b = crate::input::money_flag(lang, "benefit", b)?;
        if b > MAX_BENEFIT_VND {
            return Err(Failure::input(format!(
                "--benefit {}: {} {}",
                lang.int(b),
                lang.t("vượt giới hạn", "over the limit of"),
                lang.int(MAX_BENEFIT_VND)
            )));
        }
        i.benefit_vnd = b;
    }
    if f.trial {
        i.application = Application::Trial;
    }
    if f.applied {
        i.application = Application::Applied;
    }
    let section = |flag: &'static str, v: &Option<String>, into: &mut _| -> Result<(), Failure> {
        if let Some(v) = v {
            *into = super::multiline(lang, flag, v, MAX_DESCRIPTION_SECTION_CHARS, false)?;
        }
        Ok(())
    };
    section(
        "current-state",
        &f.current_state,
        &mut i.description.current_state,
    )?;
    section("solution", &f.solution, &mut i.description.solution)?;
    section("novelty", &f.novelty, &mut i.description.novelty)?;
    section("scope", &f.scope, &mut i.description.scope)?;
    section(
        "effectiveness",
        &f.effectiveness,
        &mut i.description.effectiveness,
    )?;
    let any_employer =
        f.employer_decision.is_some() || f.employer_date.is_some() || f.employer_reward.is_some();
    if any_employer {
        let (Some(n), Some(d), Some(r)) =
            (&f.employer_decision, &f.employer_date, &f.employer_reward)
        else {
            return Err(Failure::input(lang.t(
                "công nhận của người sử dụng lao động cần đủ --employer-decision, --employer-date và --employer-reward",
                "the employer's recognition needs all of --employer-decision, --employer-date and --employer-reward",
            )));
        };
        i.recognition = Some(EmployerRecognition {
            decision_number: text(lang, "employer-decision", n, MAX_SHORT_TEXT_CHARS, true)?,
            date: date(lang, "employer-date", d)?,
            reward: text(lang, "employer-reward", r, MAX_SHORT_TEXT_CHARS, true)?,
        });
    }
    Ok(())
}

fn show(ctx: &Ctx, id: &str) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let node = open(ctx)?;
    let record = resolve(ctx, &node, id)?;
    let now = now_ms();
    let l = search::listed_of(&node, record, now)
        .map_err(|e| store_failed(lang, e))?
        .ok_or_else(|| {
            Failure::input(format!(
                "{}: {}",
                record.short(),
                lang.t(
                    "không phải sáng kiến hợp lệ tại nút này (xem `sangkien verify`)",
                    "not a valid initiative at this node (see `sangkien verify`)"
                )
            ))
        })?;
    let rep = records::check(&node, record, now).map_err(|e| store_failed(lang, e))?;
    let mut chain = Vec::new();
    for h in &rep.chain {
        let Some(e) = node.store().entry(h).map_err(|e| store_failed(lang, e))? else {
            continue;
        };
        if let EntryBody::Decision(d) = e.body() {
            chain.push((
                d.kind,
                e.author().clone(),
                d.officer_name.to_string(),
                d.officer_title.to_string(),
                d.note.to_string(),
                e.time_ms(),
                *h,
            ));
        }
    }
    if ctx.json {
        let mut v = listed_json(&node, &l);
        v["decisions"] = chain
            .iter()
            .map(|(k, u, name, title, note, t, h)| json!({"decision": k.code(), "unit": u.as_str(), "officer": name, "officer_title": title, "note": note, "time_ms": t, "entry": h.to_hex()}))
            .collect();
        if let Some(i) = &l.full {
            v["description"] = json!({
                "current_state": i.description.current_state.as_str(),
                "solution": i.description.solution.as_str(),
                "novelty": i.description.novelty.as_str(),
                "scope": i.description.scope.as_str(),
                "effectiveness": i.description.effectiveness.as_str(),
            });
            v["application"] = json!(i.application.code());
            v["employer_recognition"] = json!(i.recognition.as_ref().map(|r| json!({"decision_number": r.decision_number.as_str(), "date": r.date.to_string(), "reward": r.reward.as_str()})));
            v["attachments"] = i
                .attachments
                .iter()
                .map(|a| json!({"name": a.name.as_str(), "hash": a.hash.to_hex(), "size_bytes": a.size_bytes, "held": blobs::contains(node.dir(), &a.hash)}))
                .collect();
        }
        print_json(&v);
        return Ok(0);
    }
    crate::outln!("{} {}", lang.t("Sáng kiến", "Initiative"), record.to_hex());
    crate::outln!("  {}: {}", lang.t("Tên", "Title"), l.title);
    if !l.authors.is_empty() {
        let authors: Vec<String> = l
            .full
            .iter()
            .flat_map(|i| i.authors.iter())
            .map(|a| {
                if a.position.is_empty() {
                    a.name.to_string()
                } else {
                    format!("{} ({})", a.name, a.position)
                }
            })
            .collect();
        crate::outln!("  {}: {}", lang.t("Tác giả", "Authors"), authors.join("; "));
    }
    crate::outln!(
        "  {}: {} ({})",
        lang.t("Đơn vị", "Unit"),
        l.origin_name,
        l.origin
    );
    crate::outln!(
        "  {}: {}",
        lang.t("Lĩnh vực", "Sector"),
        lang.sector(l.sector)
    );
    crate::outln!(
        "  {}: {}",
        lang.t("Tóm tắt hiệu quả", "Summary of effect"),
        l.summary
    );
    crate::outln!(
        "  {}: {} VND",
        lang.t("Giá trị làm lợi", "Benefit value"),
        lang.int(l.benefit_vnd)
    );
    if let Some(d) = l.registered_on {
        crate::outln!(
            "  {}: {}",
            lang.t("Ngày đăng ký", "Registered on"),
            lang.date(d)
        );
    }
    if let Some((p, phase)) = l.programme {
        crate::outln!(
            "  {}: {} ({} {phase})",
            lang.t("Chương trình", "Programme"),
            p.short(),
            lang.t("giai đoạn", "phase")
        );
    }
    crate::outln!(
        "  {}: {}",
        lang.t("Trạng thái", "Status"),
        status_label(lang, &l)
    );
    if l.confidential {
        crate::outln!(
            "  {}",
            if l.full.is_some() {
                lang.t("Bí mật công nghệ: toàn văn chỉ ở đơn vị gốc và cấp trên trực tiếp", "Technology secret: the full record stays with the origin and its direct superior")
            } else {
                lang.t(
                    "Bí mật công nghệ: nút này chỉ giữ phần công khai",
                    "Technology secret: this node holds only the public part",
                )
            }
        );
    }
    if let Some(i) = &l.full {
        crate::outln!(
            "  {}: {}",
            lang.t("Áp dụng", "Application"),
            match i.application {
                Application::Applied => lang.t("đã áp dụng", "applied"),
                Application::Trial => lang.t("áp dụng thử", "on trial"),
            }
        );
        let dsc = &i.description;
        for (vi, en, v) in [
            ("Thực trạng", "Current state", &dsc.current_state),
            ("Giải pháp", "Solution", &dsc.solution),
            ("Tính mới", "Novelty", &dsc.novelty),
            ("Phạm vi áp dụng", "Scope", &dsc.scope),
            ("Hiệu quả", "Effectiveness", &dsc.effectiveness),
        ] {
            if !v.is_empty() {
                crate::outln!("  {}: {v}", lang.t(vi, en));
            }
        }
        if let Some(r) = &i.recognition {
            crate::outln!(
                "  {}: {} {}, {}",
                lang.t(
                    "Công nhận của đơn vị sử dụng lao động",
                    "Employer's recognition"
                ),
                r.decision_number,
                lang.date(r.date),
                r.reward
            );
        }
        for a in &i.attachments {
            let held = if blobs::contains(node.dir(), &a.hash) {
                ""
            } else {
                lang.t(" (tệp không có ở nút này)", " (file not held here)")
            };
            crate::outln!(
                "  {}: {} — {} {} — {}{held}",
                lang.t("Tệp đính kèm", "Attachment"),
                a.name,
                lang.int(a.size_bytes),
                lang.t("byte", "bytes"),
                a.hash.short()
            );
        }
    }
    crate::outln!(
        "  {}:",
        lang.t(
            "Chuỗi quyết định (mục đã ký)",
            "Decision chain (signed entries)"
        )
    );
    if chain.is_empty() {
        crate::outln!("    {}", lang.t("(chưa có)", "(none yet)"));
    }
    for (k, u, name, title, note, t, h) in &chain {
        let note = if note.is_empty() {
            String::new()
        } else {
            format!(" — «{note}»")
        };
        crate::outln!(
            "    {} {} — {} — {name}, {title}{note} [{}]",
            lang.date(sync_protocol::date::Date::from_unix_ms(*t)),
            lang.decision(*k),
            unit_name(&node, u),
            h.short()
        );
    }
    if l.approved_state_differs {
        crate::outln!("  {}", lang.t("LƯU Ý: sáng kiến đã được sửa sau quyết định cuối; quyết định đó không áp dụng cho nội dung hiện tại", "NOTE: edited after its last decision; that decision does not carry over to the current content"));
    }
    if l.conflict {
        crate::outln!(
            "  {}",
            lang.t(
                "XUNG ĐỘT: chuỗi quyết định bị rẽ nhánh (xem `sangkien verify`)",
                "CONFLICT: the decision chain forks (see `sangkien verify`)"
            )
        );
    }
    Ok(0)
}

/// The status of an initiative in words.
pub(crate) fn status_label(lang: Lang, l: &Listed) -> String {
    if l.conflict {
        return lang.t("xung đột", "conflict").into();
    }
    match &l.status {
        None => lang.t("chưa nộp", "not submitted").into(),
        Some((k, _, _)) => lang.decision(*k).into(),
    }
}

/// The stable status code used by `--status` and JSON.
pub(crate) fn status_code(l: &Listed) -> &'static str {
    match (&l.status, l.conflict) {
        (_, true) => "conflict",
        (None, _) => "registered",
        (Some((k, _, _)), _) => k.code(),
    }
}

fn listed_json(node: &Node, l: &Listed) -> serde_json::Value {
    json!({
        "id": l.record.to_hex(),
        "title": l.title,
        "authors": l.authors,
        "origin": l.origin.as_str(),
        "origin_name": unit_name(node, &l.origin),
        "sector": l.sector.code(),
        "summary": l.summary,
        "benefit_vnd": l.benefit_vnd,
        "programme": l.programme.map(|(p, _)| p.to_hex()),
        "phase": l.programme.map(|(_, ph)| ph),
        "registered_on": l.registered_on.map(|d| d.to_string()),
        "status": status_code(l),
        "decided_by": l.status.as_ref().map(|(_, u, _)| u.as_str()),
        "approved_state_differs": l.approved_state_differs,
        "confidential": l.confidential,
        "full_record_held": l.full.is_some(),
    })
}

fn print_list(ctx: &Ctx, node: &Node, page: &search::Page, again: &str) {
    let lang = ctx.lang;
    let rows = &page.items;
    if ctx.json {
        print_json(&serde_json::Value::Array(
            rows.iter().map(|l| listed_json(node, l)).collect(),
        ));
    } else {
        for l in rows {
            crate::outln!(
                "{}  {:<22}  {}  — {}",
                l.record.short(),
                status_label(lang, l),
                l.title,
                l.origin_name
            );
        }
        // A search or filter matching many counts only so far past its page: "at least".
        let total = if page.exact {
            lang.int(page.total)
        } else {
            format!("≥ {}", lang.int(page.total))
        };
        crate::outln!("{}: {total}", lang.t("Số sáng kiến", "Initiatives"));
    }
    // Which page this is and how to get the next (on standard error with --json, whose
    // standard output stays the page's array).
    if page.total > rows.len() as u64 || page.page > 1 {
        let line = match page.next() {
            Some(n) => format!(
                "{} {}/{} ({} {}); {}: {again} --page {n}",
                lang.t("Trang", "Page"),
                lang.int(page.page),
                lang.int(page.pages()),
                lang.int(page.limit as u64),
                lang.t("sáng kiến mỗi trang", "initiatives a page"),
                lang.t("trang sau", "next page")
            ),
            None => format!(
                "{} {}/{} ({} {}); {}",
                lang.t("Trang", "Page"),
                lang.int(page.page),
                lang.int(page.pages()),
                lang.int(page.limit as u64),
                lang.t("sáng kiến mỗi trang", "initiatives a page"),
                lang.t("không còn trang sau", "no page after it")
            ),
        };
        if ctx.json {
            crate::errln!("{line}");
        } else {
            crate::outln!("{line}");
        }
    }
}

fn page_failed(lang: Lang, e: search::PageError) -> Failure {
    use search::PageError as P;
    match e {
        P::Node(e) | P::Search(search::SearchError::Node(e)) => store_failed(lang, e),
        P::Limit { actual, limit } => Failure::input(format!(
            "--limit {actual}: {} {limit}",
            lang.t("mỗi trang có từ 1 đến", "a page holds from 1 to")
        )),
        P::Number { actual, limit } => Failure::input(format!(
            "--page {actual}: {} {limit}",
            lang.t("số trang từ 1 đến", "pages are numbered from 1 to")
        )),
        P::Status(s) => Failure::input(format!(
            "--status {s:?}: {} {}",
            lang.t("chọn một trong", "choose one of"),
            node::report_index::STATUS_CODES.join(", ")
        )),
        P::Search(e) => Failure::input(format!(
            "{}: {e}",
            lang.t("từ khóa tìm kiếm", "search query")
        )),
    }
}

/// The filters `initiative list` and `initiative search` take.
struct Filters<'a> {
    status: Option<&'a str>,
    unit: Option<&'a str>,
    sector: Option<&'a str>,
}

/// A page of the list (`query` `None`) or of a search, filtered: read from the listing and
/// word indexes (`search::find_page`), never by loading every record.
fn list(
    ctx: &Ctx,
    query: Option<&str>,
    f: Filters<'_>,
    page: u64,
    limit: usize,
) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let node = open(ctx)?;
    let now = now_ms();
    if let Some(s) = f.status {
        if node::report_index::status_index(s).is_none() {
            return Err(page_failed(lang, search::PageError::Status(s.into())));
        }
    }
    let sector = f
        .sector
        .map(|s| crate::input::sector_flag(lang, s))
        .transpose()?;
    let unit_id = f
        .unit
        .map(|u| super::known_unit(ctx, &node, "unit", u))
        .transpose()?;
    let find = search::Find {
        query,
        statuses: f.status.into_iter().collect(),
        sector,
        phase: None,
        unit: unit_id.as_ref(),
    };
    let pb = super::spinner(match query {
        Some(_) => lang.t("đang tìm…", "searching…"),
        None => lang.t("đang đọc các hồ sơ…", "reading the records…"),
    });
    let found = search::find_page(&node, &find, page, limit, now);
    pb.finish_and_clear();
    let found = found.map_err(|e| page_failed(lang, e))?;
    let mut again = match query {
        Some(q) => format!("sangkien initiative search {q:?}"),
        None => String::from("sangkien initiative list"),
    };
    for (flag, v) in [("status", f.status), ("unit", f.unit), ("sector", f.sector)] {
        if let Some(v) = v {
            again.push_str(&format!(" --{flag} {v}"));
        }
    }
    if limit != sync_protocol::limits::DEFAULT_PAGE_ITEMS_COUNT {
        again.push_str(&format!(" --limit {limit}"));
    }
    print_list(ctx, &node, &found, &again);
    Ok(0)
}

fn attach(ctx: &Ctx, id: &str, file: &std::path::Path, name: Option<&str>) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let mut node = open(ctx)?;
    let record = resolve(ctx, &node, id)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let name = text(lang, "name", &name, MAX_SHORT_TEXT_CHARS, true)?;
    let staged = blobs::stage(node.dir(), file).map_err(|e| {
        Failure::input(format!(
            "{}: {e} ({})",
            lang.t("không đính kèm được tệp", "could not attach the file"),
            lang.t(
                "tệp phải là tệp thường, tối đa 25 MiB; nén hoặc chia nhỏ tệp lớn",
                "the file must be a regular file of at most 25 MiB; compress or split a larger one"
            )
        ))
        .because(e)
    })?;
    let (hash, size) = (staged.hash, staged.size_bytes);
    let changed = records::attach(&mut node, record, staged, name.clone(), now_ms()).map_err(
        |e| match e {
            records::AttachError::Node(e) => {
                refused(lang, lang.t("không đính kèm được", "could not attach"), e)
            }
            e => Failure::input(format!(
                "{}: {e}",
                lang.t("không đính kèm được", "could not attach")
            )),
        },
    )?;
    if ctx.json {
        print_json(
            &json!({"id": record.to_hex(), "name": name.as_str(), "hash": hash.to_hex(), "size_bytes": size, "changed": changed}),
        );
    } else {
        crate::outln!(
            "{} {} ({} {}) — BLAKE3 {}",
            lang.t("Đã đính kèm", "Attached"),
            name,
            lang.int(size),
            lang.t("byte", "bytes"),
            hash.to_hex()
        );
    }
    Ok(0)
}
