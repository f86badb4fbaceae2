//! `sangkien decide submit | return | reject | approve | recognise | award`: one signed decision
//! entry on an initiative, by this node's unit, naming the officer and the exact state judged.

use clap::{Args, Subcommand, ValueEnum};
use node::{now_ms, records};
use serde_json::json;
use sync_protocol::entry::{AwardGrade, DecisionKind};
use sync_protocol::limits::{MAX_NOTE_CHARS, MAX_SHORT_TEXT_CHARS};

use super::{open, print_json, refused, resolve, text};
use crate::{Ctx, Failure};

/// `sangkien decide ...`
#[derive(Subcommand, Debug)]
pub enum DecideCommand {
    /// Nộp lên cấp trên trực tiếp (công đoàn cơ sở) / submit to the direct superior.
    Submit(DecisionArgs),
    /// Trả lại để bổ sung / return for revision.
    Return(DecisionArgs),
    /// Không công nhận / reject.
    Reject(DecisionArgs),
    /// Duyệt và chuyển lên / approve and forward.
    Approve(DecisionArgs),
    /// Công nhận / recognise.
    Recognise(DecisionArgs),
    /// Khen thưởng / award.
    Award {
        #[command(flatten)]
        args: DecisionArgs,
        /// Hạng / grade.
        #[arg(long, value_enum)]
        grade: Grade,
    },
}

/// An award's grade.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Grade {
    /// Tiêu biểu.
    Typical,
    /// Xuất sắc.
    Excellent,
}

/// What every decision names.
#[derive(Args, Debug)]
pub struct DecisionArgs {
    /// Mã sáng kiến (hoặc ít nhất 8 chữ số đầu) / initiative id (or its first 8+ digits).
    id: String,
    /// Họ tên cán bộ ký / the signing officer's name.
    #[arg(long)]
    officer: String,
    /// Chức vụ / the officer's title.
    #[arg(long)]
    title: String,
    /// Ghi chú (lý do trả lại, ...) / note (why returned, ...).
    #[arg(long, default_value = "")]
    note: String,
}

/// Runs a decision.
pub fn run(ctx: &Ctx, c: DecideCommand) -> Result<u8, Failure> {
    let (kind, a) = match c {
        DecideCommand::Submit(a) => (DecisionKind::Submit, a),
        DecideCommand::Return(a) => (DecisionKind::ReturnForRevision, a),
        DecideCommand::Reject(a) => (DecisionKind::Reject, a),
        DecideCommand::Approve(a) => (DecisionKind::Approve, a),
        DecideCommand::Recognise(a) => (DecisionKind::Recognise, a),
        DecideCommand::Award { args, grade } => (
            DecisionKind::Award(match grade {
                Grade::Typical => AwardGrade::Typical,
                Grade::Excellent => AwardGrade::Excellent,
            }),
            args,
        ),
    };
    let lang = ctx.lang;
    let officer = text(lang, "officer", &a.officer, MAX_SHORT_TEXT_CHARS, true)?;
    let title = text(lang, "title", &a.title, MAX_SHORT_TEXT_CHARS, true)?;
    let note = super::multiline(lang, "note", &a.note, MAX_NOTE_CHARS, false)?;
    if kind == DecisionKind::ReturnForRevision && note.is_empty() {
        return Err(super::missing(
            lang,
            "note",
            "lý do trả lại, để cơ sở biết cần bổ sung gì",
            "why it is returned, so the origin knows what to revise",
        ));
    }
    let mut node = open(ctx)?;
    let record = resolve(ctx, &node, &a.id)?;
    let hash = records::decide(
        &mut node,
        record,
        kind,
        officer.clone(),
        title.clone(),
        note,
        now_ms(),
    )
    .map_err(|e| {
        refused(
            lang,
            &format!(
                "{} «{}» {} {}",
                lang.t("không ghi được quyết định", "could not record the decision"),
                lang.decision(kind),
                lang.t("cho", "on"),
                record.short()
            ),
            e,
        )
    })?;
    if ctx.json {
        print_json(
            &json!({"id": record.to_hex(), "decision": kind.code(), "unit": node.unit().as_str(), "officer": officer.as_str(), "officer_title": title.as_str(), "entry": hash.to_hex()}),
        );
    } else {
        crate::outln!(
            "{}: {} — {}, {} — {} {}",
            record.short(),
            lang.decision(kind),
            officer,
            title,
            lang.t("mục đã ký", "signed entry"),
            hash.to_hex()
        );
    }
    Ok(0)
}
