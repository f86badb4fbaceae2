//! `sangkien`: the command line of a sangkien node.
//!
//! Exit codes: 0 success; 1 the command ran and found a problem (an invalid record, a refused
//! entry); 2 bad usage or bad input (nothing was stored).

/// sled copies a leaf on every write and Automerge allocates per operation: glibc's malloc and
/// free were about a quarter of `bench national`'s samples in perf, and with mimalloc the same
/// ingest ran 35-50 % faster (ARCHITECTURE.md, Storage).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod accounts_cli;
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
mod registration_cli;
mod reorg_cli;
mod simulate_cli;
mod storage_cli;
mod sync_cli;
mod unit_cli;

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
        value_parser = i18n::parse_lang,
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
        /// Không phục vụ giao diện web sau khi chạy (cho kịch bản) / do not serve the web
        /// interfaces afterwards (for scripts).
        #[arg(long)]
        no_serve: bool,
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
    /// Tài khoản cán bộ của giao diện web / officer accounts of the web interface.
    #[command(subcommand, name = "officer")]
    Accounts(accounts_cli::AccountsCommand),
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
    /// While the node service carries the command out: its node.
    pub service: Option<std::sync::Arc<tokio::sync::Mutex<node::Node>>>,
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
        Failure::input(node::refusal::unsafe_dir_message(lang, path, *problem)).because(e)
    } else {
        Failure::input(refusal::node_error(lang, &e)).because(e)
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
                "đang được một tiến trình khác mở (mỗi lúc chỉ một tiến trình mở được), và không có dịch vụ nút nào trả lời ở",
                "is open in another process (one process at a time can open it), and no node service answers on"
            ),
            node::control::socket_path(dir).display(),
            lang.t("Đang giữ", "Held by"),
            lang.t(
                "Chờ lệnh đó chạy xong rồi thử lại.",
                "Wait for that command to finish, then try again."
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
                "đang được một tiến trình khác mở (mỗi lúc chỉ một tiến trình mở được)",
                "is open in another process (one process at a time can open it)"
            ),
            lang.t("Đang giữ", "Held by"),
            lang.t(
                "Lệnh này tạo, thay hoặc chạy một nút nên không đi qua dịch vụ nút được; mọi lệnh khác trên thư mục này do dịch vụ nút thực hiện. Hãy dùng một thư mục dữ liệu khác, hoặc chờ tiến trình kia xong.",
                "This command creates, replaces or runs a node, so it cannot go through the node service; every other command on this directory is carried out by the node service. Use another data directory, or wait for that process to finish."
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
    ExitCode::from(execute(args, None).0)
}

/// The node service's [`node::control::CommandRunner`]: carries a command out in this process,
/// against the service's node, with its output captured for the client.
pub(crate) fn service_runner() -> node::control::CommandRunner {
    std::sync::Arc::new(|node, req: node::control::RunRequest| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "sangkien".into(),
            "--lang".into(),
            req.lang.into(),
            "--data".into(),
            req.data.into(),
        ];
        args.extend(req.args.into_iter().map(Into::into));
        let started = std::time::Instant::now();
        let (stdout, stderr, (code, wrote)) = out::capture(|| execute(args, Some(node)));
        node::control::RunOutput {
            stdout,
            stderr,
            code,
            wrote,
            service_us: started.elapsed().as_micros() as u64,
        }
    })
}

/// Commands that cannot be carried out by a running node service: they create, replace or
/// run a node, or do not work on the node in `--data` at all.
fn local_only(c: &Command) -> bool {
    use storage_cli::{NodeCommand, StorageCommand};
    matches!(
        c,
        Command::Demo { .. }
            | Command::Federation(commands::FederationCommand::Init { .. })
            | Command::Unit(commands::UnitCommand::Request { rotate: false, .. })
            | Command::Federation(commands::FederationCommand::Sample2024(_))
            | Command::Unit(commands::UnitCommand::ReformPlan(_))
            | Command::Simulate(_)
            | Command::Storage(StorageCommand::Bench(_))
            | Command::Storage(StorageCommand::Node(
                NodeCommand::Run { .. } | NodeCommand::Restore { .. }
            ))
            | Command::Sync(sync_cli::SyncCommand::Sync { .. })
    )
}

/// Commands that only read the store (the others start an upward sync when the service
/// carried them out).
fn read_only(c: &Command) -> bool {
    use officer_cli::{InitiativeCommand, OfficerCommand};
    use storage_cli::{NodeCommand, StorageCommand};
    matches!(
        c,
        Command::Verify
            | Command::Federation(commands::FederationCommand::Show)
            | Command::Unit(commands::UnitCommand::List { .. })
            | Command::Bundle(commands::BundleCommand::Export { .. })
            | Command::Storage(StorageCommand::Node(
                NodeCommand::Check { repair: false }
                    | NodeCommand::Backup { .. }
                    | NodeCommand::Quarantine { .. }
                    | NodeCommand::Registration(
                        crate::registration_cli::RegistrationCommand::Status
                    )
            ))
            | Command::Officer(
                OfficerCommand::Report(_)
                    | OfficerCommand::List(_)
                    | OfficerCommand::Programme(officer_cli::ProgrammeCommand::Show { .. })
                    | OfficerCommand::Target(officer_cli::TargetCommand::Show { .. })
                    | OfficerCommand::Initiative(
                        InitiativeCommand::Show { .. }
                            | InitiativeCommand::List { .. }
                            | InitiativeCommand::Search { .. }
                    )
            )
            | Command::Sync(sync_cli::SyncCommand::Peers)
            | Command::Accounts(accounts_cli::AccountsCommand::List)
    )
}

/// The arguments after the program name, for the service: `--data` and `--lang` left out (the
/// request carries them), and every path made absolute (the service runs elsewhere).
fn args_for_service(
    args: &[std::ffi::OsString],
    cmd: &clap::Command,
    matches: &clap::ArgMatches,
    renamed: &mut Vec<(String, String)>,
) -> Result<Vec<String>, std::io::Error> {
    let mut args: Vec<std::ffi::OsString> = args.to_vec();
    absolute_paths(cmd, matches, &mut args, 0, renamed)?;
    let mut out = Vec::new();
    let mut it = args.into_iter().skip(1);
    let mut rest = false;
    while let Some(a) = it.next() {
        let a = a.into_string().map_err(|a| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not UTF-8", a.to_string_lossy()),
            )
        })?;
        if !rest {
            if a == "--" {
                rest = true;
            } else if a == "--data" || a == "--lang" {
                it.next();
                continue;
            } else if a.starts_with("--data=") || a.starts_with("--lang=") {
                continue;
            }
        }
        out.push(a);
    }
    Ok(out)
}

/// Makes each path value given on the command line absolute, in place (clap knows which
/// arguments are paths, and where in `args` their values are); `renamed` gets each (absolute,
/// as given) pair, so that the output names paths as the person wrote them. clap counts a
/// subcommand's indices from the subcommand's own name, at `base` in `args`.
fn absolute_paths(
    cmd: &clap::Command,
    matches: &clap::ArgMatches,
    args: &mut [std::ffi::OsString],
    base: usize,
    renamed: &mut Vec<(String, String)>,
) -> Result<(), std::io::Error> {
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if arg.get_value_parser().type_id() != std::any::TypeId::of::<PathBuf>()
            || matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine)
        {
            continue;
        }
        let Some(indices) = matches.indices_of(id) else {
            continue;
        };
        for i in indices {
            let i = base + i;
            let Some(tok) = args.get(i).cloned() else {
                continue;
            };
            let t = tok.to_string_lossy().into_owned();
            let (flag, value) = match t.split_once('=') {
                Some((flag, value)) if flag.starts_with('-') => (Some(flag), value),
                _ => (None, t.as_str()),
            };
            let whole = std::path::absolute(value)?.display().to_string();
            if whole != value {
                renamed.push((whole.clone(), value.to_owned()));
            }
            args[i] = match flag {
                Some(flag) => format!("{flag}={whole}").into(),
                None => whole.into(),
            };
        }
    }
    if let Some((name, sub)) = matches.subcommand() {
        if let Some(c) = cmd.find_subcommand(name) {
            let at = (base + 1..args.len()).find(|&i| {
                let t = args[i].to_string_lossy();
                t == name || c.get_all_aliases().any(|a| a == t)
            });
            if let Some(at) = at {
                absolute_paths(c, sub, args, at, renamed)?;
            }
        }
    }
    Ok(())
}

/// Asks the node service serving `dir`, if one does, to carry the command out. `None`: no
/// service answers (the command then opens the store itself).
fn through_service(
    ctx: &Ctx,
    dir: &std::path::Path,
    args: Vec<String>,
    mut renamed: Vec<(String, String)>,
) -> Option<Result<u8, Failure>> {
    let l = ctx.lang;
    let data = match std::path::absolute(dir) {
        Ok(d) => d,
        Err(_) => return None,
    };
    let (whole, given) = (data.display().to_string(), dir.display().to_string());
    if whole != given {
        renamed.push((whole, given));
    }
    // The longest first: a path inside the data directory before the directory.
    renamed.sort_by_key(|(whole, _)| std::cmp::Reverse(whole.len()));
    let as_given = |s: String| {
        renamed
            .iter()
            .fold(s, |s, (whole, given)| s.replace(whole.as_str(), given))
    };
    let request = node::control::Request::Run(node::control::RunRequest {
        args,
        data,
        lang: match l {
            Lang::Vi => "vi".into(),
            Lang::En => "en".into(),
        },
    });
    match node::control::request(dir, request) {
        Ok(node::control::Reply::Run(o)) => {
            let _ = out::write_bytes(as_given(o.stdout).as_bytes());
            let stderr = as_given(o.stderr);
            if !stderr.is_empty() {
                err!("{stderr}");
            }
            Some(Ok(o.code))
        }
        // None there, or a service that does not carry out commands (an older one): the
        // command runs here (and says which process holds the store if it is locked).
        Err(node::control::ControlError::NoService { .. })
        | Err(node::control::ControlError::Answered {
            kind: node::control::FailureKind::BadRequest,
            ..
        }) => None,
        Ok(other) => Some(Err(Failure::problem(format!(
            "the running node answered another request: {}",
            other_op(&other)
        )))),
        Err(e) => Some(Err(Failure::problem(format!(
            "{}: {e}",
            l.t(
                "không trao đổi được với dịch vụ nút đang chạy",
                "could not talk to the running node service"
            )
        ))
        .because(e))),
    }
}

fn other_op(r: &node::control::Reply) -> &'static str {
    match r {
        node::control::Reply::Status(_) => "status",
        node::control::Reply::Backup(_) => "backup",
        node::control::Reply::Check(_) => "check",
        node::control::Reply::Quarantine(_) => "quarantine",
        node::control::Reply::Run(_) => "run",
        node::control::Reply::Error { .. } => "error",
    }
}

/// Parses and carries out one command; returns its exit code and whether it may have written.
/// `service`: the node service carries it out, against its node (output captured by the
/// caller); otherwise, when a service serves `--data`, the command goes to it.
fn execute(
    args: Vec<std::ffi::OsString>,
    service: Option<std::sync::Arc<tokio::sync::Mutex<node::Node>>>,
) -> (u8, bool) {
    let lang = cli_text::prescan_lang(&args);
    let command = cli_text::localise(Cli::command(), lang);
    let matches = match command.clone().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return (cli_text::clap_failure(lang, e), false),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return (cli_text::clap_failure(lang, e), false),
    };
    let in_service = service.is_some();
    if !in_service {
        logging::init(cli.log_json);
    }
    let ctx = Ctx {
        lang: cli.lang,
        json: cli.json,
        data: cli.data,
        service,
    };
    let wrote = !read_only(&cli.command);
    if !in_service && !local_only(&cli.command) {
        if let Some(dir) = ctx.data.clone() {
            let mut renamed = Vec::new();
            let sent = match args_for_service(&args, &command, &matches, &mut renamed) {
                Ok(a) => through_service(&ctx, &dir, a, renamed),
                Err(e) => Some(Err(Failure::input(e.to_string()).because(e))),
            };
            if let Some(result) = sent {
                return (finish(&ctx, cli.verbose, result), false);
            }
        }
    }
    let result = match cli
        .cache_mb
        .filter(|_| !in_service)
        .map(node::sled_store::set_cache_bytes)
    {
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
        Command::Demo { dir, no_serve } => demo::run_and_serve(&ctx, &dir, no_serve),
        Command::Federation(c) => commands::federation(&ctx, c),
        Command::Unit(c) => commands::unit(&ctx, c),
        Command::Verify => commands::verify(&ctx),
        Command::Bundle(c) => commands::bundle(&ctx, c),
        Command::Storage(c) => storage_cli::run(&ctx, c),
        Command::Officer(c) => officer_cli::run(&ctx, c),
        Command::Accounts(c) => accounts_cli::run(&ctx, c),
        Command::Simulate(c) => simulate_cli::run(&ctx, c),
        Command::Sync(c) => sync_cli::run(&ctx, c),
    });
    let code = finish(&ctx, cli.verbose, result);
    (code, wrote && code == 0)
}

/// Prints a failure (with its causes under --verbose) and gives the exit code.
fn finish(ctx: &Ctx, verbose: bool, result: Result<u8, Failure>) -> u8 {
    match result {
        Ok(code) => code,
        Err(f) => {
            crate::errln!("{}: {}", ctx.lang.t("lỗi", "error"), f.message);
            if verbose {
                if let Some(cause) = &f.cause {
                    for c in cause.chain() {
                        crate::errln!("  {}: {c}", ctx.lang.t("do", "caused by"));
                    }
                }
            }
            f.code
        }
    }
}
