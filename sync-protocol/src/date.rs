//! Calendar dates as records store them: `YYYY-MM-DD`, checked to exist.

use std::fmt;

/// A calendar date that exists (29 February only in leap years).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, 1900..=2200.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of month.
    pub day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` and checks the day exists.
    pub fn parse(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(format!("{s:?} is not a date of the form YYYY-MM-DD"));
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
            s.get(r)
                .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("{s:?} is not a date of the form YYYY-MM-DD"))
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1900..=2200).contains(&y) {
            return Err(format!("{s:?}: year {y} is outside 1900-2200"));
        }
        if !(1..=12).contains(&m) {
            return Err(format!("{s:?}: there is no month {m}"));
        }
        let dim = days_in_month(y, m);
        if d == 0 || d > dim {
            return Err(format!("{s:?}: month {m} of {y} has {dim} days"));
        }
        Ok(Self {
            year: y as u16,
            month: m as u8,
            day: d as u8,
        })
    }
    /// Days since 1970-01-01 (for ordering and durations).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
    /// The date of a Unix time in milliseconds (UTC).
    pub fn from_unix_ms(ms: u64) -> Self {
        let z = (ms / 86_400_000) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        Self {
            year: y as u16,
            month: m as u8,
            day: d as u8,
        }
    }
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::Date;

    #[test]
    fn dates_that_exist() {
        assert!(Date::parse("2024-02-29").is_ok());
        assert!(Date::parse("2023-02-29").is_err());
        assert!(Date::parse("2023-04-31").is_err());
        assert!(Date::parse("2023-13-01").is_err());
        assert!(Date::parse("2023-1-01").is_err());
        assert!(Date::parse("2023-01-0a").is_err());
    }

    #[test]
    fn epoch_round_trip() {
        for s in ["1970-01-01", "2000-02-29", "2025-07-01", "2026-11-25"] {
            let d = Date::parse(s).unwrap();
            let ms = d.days_since_epoch() as u64 * 86_400_000;
            assert_eq!(Date::from_unix_ms(ms), d, "{s}");
        }
    }
}
