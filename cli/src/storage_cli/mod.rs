//! Storage commands: `sangkien node check|backup|restore|encrypt-key|decrypt-key` and
//! `sangkien bench ...` (crash test and performance measurements).

mod bench;
pub(crate) mod synth;

use std::path::PathBuf;

use node::backup;
use node::check;
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
}

/// Runs a storage subcommand.
pub fn run(ctx: &Ctx, c: StorageCommand) -> Result<u8, Failure> {
    match c {
        StorageCommand::Node(c) => node_command(ctx, c),
        StorageCommand::Bench(c) => bench::run(ctx, c),
    }
}

fn open(ctx: &Ctx) -> Result<Node, Failure> {
    let dir = ctx.data()?;
    Node::open(dir).map_err(|e| Failure::input(e.to_string()).because(e))
}

fn node_command(ctx: &Ctx, c: NodeCommand) -> Result<u8, Failure> {
    let l = ctx.lang;
    match c {
        NodeCommand::Run { config } => crate::sync_cli::run_node(ctx, &config),
        NodeCommand::Check { repair } => {
            let mut n = open(ctx)?;
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
            let clean = after.as_ref().map(|a| a.is_clean()).unwrap_or(r.is_clean());
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
                println!("{v}");
            } else {
                println!(
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
                    println!("  {}: {p}", l.t("không khớp", "disagrees"));
                }
                if r.problem_count > r.problems.len() {
                    println!(
                        "  … {} {}",
                        r.problem_count - r.problems.len(),
                        l.t("chỗ không khớp nữa", "more disagreements")
                    );
                }
                if r.findings > 0 {
                    println!(
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
                    println!(
                        "{}",
                        l.t(
                            "đã dựng lại chỉ mục và bộ đếm từ các mục (không xóa mục nào)",
                            "indexes and counters rebuilt from the entries (no entry deleted)"
                        )
                    );
                }
                println!(
                    "{}",
                    if clean {
                        l.t("kết quả: khớp", "result: consistent")
                    } else {
                        l.t("kết quả: KHÔNG KHỚP", "result: DISAGREEMENTS FOUND")
                    }
                );
            }
            Ok(if clean { 0 } else { 1 })
        }
        NodeCommand::Backup { file, include_key } => {
            let n = open(ctx)?;
            let s = backup::write(&n, &file, include_key)
                .map_err(|e| Failure::problem(e.to_string()).because(e))?;
            println!(
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
            Ok(0)
        }
        NodeCommand::Restore { file } => {
            let dir = ctx.data()?.clone();
            let (n, s) = backup::restore(&file, &dir, node::now_ms())
                .map_err(|e| Failure::input(e.to_string()).because(e))?;
            println!(
                "{} {}: {} {}, {} {}",
                l.t("đã khôi phục vào", "restored into"),
                dir.display(),
                l.int(n.store().tree(node::sled_store::t::ENTRIES).len() as u64),
                l.t("mục", "entries"),
                l.int(s.quarantined as u64),
                l.t("mục cách ly", "quarantined"),
            );
            if !s.key_included {
                println!(
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
            println!(
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
