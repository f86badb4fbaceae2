//! `sangkien list mau2`: the consolidated list (Mẫu 2) a direct-superior union signs and sends
//! up — the initiatives of its subtree it has approved, one line each.
//!
//! What "signed" means here: every line *is* a signed entry — the unit's own decision on that
//! initiative, signed with the unit's key, whose hash the list prints in full. The list as a
//! whole is named by a digest (BLAKE3, derived key "sangkien mau2 list v1", over the decision
//! hashes in list order), printed at its foot so a paper copy with a signature and stamp can be
//! tied to exactly those entries. `--out FILE` writes a bundle of the entries behind the list
//! (the certificates, public record changes, projections and decisions), which the province imports through
//! the same verified path as any bundle: the receiver checks every signature and the chain,
//! rather than trusting a detached signature over a file. No new kind of entry is needed.

use std::path::PathBuf;

use clap::Args;
use node::search::Listed;
use node::{bundle, now_ms, records};
use serde_json::json;
use sync_protocol::entry::{DecisionKind, EntryBody};
use sync_protocol::ids::EntryHash;
use sync_protocol::store::EntryLookup;

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

struct Line {
    l: Listed,
    kind: DecisionKind,
    officer: String,
    officer_title: String,
    time_ms: u64,
    entry: EntryHash,
}

/// Runs `sangkien list mau2`.
pub fn run(ctx: &Ctx, a: Mau2Args) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let node = open(ctx)?;
    let now = now_ms();
    let (prog, p) = super::programme(ctx, &node, a.programme.as_deref())?;
    let phase = a.phase.map(|ph| super::phase_of(ctx, &p, ph)).transpose()?;
    let me = node.unit().clone();
    let d = node.directory();
    let pb = super::spinner(lang.t("đang tổng hợp…", "consolidating…"));
    let listing = node::search::listing(&node, now).map_err(|e| store_failed(lang, e));
    pb.finish_and_clear();
    let mut lines = Vec::new();
    for l in listing? {
        let Some((pr, ph)) = l.programme else {
            continue;
        };
        if pr != prog || phase.is_some_and(|x| x != ph) || l.origin == me {
            continue;
        }
        if !d.is_self_or_ancestor_at(&me, &l.origin, now) {
            continue;
        }
        let rep = records::check(&node, l.record, now).map_err(|e| store_failed(lang, e))?;
        // This unit's latest decision in the chain.
        let mut mine = None;
        for h in &rep.chain {
            let Some(e) = node.store().entry(h).map_err(|e| store_failed(lang, e))? else {
                continue;
            };
            if let EntryBody::Decision(dec) = e.body() {
                if e.author() == &me {
                    mine = Some((
                        dec.kind,
                        dec.officer_name.to_string(),
                        dec.officer_title.to_string(),
                        e.time_ms(),
                        *h,
                    ));
                }
            }
        }
        let Some((kind, officer, officer_title, time_ms, entry)) = mine else {
            continue;
        };
        let positive = matches!(
            kind,
            DecisionKind::Approve | DecisionKind::Recognise | DecisionKind::Award(_)
        );
        if positive || a.all {
            lines.push(Line {
                l,
                kind,
                officer,
                officer_title,
                time_ms,
                entry,
            });
        }
    }
    lines.sort_by(|x, y| x.l.origin.cmp(&y.l.origin).then(x.l.title.cmp(&y.l.title)));
    let mut hasher = blake3::Hasher::new_derive_key("sangkien mau2 list v1");
    for x in &lines {
        hasher.update(&x.entry.0);
    }
    let digest = hasher.finalize().to_hex().to_string();

    if let Some(path) = &a.out {
        // The certificates first: the receiver may not yet know the grassroots units whose
        // entries the list carries (it skips what it already holds).
        let now = now_ms();
        let superior = node
            .directory()
            .parent_at(node.unit(), now)
            .cloned()
            .unwrap_or_else(|| node.unit().clone());
        // Those the superior needs (its chain, its subtree, this unit's chain), parents first.
        let mut entries = node
            .trust_entries_for(
                &superior,
                &std::collections::BTreeSet::from([node.unit().clone()]),
                now,
            )
            .map_err(|e| crate::refusal::problem(lang, e))?;
        for x in &lines {
            for e in node
                .store()
                .record_entries(&x.l.record)
                .map_err(|e| store_failed(lang, e))?
            {
                // The private part of a confidential initiative stays with the origin and its
                // direct superior: only its projection and decisions go up.
                if matches!(e.body(), EntryBody::RecordChange(c) if c.confidential) {
                    continue;
                }
                entries.push(e);
            }
        }
        let author = node
            .author()
            .map_err(|e| crate::refusal::input(ctx.lang, e))?;
        bundle::write_signed(path, author, &superior, None, now, &entries)
            .map_err(|e| Failure::input(format!("--out {}: {e}", path.display())).because(e))?;
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
                "id": x.l.record.to_hex(),
                "title": x.l.title,
                "authors": x.l.authors,
                "origin": x.l.origin.as_str(),
                "origin_name": x.l.origin_name,
                "sector": x.l.sector.code(),
                "benefit_vnd": x.l.benefit_vnd,
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
            shown(&x.l.title.to_string()),
            if x.l.authors.is_empty() {
                lang.t("(bí mật công nghệ)", "(technology secret)")
                    .to_string()
            } else {
                shown(&x.l.authors.join(", "))
            },
            shown(&x.l.origin_name.to_string()),
            lang.sector(x.l.sector),
            lang.int(x.l.benefit_vnd)
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
