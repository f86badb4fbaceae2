//! Prints a unit's progress report (data from `node::report`) as a table, in the user's
//! language.

use node::report::{Status, UnitReport};
use node::Node;
use sync_protocol::ids::{RecordId, UnitId};

use crate::i18n::Lang;

/// Prints the progress report of `unit`'s subtree for a programme phase.
#[allow(clippy::too_many_arguments)]
pub fn print(
    lang: Lang,
    node: &Node,
    unit: &UnitId,
    programme: RecordId,
    programme_name: &str,
    phase: u32,
    phase_target: Option<u64>,
    now_ms: u64,
) -> Result<(), node::NodeError> {
    let r = UnitReport::build(node, unit, programme, phase, phase_target, now_ms)?;
    crate::outln!(
        "\n== {} — {} «{programme_name}», {} {phase} ==",
        lang.t("BÁO CÁO TIẾN ĐỘ", "PROGRESS REPORT"),
        r.name,
        lang.t("giai đoạn", "phase")
    );
    let total = r.counts.initiatives;
    match r.target {
        Some(t) => crate::outln!(
            "{}: {} / {} {} = {}",
            lang.t("Sáng kiến đăng ký", "Initiatives registered"),
            lang.int(total),
            lang.int(t),
            lang.t("chỉ tiêu", "target"),
            lang.percent(total, t)
        ),
        None => crate::outln!(
            "{}: {}",
            lang.t("Sáng kiến đăng ký", "Initiatives registered"),
            lang.int(total)
        ),
    }
    crate::outln!(
        "{}: {} VND",
        lang.t("Tổng giá trị làm lợi", "Total benefit value"),
        lang.int(r.counts.benefit_vnd)
    );
    crate::outln!("{}:", lang.t("Theo trạng thái", "By status"));
    for (k, v) in &r.counts.by_status {
        let label = match k {
            Status::Registered => lang.t("chưa nộp", "not submitted"),
            Status::Decided(d) => lang.decision(*d),
        };
        crate::outln!("  {label:<28} {}", lang.int(*v));
    }
    crate::outln!("{}:", lang.t("Theo lĩnh vực", "By sector"));
    for (k, v) in &r.counts.by_sector {
        crate::outln!("  {:<28} {}", lang.sector(*k), lang.int(*v));
    }
    crate::outln!(
        "{}:\n  {:<52} {:>8} {:>10} {:>10}",
        lang.t("Theo đơn vị trực thuộc", "By child unit"),
        lang.t("đơn vị", "unit"),
        lang.t("số SK", "count"),
        lang.t("chỉ tiêu", "target"),
        lang.t("đạt", "progress")
    );
    for c in &r.children {
        let n = c.counts.initiatives;
        crate::outln!(
            "  {:<52} {:>8} {:>10} {:>10}",
            c.name,
            lang.int(n),
            c.target.map(|t| lang.int(t)).unwrap_or_else(|| "—".into()),
            c.target
                .map(|t| lang.percent(n, t))
                .unwrap_or_else(|| "—".into())
        );
    }
    Ok(())
}
