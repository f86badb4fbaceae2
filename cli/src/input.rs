//! The CLI's flags read with [`node::input`] (shared with the web interface), and their
//! refusals worded for the person.

pub use node::input::{date, money, role, sector};
use sync_protocol::date::Date;
use sync_protocol::entry::{Sector, UnitRole};

use crate::i18n::Lang;
use crate::Failure;

/// A date flag, or its refusal.
pub fn date_flag(lang: Lang, flag: &str, s: &str) -> Result<Date, Failure> {
    date(s).ok_or_else(|| {
        Failure::input(format!(
            "--{flag} {s:?}: {}",
            lang.t(
                "không đọc được ngày này (hoặc không có ngày này); viết ngày như in trên giấy tờ, ví dụ 15/07/2022 (cũng được 15-07-2022, 15.07.2022 hoặc 2022-07-15)",
                "not a date that can be read without guessing (or no such day); write it as printed, day first, e.g. 15/07/2022 (also 15-07-2022, 15.07.2022 or 2022-07-15)"
            )
        ))
    })
}

/// An amount flag, or its refusal.
pub fn money_flag(lang: Lang, flag: &str, s: &str) -> Result<u64, Failure> {
    money(s).ok_or_else(|| {
        Failure::input(format!(
            "--{flag} {s:?}: {}",
            lang.t(
                "không đọc được số tiền này mà không phải đoán; viết số đồng như in, ví dụ 2.400.000.000 hoặc 2400000000 (có thể thêm \"đồng\"), không có phần lẻ",
                "an amount that cannot be read without guessing; write whole VND as printed, e.g. 2.400.000.000 or 2400000000 (\"VND\" may follow), with no decimal part"
            )
        ))
    })
}

/// A sector flag, or its refusal naming the choices in the person's language and by code.
pub fn sector_flag(lang: Lang, s: &str) -> Result<Sector, Failure> {
    sector(s).ok_or_else(|| {
        let choices: Vec<String> = Sector::ALL
            .iter()
            .map(|x| format!("{} ({})", lang.sector(*x), x.code()))
            .collect();
        Failure::input(format!(
            "--sector {s:?}: {} {}",
            lang.t(
                "lĩnh vực không hợp lệ; chọn một trong:",
                "unknown sector; choose one of:"
            ),
            choices.join(", ")
        ))
    })
}

/// A role flag, or its refusal naming the choices.
pub fn role_flag(lang: Lang, s: &str) -> Result<UnitRole, Failure> {
    role(s).ok_or_else(|| {
        let choices: Vec<String> = UnitRole::ALL
            .iter()
            .filter(|r| **r != UnitRole::National)
            .map(|x| format!("{} ({})", lang.role(*x), x.code()))
            .collect();
        Failure::input(format!(
            "--role {s:?}: {} {}",
            lang.t(
                "vai trò không hợp lệ; chọn một trong:",
                "invalid role; choose one of:"
            ),
            choices.join(", ")
        ))
    })
}
