//! The command line in one language: help, usage lines and clap's own errors in Vietnamese
//! (`--lang vi`, the default) or English (`--lang en`), never both.
//!
//! The language is itself an argument, so [`prescan_lang`] reads `--lang` (or `SANGKIEN_LANG`)
//! from the raw arguments before the parser exists; [`localise`] then rewrites the derived
//! command tree: each doc comment "Vietnamese / English" keeps one side, headings, usage lines,
//! value names and the `--help`/`--version` flags are set in that language, and clap's own
//! English annotations (`[default: …]`, `[possible values: …]`, `[env: …]`) are replaced by
//! localised ones. [`clap_failure`] renders a `clap::Error` from its kind and context values.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command};

use crate::i18n::Lang;

/// `--lang X`, `--lang=X`, else `SANGKIEN_LANG`, else Vietnamese. An unknown value falls back
/// to Vietnamese here; the parser then refuses it (in Vietnamese).
pub fn prescan_lang(args: &[OsString]) -> Lang {
    let mut found = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--lang" {
            found = it.next().map(|v| v.to_string_lossy().into_owned());
        } else if let Some(v) = a.strip_prefix("--lang=") {
            found = Some(v.to_owned());
        }
    }
    let v = found.or_else(|| std::env::var("SANGKIEN_LANG").ok());
    match v.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Vi,
    }
}

/// One side of a "Vietnamese / English" doc comment. When the English side lists values after
/// a colon ("sector: production-business, …") and the Vietnamese side does not, the list is
/// kept on the Vietnamese side too (the values are codes, the same in both languages).
pub fn pick(text: &str, lang: Lang) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some((vi, en)) = text.split_once(" / ") else {
        return text;
    };
    match lang {
        Lang::Vi => {
            let vi = vi.trim_end_matches('.').to_owned();
            match en.split_once(": ") {
                Some((_, list)) if !vi.contains(':') && is_code_list(list) => {
                    format!("{vi}: {list}")
                }
                _ => format!("{vi}."),
            }
        }
        Lang::En => {
            let mut c = en.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        }
    }
}

/// "production-business, administration, …": a list of codes (at least one with a hyphen),
/// not a phrase.
fn is_code_list(list: &str) -> bool {
    let items: Vec<&str> = list.trim_end_matches('.').split(", ").collect();
    items.len() > 1
        && items.iter().any(|i| i.contains('-'))
        && items.iter().all(|i| !i.trim().contains(' '))
}

/// The placeholder of a value in help and usage lines (clap takes `&'static str` here: the
/// few built for ids outside the table are leaked, once per argument and run). Looked up by
/// the argument's id when the table names it (two commands share `--into`: a directory for
/// `unit enrol`, a unit for `unit merge`, whose argument's id is `successor`), else by its
/// long name.
fn value_name(lang: Lang, arg_id: &str, long: Option<&str>) -> &'static str {
    const NAMES: &[(&str, &str, &str)] = &[
        ("data", "THƯ_MỤC", "DIR"),
        ("dir", "THƯ_MỤC", "DIR"),
        ("into", "THƯ_MỤC", "DIR"),
        ("successor", "ĐƠN_VỊ", "UNIT"),
        ("out", "TỆP", "FILE"),
        ("file", "TỆP", "FILE"),
        ("id", "MÃ", "ID"),
        ("record", "MÃ", "ID"),
        ("unit", "ĐƠN_VỊ", "UNIT"),
        ("parent", "ĐƠN_VỊ", "UNIT"),
        ("programme", "CHƯƠNG_TRÌNH", "PROGRAMME"),
        ("phase", "GIAI_ĐOẠN", "PHASE"),
        ("registered", "NGÀY", "DATE"),
        ("today", "NGÀY", "DATE"),
        ("employer_date", "NGÀY", "DATE"),
        ("benefit", "SỐ_TIỀN", "AMOUNT"),
        ("name", "TÊN", "NAME"),
        ("title", "TÊN", "TITLE"),
        ("query", "TỪ_KHÓA", "WORDS"),
        ("lang", "NGÔN_NGỮ", "LANG"),
        ("format", "ĐỊNH_DẠNG", "FORMAT"),
        ("sector", "LĨNH_VỰC", "SECTOR"),
        ("role", "VAI_TRÒ", "ROLE"),
        ("author", "TÁC_GIẢ", "AUTHOR"),
        ("key", "KHÓA", "KEY"),
        ("reason", "LÝ_DO", "REASON"),
        ("summary", "TÓM_TẮT", "SUMMARY"),
        ("current-state", "VĂN_BẢN", "TEXT"),
        ("solution", "VĂN_BẢN", "TEXT"),
        ("novelty", "VĂN_BẢN", "TEXT"),
        ("scope", "VĂN_BẢN", "TEXT"),
        ("effectiveness", "VĂN_BẢN", "TEXT"),
        ("officer", "HỌ_TÊN", "NAME"),
        ("note", "GHI_CHÚ", "NOTE"),
        ("since", "NGÀY", "DATE"),
        ("for", "ĐƠN_VỊ", "UNIT"),
        ("for_unit", "ĐƠN_VỊ", "UNIT"),
        ("deadline", "HẠN", "DEADLINE"),
        ("campaign", "ĐỢT", "CAMPAIGN"),
        ("employer-date", "NGÀY", "DATE"),
        ("employer-decision", "SỐ", "NUMBER"),
        ("employer-reward", "HÌNH_THỨC", "REWARD"),
        ("config", "TỆP", "FILE"),
        ("cache-mb", "MIB", "MIB"),
        ("set", "ĐƠN_VỊ=SỐ", "UNIT=NUMBER"),
        ("status", "TRẠNG_THÁI", "STATUS"),
        ("grade", "HẠNG", "GRADE"),
        ("seed", "SỐ", "SEED"),
    ];
    let id = match NAMES.iter().find(|(k, _, _)| *k == arg_id) {
        Some(_) => arg_id,
        None => long.unwrap_or(arg_id),
    };
    match NAMES.iter().find(|(k, _, _)| *k == id) {
        Some((_, vi, en)) => lang.t(vi, en),
        None => match lang {
            Lang::Vi => "GIÁ_TRỊ",
            Lang::En => Box::leak(id.to_ascii_uppercase().replace('-', "_").into_boxed_str()),
        },
    }
}

fn localise_arg(a: Arg, lang: Lang) -> Arg {
    let mut help = a.get_help().map(|h| pick(&h.to_string(), lang));
    let mut notes = Vec::new();
    let takes = a.get_action().takes_values();
    if takes {
        let pv: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| p.get_name().to_owned())
            .collect();
        if !pv.is_empty() {
            notes.push(format!(
                "{}: {}",
                lang.t("giá trị", "values"),
                pv.join(", ")
            ));
        }
        let dv: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if !dv.is_empty() {
            notes.push(format!(
                "{}: {}",
                lang.t("mặc định", "default"),
                dv.join(", ")
            ));
        }
    }
    if let (false, Some(h)) = (notes.is_empty(), help.as_mut()) {
        h.push_str(&format!(" [{}]", notes.join("; ")));
    }
    let id = a.get_id().as_str().to_owned();
    let mut a = a.hide_env(true).long_help(None::<&str>);
    if takes {
        a = a.hide_default_value(true).hide_possible_values(true);
    }
    if let Some(h) = help {
        a = a.help(h);
    }
    if takes {
        let long = a.get_long().map(str::to_owned);
        a = a.value_name(value_name(lang, &id, long.as_deref()));
    }
    a
}

/// The usage line of a command at `path`, in `lang`.
fn usage(cmd: &Command, path: &str, lang: Lang) -> String {
    let mut u = format!("{path} [{}]", lang.t("TÙY_CHỌN", "OPTIONS"));
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let v = value_name(lang, a.get_id().as_str(), a.get_long());
        let many = a.get_num_args().is_some_and(|n| n.max_values() > 1);
        let dots = if many { "..." } else { "" };
        if a.is_positional() {
            if a.is_required_set() {
                u.push_str(&format!(" <{v}>{dots}"));
            } else {
                u.push_str(&format!(" [{v}]{dots}"));
            }
        } else if a.is_required_set() {
            if let Some(l) = a.get_long() {
                u.push_str(&format!(" --{l} <{v}>"));
            }
        }
    }
    if cmd.has_subcommands() {
        u.push_str(&format!(" <{}>", lang.t("LỆNH", "COMMAND")));
    }
    u
}

/// The command tree with every text a person reads in `lang`.
pub fn localise(cmd: Command, lang: Lang) -> Command {
    let version = lang.t("In phiên bản", "Print version");
    let cmd = localise_at(cmd, lang, "sangkien");
    cmd.disable_version_flag(true).arg(
        Arg::new("version")
            .short('V')
            .long("version")
            .action(ArgAction::Version)
            .help(version),
    )
}

fn localise_at(cmd: Command, lang: Lang, path: &str) -> Command {
    let about = cmd.get_about().map(|s| pick(&s.to_string(), lang));
    let mut cmd = cmd
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .long_about(None::<&str>)
        .mut_args(|a| localise_arg(a, lang));
    if let Some(a) = about {
        cmd = cmd.about(a);
    }
    let usage = usage(&cmd, path, lang);
    let has_subs = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let has_pos = cmd.get_positionals().any(|a| !a.is_hide_set());
    let mut template = format!(
        "{{about-with-newline}}\n{} {{usage}}\n",
        lang.t("Cách dùng:", "Usage:")
    );
    if has_subs {
        template.push_str(&format!(
            "\n{}\n{{subcommands}}\n",
            lang.t("Lệnh:", "Commands:")
        ));
    }
    if has_pos {
        template.push_str(&format!(
            "\n{}\n{{positionals}}\n",
            lang.t("Đối số:", "Arguments:")
        ));
    }
    template.push_str(&format!(
        "\n{}\n{{options}}\n",
        lang.t("Tùy chọn:", "Options:")
    ));
    let path = path.to_owned();
    cmd.override_usage(usage)
        .help_template(template)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help(lang.t("In trợ giúp", "Print help")),
        )
        .mut_subcommands(move |s| {
            let p = format!("{path} {}", s.get_name());
            localise_at(s, lang, &p)
        })
}

fn strings(e: &clap::Error, k: ContextKind) -> Vec<String> {
    match e.get(k) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
        Some(ContextValue::StyledStrs(v)) => v.iter().map(|s| s.to_string()).collect(),
        Some(ContextValue::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn one(e: &clap::Error, k: ContextKind) -> String {
    strings(e, k).join(", ")
}

/// A clap error as one sentence in `lang`: the sentence for each kind of error.
pub fn clap_message(lang: Lang, e: &clap::Error) -> String {
    use ContextKind as K;
    let arg = one(e, K::InvalidArg);
    let value = one(e, K::InvalidValue);
    let mut m = match e.kind() {
        ErrorKind::UnknownArgument => format!(
            "{} '{arg}'",
            lang.t("đối số không có trong lệnh này:", "unexpected argument")
        ),
        ErrorKind::InvalidSubcommand => format!(
            "{} '{}'",
            lang.t("không có lệnh", "unrecognized subcommand"),
            one(e, K::InvalidSubcommand)
        ),
        ErrorKind::MissingRequiredArgument => {
            let all = strings(e, K::InvalidArg);
            let head = if all.len() == 1 {
                lang.t("thiếu cờ bắt buộc", "missing a required argument")
            } else {
                lang.t(
                    "thiếu các cờ bắt buộc (thêm tất cả vào lệnh)",
                    "missing required arguments (add all of them to the command)",
                )
            };
            format!("{head}: {}", all.join(", "))
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            format!(
                "{} '{}'",
                lang.t("cần chọn một lệnh con của", "a subcommand is required by"),
                one(e, K::InvalidSubcommand)
            )
        }
        ErrorKind::InvalidValue => {
            if value.is_empty() {
                format!(
                    "{} {arg}",
                    lang.t("thiếu giá trị cho", "a value is required for")
                )
            } else {
                format!(
                    "{} '{value}' {} {arg}",
                    lang.t("giá trị", "invalid value"),
                    lang.t("không hợp lệ cho", "for")
                )
            }
        }
        ErrorKind::ValueValidation => format!(
            "{} '{value}' {} {arg}",
            lang.t("giá trị", "invalid value"),
            lang.t("không hợp lệ cho", "for")
        ),
        ErrorKind::ArgumentConflict => format!(
            "{arg} {} {}",
            lang.t("không dùng được cùng với", "cannot be used with"),
            one(e, K::PriorArg)
        ),
        ErrorKind::TooManyValues => format!(
            "{} '{value}' {} {arg}",
            lang.t("thừa giá trị", "unexpected value"),
            lang.t("cho", "for")
        ),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => format!(
            "{} {arg}: {} {}",
            lang.t("số giá trị sai cho", "wrong number of values for"),
            lang.t("cần", "expected"),
            one(e, K::ExpectedNumValues).max(one(e, K::MinValues))
        ),
        ErrorKind::NoEquals => format!(
            "{arg} {}",
            lang.t("cần dấu = trước giá trị", "needs = before its value")
        ),
        ErrorKind::InvalidUtf8 => lang
            .t("đối số không phải UTF-8", "an argument is not UTF-8")
            .to_owned(),
        _ => lang
            .t("lệnh không hợp lệ", "invalid command line")
            .to_owned(),
    };
    let valid = strings(e, K::ValidValue);
    if !valid.is_empty() {
        m.push_str(&format!(
            "; {}: {}",
            lang.t("chọn một trong", "possible values"),
            valid.join(", ")
        ));
    }
    let valid = strings(e, K::ValidSubcommand);
    if !valid.is_empty() && e.kind() != ErrorKind::InvalidSubcommand {
        m.push_str(&format!(
            "; {}: {}",
            lang.t("các lệnh con", "subcommands"),
            valid.join(", ")
        ));
    }
    for k in [K::SuggestedArg, K::SuggestedSubcommand, K::SuggestedValue] {
        let s = strings(e, k);
        if !s.is_empty() {
            m.push_str(&format!(
                "; {} '{}'?",
                lang.t("có phải ý bạn là", "did you mean"),
                s.join("' / '")
            ));
        }
    }
    m
}

/// Prints a clap error (or the help or version it carries) in `lang`; the exit code: 0 for
/// help and version, 2 for bad usage.
pub fn clap_failure(lang: Lang, e: clap::Error) -> u8 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return 0;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return 2;
        }
        _ => {}
    }
    crate::errln!("{}: {}", lang.t("lỗi", "error"), clap_message(lang, &e));
    if let Some(u) = strings(&e, ContextKind::Usage).first() {
        let u = u.trim();
        let u = u.strip_prefix("Usage:").unwrap_or(u).trim();
        crate::errln!("\n{} {u}", lang.t("Cách dùng:", "Usage:"));
    }
    crate::errln!(
        "\n{}",
        lang.t(
            "Xem thêm: thêm '--help' vào lệnh.",
            "For more information, try '--help'."
        )
    );
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_side_of_a_doc_comment() {
        let t = "Lĩnh vực / sector: production-business, administration.";
        assert_eq!(
            pick(t, Lang::Vi),
            "Lĩnh vực: production-business, administration."
        );
        assert_eq!(
            pick(t, Lang::En),
            "Sector: production-business, administration."
        );
        let t = "Thư mục dữ liệu của nút / the node's data directory.";
        assert_eq!(pick(t, Lang::Vi), "Thư mục dữ liệu của nút.");
        assert_eq!(pick(t, Lang::En), "The node's data directory.");
    }

    #[test]
    fn the_language_flag_is_found_before_parsing() {
        let a = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            prescan_lang(&a(&["sangkien", "--lang", "en", "verify"])),
            Lang::En
        );
        assert_eq!(
            prescan_lang(&a(&["sangkien", "verify", "--lang=en"])),
            Lang::En
        );
        assert_eq!(
            prescan_lang(&a(&["sangkien", "--", "--lang", "en"])),
            Lang::Vi
        );
    }
}
