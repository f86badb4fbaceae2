//! Input the way officers write it: dates as printed (15/07/2022, 15-07-2022, 15.07.2022) and
//! ISO (2022-07-15); amounts as printed (2.400.000.000, "2.400.000.000 đồng", "… đ", "… VND")
//! and plain digits; sectors and roles by their Vietnamese or English names (with or without
//! diacritics, any case) as well as by code. Ambiguous forms ("2,5", "2.40.000", "15/7/22") are
//! refused, never guessed. Parsing only: each function says what it could not read, and the
//! caller words it for the person.

use sync_protocol::date::Date;
use sync_protocol::entry::{Sector, UnitRole};
use sync_protocol::text::fold_for_search;

use crate::lang::Lang;

/// A date as printed (day first) or ISO. `None`: not a date we can read without guessing, or
/// a day that does not exist.
pub fn date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() == 10 && s.as_bytes()[4] == b'-' {
        return Date::parse(s).ok();
    }
    let sep = s.chars().find(|c| matches!(c, '/' | '-' | '.'))?;
    let parts: Vec<&str> = s.split(sep).collect();
    let [d, m, y] = parts.as_slice() else {
        return None;
    };
    let digits =
        |p: &str, lens: &[usize]| lens.contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    if !digits(d, &[1, 2]) || !digits(m, &[1, 2]) || !digits(y, &[4]) {
        return None;
    }
    let (d, m): (u8, u8) = (d.parse().ok()?, m.parse().ok()?);
    Date::parse(&format!("{y}-{m:02}-{d:02}")).ok()
}

/// An amount of đồng as printed. Thousands separated by `.` (or `,`, but not both), every
/// group after the first of exactly three digits; or plain digits; optionally followed by
/// "đồng", "đ", "VND" or "VNĐ". `None` for anything else — a decimal part among them, since
/// "2,5" is 2.5 to a Vietnamese reader and 25 to an English one.
pub fn money(s: &str) -> Option<u64> {
    let lower = s.trim().to_lowercase();
    let mut body = lower.as_str();
    for unit in ["đồng", "dong", "vnđ", "vnd", "đ"] {
        if let Some(b) = body.strip_suffix(unit) {
            body = b.trim_end();
            break;
        }
    }
    if body.is_empty() {
        return None;
    }
    if body.bytes().all(|c| c.is_ascii_digit()) {
        return body.parse().ok();
    }
    let sep = if body.contains('.') { '.' } else { ',' };
    if body.contains('.') && body.contains(',') {
        return None;
    }
    let groups: Vec<&str> = body.split(sep).collect();
    let first_ok = (1..=3).contains(&groups[0].len());
    let rest_ok = groups[1..].iter().all(|g| g.len() == 3);
    if groups.len() < 2 || !first_ok || !rest_ok {
        return None;
    }
    let digits: String = groups.concat();
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Folds a name for matching: no diacritics, lower case, every run of other characters one
/// `-` ("Sản xuất – kinh doanh" → "san-xuat-kinh-doanh").
fn fold(s: &str) -> String {
    let f = fold_for_search(s);
    let mut out = String::new();
    for c in f.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// The one choice whose code or name (in either language) matches `given`, exactly or as the
/// only choice it begins (at least three letters).
fn choose<T: Copy>(given: &str, all: &[T], names: impl Fn(T) -> Vec<String>) -> Option<T> {
    let g = fold(given);
    if g.is_empty() {
        return None;
    }
    if let Some(t) = all.iter().find(|t| names(**t).iter().any(|n| fold(n) == g)) {
        return Some(*t);
    }
    let starts: Vec<T> = all
        .iter()
        .copied()
        .filter(|t| g.len() >= 3 && names(*t).iter().any(|n| fold(n).starts_with(&g)))
        .collect();
    match starts.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// A sector by code or name.
pub fn sector(given: &str) -> Option<Sector> {
    choose(given, &Sector::ALL, |s| {
        vec![
            s.code().to_owned(),
            Lang::Vi.sector(s).to_owned(),
            Lang::En.sector(s).to_owned(),
        ]
    })
}

/// A role by code or name (the national root is never chosen here).
pub fn role(given: &str) -> Option<UnitRole> {
    let all: Vec<UnitRole> = UnitRole::ALL
        .into_iter()
        .filter(|r| *r != UnitRole::National)
        .collect();
    choose(given, &all, |r| {
        vec![
            r.code().to_owned(),
            Lang::Vi.role(r).to_owned(),
            Lang::En.role(r).to_owned(),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: u16, m: u8, day: u8) -> Option<Date> {
        Some(Date {
            year: y,
            month: m,
            day,
        })
    }

    #[test]
    fn dates_as_printed_and_iso() {
        for s in [
            "15/07/2022",
            "15-07-2022",
            "15.07.2022",
            "2022-07-15",
            "15/7/2022",
        ] {
            assert_eq!(date(s), d(2022, 7, 15), "{s}");
        }
        for s in [
            "31/02/2022",
            "15/7/22",
            "2022/07/15",
            "07-15-2022",
            "15/07/2022x",
            "",
            "15/07",
        ] {
            assert_eq!(date(s), None, "{s}");
        }
    }

    #[test]
    fn amounts_as_printed_and_digits() {
        for s in [
            "2.400.000.000",
            "2400000000",
            "2.400.000.000 đồng",
            "2.400.000.000đ",
            "2400000000 VND",
            "2,400,000,000",
        ] {
            assert_eq!(money(s), Some(2_400_000_000), "{s}");
        }
        for s in [
            "2,5",
            "2.40.000",
            "2.400,000",
            "1.5",
            "-3",
            "hai",
            "đồng",
            "2.400.000.000 USD",
            ".400",
        ] {
            assert_eq!(money(s), None, "{s}");
        }
    }

    #[test]
    fn sectors_and_roles_by_name() {
        assert_eq!(
            sector("Sản xuất - kinh doanh"),
            Some(Sector::ProductionBusiness)
        );
        assert_eq!(
            sector("san xuat kinh doanh"),
            Some(Sector::ProductionBusiness)
        );
        assert_eq!(sector("GIÁO DỤC"), Some(Sector::Education));
        assert_eq!(sector("y te"), Some(Sector::Health));
        assert_eq!(sector("khoa hoc"), Some(Sector::ScienceTechnology));
        assert_eq!(sector("health"), Some(Sector::Health));
        assert_eq!(sector("nông nghiệp"), None);
        assert_eq!(role("Công đoàn cơ sở"), Some(UnitRole::Grassroots));
        assert_eq!(role("cong doan co so"), Some(UnitRole::Grassroots));
        assert_eq!(role("provincial"), Some(UnitRole::ProvincialFederation));
        assert_eq!(
            role("LĐLĐ tỉnh/thành phố"),
            Some(UnitRole::ProvincialFederation)
        );
        assert_eq!(role("Tổng Liên đoàn"), None);
    }
}
