//! The federation, unit, verify and bundle commands.

use std::path::PathBuf;

use clap::Subcommand;
use node::node::{prepare_enrolment, FederationFile, KEY_FILE};
use node::{bundle, now_ms, Node};
use serde_json::json;
use sync_protocol::audit::{verify_store, StoreReport};
use sync_protocol::entry::{Certificate, EntryBody};
use sync_protocol::ids::{UnitId, UnitKey};
use sync_protocol::limits::MAX_UNIT_NAME_CHARS;
use sync_protocol::text::Text;

use crate::{Ctx, Failure};

/// `sangkien federation ...`
#[derive(Subcommand, Debug)]
pub enum FederationCommand {
    /// Tạo liên đoàn mới tại --data / create a new federation at --data.
    Init {
        /// Mã đơn vị gốc / root unit id.
        #[arg(long, default_value = "tld")]
        root_id: String,
        /// Tên đơn vị gốc / root unit name.
        #[arg(long, default_value = "Tổng Liên đoàn Lao động Việt Nam")]
        name: String,
    },
    /// Xem tệp liên đoàn / show the federation file.
    Show,
    /// Tạo liên đoàn mẫu theo cơ cấu năm 2024 (63 tỉnh, 696 huyện) tại --data / create a
    /// sample federation of the 2024 structure (63 provinces, 696 districts) at --data.
    #[command(name = "sample-2024")]
    Sample2024(crate::reorg_cli::SampleArgs),
}

/// `sangkien unit ...`
#[derive(Subcommand, Debug)]
pub enum UnitCommand {
    /// Kết nạp đơn vị con của nút --data / enrol a child unit of the --data node: all in one
    /// place (--id ... --into DIR), or by the child's request (--request FILE --out FILE).
    Enrol {
        /// Mã đơn vị (a-z, 0-9, -) / unit id.
        #[arg(long, required_unless_present = "request")]
        id: Option<String>,
        /// Tên đơn vị / unit name.
        #[arg(long, required_unless_present = "request")]
        name: Option<String>,
        /// Vai trò, theo tên hoặc mã / role, by name or code: provincial, central-sector,
        /// corporation, direct-superior, grassroots.
        #[arg(long, required_unless_present = "request")]
        role: Option<String>,
        /// Thư mục dữ liệu của nút mới / the new node's data directory.
        #[arg(long, required_unless_present = "request")]
        into: Option<PathBuf>,
        /// Yêu cầu kết nạp hoặc đổi khóa do đơn vị con lập / the child's enrolment or
        /// rotation request (`unit request`).
        #[arg(long, conflicts_with_all = ["id", "name", "role", "into"])]
        request: Option<PathBuf>,
        /// Tệp chứng thư gửi lại đơn vị con / the certificate file to send back to the child.
        #[arg(long, requires = "request")]
        out: Option<PathBuf>,
        /// Đổi khóa khẩn cấp: chứng thực khóa mới khi khóa hiện tại đã mất hoặc bị lộ (đã đối
        /// chiếu mã kiểm tra qua điện thoại) / emergency rotation: certify the new key although
        /// the request is not signed by the current key (lost or stolen; check code confirmed
        /// by telephone).
        #[arg(long, requires = "request")]
        emergency: bool,
    },
    /// Lập yêu cầu kết nạp (nút mới, tại --data) hoặc đổi khóa (--rotate) / make an enrolment
    /// request (a new node, at --data) or a key rotation request (--rotate).
    Request {
        /// Đổi khóa của nút --data / rotate the key of the --data node.
        #[arg(long, conflicts_with_all = ["id", "name", "role", "parent"])]
        rotate: bool,
        /// Mã đơn vị / unit id.
        #[arg(long, required_unless_present = "rotate")]
        id: Option<String>,
        /// Tên đơn vị / unit name.
        #[arg(long, required_unless_present = "rotate")]
        name: Option<String>,
        /// Vai trò / role.
        #[arg(long, required_unless_present = "rotate")]
        role: Option<String>,
        /// Mã đơn vị cấp trên sẽ chứng thực / the parent unit that will certify it.
        #[arg(long, required_unless_present = "rotate")]
        parent: Option<String>,
        /// Tệp yêu cầu / the request file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Nhận tệp chứng thư của đơn vị cấp trên / accept the parent's certificate file.
    Accept {
        /// Tệp chứng thư / the certificate file.
        file: PathBuf,
    },
    /// Cấp khóa mới cho đơn vị con (cả hai thư mục ở cùng máy) / rotate a child unit's key,
    /// both directories on this machine (run at the parent).
    RotateKey {
        /// Thư mục dữ liệu của nút con / the child's data directory.
        #[arg(long)]
        child: PathBuf,
    },
    /// Thu hồi khóa của đơn vị / revoke a unit's key.
    Revoke {
        /// Mã đơn vị (thu hồi khóa hiện tại) / unit id (revokes its current key).
        #[arg(long, required_unless_present = "key")]
        unit: Option<String>,
        /// Dấu vân tay khóa, hoặc phần đầu của nó / key fingerprint, or its start (as `unit
        /// list` shows it).
        #[arg(long)]
        key: Option<String>,
        /// Có hiệu lực từ ngày giờ (giờ Việt Nam), ví dụ "01/07/2025 08:00" hoặc
        /// 2025-07-01T08:00+07:00; mặc định: bây giờ / effective from this date and time
        /// (Vietnam time), e.g. "01/07/2025 08:00" or 2025-07-01T08:00+07:00; default now.
        #[arg(long)]
        from: Option<String>,
        /// Có hiệu lực từ (Unix ms) / effective from (Unix ms).
        #[arg(long, hide = true, conflicts_with = "from")]
        effective_ms: Option<u64>,
        /// Lý do / reason.
        #[arg(long)]
        reason: String,
        /// Không hỏi lại / do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Liệt kê đơn vị đã biết, khóa và chuỗi chứng thực / list known units, their keys and
    /// certificate chains.
    List {
        /// Chỉ một đơn vị / one unit only.
        #[arg(long)]
        unit: Option<String>,
    },
    /// Chuyển đơn vị sang cấp trên mới / move a unit under another parent.
    Move(crate::reorg_cli::MoveArgs),
    /// Sáp nhập đơn vị vào đơn vị khác / merge a unit into another.
    Merge(crate::reorg_cli::MergeArgs),
    /// Giải thể đơn vị / close a unit.
    Close(crate::reorg_cli::CloseArgs),
    /// Đổi tên đơn vị / rename a unit.
    Rename(crate::reorg_cli::RenameArgs),
    /// Áp dụng kế hoạch sắp xếp (một lần, tất cả hoặc không) / apply a re-organisation plan
    /// (as one whole: all or nothing).
    Reorganise(crate::reorg_cli::ReorganiseArgs),
    /// In kế hoạch sắp xếp tháng 7/2025 (từ data/) / print the July 2025 reform plan (from
    /// data/).
    ReformPlan(crate::reorg_cli::ReformPlanArgs),
}

/// `sangkien bundle ...`
#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// Xuất gói cho một đơn vị / export what a unit should hold.
    Export {
        /// Cho đơn vị / for this unit.
        #[arg(long = "for")]
        for_unit: String,
        /// Chỉ các mục từ ngày này (ví dụ 15/07/2022) hoặc thời điểm (Unix ms) / only entries from this
        /// date or Unix millisecond time on.
        #[arg(long)]
        since: Option<String>,
        /// Tệp gói / bundle file.
        file: PathBuf,
    },
    /// Nhập gói (kiểm tra như đồng bộ) / import a bundle (verified like sync).
    Import {
        /// Tệp gói / bundle file.
        file: PathBuf,
    },
}

/// The node in `--data`: opened here, or, while the node service carries the command out,
/// the service's own node, locked (as a sync session locks it for an import) until dropped.
pub(crate) fn open(ctx: &Ctx) -> Result<NodeRef, Failure> {
    let dir = ctx.data()?;
    if let Some(service) = &ctx.service {
        return Ok(NodeRef::Service(service.clone().blocking_lock_owned()));
    }
    Node::open(dir)
        .map(|n| NodeRef::Own(Box::new(n)))
        .map_err(|e| crate::open_failure(ctx.lang, dir, e))
}

/// A node a command works on: its own, or the running service's.
pub(crate) enum NodeRef {
    /// Opened by this process.
    Own(Box<Node>),
    /// The service's, locked.
    Service(tokio::sync::OwnedMutexGuard<Node>),
}

impl std::ops::Deref for NodeRef {
    type Target = Node;
    fn deref(&self) -> &Node {
        match self {
            NodeRef::Own(n) => n,
            NodeRef::Service(n) => n,
        }
    }
}

impl std::ops::DerefMut for NodeRef {
    fn deref_mut(&mut self) -> &mut Node {
        match self {
            NodeRef::Own(n) => n,
            NodeRef::Service(n) => n,
        }
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

fn text(ctx: &Ctx, field: &'static str, s: &str, limit: usize) -> Result<Text, Failure> {
    Text::required(field, s, limit).map_err(|e| {
        Failure::input(format!(
            "{}: {}",
            ctx.lang.t("giá trị không hợp lệ", "invalid value"),
            crate::refusal::text_error(ctx.lang, &e)
        ))
        .because(e)
    })
}

pub fn federation(ctx: &Ctx, c: FederationCommand) -> Result<u8, Failure> {
    match c {
        FederationCommand::Init { root_id, name } => {
            let dir = ctx.data()?;
            let root = unit_id(ctx, &root_id)?;
            let name = text(ctx, "name", &name, MAX_UNIT_NAME_CHARS)?;
            let node = Node::create_root(dir, root, name, now_ms())
                .map_err(|e| crate::refusal::input(ctx.lang, e))?;
            let (ff, _) = node
                .federation_file()
                .map_err(|e| crate::refusal::problem(ctx.lang, e))?;
            if ctx.json {
                crate::outln!("{}", serde_json::to_string_pretty(&ff).expect("json"));
            } else {
                crate::outln!(
                    "{} {}\n  {}: {}\n  {}: {}\n  {}: {}",
                    ctx.lang.t("Đã tạo liên đoàn", "Created federation"),
                    ff.federation_id,
                    ctx.lang.t("đơn vị gốc", "root unit"),
                    ff.root_unit,
                    ctx.lang.t("khóa công khai gốc", "root public key"),
                    ff.root_public_key,
                    ctx.lang.t("tệp liên đoàn", "federation file"),
                    dir.join("federation.json").display()
                );
            }
            Ok(0)
        }
        FederationCommand::Sample2024(a) => crate::reorg_cli::sample_2024(ctx, a),
        FederationCommand::Show => {
            let node = open(ctx)?;
            let (ff, _) = node
                .federation_file()
                .map_err(|e| crate::refusal::problem(ctx.lang, e))?;
            crate::outln!("{}", serde_json::to_string_pretty(&ff).expect("json"));
            Ok(0)
        }
    }
}

pub fn unit(ctx: &Ctx, c: UnitCommand) -> Result<u8, Failure> {
    match c {
        UnitCommand::Enrol {
            request: Some(file),
            out,
            emergency,
            ..
        } => crate::unit_cli::enrol_request(ctx, &file, out, emergency),
        UnitCommand::Enrol {
            id,
            name,
            role,
            into,
            ..
        } => {
            let (Some(id), Some(name), Some(role), Some(into)) = (id, name, role, into) else {
                return Err(Failure::input(ctx.lang.t(
                    "cần --id, --name, --role và --into, hoặc --request",
                    "give --id, --name, --role and --into, or --request",
                )));
            };
            let mut parent = open(ctx)?;
            let child = enrol(ctx, &mut parent, &id, &name, &role, &into)?;
            if ctx.json {
                crate::outln!(
                    "{}",
                    json!({"unit": child.unit().as_str(), "parent": parent.unit().as_str(), "data": into, "key": child.author().map(|a| a.public_key().to_hex()).unwrap_or_default()})
                );
            } else {
                crate::outln!(
                    "{} {} ({}) {} {} — {}: {}",
                    ctx.lang.t("Đã kết nạp", "Enrolled"),
                    child.unit(),
                    name,
                    ctx.lang.t("dưới", "under"),
                    parent.unit(),
                    ctx.lang.t("thư mục", "directory"),
                    into.display()
                );
            }
            Ok(0)
        }
        UnitCommand::Request {
            rotate,
            id,
            name,
            role,
            parent,
            out,
        } => crate::unit_cli::request(ctx, rotate, id, name, role, parent, &out),
        UnitCommand::Accept { file } => crate::unit_cli::accept(ctx, &file),
        UnitCommand::RotateKey { child } => {
            let mut parent = open(ctx)?;
            let child_node = Node::open(&child).map_err(|e| crate::refusal::input(ctx.lang, e))?;
            let unit = child_node.unit().clone();
            drop(child_node);
            let now = now_ms();
            let old = parent
                .directory()
                .cert_at(&unit, now)
                .cloned()
                .ok_or_else(|| {
                    Failure::input(format!(
                        "{unit}: {}",
                        ctx.lang
                            .t("không phải đơn vị con đã biết", "not a known child unit")
                    ))
                })?;
            if old.cert.parent != *parent.unit() {
                return Err(Failure::input(format!(
                    "{unit}: {} {}",
                    ctx.lang.t("cha của đơn vị là", "the unit's parent is"),
                    old.cert.parent
                )));
            }
            let new_key = node::keys::generate();
            let new_path = child.join("unit.key.new");
            node::keys::write_new(&new_path, &new_key)
                .map_err(|e| crate::refusal::input(ctx.lang, e))?;
            let cert = Certificate {
                replaces: Some(old.hash),
                key: UnitKey(new_key.verifying_key().to_bytes()),
                ..old.cert.clone()
            };
            let entry = parent
                .write(EntryBody::Certificate(cert), now)
                .map_err(|e| crate::refusal::problem(ctx.lang, e))?;
            let mut child_node =
                Node::open(&child).map_err(|e| crate::refusal::input(ctx.lang, e))?;
            child_node
                .import(vec![entry.clone()], now)
                .map_err(|e| crate::refusal::problem(ctx.lang, e))?;
            let key_path = child.join(KEY_FILE);
            let retired = child.join(format!("unit.key.retired-{now}"));
            std::fs::rename(&key_path, &retired)
                .and_then(|_| std::fs::rename(&new_path, &key_path))
                // Both names survive a power cut before the rotation is reported.
                .and_then(|_| node::durable::sync_dir(&child))
                .map_err(|e| Failure::problem(format!("{}: {e}", key_path.display())))?;
            crate::outln!(
                "{} {unit}: {}",
                ctx.lang.t("Đã đổi khóa cho", "Rotated the key of"),
                UnitKey(new_key.verifying_key().to_bytes()).short()
            );
            Ok(0)
        }
        UnitCommand::Revoke {
            unit,
            key,
            from,
            effective_ms,
            reason,
            yes,
        } => crate::unit_cli::revoke(ctx, unit, key, from, effective_ms, &reason, yes),
        UnitCommand::List { unit } => crate::unit_cli::list(ctx, unit),
        UnitCommand::Move(a) => crate::reorg_cli::move_unit(ctx, a),
        UnitCommand::Merge(a) => crate::reorg_cli::merge_unit(ctx, a),
        UnitCommand::Close(a) => crate::reorg_cli::close_unit(ctx, a),
        UnitCommand::Rename(a) => crate::reorg_cli::rename_unit(ctx, a),
        UnitCommand::Reorganise(a) => crate::reorg_cli::reorganise(ctx, a),
        UnitCommand::ReformPlan(a) => crate::reorg_cli::reform_plan(ctx, a),
    }
}

/// Enrols a child of `parent` into `into`: key there, certificate signed by the parent, chain
/// of trust imported into the new node.
pub fn enrol(
    ctx: &Ctx,
    parent: &mut Node,
    id: &str,
    name: &str,
    role: &str,
    into: &std::path::Path,
) -> Result<Node, Failure> {
    let unit = unit_id(ctx, id)?;
    let name = text(ctx, "name", name, MAX_UNIT_NAME_CHARS)?;
    let role = crate::input::role_flag(ctx.lang, role)?;
    if parent.directory().knows(&unit) {
        return Err(Failure::input(format!(
            "{unit}: {}",
            ctx.lang
                .t("mã đơn vị đã được dùng", "unit id already in use")
        )));
    }
    let now = now_ms();
    let parent_role = parent.directory().role_at(parent.unit(), now);
    if let Some(pr) = parent_role {
        if !pr.may_parent(role) {
            return Err(Failure::input(format!(
                "{}: {} → {}",
                ctx.lang.t(
                    "vai trò không được phép dưới đơn vị này",
                    "role not allowed under this unit"
                ),
                pr.code(),
                role.code()
            )));
        }
    }
    // Into a new or empty directory only: the child is built beside it and renamed into it.
    if into.join("node.json").exists()
        || std::fs::read_dir(into).is_ok_and(|mut d| d.next().is_some())
        || (into.exists() && !into.is_dir())
    {
        return Err(Failure::input(format!(
            "{}: {}",
            into.display(),
            ctx.lang.t(
                "thư mục đã có dữ liệu: hãy chọn một thư mục mới hoặc trống",
                "the directory is not empty: choose a new or empty directory"
            )
        )));
    }
    let staging = enrol_staging_dir(into);
    // A staging directory left by an interrupted enrolment is ours to clear.
    let _ = std::fs::remove_dir_all(&staging);
    let cleanup = |e: Failure| {
        let _ = std::fs::remove_dir_all(&staging);
        e
    };
    let key = prepare_enrolment(&staging)
        .map_err(|e| crate::refusal::input(ctx.lang, e))
        .map_err(cleanup)?;
    let cert = Certificate {
        unit: unit.clone(),
        name,
        role,
        parent: parent.unit().clone(),
        key,
        replaces: None,
    };
    // Signed now, stored at the parent only once the child's directory is complete.
    let entry = parent
        .author()
        .map_err(|e| crate::refusal::input(ctx.lang, e))
        .map_err(cleanup)?
        .sign(now, EntryBody::Certificate(cert));
    let (ff, genesis): (FederationFile, _) = parent
        .federation_file()
        .map_err(|e| crate::refusal::problem(ctx.lang, e))
        .map_err(cleanup)?;
    // What the child needs: its chain (the parent's, then its own certificate), not the tree.
    let others = std::collections::BTreeSet::from([parent.unit().clone()]);
    let mut trust = parent
        .trust_entries_for(&unit, &others, now)
        .map_err(|e| crate::refusal::problem(ctx.lang, e))
        .map_err(cleanup)?;
    trust.push(entry.clone());
    let child = Node::create_enrolled(&staging, &ff, genesis, unit, trust, now)
        .map_err(|e| crate::refusal::problem(ctx.lang, e))
        .map_err(cleanup)?;
    drop(child);
    // Tests force a failure here, after the certificate is signed and the child built (debug
    // builds only), to check that nothing is left half-done.
    if cfg!(debug_assertions) && std::env::var_os("SANGKIEN_TEST_FAIL_ENROL").is_some() {
        return Err(cleanup(Failure::problem(
            "forced failure (test)".to_string(),
        )));
    }
    std::fs::rename(&staging, into)
        .map_err(|e| {
            Failure::problem(format!(
                "{}: {}",
                into.display(),
                ctx.lang
                    .t("không tạo được thư mục", "cannot create the directory")
            ))
            .because(e)
        })
        .map_err(cleanup)?;
    // The child is complete: now the parent stores its certificate, or the child goes.
    if let Err(e) = parent.write_signed(entry, now) {
        let _ = std::fs::remove_dir_all(into);
        return Err(crate::refusal::problem(ctx.lang, e));
    }
    Node::open(into).map_err(|e| crate::refusal::problem(ctx.lang, e))
}

/// Where `unit enrol` builds the child's directory before renaming it to `into`: a hidden
/// sibling, on the same file system.
fn enrol_staging_dir(into: &std::path::Path) -> std::path::PathBuf {
    let name = into
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unit".into());
    into.with_file_name(format!(".{name}.enrolling"))
}

pub fn verify(ctx: &Ctx) -> Result<u8, Failure> {
    let node = open(ctx)?;
    let report = verify_store(node.store(), node.directory(), Some(node.unit()), now_ms())
        .map_err(|e| crate::refusal::problem(ctx.lang, e))?;
    print_verify(ctx, &node, &report);
    Ok(verify_exit_code(&report))
}

pub fn verify_exit_code(report: &StoreReport) -> u8 {
    let bad = report.records.iter().any(|r| !r.is_valid()) || !report.trust_problems.is_empty();
    u8::from(bad)
}

pub fn print_verify(ctx: &Ctx, node: &Node, report: &StoreReport) {
    let lang = ctx.lang;
    let valid = report.records.iter().filter(|r| r.is_valid()).count();
    if ctx.json {
        let invalid: Vec<_> = report
            .records
            .iter()
            .filter(|r| !r.is_valid())
            .flat_map(|r| {
                r.problems.iter().map(move |p| {
                    json!({"record": r.record.to_hex(), "entry": p.entry.map(|h| h.to_hex()), "reason": p.reason.to_string()})
                })
            })
            .collect();
        let conflicts: Vec<_> = report
            .records
            .iter()
            .flat_map(|r| {
                r.conflicts.iter().map(move |c| {
                    json!({"record": r.record.to_hex(), "previous": c.previous.map(|h| h.to_hex()), "decisions": c.decisions.iter().map(|h| h.to_hex()).collect::<Vec<_>>(), "chosen": c.chosen.to_hex(), "note": "notice: the chain follows the chosen decision"})
                })
            })
            .collect();
        let differs: Vec<_> = report
            .records
            .iter()
            .filter(|r| r.approved_state_differs)
            .map(|r| json!({"record": r.record.to_hex(), "note": "approved state differs from current state"}))
            .collect();
        let records: Vec<_> = report
            .records
            .iter()
            .map(|r| {
                json!({
                    "record": r.record.to_hex(),
                    "kind": r.header.as_ref().map(|h| h.kind.code()),
                    "owner": r.header.as_ref().map(|h| h.owner.to_string()),
                    "valid": r.is_valid(),
                    "status": r.status.as_ref().map(|(k, u, _)| json!({"decision": k.code(), "by": u.as_str()})),
                    "approved_state_differs": r.approved_state_differs,
                    "confidential": r.header.as_ref().map(|h| h.confidential),
                    "private_part_held": r.content.is_some(),
                    "entries": r.entries,
                })
            })
            .collect();
        let out = json!({
            "unit": node.unit().as_str(),
            "records": report.records.len(),
            "valid": valid,
            "invalid": invalid,
            "conflicts": conflicts,
            "approved_state_differs": differs,
            "trust_problems": report.trust_problems.iter().map(|p| json!({"entry": p.entry.map(|h| h.to_hex()), "reason": p.reason.to_string()})).collect::<Vec<_>>(),
            "details": records,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&out).expect("json"));
        return;
    }
    for r in &report.records {
        let kind = r.header.as_ref().map(|h| h.kind.code()).unwrap_or("?");
        let verdict = if r.is_valid() {
            lang.t("hợp lệ", "valid").to_string()
        } else {
            format!(
                "{}: {}",
                lang.t("KHÔNG hợp lệ", "INVALID"),
                r.problems
                    .iter()
                    .map(|p| crate::refusal::reject(lang, &p.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        crate::outln!("{} {:<10} {verdict}", r.record.short(), kind);
        for c in &r.conflicts {
            crate::outln!(
                "    {}: {} {}; {} {}",
                lang.t("lưu ý, chuỗi rẽ nhánh", "notice, the chain forks"),
                c.decisions.len(),
                lang.t(
                    "quyết định cùng trích một quyết định trước",
                    "decisions cite the same previous decision"
                ),
                lang.t("chuỗi đi theo quyết định", "the chain follows decision"),
                c.chosen.short()
            );
        }
        if r.approved_state_differs {
            crate::outln!(
                "    {}",
                lang.t(
                    "lưu ý: trạng thái đã duyệt khác trạng thái hiện tại (approved state differs from current state)",
                    "note: approved state differs from current state"
                )
            );
        }
    }
    for p in &report.trust_problems {
        crate::outln!(
            "{}: {}",
            lang.t("chứng thư lỗi", "trust entry problem"),
            crate::refusal::reject(lang, &p.reason)
        );
    }
    crate::outln!(
        "{}: {}, {}: {}",
        lang.t("Hồ sơ", "Records"),
        report.records.len(),
        lang.t("hợp lệ", "valid"),
        valid
    );
}

/// `--since`: a date as printed or ISO (from its first millisecond, UTC), or Unix
/// milliseconds.
fn parse_since(ctx: &Ctx, s: &str) -> Result<u64, Failure> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    crate::input::date_flag(ctx.lang, "since", s)
        .map(|d| (d.days_since_epoch().max(0) as u64) * 86_400_000)
}

pub fn bundle(ctx: &Ctx, c: BundleCommand) -> Result<u8, Failure> {
    match c {
        BundleCommand::Export {
            for_unit,
            file,
            since,
        } => {
            let since_ms = match since.as_deref() {
                None => None,
                Some(s) => Some(parse_since(ctx, s)?),
            };
            let node = open(ctx)?;
            let unit = crate::officer_cli::known_unit(ctx, &node, "for", &for_unit)?;
            let now = now_ms();
            let count =
                bundle::export(&node, &unit, since_ms, &file, now).map_err(|e| match e {
                    bundle::ExportError::Node(e) => crate::refusal::problem(ctx.lang, e),
                    bundle::ExportError::Bundle(e) => crate::refusal::input(ctx.lang, e),
                })?;
            if ctx.json {
                crate::outln!(
                    "{}",
                    json!({"file": file, "entries": count, "for": unit.as_str()})
                );
            } else {
                crate::outln!(
                    "{} {} {} {} {}",
                    ctx.lang.t("Đã xuất", "Exported"),
                    count,
                    ctx.lang.t("mục cho", "entries for"),
                    unit,
                    file.display()
                );
            }
            Ok(0)
        }
        BundleCommand::Import { file } => {
            let mut node = open(ctx)?;
            let read = bundle::read_signed(&file, node.directory()).map_err(|e| {
                Failure::input(crate::refusal::bundle_error(ctx.lang, &e)).because(e)
            })?;
            let source = format!(
                "bundle:{}",
                file.file_name().unwrap_or_default().to_string_lossy()
            );
            // Section by section, each durable before the next.
            let report = bundle::import(&mut node, &source, read, now_ms()).map_err(|e| {
                Failure::problem(crate::refusal::node_error(ctx.lang, &e)).because(e)
            })?;
            if ctx.json {
                crate::outln!("{}", serde_json::to_string_pretty(&report).expect("json"));
            } else {
                crate::outln!(
                    "{}: {}, {}: {}, {}: {}, {}: {}",
                    ctx.lang.t("nhận mới", "accepted"),
                    report.accepted,
                    ctx.lang.t("đã có", "already held"),
                    report.duplicates,
                    ctx.lang.t("chờ (cách ly)", "quarantined"),
                    report.quarantined.len(),
                    ctx.lang.t("từ chối", "rejected"),
                    report.rejected.len()
                );
                for (h, why) in crate::refusal::rejected(ctx.lang, &report) {
                    crate::outln!(
                        "  {} {}: {why}",
                        ctx.lang.t("từ chối", "rejected"),
                        &h[..h.len().min(8)]
                    );
                }
                for (i, (h, m)) in report.quarantined.iter().enumerate() {
                    let why = match report.quarantined_why.get(i) {
                        Some(w) => crate::refusal::missing(ctx.lang, w),
                        None => m.clone(),
                    };
                    crate::outln!(
                        "  {} {}: {why}",
                        ctx.lang.t("chờ", "waiting"),
                        &h[..h.len().min(8)]
                    );
                }
            }
            Ok(u8::from(!report.rejected.is_empty()))
        }
    }
}
