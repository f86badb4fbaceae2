//! The progress report a node prints for its subtree: counts by status, sector and child unit,
//! targets and progress in per cent, benefit totals. Computed from verified records (the
//! storage issue adds materialised counters so this becomes O(units)).

use std::collections::BTreeMap;

use node::Node;
use sync_protocol::audit::verify_record;
use sync_protocol::entry::{DecisionKind, EntryBody, RecordKind, Sector};
use sync_protocol::ids::{RecordId, UnitId};
use sync_protocol::record::RecordContent;
use sync_protocol::store::{EntryLookup, EntryStore};

use crate::i18n::Lang;

/// One initiative as a report sees it (full record or public projection).
#[derive(Debug, Clone)]
pub struct InitiativeView {
    /// Origin unit.
    pub origin: UnitId,
    /// Last decision of the chain.
    pub status: Option<DecisionKind>,
    /// Sector.
    pub sector: Sector,
    /// Benefit value, VND.
    pub benefit_vnd: u64,
    /// Programme and phase.
    pub programme: Option<(RecordId, u32)>,
}

/// Every valid initiative the node holds.
pub fn initiatives(node: &Node, now_ms: u64) -> Vec<InitiativeView> {
    let store = node.store();
    let mut out = Vec::new();
    for r in store.records().unwrap_or_default() {
        let Ok(rep) = verify_record(store, node.directory(), r, Some(node.unit()), now_ms) else {
            continue;
        };
        let Some(h) = &rep.header else { continue };
        if h.kind != RecordKind::Initiative || !rep.is_valid() {
            continue;
        }
        let status = if rep.conflicts.is_empty() {
            rep.status.as_ref().map(|s| s.0)
        } else {
            None
        };
        let view = match (&rep.content, rep.latest_projection) {
            (Some(RecordContent::Initiative(i)), _) => InitiativeView {
                origin: i.origin.clone(),
                status,
                sector: i.sector,
                benefit_vnd: i.benefit_vnd,
                programme: i.programme.map(|p| (p, i.phase)),
            },
            (_, Some(p)) => {
                let Ok(Some(e)) = store.entry(&p) else {
                    continue;
                };
                let EntryBody::Projection(p) = e.body() else {
                    continue;
                };
                InitiativeView {
                    origin: h.owner.clone(),
                    status,
                    sector: p.sector,
                    benefit_vnd: p.benefit_vnd,
                    programme: p.programme.map(|x| (x, p.phase)),
                }
            }
            _ => continue,
        };
        out.push(view);
    }
    out
}

/// Targets assigned by `assigner` for a programme phase: child → count.
pub fn targets(
    node: &Node,
    assigner: &UnitId,
    programme: RecordId,
    phase: u32,
    now_ms: u64,
) -> BTreeMap<UnitId, u64> {
    let store = node.store();
    let mut out = BTreeMap::new();
    for r in store.records().unwrap_or_default() {
        let Ok(rep) = verify_record(store, node.directory(), r, Some(node.unit()), now_ms) else {
            continue;
        };
        if let (Some(h), Some(RecordContent::Target(t))) = (&rep.header, &rep.content) {
            if &h.owner == assigner
                && t.programme == programme
                && t.phase == phase
                && rep.is_valid()
            {
                out.extend(t.assignments.iter().map(|(k, v)| (k.clone(), *v)));
            }
        }
    }
    out
}

/// Prints the progress report of `node`'s subtree for a programme phase.
pub fn print(
    lang: Lang,
    node: &Node,
    programme: RecordId,
    programme_name: &str,
    phase: u32,
    phase_target: Option<u64>,
    now_ms: u64,
) {
    let d = node.directory();
    let me = node.unit();
    let all = initiatives(node, now_ms);
    let mine: Vec<&InitiativeView> = all
        .iter()
        .filter(|i| d.is_self_or_ancestor_at(me, &i.origin, now_ms))
        .collect();
    let in_phase: Vec<&&InitiativeView> = mine
        .iter()
        .filter(|i| i.programme == Some((programme, phase)))
        .collect();
    println!(
        "\n== {} — {} «{programme_name}», {} {phase} ==",
        lang.t("BÁO CÁO TIẾN ĐỘ", "PROGRESS REPORT"),
        d.name(me)
            .map(|n| n.to_string())
            .unwrap_or_else(|| me.to_string()),
        lang.t("giai đoạn", "phase")
    );
    let total = in_phase.len() as u64;
    match phase_target {
        Some(t) => println!(
            "{}: {} / {} {} = {}",
            lang.t("Sáng kiến đăng ký", "Initiatives registered"),
            lang.int(total),
            lang.int(t),
            lang.t("chỉ tiêu", "target"),
            lang.percent(total, t)
        ),
        None => println!(
            "{}: {}",
            lang.t("Sáng kiến đăng ký", "Initiatives registered"),
            lang.int(total)
        ),
    }
    let benefit: u64 = in_phase.iter().map(|i| i.benefit_vnd).sum();
    println!(
        "{}: {} VND",
        lang.t("Tổng giá trị làm lợi", "Total benefit value"),
        lang.int(benefit)
    );
    // By status.
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    for i in &in_phase {
        let label = match i.status {
            None => lang.t("chưa nộp", "not submitted"),
            Some(k) => lang.decision(k),
        };
        *by_status.entry(label).or_default() += 1;
    }
    println!("{}:", lang.t("Theo trạng thái", "By status"));
    for (k, v) in &by_status {
        println!("  {k:<28} {}", lang.int(*v));
    }
    let mut by_sector: BTreeMap<&str, u64> = BTreeMap::new();
    for i in &in_phase {
        *by_sector.entry(lang.sector(i.sector)).or_default() += 1;
    }
    println!("{}:", lang.t("Theo lĩnh vực", "By sector"));
    for (k, v) in &by_sector {
        println!("  {k:<28} {}", lang.int(*v));
    }
    // By child unit, with targets.
    let targets = targets(node, me, programme, phase, now_ms);
    println!(
        "{}:\n  {:<44} {:>8} {:>10} {:>10}",
        lang.t("Theo đơn vị trực thuộc", "By child unit"),
        lang.t("đơn vị", "unit"),
        lang.t("số SK", "count"),
        lang.t("chỉ tiêu", "target"),
        lang.t("đạt", "progress")
    );
    let mut rows: Vec<(UnitId, u64)> = d
        .children_at(me, now_ms)
        .into_iter()
        .map(|c| {
            let n = in_phase
                .iter()
                .filter(|i| d.is_self_or_ancestor_at(&c, &i.origin, now_ms))
                .count() as u64;
            (c, n)
        })
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (c, n) in rows {
        let name = d
            .name(&c)
            .map(|x| x.to_string())
            .unwrap_or_else(|| c.to_string());
        let t = targets.get(&c).copied();
        println!(
            "  {:<44} {:>8} {:>10} {:>10}",
            name,
            lang.int(n),
            t.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
            t.map(|t| lang.percent(n, t)).unwrap_or_else(|| "—".into())
        );
    }
}
