//! Refusals from the core, typed, as sentences for people: every [`RejectReason`], every
//! [`Missing`] a quarantined entry waits for, and the node's errors, each with its own
//! Vietnamese and English sentence. One `match` per type, so a new variant is one new arm
//! (the compiler points at the match).

use crate::bundle::BundleError;
use crate::records::ResolveError;
use crate::NodeError;
use sync_protocol::entry::EntryError;
use sync_protocol::record::ContentError;
use sync_protocol::verify::{Missing, RejectReason};

use crate::lang::Lang;

/// A fixed detail the verifier attaches to a reason, in `lang` (English as the core wrote it;
/// Vietnamese from this table; an unknown detail is left out in Vietnamese rather than shown
/// in English).
pub fn detail(lang: Lang, en: &str) -> String {
    const VI: &[(&str, &str)] = &[
        ("the previous decision", "quyết định trước"),
        ("the state it judges", "trạng thái được xét"),
        ("benefit value", "giá trị làm lợi"),
        ("title", "tên"),
        ("owner", "đơn vị sở hữu"),
        ("kind", "loại hồ sơ"),
        ("change history", "lịch sử thay đổi"),
        ("confidentiality", "tính bí mật"),
        (
            "cited entry is not a projection",
            "mục được trích không phải bản công khai",
        ),
        ("no heads named", "không nêu trạng thái nào"),
        (
            "only confidential initiatives have projections",
            "chỉ sáng kiến bí mật mới có bản công khai",
        ),
        (
            "decisions on a confidential initiative bind to its public projection",
            "quyết định về sáng kiến bí mật phải gắn với bản công khai của nó",
        ),
        (
            "decisions on a public initiative bind to its automerge heads",
            "quyết định về sáng kiến công khai phải gắn với trạng thái hiện có của nó",
        ),
        (
            "the previous decision it cites belongs to another record",
            "quyết định trước được trích thuộc hồ sơ khác",
        ),
        (
            "the cited previous entry is not a decision",
            "mục trước được trích không phải quyết định",
        ),
        (
            "it is not this unit's turn in the chain",
            "chưa đến lượt đơn vị này trong chuỗi duyệt",
        ),
        (
            "a submission may only start a chain or follow a return for revision",
            "chỉ nộp khi bắt đầu chuỗi hoặc sau khi bị trả lại để bổ sung",
        ),
        (
            "the first decision on an initiative must be its submission",
            "quyết định đầu tiên về một sáng kiến phải là nộp",
        ),
        (
            "nothing may follow a rejection",
            "sau khi không công nhận thì không có quyết định nào tiếp theo",
        ),
        (
            "after a return for revision the origin must submit again",
            "sau khi bị trả lại, đơn vị gốc phải nộp lại",
        ),
        (
            "the origin has no direct superior",
            "đơn vị gốc không có cấp trên trực tiếp",
        ),
        (
            "the chain already reached the national level",
            "chuỗi duyệt đã lên đến cấp Tổng Liên đoàn",
        ),
        (
            "the unit is already certified; a new certificate must replace its current one",
            "đơn vị đã có chứng thư; chứng thư mới phải thay chứng thư hiện tại",
        ),
        (
            "only the unit's parent or an ancestor of it may replace its certificate",
            "chỉ đơn vị cấp trên mới được thay chứng thư của đơn vị",
        ),
        (
            "the root never ends",
            "đơn vị gốc không thể giải thể hay sáp nhập",
        ),
        (
            "only the unit's parent or an ancestor of it may merge or close it",
            "chỉ đơn vị cấp trên mới được sáp nhập hay giải thể đơn vị",
        ),
        (
            "a unit cannot be merged into itself",
            "không thể sáp nhập một đơn vị vào chính nó",
        ),
        (
            "the successor is inside the merged unit's subtree",
            "đơn vị tiếp nhận nằm trong chính đơn vị bị sáp nhập",
        ),
        (
            "the successor has another role",
            "đơn vị tiếp nhận khác cấp với đơn vị bị sáp nhập",
        ),
        (
            "the signer is neither the successor nor an ancestor of it",
            "đơn vị ký không phải đơn vị tiếp nhận hay cấp trên của nó",
        ),
    ];
    match lang {
        Lang::En => en.to_owned(),
        Lang::Vi => VI
            .iter()
            .find(|(e, _)| *e == en)
            .map(|(_, v)| (*v).to_owned())
            .unwrap_or_default(),
    }
}

/// `head: detail`, or just `head` when the detail has no sentence in `lang`.
fn with(head: String, d: String) -> String {
    if d.is_empty() {
        head
    } else {
        format!("{head}: {d}")
    }
}

/// Why an entry does not decode.
pub fn entry_error(lang: Lang, e: &EntryError) -> String {
    match e {
        EntryError::TooLarge { actual } => format!(
            "{} {} {actual} {} {}",
            lang.t("mục dài", "the entry is"),
            "",
            lang.t("byte, quá giới hạn", "bytes, over the limit of"),
            sync_protocol::limits::MAX_ENTRY_BYTES
        )
        .replace("  ", " "),
        EntryError::Malformed(_) => lang
            .t("mục không đúng định dạng", "the entry is malformed")
            .to_owned(),
        EntryError::BadKey => lang
            .t("khóa ký không hợp lệ", "the signing key is not a valid key")
            .to_owned(),
        EntryError::BadSignature => lang
            .t("chữ ký không khớp", "the signature does not verify")
            .to_owned(),
    }
}

/// Why a text value is refused.
pub fn text_error(lang: Lang, e: &sync_protocol::text::TextError) -> String {
    use sync_protocol::text::TextError as T;
    match e {
        T::Empty { field } => format!(
            "--{field}: {}",
            lang.t("không được để trống", "is required")
        ),
        T::TooLong {
            field,
            limit,
            actual,
        } => format!(
            "--{field}: {} {} {}, {} {}",
            lang.t("dài", "is"),
            lang.int(*actual as u64),
            lang.t("ký tự", "characters long"),
            lang.t("quá giới hạn", "over its limit of"),
            lang.int(*limit as u64)
        ),
        T::Control { field, code } => format!(
            "--{field}: {} (U+{code:04X})",
            lang.t("chứa ký tự điều khiển", "contains a control character")
        ),
        T::LineBreak { field, code } => match lang {
            Lang::Vi => format!(
                "--{field}: phải viết trên một dòng, nhưng có ký tự xuống dòng (U+{code:04X})"
            ),
            Lang::En => format!("{field} must be one line; it contains a line break (U+{code:04X})"),
        },
        T::Invisible { field, code } => match lang {
            Lang::Vi => format!(
                "--{field}: có ký tự vô hình hoặc ký tự đổi chiều văn bản (U+{code:04X}), có thể làm hai tên trông giống nhau mà khác nhau hoặc làm sai văn bản in ra"
            ),
            Lang::En => format!(
                "{field} contains an invisible or direction-changing character (U+{code:04X}), which can make two names look alike or change printed text"
            ),
        },
    }
}

/// Why a record's content is wrong.
pub fn content_error(lang: Lang, e: &ContentError) -> String {
    match e {
        ContentError::Text(t) => text_error(lang, t),
        ContentError::Missing(f) => format!("{} {f}", lang.t("thiếu trường", "missing field")),
        ContentError::Invalid { field, reason } => match lang {
            Lang::En => format!("{field}: {reason}"),
            Lang::Vi => format!("trường {field} không hợp lệ"),
        },
        ContentError::Automerge(detail) => match lang {
            Lang::Vi => "các thay đổi của hồ sơ không áp dụng được (một thao tác nhắc tới đối tượng hoặc phần tử không có, hoặc đánh số sai)".to_owned(),
            Lang::En => format!("the record's changes cannot be applied: {detail}"),
        },
    }
}

/// Why the verifier refused an entry: one sentence per reason.
pub fn reject(lang: Lang, r: &RejectReason) -> String {
    use RejectReason as R;
    let t = |vi: &str, en: &str| lang.t(vi, en).to_owned();
    match r {
        R::Malformed(e) => entry_error(lang, e),
        R::WrongFederation { expected, found } => format!(
            "{} {found}, {} {expected}",
            t("mục thuộc liên đoàn", "the entry belongs to federation"),
            t("không phải", "not")
        ),
        R::FutureDated { ahead_ms } => format!(
            "{} {} {}",
            t(
                "mục ghi thời điểm sau đồng hồ của nút",
                "the entry is dated"
            ),
            lang.int(*ahead_ms),
            t(
                "ms, quá mức cho phép (kiểm tra đồng hồ máy)",
                "ms ahead of this node's clock, more than allowed (check the clocks)"
            )
        ),
        R::GenesisMismatch => t(
            "mục gốc không khớp với gốc của liên đoàn này",
            "the genesis does not match this federation's root",
        ),
        R::NotChainedToRoot { unit, key } => format!(
            "{} {key} {} {unit} {}",
            t("khóa", "key"),
            t("của đơn vị", "of unit"),
            t(
                "không được chứng thực từ gốc liên đoàn",
                "does not chain to the federation root"
            )
        ),
        R::KeyNotYetValid { unit, .. } => format!(
            "{unit}: {}",
            t(
                "ký bằng khóa chưa có hiệu lực tại thời điểm ký",
                "signed with a key not yet certified at that time"
            )
        ),
        R::KeyRotatedAway { unit, .. } => format!(
            "{unit}: {}",
            t(
                "ký bằng khóa đã được thay",
                "signed with a key that had been replaced"
            )
        ),
        R::KeyRevoked { unit, .. } => format!(
            "{unit}: {}",
            t(
                "ký bằng khóa đã bị thu hồi",
                "signed with a key that had been revoked"
            )
        ),
        R::IssuerKeyInvalid { unit, issuer } => format!(
            "{} {unit} {} {issuer} {}",
            t("khóa của", "the key of"),
            t("được", "was certified by"),
            t(
                "chứng thực bằng một khóa không còn hiệu lực lúc đó",
                "with a key not valid at that time"
            )
        ),
        R::CertificateTakeover { unit, signer, why } => with(
            format!(
                "{signer} {} {unit}",
                t("không được chứng thực lại", "may not re-certify")
            ),
            detail(lang, why),
        ),
        R::SignerNotParent {
            unit,
            parent,
            signer,
        } => {
            format!(
                "{} {unit} {} {parent} {} {signer}",
                t("chứng thư của", "the certificate of"),
                t("ghi cấp trên là", "names parent"),
                t("nhưng do", "but is signed by")
            ) + lang.t(" ký", "")
        }
        R::RoleNotAllowed { parent, child } => format!(
            "{} ({child}) {} ({parent})",
            t("đơn vị loại này", "a unit of this role"),
            t(
                "không được đặt dưới đơn vị loại kia",
                "may not sit under a unit of that role"
            )
        ),
        R::CertificateCycle(u) => format!(
            "{u}: {}",
            t(
                "chứng thư sẽ đặt đơn vị dưới chính nó hoặc chứng thực lại gốc",
                "the certificate would put the unit under itself or re-certify the root"
            )
        ),
        R::ReplacesOtherUnit { unit } => format!(
            "{unit}: {}",
            t(
                "chứng thư thay thế một chứng thư của đơn vị khác",
                "the certificate replaces another unit's certificate"
            )
        ),
        R::RevokerNotAncestor { unit, signer } => format!(
            "{signer} {} {unit}",
            t(
                "không phải đơn vị đó hay cấp trên của nó nên không được thu hồi khóa của",
                "is neither the unit nor its ancestor and may not revoke keys of"
            )
        ),
        R::NotRecordOwner {
            record,
            owner,
            signer,
        } => format!(
            "{} {} {} {owner}; {signer} {}",
            t("hồ sơ", "record"),
            record.short(),
            t("thuộc", "belongs to"),
            t("không được sửa", "may not change it")
        ),
        R::RecordMismatch { record, what } => with(
            format!(
                "{} {}: {}",
                t("hồ sơ", "record"),
                record.short(),
                t("các mục không thống nhất", "its entries disagree")
            ),
            detail(lang, what),
        ),
        R::OwnerRoleNotAllowed { role, kind } => format!(
            "{} ({role}) {} ({kind})",
            t("đơn vị loại này", "a unit of this role"),
            t(
                "không được giữ hồ sơ loại này",
                "may not own a record of this kind"
            )
        ),
        R::BadContent { record, error } => format!(
            "{} {}: {}",
            t("hồ sơ", "record"),
            record.short(),
            content_error(lang, error)
        ),
        R::TooManyChanges { record, count } => format!(
            "{} {} {} {} {}, {} {}",
            t("hồ sơ", "record"),
            record.short(),
            t("sẽ có", "would have"),
            lang.int(*count as u64),
            t("thay đổi", "changes"),
            t("quá giới hạn", "over the limit of"),
            lang.int(sync_protocol::limits::MAX_RECORD_CHANGES as u64)
        ),
        R::SuperiorNotParent {
            superior,
            origin,
            parent,
        } => format!(
            "{} {superior} {}, {} {origin} {} {parent}",
            t(
                "sáng kiến ghi cấp trên trực tiếp là",
                "the initiative names"
            ),
            t("", "as direct superior"),
            t("nhưng cấp trên của", "but the parent of"),
            t("là", "is")
        )
        .replace(" ,", ","),
        R::TargetNotChild { unit, owner } => format!(
            "{} {unit}, {} {owner}",
            t("chỉ tiêu giao cho", "the target assigns to"),
            t(
                "không phải đơn vị trực thuộc của",
                "which is not a child of"
            )
        ),
        R::ProgrammeOutsideAuthority {
            programme,
            launcher,
            unit,
        } => format!(
            "{} {} {} {launcher}, {} {unit}",
            t("chương trình", "programme"),
            programme.short(),
            t("do", "was launched by"),
            t(
                "đơn vị không có thẩm quyền đối với",
                "which has no authority over"
            )
        ),
        R::NotAnInitiative(r) => format!(
            "{} {} {}",
            t("hồ sơ", "record"),
            r.short(),
            t("không phải sáng kiến", "is not an initiative")
        ),
        R::DecisionOutOfOrder(why) => with(
            t("quyết định không đúng thứ tự", "decision out of order"),
            detail(lang, why),
        ),
        R::DecisionSkipsLevel { expected, signer } => format!(
            "{} {expected}, {} {signer}",
            t(
                "quyết định vượt cấp: đang đến lượt",
                "the decision skips a level: it is the turn of"
            ),
            t("không phải", "not of")
        ),
        R::DecisionOutsideSubtree { signer, origin } => format!(
            "{signer} {} {origin}",
            t(
                "không được quyết định về sáng kiến ngoài phạm vi quản lý, của",
                "may not decide on initiatives outside its subtree, of"
            )
        ),
        R::DecisionBackdated(what) => with(
            t("quyết định ghi ngày trước", "the decision is dated before"),
            detail(lang, what),
        ),
        R::UnknownHeads { head } => format!(
            "{} {}",
            t(
                "quyết định gắn với một trạng thái không có trong lịch sử hồ sơ",
                "the decision binds to a state not in the record's history"
            ),
            head.short()
        ),
        R::MissingDependency(_) => t(
            "mục trích một mục mà nút này chưa có",
            "the entry cites something this node does not hold",
        ),
        R::WrongBinding(why) => with(
            t("quyết định gắn sai", "wrong decision binding"),
            detail(lang, why),
        ),
        R::CommitmentMismatch => t(
            "phần bí mật không khớp với cam kết của nó",
            "the private part does not match its commitment",
        ),
        R::OutOfScope { unit } => format!(
            "{} {unit}",
            t(
                "mục nằm ngoài phạm vi của đơn vị",
                "the entry is outside the scope of unit"
            )
        ),
        R::ProjectionMismatch(what) => with(
            t(
                "bản công khai khác với sáng kiến",
                "the public projection differs from the initiative",
            ),
            detail(lang, what),
        ),
        R::UnitEnded { unit, end_ms } => format!(
            "{unit}: {} {}",
            t(
                "đơn vị đã giải thể hoặc sáp nhập từ",
                "the unit was closed or merged from"
            ),
            lang.date(sync_protocol::date::Date::from_unix_ms(*end_ms))
        ),
        R::EndRefused { unit, signer, why } => with(
            format!(
                "{signer} {} {unit}",
                t("không được sáp nhập hay giải thể", "may not merge or close")
            ),
            detail(lang, why),
        ),
    }
}

/// Why an import refused an entry.
pub fn import_refusal(lang: Lang, r: &crate::node::Refusal) -> String {
    match r {
        crate::node::Refusal::Rejected(r) => reject(lang, r),
        crate::node::Refusal::QuarantineFull => format!(
            "{} ({} {}); {}",
            lang.t("khu cách ly đã đầy", "the quarantine is full"),
            lang.int(sync_protocol::limits::MAX_QUARANTINE_ENTRIES as u64),
            lang.t("mục", "entries"),
            lang.t(
                "gửi lại khi những gì nó chờ đã đến",
                "send it again once what it waits for has arrived"
            )
        ),
    }
}

/// The refused entries of an import, each with its reason in `lang` (the typed reason when the
/// report carries it; the stored text otherwise, e.g. a report read back from elsewhere).
pub fn rejected(lang: Lang, report: &crate::ImportReport) -> Vec<(String, String)> {
    report
        .rejected
        .iter()
        .enumerate()
        .map(|(i, (h, r))| {
            let why = match report.rejected_why.get(i) {
                Some(w) => import_refusal(lang, w),
                None => r.clone(),
            };
            (h.clone(), why)
        })
        .collect()
}

/// What a quarantined entry waits for.
pub fn missing(lang: Lang, m: &Missing) -> String {
    match m {
        Missing::Certificate { unit, key } => format!(
            "{} {unit} {} {}",
            lang.t("chứng thư của đơn vị", "the certificate of unit"),
            lang.t("cho khóa", "for key"),
            key.short()
        ),
        Missing::Entry(h) => format!("{} {}", lang.t("mục", "entry"), h.short()),
        Missing::Change(h) => format!("{} {}", lang.t("thay đổi", "change"), h.short()),
        Missing::Record(r) => format!("{} {}", lang.t("hồ sơ", "record"), r.short()),
    }
}

/// Why a record id given by a person names no single record.
pub fn resolve_error(lang: Lang, e: &ResolveError) -> String {
    match e {
        ResolveError::NotHex { given, min } => format!(
            "{given:?}: {} {min} {}",
            lang.t("mã hồ sơ gồm từ", "a record id is"),
            lang.t("đến 32 chữ số hệ 16", "to 32 hexadecimal digits")
        ),
        ResolveError::TooShort { given, min } => format!(
            "{given:?}: {} {min} {}",
            lang.t("quá ngắn, cần ít nhất", "is too short: give at least"),
            lang.t("chữ số đầu của mã", "digits of the id")
        ),
        ResolveError::NotFound { given, closest } => {
            let mut s = format!(
                "{} {given}",
                lang.t(
                    "nút này không có hồ sơ nào có mã bắt đầu bằng",
                    "no record held at this node starts with"
                )
            );
            if !closest.is_empty() {
                s.push_str(&format!(
                    "; {}: {}",
                    lang.t("mã gần nhất", "closest ids"),
                    closest.join(", ")
                ));
            }
            s
        }
        ResolveError::Ambiguous {
            given,
            count,
            candidates,
        } => format!(
            "{given}: {count} {} ({candidates}); {}",
            lang.t("hồ sơ có mã bắt đầu như vậy", "records start with it"),
            lang.t("cho thêm chữ số", "give more digits")
        ),
        ResolveError::Node(e) => node_error(lang, e),
    }
}

/// A bundle that could not be read.
pub fn bundle_error(lang: Lang, e: &BundleError) -> String {
    match e {
        BundleError::Io { path, source } => {
            let why = match (lang, source.kind()) {
                (Lang::En, _) => source.to_string(),
                (Lang::Vi, std::io::ErrorKind::NotFound) => "không có tệp này".to_owned(),
                (Lang::Vi, std::io::ErrorKind::PermissionDenied) => {
                    "không có quyền đọc tệp này".to_owned()
                }
                (Lang::Vi, _) => "không đọc được tệp".to_owned(),
            };
            format!("{}: {why}", path.display())
        }
        BundleError::TooLarge { path, size } => {
            format!(
                "{}: {} {} {}",
                path.display(),
                lang.int(*size),
                lang.t("byte, quá giới hạn của gói là", "bytes, over the limit of"),
                lang.int(sync_protocol::limits::MAX_BUNDLE_BYTES)
            ) + lang.t("", " bytes for a bundle")
        }
        BundleError::Malformed { path, reason } => match lang {
            Lang::En => format!("{}: {reason}", path.display()),
            // The reason is the bundle reader's English text: worded here by what it names.
            Lang::Vi => {
                let why = if reason.contains("signature") {
                    "chữ ký của gói không khớp: gói bị giả mạo hoặc hỏng"
                } else if reason.contains("ed25519") {
                    "khóa ký của gói không hợp lệ"
                } else if reason.contains("magic") {
                    "không phải gói dữ liệu sangkien"
                } else if reason.contains("inflate") {
                    "phần dữ liệu nén của gói bị hỏng"
                } else {
                    "gói bị cắt cụt hoặc hỏng"
                };
                format!("{}: {why}", path.display())
            }
        },
        BundleError::Entry { path, index, error } => format!(
            "{}: {} {index}: {}",
            path.display(),
            lang.t("mục số", "entry"),
            entry_error(lang, error)
        ),
        BundleError::WrongFederation { path, .. } => format!(
            "{}: {}",
            path.display(),
            lang.t(
                "gói của một liên đoàn khác",
                "a bundle of another federation"
            )
        ),
    }
}

/// Why an officer's write cannot be made here.
pub fn write_refusal(lang: Lang, w: &crate::records::WriteRefusal) -> String {
    use crate::records::WriteRefusal as W;
    match w {
        W::NotHeld(r) => format!(
            "{} {}",
            lang.t("nút này không giữ hồ sơ", "this node does not hold record"),
            r.short()
        ),
        W::NoContent(r) => format!(
            "{} {}",
            lang.t(
                "nút này không giữ toàn văn hồ sơ",
                "this node does not hold the content of record"
            ),
            r.short()
        ),
        W::NotProjectable => lang
            .t(
                "chỉ sáng kiến mới có bản công khai",
                "only an initiative held here can be projected",
            )
            .to_owned(),
        W::NoSalt => lang
            .t(
                "sáng kiến bí mật thiếu mã cam kết",
                "a confidential initiative needs a commitment salt",
            )
            .to_owned(),
        W::NotAnInitiative => lang
            .t(
                "chỉ ra quyết định về sáng kiến",
                "decisions are made on initiatives",
            )
            .to_owned(),
        W::NoProjection => lang
            .t(
                "nút này chưa có bản công khai của sáng kiến",
                "no public projection of this initiative is held here",
            )
            .to_owned(),
        W::Empty => lang.t("hồ sơ trống", "the record is empty").to_owned(),
    }
}

/// A node error, as a sentence.
pub fn node_error(lang: Lang, e: &NodeError) -> String {
    match e {
        NodeError::Rejected(r) => reject(lang, r),
        NodeError::Content(c) => content_error(lang, c),
        NodeError::Write(w) => write_refusal(lang, w),
        NodeError::Waiting(m) => format!(
            "{}: {}",
            lang.t("còn chờ", "waiting for"),
            missing(lang, m)
        ),
        NodeError::UnsafeDir { path, problem } => {
            unsafe_dir_message(lang, path, *problem)
        }
        NodeError::NotANode(p) => format!(
            "{} {}",
            p.display(),
            lang.t(
                "không phải thư mục của một nút sangkien (không có node.json); tạo bằng `sangkien federation init` hoặc `sangkien unit enrol`",
                "is not a sangkien node (no node.json); create one with `sangkien federation init` or `sangkien unit enrol`"
            )
        ),
        NodeError::AlreadyANode(p) => format!(
            "{} {}",
            p.display(),
            lang.t(
                "đã chứa một nút sangkien; chọn thư mục trống",
                "already holds a sangkien node; choose an empty directory"
            )
        ),
        NodeError::File { path, .. } => format!(
            "{}: {}",
            path.display(),
            lang.t("tệp của nút bị lỗi hoặc không đọc được", "a node file is damaged or unreadable")
        ),
        NodeError::Key(k) => k.worded(lang),
        NodeError::Import(_) => lang
            .t("lô dữ liệu quá giới hạn", "the batch is over its limit")
            .to_owned(),
        NodeError::Open(_) | NodeError::Store(_) => lang
            .t(
                "không mở hoặc đọc được cơ sở dữ liệu của nút (chi tiết: --verbose)",
                "the node's database could not be opened or read (details: --verbose)"
            )
            .to_owned(),
        NodeError::Refused(why) => match lang {
            Lang::En => why.clone(),
            Lang::Vi => "nút từ chối thao tác này (chi tiết: --verbose)".to_owned(),
        },
    }
}

/// An error a command passes on to the person, worded in their language.
pub trait Worded: std::fmt::Display {
    /// The sentence in `lang`.
    fn worded(&self, lang: Lang) -> String;
}

impl Worded for NodeError {
    fn worded(&self, lang: Lang) -> String {
        node_error(lang, self)
    }
}

impl Worded for BundleError {
    fn worded(&self, lang: Lang) -> String {
        bundle_error(lang, self)
    }
}

impl Worded for sync_protocol::store::StoreError {
    fn worded(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.to_string(),
            Lang::Vi => {
                "không đọc hoặc ghi được cơ sở dữ liệu của nút (chi tiết: --verbose)".to_owned()
            }
        }
    }
}

impl Worded for sync_protocol::codec::DecodeError {
    fn worded(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.to_string(),
            Lang::Vi => "giá trị không đọc được (chi tiết: --verbose)".to_owned(),
        }
    }
}

impl Worded for crate::keys::KeyError {
    fn worded(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.to_string(),
            Lang::Vi => "không dùng được tệp khóa (chi tiết: --verbose)".to_owned(),
        }
    }
}

/// A data directory the node refuses to open, as a sentence.
pub fn unsafe_dir_message(
    lang: Lang,
    path: &std::path::Path,
    problem: crate::node::DirProblem,
) -> String {
    use crate::node::DirProblem;
    let p = path.display();
    match problem {
        DirProblem::WritableByOthers { mode } => match lang {
            Lang::Vi => format!(
                "thư mục {p} có quyền {mode:o}: người dùng khác ghi được vào đó, nên có thể thay ổ điều khiển, khóa hoặc cơ sở dữ liệu của nút. Nút không mở thư mục như vậy. Sửa: chmod 700 {p}"
            ),
            Lang::En => format!(
                "the directory {p} has mode {mode:o}: other users can write to it, and so could replace the node's control socket, key or database. The node does not open such a directory. Fix: chmod 700 {p}"
            ),
        },
        DirProblem::OwnedByOther { owner, me } => match lang {
            Lang::Vi => format!(
                "thư mục {p} thuộc người dùng {owner}, không phải người dùng đang chạy sangkien ({me}). Nút không mở thư mục của người khác. Sửa: chạy sangkien bằng chủ của thư mục, hoặc chown -R {me} {p} rồi chmod 700 {p}"
            ),
            Lang::En => format!(
                "the directory {p} belongs to user {owner}, not to the user running sangkien ({me}). The node does not open another user's directory. Fix: run sangkien as its owner, or chown -R {me} {p} then chmod 700 {p}"
            ),
        },
    }
}

/// An enrolment error, as a sentence in `lang`.
pub fn enrol_error(lang: Lang, e: &crate::enrolment::EnrolError) -> String {
    use crate::enrolment::EnrolError as E;
    match e {
        E::TooLarge { path, bytes, limit } => format!(
            "{}: {} {bytes} {}, {} {limit}",
            path.display(),
            lang.t("tệp có", "the file has"),
            lang.t("byte", "bytes"),
            lang.t("vượt giới hạn", "over the limit of"),
        ),
        E::File { path, .. } => format!(
            "{}: {}",
            path.display(),
            lang.t(
                "không đọc hoặc ghi được tệp (chi tiết: --verbose)",
                "the file could not be read or written (details: --verbose)"
            )
        ),
        E::MalformedRequest(_) => lang
            .t(
                "tệp không phải là yêu cầu kết nạp hợp lệ (chi tiết: --verbose)",
                "the file is not a valid enrolment request (details: --verbose)",
            )
            .to_owned(),
        E::BadRequestSignature => lang
            .t(
                "chữ ký của yêu cầu không khớp: yêu cầu đã bị sửa hoặc giả mạo",
                "the request's signature does not match: it was altered or forged",
            )
            .to_owned(),
        E::NotSignedByCurrentKey { unit, key } => format!(
            "{unit}: {} {key}; {}",
            lang.t(
                "yêu cầu đổi khóa không được ký bằng khóa hiện tại",
                "the rotation request is not signed by the current key"
            ),
            lang.t(
                "nếu khóa đã mất hoặc bị lộ, hãy xác nhận mã kiểm tra qua điện thoại rồi dùng --emergency",
                "if the key was lost or stolen, confirm the check code by telephone and use --emergency"
            )
        ),
        E::WrongFederation { .. } => lang
            .t(
                "yêu cầu thuộc một liên đoàn khác",
                "the request is for another federation",
            )
            .to_owned(),
        E::WrongParent { named, this } => format!(
            "{} {named}, {} {this}",
            lang.t("yêu cầu ghi đơn vị cha là", "the request names as parent"),
            lang.t("không phải", "not"),
        ),
        E::AlreadyCertified(u) => format!(
            "{u}: {}",
            lang.t(
                "đơn vị đã được chứng thực; khóa mới cho đơn vị này phải là yêu cầu đổi khóa (unit request --rotate)",
                "the unit is already certified; a new key for it is a rotation request (unit request --rotate)"
            )
        ),
        E::NotAChild(u) => format!(
            "{u}: {}",
            lang.t(
                "không phải đơn vị con của đơn vị này",
                "not a child of this unit"
            )
        ),
        E::NotCurrentCertificate { unit, .. } => format!(
            "{unit}: {}",
            lang.t(
                "yêu cầu thay một chứng thư không còn hiệu lực; đơn vị con cần lập yêu cầu mới",
                "the request replaces a certificate that is no longer current; the child must make a new request"
            )
        ),
        E::RoleNotAllowed { parent, child } => format!(
            "{}: {parent} → {child}",
            lang.t(
                "vai trò không được phép dưới đơn vị này",
                "role not allowed under this unit"
            )
        ),
        E::MalformedAnswer(_) => lang
            .t(
                "tệp không phải là tệp chứng thư hợp lệ cho nút này (chi tiết: --verbose)",
                "the file is not a valid certificate file for this node (details: --verbose)",
            )
            .to_owned(),
        E::AnswerNotForThisKey { unit, key } => format!(
            "{unit}: {} {key}",
            lang.t(
                "tệp chứng thư không chứng thực khóa đang chờ ở đây",
                "the certificate file does not certify the key waiting here"
            )
        ),
        E::NothingPending(p) => format!(
            "{}: {}",
            p.display(),
            lang.t(
                "không có yêu cầu kết nạp hoặc đổi khóa nào đang chờ ở đây",
                "no enrolment or rotation request is waiting here"
            )
        ),
        E::NotEmpty(p) => format!(
            "{}: {}",
            p.display(),
            lang.t(
                "thư mục đã có dữ liệu: hãy chọn một thư mục mới hoặc trống",
                "the directory is not empty: choose a new or empty directory"
            )
        ),
        E::Node(n) => node_error(lang, n),
        E::Key(k) => Worded::worded(k, lang),
    }
}

impl Worded for crate::enrolment::EnrolError {
    fn worded(&self, lang: Lang) -> String {
        enrol_error(lang, self)
    }
}

/// Why a sync with a peer failed, as a sentence.
pub fn sync_failure(lang: Lang, f: crate::service::SyncFailure) -> &'static str {
    use crate::service::SyncFailure as F;
    match f {
        F::Unreachable => lang.t(
            "nút đối tác không trả lời (không liên lạc được, chưa chạy, hoặc sai địa chỉ); sẽ thử lại",
            "the peer did not answer (unreachable, not running, or a wrong address); it will be tried again",
        ),
        F::RefusedByPeer => lang.t(
            "nút đối tác không chấp nhận khoá của nút này (nó chưa biết đơn vị này, hoặc khoá đã được thay hay thu hồi ở đó)",
            "the peer did not accept this node's key (it does not know this unit, or the key was rotated or revoked there)",
        ),
        F::PeerNotTrusted => lang.t(
            "nút này không chấp nhận khoá của nút đối tác: đó không phải một đơn vị nút này tin cậy (chưa biết, đã bị thu hồi, hoặc đã thay khoá mà nút này chưa nhận được)",
            "this node did not accept the peer's key: it is not a unit this node trusts (unknown, revoked, or rotated without this node knowing yet)",
        ),
        F::Busy => lang.t(
            "nút đối tác đang bận (đang đồng bộ với nhiều nút, hoặc đã có một phiên với đơn vị này); hãy thử lại sau ít phút",
            "the peer is busy (syncing with many nodes, or already with this unit); try again in a few minutes",
        ),
        F::Expired => lang.t(
            "phiên đồng bộ quá thời hạn và đã dừng; những mục đã nhận vẫn được lưu, hãy đồng bộ lại để tiếp tục",
            "the sync session reached its deadline and stopped; what was received is stored, sync again to go on",
        ),
        F::PeerFailed => lang.t(
            "nút đối tác gặp lỗi khi xử lý phiên này (các phiên khác của nó vẫn chạy); hãy thử lại sau",
            "the peer failed while handling this session (its other sessions go on); try again later",
        ),
        F::Internal => lang.t(
            "nút này gặp lỗi khi xử lý các mục nhận được; phiên đã dừng, dữ liệu đã lưu không bị ảnh hưởng",
            "this node failed while handling the entries received; the session stopped, stored data is unaffected",
        ),
        F::Protocol => lang.t(
            "nút đối tác gửi dữ liệu không đúng giao thức đồng bộ (có thể là một chương trình khác ở địa chỉ này, hoặc một phiên bản không tương thích)",
            "the peer sent data outside the sync protocol (another program at that address, or an incompatible version)",
        ),
        F::Broken => lang.t(
            "kết nối bị ngắt giữa chừng (mạng, hoặc nút đối tác đang dừng); những mục đã nhận vẫn được lưu",
            "the connection broke off (the network, or the peer shutting down); what was received is stored",
        ),
        F::Store => lang.t(
            "kho dữ liệu của nút này gặp lỗi trong phiên đồng bộ; chạy `sangkien node check`",
            "this node's store failed during the session; run `sangkien node check`",
        ),
    }
}
