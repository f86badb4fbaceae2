//! `unit request`, `unit enrol --request`, `unit accept`, `unit list` and `unit revoke`: units
//! and their keys over their lifetime, as an operator works them between two offices. Parsing
//! and rendering only; the use cases are `node::enrolment` and `node::unit_keys`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use node::enrolment::{self, EnrolmentRequest, NewUnit};
use node::now_ms;
use node::unit_keys::{self, Cascade, KeyEnd, KeyLookupError, RevokeError};
use serde_json::json;
use sync_protocol::date::Date;
use sync_protocol::ids::{UnitId, UnitKey};
use sync_protocol::limits::{MAX_ENROLMENT_ANSWER_BYTES, MAX_ENROLMENT_REQUEST_BYTES};
use sync_protocol::limits::{MAX_NOTE_CHARS, MAX_UNIT_NAME_CHARS};

use crate::i18n::Lang;
use crate::{Ctx, Failure};

/// Vietnam's offset from UTC (no summer time): dates and times people type and read are
/// Vietnam time.
const VIETNAM_OFFSET_MS: i64 = 7 * 3_600_000;

/// A date and time as people write it, as Unix ms: `dd/mm/yyyy HH:MM` (or `-`, `.` between
/// the date's parts; the time may be left out: midnight) in Vietnam time, or ISO
/// `yyyy-mm-ddTHH:MM[:SS]` with an optional `Z` or `±hh:mm` (Vietnam time without one).
pub fn date_time(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date_part, rest) = match s.find(['T', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let date: Date = crate::input::date(date_part)?;
    let (time_part, offset_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else if let Some(i) = rest.rfind(['+', '-']).filter(|&i| i > 0) {
        let (t, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':')?;
        let (h, m): (i64, i64) = (digits(h, 2)?, digits(m, 2)?);
        if h > 14 || m > 59 {
            return None;
        }
        (t, sign * (h * 3_600_000 + m * 60_000))
    } else {
        (rest, VIETNAM_OFFSET_MS)
    };
    let mut hms = [0i64; 3];
    if !time_part.is_empty() {
        let parts: Vec<&str> = time_part.split(':').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        for (i, p) in parts.iter().enumerate() {
            hms[i] = digits(p, 2)?;
        }
        if hms[0] > 23 || hms[1] > 59 || hms[2] > 59 {
            return None;
        }
    }
    let ms =
        date.days_since_epoch() * 86_400_000 + hms[0] * 3_600_000 + hms[1] * 60_000 + hms[2] * 1000
            - offset_ms;
    u64::try_from(ms).ok()
}

fn digits(s: &str, len: usize) -> Option<i64> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A time for people: `dd/mm/yyyy HH:MM`, Vietnam time.
pub fn show_time(ms: u64) -> String {
    let local = ms as i64 + VIETNAM_OFFSET_MS;
    let d = Date::from_unix_ms(local.max(0) as u64);
    let in_day = local.rem_euclid(86_400_000);
    format!(
        "{:02}/{:02}/{:04} {:02}:{:02}",
        d.day,
        d.month,
        d.year,
        in_day / 3_600_000,
        (in_day / 60_000) % 60
    )
}

/// An ISO 8601 time in Vietnam time, for JSON.
fn iso_time(ms: u64) -> String {
    let local = ms as i64 + VIETNAM_OFFSET_MS;
    let d = Date::from_unix_ms(local.max(0) as u64);
    let in_day = local.rem_euclid(86_400_000);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+07:00",
        d.year,
        d.month,
        d.day,
        in_day / 3_600_000,
        (in_day / 60_000) % 60,
        (in_day / 1000) % 60
    )
}

fn key_lookup_error(lang: Lang, e: &KeyLookupError) -> String {
    match e {
        KeyLookupError::NotAFingerprint(s) => format!(
            "{s:?}: {}",
            lang.t(
                "không phải dấu vân tay khóa (các chữ số thập lục phân 0-9, a-f)",
                "not a key fingerprint (hexadecimal digits 0-9, a-f)"
            )
        ),
        KeyLookupError::Unknown(p) => format!(
            "{}: {p}",
            lang.t("không có khóa nào bắt đầu bằng", "no key starts with")
        ),
        KeyLookupError::Ambiguous { prefix, matches } => format!(
            "{prefix}: {} {} {}:\n{}",
            lang.t("là phần đầu của", "is the start of"),
            matches.len(),
            lang.t("khóa; hãy gõ thêm chữ số", "keys; type more digits"),
            matches
                .iter()
                .map(|(u, k)| format!("  {u} {}", k.to_hex()))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        KeyLookupError::UnknownUnit(u) => format!(
            "{u}: {}",
            lang.t("đơn vị không có ở nút này", "unit not known here")
        ),
    }
}

fn unit_id(ctx: &Ctx, s: &str) -> Result<UnitId, Failure> {
    UnitId::new(s).map_err(|e| {
        Failure::input(format!(
            "{} {s:?}: {}",
            ctx.lang.t("mã đơn vị không hợp lệ", "invalid unit id"),
            ctx.lang
                .t("chỉ gồm a-z, 0-9 và -", "use a-z, 0-9 and - only")
        ))
        .because(e)
    })
}

fn write_out(ctx: &Ctx, path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|e| {
        Failure::problem(format!(
            "{}: {}",
            path.display(),
            ctx.lang.t("không ghi được tệp", "cannot write the file")
        ))
        .because(e)
    })
}

/// `unit request`: a new node's key and request (`--data` a new directory), or a rotation
/// request of the node in `--data` (`--rotate`).
#[allow(clippy::too_many_arguments)]
pub fn request(
    ctx: &Ctx,
    rotate: bool,
    id: Option<String>,
    name: Option<String>,
    role: Option<String>,
    parent: Option<String>,
    out: &Path,
) -> Result<u8, Failure> {
    let now = now_ms();
    let text = if rotate {
        let node = crate::commands::open(ctx)?;
        enrolment::request_rotation(&node, now).map_err(|e| crate::refusal::input(ctx.lang, e))?
    } else {
        let missing =
            |flag: &str| Failure::input(format!("{} {flag}", ctx.lang.t("thiếu", "missing")));
        let dir = ctx.data()?;
        let unit = NewUnit {
            unit: unit_id(ctx, &id.ok_or_else(|| missing("--id"))?)?,
            name: sync_protocol::text::Text::required(
                "name",
                &name.ok_or_else(|| missing("--name"))?,
                MAX_UNIT_NAME_CHARS,
            )
            .map_err(|e| {
                Failure::input(format!(
                    "{}: {}",
                    ctx.lang.t("giá trị không hợp lệ", "invalid value"),
                    crate::refusal::text_error(ctx.lang, &e)
                ))
            })?,
            role: crate::input::role_flag(ctx.lang, &role.ok_or_else(|| missing("--role"))?)?,
            parent: unit_id(ctx, &parent.ok_or_else(|| missing("--parent"))?)?,
        };
        enrolment::request_new(dir, unit, None, now)
            .map_err(|e| crate::refusal::input(ctx.lang, e))?
    };
    write_out(ctx, out, &text)?;
    let code = enrolment::check_code(&text);
    if ctx.json {
        crate::outln!(
            "{}",
            json!({"request": out, "check_code": code, "rotation": rotate, "text": text})
        );
    } else {
        crate::outln!(
            "{} {}\n{}: {code}\n{}\n\n{}",
            ctx.lang.t("Đã lập yêu cầu", "Request written to"),
            out.display(),
            ctx.lang.t("Mã kiểm tra", "Check code"),
            ctx.lang.t(
                "Gửi tệp này (hoặc dán nội dung dưới đây) cho đơn vị cấp trên, rồi đọc mã kiểm tra qua điện thoại để hai bên đối chiếu. Khóa bí mật ở lại thư mục này.",
                "Send this file (or paste the text below) to the parent unit, then read the check code out by telephone so both sides compare it. The private key stays in this directory."
            ),
            text.trim_end()
        );
    }
    Ok(0)
}

/// `unit enrol --request FILE --out FILE [--emergency]`, at the parent.
pub fn enrol_request(
    ctx: &Ctx,
    file: &Path,
    out: Option<PathBuf>,
    emergency: bool,
) -> Result<u8, Failure> {
    let out = out.ok_or_else(|| {
        Failure::input(ctx.lang.t(
            "thiếu --out TỆP: nơi ghi tệp chứng thư cho đơn vị con",
            "missing --out FILE: where to write the certificate file for the child",
        ))
    })?;
    let text = enrolment::read_bounded(file, MAX_ENROLMENT_REQUEST_BYTES)
        .map_err(|e| crate::refusal::input(ctx.lang, e))?;
    let req = EnrolmentRequest::decode(&text).map_err(|e| crate::refusal::input(ctx.lang, e))?;
    let mut parent = crate::commands::open(ctx)?;
    let done = enrolment::certify(&mut parent, &req, emergency, now_ms())
        .map_err(|e| crate::refusal::input(ctx.lang, e))?;
    write_out(ctx, &out, &done.answer)?;
    let r = &req.request;
    if ctx.json {
        crate::outln!(
            "{}",
            json!({"unit": r.unit.as_str(), "key": r.key.to_hex(), "rotation": done.rotation, "emergency": emergency, "certificate": done.certificate.hash().to_hex(), "out": out, "check_code": req.check_code()})
        );
    } else {
        crate::outln!(
            "{} {} ({}) {} {}\n{}: {}\n{}: {}\n{} {}",
            if done.rotation {
                ctx.lang
                    .t("Đã chứng thực khóa mới cho", "Certified the new key of")
            } else {
                ctx.lang.t("Đã chứng thực đơn vị", "Certified unit")
            },
            r.unit,
            r.name,
            ctx.lang.t("dưới", "under"),
            parent.unit(),
            ctx.lang.t("khóa", "key"),
            r.key.to_hex(),
            ctx.lang
                .t("mã kiểm tra của yêu cầu", "the request's check code"),
            req.check_code(),
            ctx.lang.t(
                "Gửi tệp chứng thư cho đơn vị con:",
                "Send the certificate file to the child:"
            ),
            out.display()
        );
    }
    Ok(0)
}

/// `unit accept FILE`, at the child.
pub fn accept(ctx: &Ctx, file: &Path) -> Result<u8, Failure> {
    let text = enrolment::read_bounded(file, MAX_ENROLMENT_ANSWER_BYTES)
        .map_err(|e| crate::refusal::input(ctx.lang, e))?;
    let dir = ctx.data()?;
    let now = now_ms();
    let (unit, accepted) = if dir.join(node::node::NODE_FILE).exists() {
        let mut node = crate::commands::open(ctx)?;
        let a = enrolment::accept_rotation(&mut node, &text, now)
            .map_err(|e| crate::refusal::input(ctx.lang, e))?;
        (node.unit().clone(), a)
    } else {
        let a = enrolment::accept_new(dir, &text, now)
            .map_err(|e| crate::refusal::input(ctx.lang, e))?;
        let unit = a
            .node
            .as_ref()
            .map(|n| n.unit().clone())
            .expect("a new node");
        (unit, a)
    };
    if ctx.json {
        crate::outln!(
            "{}",
            json!({"unit": unit.as_str(), "key": accepted.key.to_hex(), "rotation": accepted.rotation})
        );
    } else if accepted.rotation {
        crate::outln!(
            "{} {unit}: {} ({})",
            ctx.lang
                .t("Đã chuyển sang khóa mới", "Switched to the new key"),
            accepted.key.short(),
            ctx.lang.t(
                "khóa cũ được giữ lại dưới tên unit.key.retired-…",
                "the old key is kept as unit.key.retired-…"
            )
        );
        if ctx.service.is_some() {
            crate::outln!(
                "{}",
                ctx.lang.t(
                    "Dịch vụ nút đang chạy dùng khóa mới cho các phiên đồng bộ từ bây giờ.",
                    "The running node service uses the new key for sync sessions from now on."
                )
            );
        }
    } else {
        crate::outln!(
            "{} {unit} ({}): {}",
            ctx.lang.t("Nút đã sẵn sàng:", "The node is ready:"),
            accepted.key.short(),
            dir.display()
        );
    }
    Ok(0)
}

/// `unit list [--unit ID]`: units, each with its keys and the chain of its current key.
pub fn list(ctx: &Ctx, only: Option<String>) -> Result<u8, Failure> {
    let node = crate::commands::open(ctx)?;
    let d = node.directory();
    let now = now_ms();
    let units = match only {
        Some(u) => {
            let u = unit_id(ctx, &u)?;
            if !d.knows(&u) {
                return Err(Failure::input(key_lookup_error(
                    ctx.lang,
                    &KeyLookupError::UnknownUnit(u),
                )));
            }
            vec![u]
        }
        None => d.units(),
    };
    let lang = ctx.lang;
    let mut rows = Vec::new();
    for u in units {
        let role = d.role_at(&u, now);
        let mut keys = unit_keys::keys_of(d, &u, now);
        if u == *d.root() {
            keys.insert(
                0,
                unit_keys::KeyRow {
                    unit: u.clone(),
                    key: d.genesis().root_key,
                    certificate: d.genesis_hash(),
                    from_ms: 0,
                    end: d
                        .key_valid_at(&u, &d.genesis().root_key, now)
                        .err()
                        .map(|_| KeyEnd::Replaced(now)),
                    valid_now: d.key_valid_at(&u, &d.genesis().root_key, now).is_ok(),
                    signer: (u.clone(), d.genesis().root_key),
                },
            );
        }
        let chain = unit_keys::chain_of(d, &u, now);
        if ctx.json {
            rows.push(json!({
                "unit": u.as_str(),
                "name": d.name(&u).map(|n| n.to_string()),
                "role": role.map(|r| r.code()),
                "parent": d.parent_at(&u, now).map(|p| p.to_string()),
                "keys": keys.iter().map(|k| json!({
                    "fingerprint": k.key.short(),
                    "key": k.key.to_hex(),
                    "valid_from": (k.from_ms > 0).then(|| iso_time(k.from_ms)),
                    "valid_until": match &k.end { Some(KeyEnd::Replaced(t)) | Some(KeyEnd::Revoked { effective_ms: t, .. }) => Some(iso_time(*t)), None => None },
                    "ended_by": match &k.end { Some(KeyEnd::Replaced(_)) => Some("replaced"), Some(KeyEnd::Revoked { .. }) => Some("revoked"), None => None },
                    "valid_now": k.valid_now,
                    "certified_by": k.signer.0.as_str(),
                    "certified_by_key": k.signer.1.to_hex(),
                })).collect::<Vec<_>>(),
                "chain": chain.iter().map(|(u, k)| json!({"unit": u.as_str(), "key": k.to_hex()})).collect::<Vec<_>>(),
            }));
            continue;
        }
        crate::outln!(
            "{:<28} {:<34} {}",
            u.as_str(),
            role.map(|r| lang.role(r)).unwrap_or("?"),
            d.name(&u).map(|n| n.to_string()).unwrap_or_default()
        );
        for k in &keys {
            let since = if k.from_ms == 0 {
                lang.t("từ khi lập liên đoàn", "since the federation began")
                    .to_owned()
            } else {
                format!("{} {}", lang.t("từ", "from"), show_time(k.from_ms))
            };
            let until = match &k.end {
                None => lang.t("đến nay", "to now").to_owned(),
                Some(KeyEnd::Replaced(t)) => format!(
                    "{} {} ({})",
                    lang.t("đến", "until"),
                    show_time(*t),
                    lang.t("đã thay khóa", "replaced")
                ),
                Some(KeyEnd::Revoked {
                    effective_ms,
                    by_self_only,
                }) => format!(
                    "{} {} ({})",
                    lang.t("đến", "until"),
                    show_time(*effective_ms),
                    if *by_self_only {
                        lang.t("tự thu hồi", "revoked by itself")
                    } else {
                        lang.t("đã thu hồi", "revoked")
                    }
                ),
            };
            crate::outln!(
                "    {} {} {}  {since}, {until}{}",
                lang.t("khóa", "key"),
                k.key.short(),
                k.key.to_hex(),
                if k.valid_now {
                    format!(" — {}", lang.t("đang dùng", "in use"))
                } else {
                    String::new()
                }
            );
        }
        if chain.len() > 1 {
            crate::outln!(
                "    {}: {}",
                lang.t("chuỗi chứng thực", "certificate chain"),
                chain
                    .iter()
                    .map(|(u, k)| format!("{u} ({})", k.short()))
                    .collect::<Vec<_>>()
                    .join(" ← ")
            );
        }
    }
    if ctx.json {
        crate::outln!("{}", serde_json::to_string_pretty(&rows).expect("json"));
    }
    Ok(0)
}

/// `unit revoke`: by unit (its current key) or by a key fingerprint prefix, from a date and
/// time; prints what the revocation invalidates and asks before signing (`--yes` for scripts).
pub fn revoke(
    ctx: &Ctx,
    unit: Option<String>,
    key: Option<String>,
    from: Option<String>,
    effective_ms: Option<u64>,
    reason: &str,
    yes: bool,
) -> Result<u8, Failure> {
    let lang = ctx.lang;
    let mut node = crate::commands::open(ctx)?;
    let now = now_ms();
    let d = node.directory();
    let lookup = |e: KeyLookupError| Failure::input(key_lookup_error(lang, &e)).because(e);
    let (unit, key) = match (unit, key) {
        (Some(u), None) => {
            let u = unit_id(ctx, &u)?;
            let k = unit_keys::current_key(d, &u, now).map_err(lookup)?;
            (u, k)
        }
        (u, Some(k)) => {
            let (ku, kk) = if k.trim().len() == 64 {
                UnitKey::from_hex(&k)
                    .ok()
                    .and_then(|full| {
                        d.certificates()
                            .find(|c| c.cert.key == full)
                            .map(|c| (c.cert.unit.clone(), full))
                    })
                    .map_or_else(|| unit_keys::find_key(d, &k), Ok)
                    .map_err(lookup)?
            } else {
                unit_keys::find_key(d, &k).map_err(lookup)?
            };
            if let Some(u) = u {
                let u = unit_id(ctx, &u)?;
                if u != ku {
                    return Err(Failure::input(format!(
                        "{} {} {ku}, {} {u}",
                        kk.short(),
                        lang.t("là khóa của", "is a key of"),
                        lang.t("không phải của", "not of")
                    )));
                }
            }
            (ku, kk)
        }
        (None, None) => {
            return Err(Failure::input(lang.t(
                "hãy chỉ --unit MÃ (khóa hiện tại của đơn vị) hoặc --key DẤU_VÂN_TAY",
                "give --unit ID (the unit's current key) or --key FINGERPRINT",
            )))
        }
    };
    let effective = match (from, effective_ms) {
        (Some(s), _) => date_time(&s).ok_or_else(|| {
            Failure::input(format!(
                "{s:?}: {}",
                lang.t(
                    "không đọc được ngày giờ; viết như 01/07/2025 08:00 (giờ Việt Nam) hoặc 2025-07-01T08:00+07:00",
                    "not a date and time we can read; write it as 01/07/2025 08:00 (Vietnam time) or 2025-07-01T08:00+07:00"
                )
            ))
        })?,
        (None, Some(ms)) => ms,
        (None, None) => now,
    };
    let reason =
        sync_protocol::text::Text::required("reason", reason, MAX_NOTE_CHARS).map_err(|e| {
            Failure::input(format!(
                "{}: {}",
                lang.t("giá trị không hợp lệ", "invalid value"),
                crate::refusal::text_error(lang, &e)
            ))
        })?;
    let (entry, cascade) = unit_keys::prepare_revocation(&node, &unit, key, effective, reason, now)
        .map_err(|e| {
            let msg = match &e {
                RevokeError::Refused(r) => crate::refusal::reject(lang, r),
                RevokeError::Node(n) => crate::refusal::node_error(lang, n),
            };
            Failure::input(msg).because(e)
        })?;
    print_cascade(ctx, &unit, &key, effective, &cascade);
    if !yes {
        if ctx.service.is_some() || !std::io::stdin().is_terminal() {
            crate::errln!(
                "{}",
                lang.t(
                    "Chưa thu hồi. Chạy lại với --yes để xác nhận.",
                    "Nothing revoked. Run again with --yes to confirm."
                )
            );
            return Ok(1);
        }
        crate::out!(
            "{} ",
            lang.t(
                "Xác nhận thu hồi? Gõ \"có\" để tiếp tục:",
                "Revoke? Type \"yes\" to go on:"
            )
        );
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        let a = sync_protocol::text::fold_for_search(answer.trim());
        if !matches!(a.as_str(), "co" | "yes" | "y" | "c") {
            crate::errln!("{}", lang.t("Chưa thu hồi.", "Nothing revoked."));
            return Ok(1);
        }
    }
    let entry = node
        .write_signed(entry, now)
        .map_err(|e| crate::refusal::problem(lang, e))?;
    if ctx.json {
        crate::outln!(
            "{}",
            json!({"unit": unit.as_str(), "key": key.to_hex(), "effective": iso_time(effective), "entry": entry.hash().to_hex()})
        );
    } else {
        crate::outln!(
            "{} {unit} ({}) {} {}, {}: {}",
            lang.t("Đã thu hồi khóa của", "Revoked the key of"),
            key.short(),
            lang.t("từ", "from"),
            show_time(effective),
            lang.t("mục", "entry"),
            entry.hash()
        );
    }
    Ok(0)
}

fn print_cascade(ctx: &Ctx, unit: &UnitId, key: &UnitKey, effective: u64, c: &Cascade) {
    let lang = ctx.lang;
    if ctx.json {
        crate::outln!(
            "{}",
            json!({"cascade": {
                "unit": unit.as_str(),
                "key": key.to_hex(),
                "effective": iso_time(effective),
                "certificates": c.certificates.iter().map(|(u, k, t)| json!({"unit": u.as_str(), "key": k.to_hex(), "from": iso_time(*t)})).collect::<Vec<_>>(),
                "entries": c.entries.iter().map(|(u, n)| json!({"unit": u.as_str(), "count": n})).collect::<Vec<_>>(),
            }})
        );
        return;
    }
    let mut o = format!(
        "{} {unit} {} {} ({})\n  {} {} ({})\n",
        lang.t("Thu hồi khóa của", "Revoking the key of"),
        key.short(),
        key.to_hex(),
        lang.t("khóa", "key"),
        lang.t("có hiệu lực từ", "effective from"),
        show_time(effective),
        iso_time(effective),
    );
    if c.certificates.is_empty() && c.entries.is_empty() {
        o.push_str(&format!(
            "  {}\n",
            lang.t(
                "Không có chứng thư hay mục nào ở nút này bị mất hiệu lực.",
                "No certificate or entry held here becomes invalid."
            )
        ));
    }
    if !c.certificates.is_empty() {
        o.push_str(&format!(
            "  {} ({}):\n",
            lang.t(
                "Chứng thư mất hiệu lực (do khóa này ký từ thời điểm đó, và dây chuyền bên dưới)",
                "Certificates that become invalid (signed by this key from then on, and those resting on them)"
            ),
            c.certificates.len()
        ));
        for (u, k, t) in &c.certificates {
            o.push_str(&format!(
                "    {u} {} ({} {})\n",
                k.short(),
                lang.t("từ", "from"),
                show_time(*t)
            ));
        }
    }
    if !c.entries.is_empty() {
        o.push_str(&format!(
            "  {} ({}):\n",
            lang.t(
                "Mục đã ký từ thời điểm đó sẽ không còn hợp lệ",
                "Entries signed from then on that become invalid"
            ),
            c.entry_count()
        ));
        for (u, n) in &c.entries {
            o.push_str(&format!("    {u}: {n}\n"));
        }
    }
    crate::out!("{o}");
}
