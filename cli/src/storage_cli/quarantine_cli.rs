//! `sangkien node quarantine`: what waits in the node's quarantine (hash, kind, signing unit,
//! what it waits for, since when, where it came from), counts per source, and what expired
//! recently — in Vietnamese or English, or as JSON.

use node::quarantine::{ExpiredInfo, HeldInfo, QuarantineListing, WaitsFor};
use sync_protocol::date::Date;

use crate::i18n::Lang;
use crate::Ctx;

/// Hex digits of a hash shown in the table (the JSON has them whole).
const SHOWN_HASH_CHARS: usize = 16;

/// Prints a listing.
pub fn print(ctx: &Ctx, q: &QuarantineListing, now_ms: u64) {
    let l = ctx.lang;
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(q).unwrap_or_default());
        return;
    }
    let days = q.max_age_ms / 86_400_000;
    crate::outln!(
        "{}: {} {} ({} {}; {} {} {})",
        l.t("Cách ly", "Quarantine"),
        l.int(q.held_count),
        match q.held_count {
            1 => l.t("mục đang chờ", "entry waiting"),
            _ => l.t("mục đang chờ", "entries waiting"),
        },
        l.t("tối đa", "at most"),
        l.int(q.max_entries),
        l.t("mục chờ quá", "an entry waiting over"),
        days,
        l.t("ngày thì hết hạn", "days expires"),
    );
    if !q.held.is_empty() {
        crate::outln!(
            "  {:<18} {:<16} {:<22} {:<44} {:<26} {}",
            l.t("mục", "entry"),
            l.t("loại", "kind"),
            l.t("đơn vị ký", "signed by"),
            l.t("đang chờ", "waits for"),
            l.t("từ", "since"),
            l.t("nguồn", "from")
        );
        let mut overdue = false;
        for h in &q.held {
            let late = h
                .since_ms
                .is_some_and(|t| now_ms.saturating_sub(t) > q.max_age_ms);
            overdue |= late;
            crate::outln!(
                "  {:<18} {:<16} {:<22} {:<44} {:<26} {}{}",
                short(&h.entry),
                kind(l, &h.kind),
                h.author,
                waits_for(l, h),
                since(l, h.since_ms, now_ms),
                source(l, &h.source),
                if late { " *" } else { "" }
            );
        }
        if overdue {
            crate::outln!(
                "  * {}",
                l.t(
                    "quá hạn: hết hạn ở lần nhập tới, hoặc ở lượt kiểm tra hằng giờ của dịch vụ nút",
                    "overdue: expires at the next import, or at the node service's hourly pass"
                )
            );
        }
        let more = q.held_count.saturating_sub(q.held.len() as u64);
        if more > 0 {
            crate::outln!("  … {} {} (--limit)", l.int(more), l.t("mục nữa", "more"));
        }
    }
    if !q.by_source.is_empty() {
        let parts: Vec<String> = q
            .by_source
            .iter()
            .map(|(s, n)| format!("{} {}", source(l, s), l.int(*n)))
            .collect();
        crate::outln!("{}: {}", l.t("Theo nguồn", "By source"), parts.join(", "));
    }
    crate::outln!(
        "{}: {} ({} {})",
        l.t("Đã hết hạn (nhật ký)", "Expired (log)"),
        l.int(q.expired_count),
        l.t("giữ tối đa", "keeps at most"),
        l.int(sync_protocol::limits::MAX_QUARANTINE_EXPIRED_LOG_ENTRIES as u64)
    );
    for x in &q.expired {
        crate::outln!("  {}", expired(l, x));
    }
}

fn expired(l: Lang, x: &ExpiredInfo) -> String {
    let h = &x.held;
    format!(
        "{} {} {} {}; {} {}; {} {}, {} {}; {}",
        short(&h.entry),
        kind(l, &h.kind),
        l.t("do", "by"),
        h.author,
        l.t("đã chờ", "waited for"),
        waits_for(l, h),
        l.t("từ", "since"),
        h.since_ms
            .map(|t| l.date(Date::from_unix_ms(t)))
            .unwrap_or_else(|| "—".into()),
        l.t("hết hạn", "expired"),
        l.date(Date::from_unix_ms(x.expired_ms)),
        source(l, &h.source)
    )
}

fn short(hash: &str) -> &str {
    hash.get(..SHOWN_HASH_CHARS).unwrap_or(hash)
}

fn kind(l: Lang, k: &str) -> String {
    match k {
        "genesis" => l.t("khởi tạo", "genesis"),
        "certificate" => l.t("chứng thư", "certificate"),
        "revocation" => l.t("thu hồi khóa", "revocation"),
        "record-change" => l.t("thay đổi hồ sơ", "record change"),
        "decision" => l.t("quyết định", "decision"),
        "projection" => l.t("bản công khai", "projection"),
        other => other,
    }
    .to_owned()
}

fn waits_for(l: Lang, h: &HeldInfo) -> String {
    match &h.waits_for {
        WaitsFor::Certificate(u) => {
            format!("{} {u}", l.t("chứng thư của đơn vị", "certificate of unit"))
        }
        WaitsFor::Entry(x) => format!("{} {}", l.t("mục", "entry"), short(x)),
        WaitsFor::Change(x) => format!(
            "{} {}",
            l.t("thay đổi Automerge", "Automerge change"),
            short(x)
        ),
        WaitsFor::Record(x) => format!("{} {}", l.t("hồ sơ", "record"), short(x)),
        WaitsFor::Unknown => format!(
            "{} ({})",
            h.waiting,
            l.t("thử lại mỗi lần nhập", "retried on every import")
        ),
    }
}

fn since(l: Lang, since_ms: Option<u64>, now_ms: u64) -> String {
    let Some(t) = since_ms else {
        return "—".into();
    };
    let age = now_ms.saturating_sub(t);
    let ago = if age >= 86_400_000 {
        format!("{} {}", age / 86_400_000, l.t("ngày", "days"))
    } else if age >= 3_600_000 {
        format!("{} {}", age / 3_600_000, l.t("giờ", "h"))
    } else {
        format!("{} {}", age / 60_000, l.t("phút", "min"))
    };
    format!(
        "{} ({ago} {})",
        l.date(Date::from_unix_ms(t)),
        l.t("trước", "ago")
    )
}

fn source(l: Lang, s: &str) -> String {
    match s.split_once(':') {
        Some(("peer", u)) => format!("{} {u}", l.t("nút", "peer")),
        Some(("bundle", f)) => format!("{} {f}", l.t("gói", "bundle")),
        Some(("restore", f)) => format!("{} {f}", l.t("khôi phục từ", "restored from")),
        _ if s.is_empty() => l.t("không rõ", "unknown").to_owned(),
        _ => s.to_owned(),
    }
}
