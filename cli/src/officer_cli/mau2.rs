//! `sangkien list mau2`: renders the consolidated list (Mẫu 2) that `node::mau2` builds — the
//! initiatives of the unit's subtree it has approved, one line each, its digest, and with
//! `--out` the bundle of the signed entries behind it.

use std::path::PathBuf;

use clap::Args;
use node::now_ms;
use serde_json::json;

use super::{open, print_json, store_failed, unit_name};
use crate::{Ctx, Failure};

/// `sangkien list mau2` arguments.
#[derive(Args, Debug)]
pub struct Mau2Args {
    /// Chương trình / programme id (optional when only one is held).
    #[arg(long)]
    programme: Option<String>,
    /// Giai đoạn (mặc định: mọi giai đoạn) / phase (default: all).
    #[arg(long)]
    phase: Option<u32>,
    /// Cả sáng kiến đã trả lại hoặc không công nhận / include returned and rejected ones.
    #[arg(long)]
    all: bool,
    /// Ghi gói các mục đã ký của danh sách / write a bundle of the list's signed entries.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `sangkien list mau2`.
pub fn run(ctx: &Ctx, a: Mau2Args) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let node = open(ctx)?;
    let now = now_ms();
    let (prog, p) = super::programme(ctx, &node, a.programme.as_deref())?;
    let phase = a.phase.map(|ph| super::phase_of(ctx, &p, ph)).transpose()?;
    let me = node.unit().clone();
    let pb = super::spinner(lang.t("đang tổng hợp…", "consolidating…"));
    let list = node::mau2::consolidated(&node, prog, phase, a.all, now);
    pb.finish_and_clear();
    let list = list.map_err(|e| store_failed(lang, e))?;
    let lines = &list.lines;
    let digest = &list.digest;

    if let Some(path) = &a.out {
        node::mau2::write_bundle(&node, &list, path, now_ms()).map_err(|e| match e {
            node::mau2::Mau2BundleError::Bundle(e) => {
                Failure::input(format!("--out {}: {e}", path.display())).because(e)
            }
            node::mau2::Mau2BundleError::Node(e) => crate::refusal::problem(lang, e),
        })?;
    }

    if ctx.json {
        print_json(&json!({
            "form": "Mẫu 2",
            "unit": me.as_str(),
            "unit_name": unit_name(&node, &me),
            "programme": prog.to_hex(),
            "phase": phase,
            "digest": digest,
            "bundle": a.out,
            "initiatives": lines.iter().enumerate().map(|(i, x)| json!({
                "no": i + 1,
                "id": x.listed.record.to_hex(),
                "title": x.listed.title,
                "authors": x.listed.authors,
                "origin": x.listed.origin.as_str(),
                "origin_name": x.listed.origin_name,
                "sector": x.listed.sector.code(),
                "benefit_vnd": x.listed.benefit_vnd,
                "decision": x.kind.code(),
                "officer": x.officer,
                "officer_title": x.officer_title,
                "time_ms": x.time_ms,
                "entry": x.entry.to_hex(),
            })).collect::<Vec<_>>(),
        }));
        return Ok(0);
    }
    crate::outln!(
        "{}",
        lang.t(
            "MẪU 2 — DANH SÁCH TỔNG HỢP SÁNG KIẾN",
            "FORM 2 (MẪU 2) — CONSOLIDATED LIST OF INITIATIVES"
        )
    );
    crate::outln!(
        "{}: {}",
        lang.t("Đơn vị", "Unit"),
        shown(&unit_name(&node, &me))
    );
    let ph = phase
        .map(|x| format!(", {} {x}", lang.t("giai đoạn", "phase")))
        .unwrap_or_default();
    crate::outln!(
        "{}: «{}»{ph}",
        lang.t("Chương trình", "Programme"),
        shown(&p.name.to_string())
    );
    for (i, x) in lines.iter().enumerate() {
        crate::outln!(
            "{:>3}. {} — {} — {} — {} — {} VND",
            i + 1,
            shown(&x.listed.title.to_string()),
            if x.listed.authors.is_empty() {
                lang.t("(bí mật công nghệ)", "(technology secret)")
                    .to_string()
            } else {
                shown(&x.listed.authors.join(", "))
            },
            shown(&x.listed.origin_name.to_string()),
            lang.sector(x.listed.sector),
            lang.int(x.listed.benefit_vnd)
        );
        crate::outln!(
            "     {}: {} — {}, {} — {} {}",
            lang.t("quyết định", "decision"),
            lang.decision(x.kind),
            shown(&x.officer.to_string()),
            shown(&x.officer_title.to_string()),
            lang.t("mục đã ký", "signed entry"),
            x.entry.to_hex()
        );
    }
    crate::outln!(
        "{}: {}",
        lang.t("Số sáng kiến", "Initiatives"),
        lang.int(lines.len() as u64)
    );
    crate::outln!(
        "{}: {digest}",
        lang.t("Mã tổng hợp của danh sách (BLAKE3)", "List digest (BLAKE3)")
    );
    if let Some(path) = &a.out {
        crate::outln!(
            "{}: {}",
            lang.t("Gói các mục đã ký", "Bundle of the signed entries"),
            path.display()
        );
    }
    Ok(0)
}

/// A field as printed on the paper list: every line break, control, invisible or
/// direction-changing character shown as `⟨U+XXXX⟩`, so that no stored text (one from before
/// these characters were refused, say) can add a line or reorder what is printed.
fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control()
            || sync_protocol::text::is_invisible_or_bidi(c)
            || matches!(c, '\u{2028}' | '\u{2029}')
        {
            out.push_str(&format!("⟨U+{:04X}⟩", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod shown_tests {
    #[test]
    fn a_line_break_or_an_override_is_shown_not_obeyed() {
        assert_eq!(
            super::shown("Băng tải\nQĐ số 99"),
            "Băng tải⟨U+000A⟩QĐ số 99"
        );
        assert_eq!(super::shown("a\u{202E}b"), "a⟨U+202E⟩b");
        assert_eq!(super::shown("Công đoàn"), "Công đoàn");
    }
}
