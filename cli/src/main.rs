//! `sangkien`: the command line of a sangkien node.
//!
//! Exit codes: 0 success; 1 the command ran and found a problem (an invalid record, a refused
//! entry); 2 bad usage or bad input (nothing was stored).

/// sled copies a leaf on every write and Automerge allocates per operation: glibc's malloc and
/// free were about a quarter of `bench national`'s samples in perf, and with mimalloc the same
/// ingest ran 35-50 % faster (ARCHITECTURE.md, Storage).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench_sync;
mod cli_text;
mod commands;
mod demo;
mod i18n;
mod input;
mod logging;
mod officer_cli;
#[macro_use]
mod out;
mod progress;
mod refusal;
mod simulate_cli;
mod storage_cli;
mod sync_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use i18n::Lang;

/// sangkien — hệ thống sáng kiến liên thông, hoạt động ngoại tuyến của tổ chức Công đoàn Việt
/// Nam / a federated, offline-first registry of the trade unions' workers' initiatives.
#[derive(Parser, Debug)]
#[command(name = "sangkien", version)]
struct Cli {
    /// Thư mục dữ liệu của nút / the node's data directory.
    #[arg(long, global = true, env = "SANGKIEN_DATA")]
    data: Option<PathBuf>,
    /// Ngôn ngữ / language.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "vi",
        env = "SANGKIEN_LANG"
    )]
    lang: Lang,
    /// In JSON / print JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Chi tiết lỗi / show the cause chain of errors.
    #[arg(long, short, global = true)]
    verbose: bool,
    /// Nhật ký dạng JSON / logs as JSON (level: SANGKIEN_LOG).
    #[arg(long, global = true, env = "SANGKIEN_LOG_JSON")]
    log_json: bool,
    /// Bộ đệm cơ sở dữ liệu, MiB (nút tỉnh, quốc gia: 256 trở lên) / database page cache, MiB
    /// (provincial and national nodes: 256 or more).
    #[arg(long, global = true, env = "SANGKIEN_CACHE_MB")]
    cache_mb: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Chạy liên đoàn mẫu / run the demo federation.
    Demo {
        /// Thư mục chứa các nút / where to put the nodes.
        #[arg(long, default_value = "sangkien-demo")]
        dir: PathBuf,
    },
    /// Liên đoàn: tạo, xem / the federation: create, show.
    #[command(subcommand)]
    Federation(commands::FederationCommand),
    /// Đơn vị: kết nạp, đổi khóa, thu hồi / units: enrol, rotate key, revoke.
    #[command(subcommand)]
    Unit(commands::UnitCommand),
    /// Kiểm tra mọi hồ sơ / verify every record at this node.
    Verify,
    /// Gói dữ liệu ngoại tuyến / offline bundles.
    #[command(subcommand)]
    Bundle(commands::BundleCommand),
    #[command(flatten)]
    Storage(storage_cli::StorageCommand),
    #[command(flatten)]
    Officer(officer_cli::OfficerCommand),
    #[command(flatten)]
    Simulate(simulate_cli::SimulateCommand),
    #[command(flatten)]
    Sync(sync_cli::SyncCommand),
}

/// An error for people: what was wrong and what to do, plus the exit code.
#[derive(Debug)]
pub struct Failure {
    /// 1: ran and found a problem; 2: bad usage or input.
    pub code: u8,
    /// The sentence to print.
    pub message: String,
    /// The cause chain, for --verbose.
    pub cause: Option<anyhow::Error>,
}

impl Failure {
    /// Bad usage or input.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
            cause: None,
        }
    }
    /// Ran, found a problem.
    pub fn problem(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
            cause: None,
        }
    }
    /// With its cause.
    pub fn because(mut self, e: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(e.into());
        self
    }
}

/// What every command gets.
pub struct Ctx {
    /// Language.
    pub lang: Lang,
    /// JSON output.
    pub json: bool,
    /// The data directory, if given.
    pub data: Option<PathBuf>,
}

impl Ctx {
    /// The data directory, or an error saying how to give one.
    pub fn data(&self) -> Result<&PathBuf, Failure> {
        self.data.as_ref().ok_or_else(|| {
            Failure::input(self.lang.t(
                "chưa chỉ thư mục dữ liệu: dùng --data THƯ_MỤC hoặc biến môi trường SANGKIEN_DATA",
                "no data directory: pass --data DIR or set SANGKIEN_DATA",
            ))
        })
    }
}

/// A node that would not open, as a sentence: another process holding its database gets its
/// own (which process, and what to do); anything else is bad input (exit 2).
pub(crate) fn open_failure(lang: Lang, dir: &std::path::Path, e: node::NodeError) -> Failure {
    if e.is_locked() {
        locked_failure(lang, dir, false).because(e)
    } else if let node::NodeError::UnsafeDir { path, problem } = &e {
        Failure::input(unsafe_dir_message(lang, path, *problem)).because(e)
    } else {
        Failure::input(refusal::node_error(lang, &e)).because(e)
    }
}

/// A data directory that another user could change, as a sentence with its fix.
pub(crate) fn unsafe_dir_message(
    lang: Lang,
    path: &std::path::Path,
    problem: node::node::DirProblem,
) -> String {
    use node::node::DirProblem;
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

/// The database of the node in `dir` is held by another process (exit 1). `asked_service`:
/// the command tried the node service's control socket and nothing answered.
pub(crate) fn locked_failure(lang: Lang, dir: &std::path::Path, asked_service: bool) -> Failure {
    let holders = node::control::lock_holders(dir);
    let who = if holders.is_empty() {
        lang.t(
            "không xác định được tiến trình nào (có thể của người dùng khác)",
            "which one could not be told (perhaps another user's)",
        )
        .to_owned()
    } else {
        holders
            .iter()
            .map(|(pid, cmd)| format!("{} {pid} ({cmd})", lang.t("tiến trình", "process")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let message = if asked_service {
        format!(
            "{} {} {} {}. {}: {who}. {}",
            lang.t(
                "cơ sở dữ liệu của nút ở",
                "the database of the node in"
            ),
            dir.display(),
            lang.t(
                "đang được một tiến trình khác mở (sled chỉ cho một tiến trình mở), và không có dịch vụ nút nào trả lời ở",
                "is open in another process (sled lets one process open it), and no node service answers on"
            ),
            node::control::socket_path(dir).display(),
            lang.t("Đang giữ", "Held by"),
            lang.t(
                "Chờ lệnh đó chạy xong, hoặc dừng nó, rồi thử lại.",
                "Wait for that command to finish, or stop it, then try again."
            )
        )
    } else {
        format!(
            "{} {} {}. {}: {who}. {}",
            lang.t(
                "cơ sở dữ liệu của nút ở",
                "the database of the node in"
            ),
            dir.display(),
            lang.t(
                "đang được một tiến trình khác mở (sled chỉ cho một tiến trình mở)",
                "is open in another process (sled lets one process open it)"
            ),
            lang.t("Đang giữ", "Held by"),
            lang.t(
                "Lệnh này cần dừng tiến trình đó trước (`sangkien node run`: SIGTERM hoặc Ctrl-C); khi dịch vụ nút chạy, `node backup`, `node check` và `node quarantine` đi qua dịch vụ.",
                "This command needs that process stopped first (`sangkien node run`: SIGTERM or Ctrl-C); while the node service runs, `node backup`, `node check` and `node quarantine` go through it."
            )
        )
    };
    Failure::problem(message)
}

/// `sangkien … | head`: when the reader of the output goes away, the command stops quietly
/// (exit 0) instead of panicking on `crate::outln!`. Rust ignores SIGPIPE, so a write to a closed
/// pipe fails with EPIPE and `crate::outln!`/`crate::errln!` panic with "failed printing to stdout:
/// Broken pipe (os error 32)". Restoring SIGPIPE's default action would need `unsafe` (the
/// workspace forbids it), and routing every print through a checked writer would touch every
/// command; so the panic hook recognises exactly that panic and exits, and hands any other
/// panic to the default hook. Nothing acknowledged is lost: output is printed after the work
/// it reports is durable.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_broken_pipe_print(msg) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Whether a panic message is the standard library's for a print to a closed pipe.
fn is_broken_pipe_print(msg: &str) -> bool {
    msg.starts_with("failed printing to std") && msg.contains("(os error 32)")
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let lang = cli_text::prescan_lang(&args);
    let cli = match cli_text::localise(Cli::command(), lang)
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => return cli_text::clap_failure(lang, e),
    };
    logging::init(cli.log_json);
    let ctx = Ctx {
        lang: cli.lang,
        json: cli.json,
        data: cli.data,
    };
    let result = match cli.cache_mb.map(node::sled_store::set_cache_bytes) {
        Some(Err(mb)) => Err(Failure::input(format!(
            "{}: {mb} MiB ({}..={})",
            ctx.lang
                .t("--cache-mb ngoài giới hạn", "--cache-mb is out of bounds"),
            node::sled_store::MIN_CACHE_MB,
            node::sled_store::MAX_CACHE_MB
        ))),
        _ => Ok(()),
    };
    let result = result.and_then(|()| match cli.command {
        Command::Demo { dir } => demo::run(&ctx, &dir),
        Command::Federation(c) => commands::federation(&ctx, c),
        Command::Unit(c) => commands::unit(&ctx, c),
        Command::Verify => commands::verify(&ctx),
        Command::Bundle(c) => commands::bundle(&ctx, c),
        Command::Storage(c) => storage_cli::run(&ctx, c),
        Command::Officer(c) => officer_cli::run(&ctx, c),
        Command::Simulate(c) => simulate_cli::run(&ctx, c),
        Command::Sync(c) => sync_cli::run(&ctx, c),
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            crate::errln!("{}: {}", ctx.lang.t("lỗi", "error"), f.message);
            if cli.verbose {
                if let Some(cause) = &f.cause {
                    for c in cause.chain() {
                        crate::errln!("  {}: {c}", ctx.lang.t("do", "caused by"));
                    }
                }
            }
            ExitCode::from(f.code)
        }
    }
}
