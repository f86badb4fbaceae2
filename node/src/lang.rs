//! User-facing language (the CLI's and the web interface's): Vietnamese by default, English on request; numbers written the way
//! each language writes them (165.541 and 55,1 % in Vietnamese; 165,541 and 55.1 % in English).

use sync_protocol::date::Date;
use sync_protocol::entry::{DecisionKind, Sector, UnitRole};

/// The language of messages and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    /// Tiếng Việt.
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// From its code, `vi` or `en`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Its code, `vi` or `en`.
    pub fn code(self) -> &'static str {
        self.t("vi", "en")
    }

    /// An amount of money: 2.400.000.000 đ in Vietnamese, VND 2,400,000,000 in English.
    pub fn money(self, vnd: u64) -> String {
        match self {
            Lang::Vi => format!("{} đ", self.int(vnd)),
            Lang::En => format!("VND {}", self.int(vnd)),
        }
    }

    /// A time (UTC+7, Vietnam's time): 15/01/2024 14:05 / 15 Jan 2024 14:05.
    pub fn time(self, ms: u64) -> String {
        let local = ms / 1000 + 7 * 3600;
        let d = Date::from_unix_ms(local * 1000);
        let s = local % 86_400;
        format!("{} {:02}:{:02}", self.date(d), s / 3600, (s / 60) % 60)
    }

    /// Picks the Vietnamese or the English text.
    pub fn t<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// A whole number with thousands separators.
    pub fn int(self, n: u64) -> String {
        let sep = self.t(".", ",");
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(sep);
            }
            out.push(c);
        }
        out
    }

    /// A percentage with one decimal.
    pub fn percent(self, num: u64, den: u64) -> String {
        if den == 0 {
            return "—".into();
        }
        let tenths = (num as u128 * 1000 + den as u128 / 2) / den as u128;
        let whole = self.int((tenths / 10) as u64);
        format!("{whole}{}{} %", self.t(",", "."), tenths % 10)
    }

    /// A date: 15/01/2024 in Vietnamese, 15 Jan 2024 in English.
    pub fn date(self, d: Date) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        match self {
            Lang::Vi => format!("{:02}/{:02}/{}", d.day, d.month, d.year),
            Lang::En => format!(
                "{} {} {}",
                d.day,
                MONTHS[(d.month.clamp(1, 12) - 1) as usize],
                d.year
            ),
        }
    }

    /// A per-cent figure given in tenths of a per cent (551 → "55,1 %" / "55.1 %").
    pub fn tenths_percent(self, tenths: u64) -> String {
        format!(
            "{}{}{} %",
            self.int(tenths / 10),
            self.t(",", "."),
            tenths % 10
        )
    }

    /// A decimal number with one digit after the separator, without thousands separators
    /// (for CSV cells: "55,1" / "55.1").
    pub fn plain_tenths(self, tenths: u64) -> String {
        format!("{}{}{}", tenths / 10, self.t(",", "."), tenths % 10)
    }

    /// The label of a role.
    pub fn role(self, r: UnitRole) -> &'static str {
        match (self, r) {
            (Lang::Vi, UnitRole::National) => "Tổng Liên đoàn",
            (Lang::Vi, UnitRole::ProvincialFederation) => "LĐLĐ tỉnh/thành phố",
            (Lang::Vi, UnitRole::CentralSectorUnion) => "Công đoàn ngành trung ương",
            (Lang::Vi, UnitRole::CorporationUnion) => "Công đoàn tổng công ty",
            (Lang::Vi, UnitRole::DirectSuperior) => "Công đoàn cấp trên trực tiếp cơ sở",
            (Lang::Vi, UnitRole::Grassroots) => "Công đoàn cơ sở",
            (Lang::En, UnitRole::National) => "national confederation",
            (Lang::En, UnitRole::ProvincialFederation) => "provincial federation",
            (Lang::En, UnitRole::CentralSectorUnion) => "central sector union",
            (Lang::En, UnitRole::CorporationUnion) => "corporation union",
            (Lang::En, UnitRole::DirectSuperior) => "direct-superior union",
            (Lang::En, UnitRole::Grassroots) => "grassroots union",
        }
    }

    /// The label of a decision.
    pub fn decision(self, d: DecisionKind) -> &'static str {
        use sync_protocol::entry::AwardGrade::*;
        match (self, d) {
            (Lang::Vi, DecisionKind::Submit) => "đã nộp",
            (Lang::Vi, DecisionKind::ReturnForRevision) => "trả lại để bổ sung",
            (Lang::Vi, DecisionKind::Reject) => "không công nhận",
            (Lang::Vi, DecisionKind::Approve) => "duyệt và chuyển lên",
            (Lang::Vi, DecisionKind::Recognise) => "công nhận",
            (Lang::Vi, DecisionKind::Award(Typical)) => "khen thưởng (tiêu biểu)",
            (Lang::Vi, DecisionKind::Award(Excellent)) => "khen thưởng (xuất sắc)",
            (Lang::En, DecisionKind::Submit) => "submitted",
            (Lang::En, DecisionKind::ReturnForRevision) => "returned for revision",
            (Lang::En, DecisionKind::Reject) => "rejected",
            (Lang::En, DecisionKind::Approve) => "approved and forwarded",
            (Lang::En, DecisionKind::Recognise) => "recognised",
            (Lang::En, DecisionKind::Award(Typical)) => "awarded (typical)",
            (Lang::En, DecisionKind::Award(Excellent)) => "awarded (excellent)",
        }
    }

    /// The label of a sector.
    pub fn sector(self, s: Sector) -> &'static str {
        match (self, s) {
            (Lang::Vi, Sector::ProductionBusiness) => "Sản xuất - kinh doanh",
            (Lang::Vi, Sector::Administration) => "Hành chính",
            (Lang::Vi, Sector::Education) => "Giáo dục",
            (Lang::Vi, Sector::Health) => "Y tế",
            (Lang::Vi, Sector::ScienceTechnology) => "Khoa học - công nghệ",
            (Lang::Vi, Sector::Other) => "Khác",
            (Lang::En, Sector::ProductionBusiness) => "Production and business",
            (Lang::En, Sector::Administration) => "Administration",
            (Lang::En, Sector::Education) => "Education",
            (Lang::En, Sector::Health) => "Health",
            (Lang::En, Sector::ScienceTechnology) => "Science and technology",
            (Lang::En, Sector::Other) => "Other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn numbers_the_vietnamese_and_the_english_way() {
        assert_eq!(Lang::Vi.int(165_541), "165.541");
        assert_eq!(Lang::En.int(165_541), "165,541");
        assert_eq!(Lang::Vi.int(999), "999");
        assert_eq!(Lang::Vi.int(1_000_000), "1.000.000");
        assert_eq!(Lang::Vi.percent(165_541, 300_437), "55,1 %");
        assert_eq!(Lang::En.percent(165_541, 300_437), "55.1 %");
        assert_eq!(Lang::Vi.percent(1_619, 1_372), "118,0 %");
    }
}
