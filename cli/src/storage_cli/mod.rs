//! Storage commands: `sangkien node check|backup|restore|quarantine|encrypt-key|decrypt-key`
//! and `sangkien bench ...` (crash test and performance measurements).
//!
//! Like every command on `--data`, these are carried out by the node service when one serves
//! the directory (`op: run`, see main.rs). `node backup`, `node check` and `node quarantine`
//! also ask an older service that does not carry out commands with their own requests.

mod bench;
mod bench_serve;
mod bench_web;
pub(crate) mod synth;

mod quarantine_cli;

use std::path::{Path, PathBuf};

use node::backup::{self, BackupSummary};
use node::check::{self, CheckReport};
use node::control::{self, ControlError, FailureKind, Reply, Request};
use node::Node;

use crate::{Ctx, Failure};

/// Storage subcommands, flattened into the top level.
#[derive(clap::Subcommand, Debug)]
pub enum StorageCommand {
    /// Lưu trữ của nút: kiểm tra, sao lưu, khôi phục / the node's storage: check, backup,
    /// restore.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Đo hiệu năng và thử sập nguồn / benchmarks and the crash test.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// `sangkien node ...`
#[derive(clap::Subcommand, Debug)]
pub enum NodeCommand {
    /// Chạy nút: lắng nghe QUIC, đồng bộ theo lịch / run the node service: listen on QUIC and
    /// sync with its peers on a schedule (stops on SIGTERM or Ctrl-C).
    Run {
        /// Tệp cấu hình / the node's configuration file (node.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Kiểm tra mọi mục và bộ đếm / re-verify every entry and recompute every counter.
    Check {
        /// Dựng lại chỉ mục và bộ đếm từ các mục / rebuild indexes and counters from the
        /// entries (never deletes an entry).
        #[arg(long)]
        repair: bool,
    },
    /// Sao lưu nhất quán / write a consistent backup of this node.
    Backup {
        /// Tệp sao lưu / backup file.
        file: PathBuf,
        /// Kèm khóa riêng của đơn vị / include the unit's private key.
        #[arg(long)]
        include_key: bool,
    },
    /// Mục đang cách ly và mục đã hết hạn / what waits in quarantine, and what expired.
    Quarantine {
        /// Liệt kê tối đa / list at most this many held (oldest first) and expired (newest
        /// first) entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Khôi phục vào --data THƯ_MỤC / restore a backup into --data DIR.
    Restore {
        /// Tệp sao lưu / backup file.
        file: PathBuf,
    },
    /// Mã hóa khóa riêng bằng mật khẩu / encrypt the unit key with a passphrase
    /// (SANGKIEN_PASSPHRASE_FILE or SANGKIEN_PASSPHRASE).
    EncryptKey,
    /// Bỏ mã hóa khóa riêng / store the unit key unencrypted again.
    DecryptKey,
    /// Trang người lao động tự đăng ký sáng kiến: mở, đóng, xem / the workers'
    /// self-registration page: open, close, status.
    #[command(subcommand)]
    Registration(crate::registration_cli::RegistrationCommand),
}

/// Runs a storage subcommand.
pub fn run(ctx: &Ctx, c: StorageCommand) -> Result<u8, Failure> {
    match c {
        StorageCommand::Node(c) => node_command(ctx, c),
        StorageCommand::Bench(c) => bench::run(ctx, c),
    }
}

/// The node in `--data`, or, when another process holds its database, `None`: the caller then
/// asks the running service.
fn open_or_running(ctx: &Ctx) -> Result<Option<crate::commands::NodeRef>, Failure> {
    let dir = ctx.data()?;
    if ctx.service.is_some() {
        return crate::commands::open(ctx).map(Some);
    }
    match Node::open(dir) {
        Ok(n) => Ok(Some(crate::commands::NodeRef::Own(Box::new(n)))),
        Err(e) if e.is_locked() => Ok(None),
        Err(e) => Err(crate::open_failure(ctx.lang, dir, e)),
    }
}

/// Asks the service running on the node in `dir`. Nothing answering means the database is
/// held by some other process: say which, as far as we can tell.
fn ask_service(ctx: &Ctx, dir: &Path, request: Request) -> Result<Reply, Failure> {
    let l = ctx.lang;
    match control::request(dir, request) {
        Ok(r) => {
            crate::errln!(
                "{}",
                l.t(
                    "(nút đang chạy: lệnh được chuyển cho dịch vụ nút qua ổ điều khiển)",
                    "(the node is running: the command went to the node service over its control socket)"
                )
            );
            Ok(r)
        }
        Err(e @ ControlError::NoService { .. }) => {
            Err(crate::locked_failure(l, dir, true).because(e))
        }
        Err(ControlError::Answered { kind, message }) => {
            let f = format!(
                "{}: {message}",
                l.t("nút đang chạy trả lời", "the running node answered")
            );
            Err(match kind {
                FailureKind::BadRequest => Failure::input(f),
                FailureKind::Failed => Failure::problem(f),
            })
        }
        Err(e) => Err(Failure::problem(format!(
            "{}: {e}",
            l.t(
                "không trao đổi được với nút đang chạy",
                "could not talk to the running node"
            )
        ))
        .because(e)),
    }
}

fn unexpected(reply: Reply) -> Failure {
    Failure::problem(format!(
        "the running node answered another request: {reply:?}"
    ))
}

fn node_command(ctx: &Ctx, c: NodeCommand) -> Result<u8, Failure> {
    let l = ctx.lang;
    match c {
        NodeCommand::Run { config } => crate::sync_cli::run_node(ctx, &config),
        NodeCommand::Registration(c) => crate::registration_cli::run(ctx, c),
        NodeCommand::Check { repair } => {
            let Some(mut n) = open_or_running(ctx)? else {
                let dir = ctx.data()?;
                if repair {
                    return Err(Failure::problem(format!(
                        "{} ({})",
                        l.t(
                            "--repair cần mở được kho của nút hoặc dịch vụ nút trả lời, nhưng một tiến trình khác đang giữ kho và không có dịch vụ nút nào thực hiện lệnh; chờ tiến trình đó xong rồi thử lại",
                            "--repair needs the node's store, or a node service to carry it out, but another process holds the store and no node service carries out commands; wait for that process to finish, then try again"
                        ),
                        dir.display()
                    )));
                }
                return match ask_service(ctx, dir, Request::Check)? {
                    Reply::Check(r) => Ok(print_check(ctx, &r, None)),
                    other => Err(unexpected(other)),
                };
            };
            let now = node::now_ms();
            let r = check::run(&mut n, now, repair)
                .map_err(|e| Failure::problem(e.to_string()).because(e))?;
            let after = if r.repaired {
                Some(
                    check::run(&mut n, now, false)
                        .map_err(|e| Failure::problem(e.to_string()).because(e))?,
                )
            } else {
                None
            };
            Ok(print_check(ctx, &r, after.as_ref()))
        }
        NodeCommand::Backup { file, include_key } => {
            let s = match open_or_running(ctx)? {
                Some(n) => backup::write(&n, &file, include_key)
                    .map_err(|e| Failure::problem(e.to_string()).because(e))?,
                None => {
                    let dir = ctx.data()?;
                    // The service runs in another directory: it needs the whole path.
                    let whole = std::path::absolute(&file).map_err(|e| {
                        Failure::input(format!("{}: {e}", file.display())).because(e)
                    })?;
                    let request = Request::Backup {
                        file: whole,
                        include_key,
                    };
                    match ask_service(ctx, dir, request)? {
                        Reply::Backup(s) => s,
                        other => return Err(unexpected(other)),
                    }
                }
            };
            print_backup(ctx, &file, &s);
            Ok(0)
        }
        NodeCommand::Quarantine { limit } => {
            if limit > node::quarantine::MAX_QUARANTINE_LISTED {
                return Err(Failure::input(format!(
                    "--limit {limit}: {} {}",
                    l.t("tối đa là", "the most is"),
                    l.int(node::quarantine::MAX_QUARANTINE_LISTED as u64)
                )));
            }
            let listing = match open_or_running(ctx)? {
                Some(n) => node::quarantine::listing(n.store(), limit)
                    .map_err(|e| Failure::problem(e.to_string()).because(e))?,
                None => match ask_service(ctx, ctx.data()?, Request::Quarantine { limit })? {
                    Reply::Quarantine(q) => q,
                    other => return Err(unexpected(other)),
                },
            };
            quarantine_cli::print(ctx, &listing, node::now_ms());
            Ok(0)
        }
        NodeCommand::Restore { file } => {
            let dir = ctx.data()?.clone();
            let (n, s) = backup::restore(&file, &dir, node::now_ms())
                .map_err(|e| Failure::input(e.to_string()).because(e))?;
            crate::outln!(
                "{} {}: {} {}, {} {}",
                l.t("đã khôi phục vào", "restored into"),
                dir.display(),
                l.int(n.store().tree(node::sled_store::t::ENTRIES).len() as u64),
                l.t("mục", "entries"),
                l.int(s.quarantined as u64),
                l.t("mục cách ly", "quarantined"),
            );
            if !s.key_included {
                crate::outln!(
                    "{}",
                    l.t(
                        "bản sao lưu không có khóa riêng: chép unit.key vào thư mục (quyền 600) để ký",
                        "the backup has no private key: copy unit.key into the directory (mode 600) to sign"
                    )
                );
            }
            Ok(0)
        }
        NodeCommand::EncryptKey | NodeCommand::DecryptKey => {
            let dir = ctx.data()?;
            let path = dir.join(node::node::KEY_FILE);
            let encrypt = matches!(c, NodeCommand::EncryptKey);
            node::keys::convert(&path, encrypt)
                .map_err(|e| Failure::input(e.to_string()).because(e))?;
            crate::outln!(
                "{}",
                if encrypt {
                    l.t(
                        "khóa riêng đã được mã hóa bằng mật khẩu",
                        "the private key is now encrypted with the passphrase",
                    )
                } else {
                    l.t(
                        "khóa riêng đã được lưu không mã hóa",
                        "the private key is now stored unencrypted",
                    )
                }
            );
            Ok(0)
        }
    }
}

/// Prints a check (and, after a repair, the check that followed it); returns the exit code.
fn print_check(ctx: &Ctx, r: &CheckReport, after: Option<&CheckReport>) -> u8 {
    let l = ctx.lang;
    let clean = after.map(|a| a.is_clean()).unwrap_or(r.is_clean());
    if ctx.json {
        let v = serde_json::json!({
            "entries": r.entries,
            "records": r.records,
            "counters": r.counters,
            "disagreements": r.problem_count,
            "listed": r.problems,
            "no_longer_verify": r.findings,
            "repaired": r.repaired,
            "clean": clean,
        });
        crate::outln!("{v}");
    } else {
        crate::outln!(
            "{}: {} {}, {} {}, {} {}",
            l.t("đã kiểm tra", "checked"),
            l.int(r.entries as u64),
            l.t("mục", "entries"),
            l.int(r.records as u64),
            l.t("hồ sơ", "records"),
            l.int(r.counters as u64),
            l.t("bộ đếm", "counters")
        );
        for p in &r.problems {
            crate::outln!("  {}: {p}", l.t("không khớp", "disagrees"));
        }
        if r.problem_count > r.problems.len() {
            crate::outln!(
                "  … {} {}",
                r.problem_count - r.problems.len(),
                l.t("chỗ không khớp nữa", "more disagreements")
            );
        }
        if r.findings > 0 {
            crate::outln!(
                "{}: {} ({})",
                l.t(
                    "mục còn nguyên nhưng không còn hợp lệ",
                    "entries intact but no longer valid"
                ),
                r.findings,
                l.t("xem `sangkien verify`", "see `sangkien verify`")
            );
        }
        if r.repaired {
            crate::outln!(
                "{}",
                l.t(
                    "đã dựng lại chỉ mục và bộ đếm từ các mục (không xóa mục nào)",
                    "indexes and counters rebuilt from the entries (no entry deleted)"
                )
            );
        }
        crate::outln!(
            "{}",
            if clean {
                l.t("kết quả: khớp", "result: consistent")
            } else {
                l.t("kết quả: KHÔNG KHỚP", "result: DISAGREEMENTS FOUND")
            }
        );
    }
    if clean {
        0
    } else {
        1
    }
}

/// Prints what a backup wrote (the same whether this process or the running service wrote it).
fn print_backup(ctx: &Ctx, file: &Path, s: &BackupSummary) {
    let l = ctx.lang;
    crate::outln!(
        "{} {}: {} {}, {} {}, {} bytes{}",
        l.t("đã sao lưu vào", "backed up to"),
        file.display(),
        l.int(s.entries as u64),
        l.t("mục", "entries"),
        l.int(s.quarantined as u64),
        l.t("mục cách ly", "quarantined"),
        l.int(s.bytes),
        if s.key_included {
            l.t(" (kèm khóa riêng)", " (private key included)")
        } else {
            l.t(
                " (không kèm khóa riêng: giữ bản sao unit.key riêng)",
                " (private key not included: keep a copy of unit.key apart)",
            )
        }
    );
}
