//! The report as an Excel workbook (rust_xlsxwriter): one sheet per part of the report, with
//! real numbers (counts as integers with a thousands format, progress as a fraction with a
//! per-cent format) so the spreadsheet can compute with them; labels in the user's language.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::{deadline_kind, sector_label, starts_like_formula, status_label};
use crate::lang::Lang;
use crate::report::{tenths, ProgressReport as Report};

/// Writes a text that came from a record or a certificate (a unit, programme or deadline
/// name). rust_xlsxwriter stores it as text, never as a formula; one that starts like a formula
/// (`=`, `+`, `-`, `@`, tab, CR) also gets Excel's quote prefix, so that it stays text when
/// someone edits the cell or saves the sheet as CSV (OWASP "CSV injection").
fn put_text(ws: &mut Worksheet, row: u32, col: u16, s: &str) -> Result<(), XlsxError> {
    if starts_like_formula(s) {
        ws.write_string_with_format(row, col, s, &Format::new().set_quote_prefix())?;
    } else {
        ws.write_string(row, col, s)?;
    }
    Ok(())
}

/// The workbook's bytes.
pub fn workbook(lang: Lang, r: &Report) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let int = Format::new().set_num_format("#,##0");
    let pct = Format::new().set_num_format("0.0%");
    let frac = |t: Option<u64>| t.map(|x| x as f64 / 1000.0);

    // Summary: headline, status, sector, phases.
    let ws = wb.add_worksheet();
    ws.set_name(lang.t("Tổng hợp", "Summary"))?;
    ws.set_column_width(0, 44)?;
    ws.set_column_width(1, 16)?;
    ws.set_column_width(2, 16)?;
    ws.set_column_width(3, 12)?;
    ws.write_string_with_format(
        0,
        0,
        format!(
            "{} — {}",
            lang.t("Báo cáo tiến độ", "Progress report"),
            r.unit_name
        ),
        &bold,
    )?;
    ws.write_string(
        1,
        0,
        format!(
            "«{}» ({} {}), {} {} ({})",
            r.programme_name,
            lang.t("do", "launched by"),
            r.programme_launcher,
            lang.t("giai đoạn", "phase"),
            r.phase,
            r.phase_name
        ),
    )?;
    ws.write_string(2, 0, lang.t("Ngày báo cáo", "Report date"))?;
    ws.write_string(2, 1, &r.today)?;
    let mut row = 4;
    for (i, h) in [
        lang.t("Chỉ số", "Figure"),
        lang.t("Số sáng kiến", "Initiatives"),
        lang.t("Chỉ tiêu", "Target"),
        lang.t("Đạt", "Progress"),
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(row, i as u16, *h, &bold)?;
    }
    row += 1;
    ws.write_string(
        row,
        0,
        lang.t("Sáng kiến đăng ký", "Initiatives registered"),
    )?;
    ws.write_number_with_format(row, 1, r.registered as f64, &int)?;
    if let Some(t) = r.target {
        ws.write_number_with_format(row, 2, t as f64, &int)?;
    }
    if let Some(p) = frac(r.progress_tenths) {
        ws.write_number_with_format(row, 3, p, &pct)?;
    }
    row += 1;
    ws.write_string(
        row,
        0,
        lang.t("Tổng giá trị làm lợi (VND)", "Total benefit value (VND)"),
    )?;
    ws.write_number_with_format(row, 1, r.benefit_vnd as f64, &int)?;
    row += 2;
    ws.write_string_with_format(row, 0, lang.t("Theo trạng thái", "By status"), &bold)?;
    row += 1;
    for c in &r.by_status {
        ws.write_string(row, 0, status_label(lang, &c.code))?;
        ws.write_number_with_format(row, 1, c.count as f64, &int)?;
        row += 1;
    }
    row += 1;
    ws.write_string_with_format(row, 0, lang.t("Theo lĩnh vực", "By sector"), &bold)?;
    row += 1;
    for c in &r.by_sector {
        ws.write_string(row, 0, sector_label(lang, &c.code))?;
        ws.write_number_with_format(row, 1, c.count as f64, &int)?;
        row += 1;
    }
    row += 1;
    ws.write_string_with_format(row, 0, lang.t("Theo giai đoạn", "By phase"), &bold)?;
    row += 1;
    for ph in &r.by_phase {
        ws.write_string(row, 0, format!("{} — {}", ph.phase, ph.name))?;
        ws.write_number_with_format(row, 1, ph.registered as f64, &int)?;
        if let Some(t) = ph.target {
            ws.write_number_with_format(row, 2, t as f64, &int)?;
        }
        if let Some(p) = frac(ph.progress_tenths) {
            ws.write_number_with_format(row, 3, p, &pct)?;
        }
        row += 1;
    }

    // Child units, ranked.
    let ws = wb.add_worksheet();
    ws.set_name(lang.t("Đơn vị", "Units"))?;
    ws.set_column_width(1, 22)?;
    ws.set_column_width(2, 50)?;
    for c in 3..7 {
        ws.set_column_width(c, 16)?;
    }
    let heads = [
        lang.t("Hạng", "Rank"),
        lang.t("Mã", "Id"),
        lang.t("Đơn vị", "Unit"),
        lang.t("Số sáng kiến", "Initiatives"),
        lang.t("Chỉ tiêu", "Target"),
        lang.t("Đạt", "Progress"),
        lang.t("Giá trị làm lợi (VND)", "Benefit (VND)"),
    ];
    for (i, h) in heads.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, *h, &bold)?;
    }
    for (i, c) in r.children.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_number(row, 0, c.rank as f64)?;
        ws.write_string(row, 1, &c.unit)?;
        put_text(ws, row, 2, &c.name)?;
        ws.write_number_with_format(row, 3, c.registered as f64, &int)?;
        if let Some(t) = c.target {
            ws.write_number_with_format(row, 4, t as f64, &int)?;
        }
        if let Some(p) = frac(c.progress_tenths) {
            ws.write_number_with_format(row, 5, p, &pct)?;
        }
        ws.write_number_with_format(row, 6, c.benefit_vnd as f64, &int)?;
    }

    // Progress over time.
    let ws = wb.add_worksheet();
    ws.set_name(lang.t("Theo thời gian", "Over time"))?;
    ws.set_column_width(0, 14)?;
    ws.set_column_width(1, 16)?;
    ws.write_string_with_format(
        0,
        0,
        format!(
            "{} ({})",
            r.over_time.window_name,
            lang.t("theo ngày đăng ký", "by registration date")
        ),
        &bold,
    )?;
    for (i, h) in [
        lang.t("Ngày", "Date"),
        lang.t("Lũy kế", "Cumulative"),
        lang.t("Đạt", "Progress"),
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(1, i as u16, *h, &bold)?;
    }
    for (i, p) in r.over_time.points.iter().enumerate() {
        let row = i as u32 + 2;
        ws.write_string(row, 0, &p.date)?;
        ws.write_number_with_format(row, 1, p.cumulative as f64, &int)?;
        if let Some(x) = frac(r.over_time.target.and_then(|t| tenths(p.cumulative, t))) {
            ws.write_number_with_format(row, 2, x, &pct)?;
        }
    }

    // Deadlines.
    let ws = wb.add_worksheet();
    ws.set_name(lang.t("Hạn", "Deadlines"))?;
    ws.set_column_width(0, 14)?;
    ws.set_column_width(1, 50)?;
    ws.set_column_width(2, 24)?;
    for (i, h) in [
        lang.t("Ngày", "Date"),
        lang.t("Việc", "What"),
        lang.t("Loại", "Kind"),
        lang.t("Còn (ngày)", "Days left"),
    ]
    .iter()
    .enumerate()
    {
        ws.write_string_with_format(0, i as u16, *h, &bold)?;
    }
    for (i, d) in r.deadlines.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &d.date)?;
        put_text(ws, row, 1, &d.label)?;
        ws.write_string(row, 2, deadline_kind(lang, &d.kind))?;
        ws.write_number(row, 3, d.days_left as f64)?;
    }
    wb.save_to_buffer()
}
