//! Sync commands: `sangkien sync --peer ADDR` (once, now), `sangkien peers` (each peer's last
//! sync, lag, pending entries and last error), and the node service behind `node run`.

use std::net::SocketAddr;
use std::path::Path;

use node::now_ms;
use node::service::{read_status, Service, ServiceConfig, ServiceError};
use serde_json::json;

use crate::{Ctx, Failure};

/// `sangkien sync` and `sangkien peers`.
#[derive(clap::Subcommand, Debug)]
pub enum SyncCommand {
    /// Đồng bộ ngay với một nút / sync once, now, with a peer.
    Sync {
        /// Địa chỉ QUIC của nút kia / the peer's QUIC address (host:port).
        #[arg(long)]
        peer: SocketAddr,
        /// Địa chỉ lắng nghe tạm / local address to bind (default: any port on 0.0.0.0).
        #[arg(long, default_value = "0.0.0.0:0")]
        bind: SocketAddr,
    },
    /// Tình trạng các nút đối tác / each peer's last sync, lag, pending entries, last error.
    Peers,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::problem(format!("tokio: {e}")))
}

/// Runs `sync` or `peers`.
pub fn run(ctx: &Ctx, c: SyncCommand) -> Result<u8, Failure> {
    let lang = ctx.lang;
    match c {
        SyncCommand::Sync { peer, bind } => {
            let dir = ctx.data()?.clone();
            let rt = runtime()?;
            let outcome = rt.block_on(async {
                let service =
                    Service::start(&dir, bind).map_err(|e| service_failure(ctx, &dir, e))?;
                let r = service.sync_with(peer).await;
                service.close();
                r.map_err(|e| sync_failure(lang, peer, e))
            })?;
            if ctx.json {
                crate::outln!(
                    "{}",
                    json!({"peer": peer.to_string(), "received": outcome.import.accepted,
                           "sent": outcome.stats.entries_sent, "duplicates": outcome.import.duplicates,
                           "quarantined": outcome.import.quarantined.len(),
                           "rejected": outcome.import.rejected.iter().map(|(h, r)| json!({"entry": h, "reason": r})).collect::<Vec<_>>(),
                           "bytes_sent": outcome.stats.bytes_sent, "bytes_received": outcome.stats.bytes_received})
                );
            } else {
                crate::outln!(
                    "{} {peer}: {} {}, {} {}, {} {}, {} {}",
                    lang.t("Đã đồng bộ với", "Synced with"),
                    lang.int(outcome.import.accepted as u64),
                    lang.t("mục nhận", "entries received"),
                    lang.int(outcome.stats.entries_sent),
                    lang.t("mục gửi", "sent"),
                    outcome.import.quarantined.len(),
                    lang.t("chờ chứng thư", "quarantined"),
                    outcome.import.rejected.len(),
                    lang.t("bị từ chối", "rejected")
                );
                for (h, r) in crate::refusal::rejected(lang, &outcome.import) {
                    crate::outln!(
                        "  {} {}: {r}",
                        lang.t("từ chối", "rejected"),
                        &h[..h.len().min(8)]
                    );
                }
            }
            Ok(u8::from(!outcome.import.rejected.is_empty()))
        }
        SyncCommand::Peers => {
            let dir = ctx.data()?;
            if !dir.join("node.json").exists() {
                return Err(Failure::input(format!(
                    "{}: {}",
                    dir.display(),
                    lang.t(
                        "không phải thư mục của một nút",
                        "not a node's data directory"
                    )
                )));
            }
            let status = read_status(dir);
            let now = now_ms();
            if ctx.json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&status).unwrap_or_default()
                );
                return Ok(0);
            }
            if status.is_empty() {
                crate::outln!(
                    "{}",
                    lang.t("Chưa đồng bộ với nút nào.", "No sync with any peer yet.")
                );
                return Ok(0);
            }
            crate::outln!(
                "{:<24} {:<22} {:>14} {:>9} {:>9} {:>8}  {}",
                lang.t("nút", "peer"),
                lang.t("địa chỉ", "address"),
                lang.t("lần cuối", "last sync"),
                lang.t("nhận", "received"),
                lang.t("gửi", "sent"),
                lang.t("chờ", "pending"),
                lang.t("lỗi gần nhất", "last error")
            );
            for (key, s) in &status {
                let lag = s
                    .last_sync_ms
                    .map(|t| {
                        format!(
                            "{} {}",
                            lang.int(now.saturating_sub(t) / 1000),
                            lang.t("giây trước", "s ago")
                        )
                    })
                    .unwrap_or_else(|| lang.t("chưa", "never").into());
                crate::outln!(
                    "{:<24} {:<22} {:>14} {:>9} {:>9} {:>8}  {}",
                    s.unit.clone().unwrap_or_else(|| key.clone()),
                    s.address.clone().unwrap_or_else(|| "—".into()),
                    lag,
                    s.received,
                    s.sent,
                    s.pending,
                    s.last_failure
                        .map(|f| node::refusal::sync_failure(lang, f))
                        .unwrap_or_default()
                );
            }
            Ok(0)
        }
    }
}

/// A sync that failed, in the reader's language ([`node::refusal::sync_failure`]); the detail
/// is the cause, shown under `--verbose`.
fn sync_failure(lang: crate::i18n::Lang, peer: SocketAddr, e: ServiceError) -> Failure {
    match e.sync_failure() {
        Some(f) => {
            Failure::problem(format!("{peer}: {}", node::refusal::sync_failure(lang, f))).because(e)
        }
        None => Failure::problem(e.to_string()),
    }
}

/// The service could not start: the node would not open (another process holding it gets its
/// own sentence), or the QUIC endpoint.
fn service_failure(ctx: &Ctx, dir: &Path, e: ServiceError) -> Failure {
    match e {
        // A node service serves the directory: it syncs with its peers itself.
        ServiceError::Node(e)
            if e.is_locked()
                && node::control::request(dir, node::control::Request::Status).is_ok() =>
        {
            Failure::problem(format!(
                "{} {} {}",
                ctx.lang.t(
                    "một dịch vụ nút đang phục vụ",
                    "a node service serves"
                ),
                dir.display(),
                ctx.lang.t(
                    "và tự đồng bộ với các nút đối tác của nó (mỗi lần ghi qua dịch vụ là đồng bộ ngay); để đồng bộ với nút này, thêm nút vào mục [[peers]] trong tệp cấu hình của dịch vụ.",
                    "and syncs with its own peers (each write through it syncs at once); to sync with this peer, add it under [[peers]] in the service's configuration file."
                )
            ))
            .because(e)
        }
        ServiceError::Node(e) => crate::open_failure(ctx.lang, dir, e),
        e => Failure::input(e.to_string()),
    }
}

/// `sangkien node run --config node.toml`: runs the node service until SIGTERM or Ctrl-C.
pub fn run_node(ctx: &Ctx, config: &Path) -> Result<u8, Failure> {
    let config = ServiceConfig::read(config).map_err(|e| Failure::input(e.to_string()))?;
    if let Some(mb) = config.cache_mb {
        // Within bounds: `ServiceConfig::read` checked.
        let _ = node::sled_store::set_cache_bytes(mb);
    }
    crate::logging::set_level(&config.log_level);
    let dir = config.data.clone();
    let rt = runtime()?;
    rt.block_on(async {
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {},
            }
        };
        node::service::run_with(config, shutdown, Some(crate::service_runner()))
            .await
            .map_err(|e| match e {
                ServiceError::Node(e) if e.is_locked() => {
                    crate::locked_failure(ctx.lang, &dir, false).because(e)
                }
                e => Failure::problem(e.to_string()),
            })
    })?;
    crate::errln!("{}", ctx.lang.t("Nút đã dừng.", "Node stopped."));
    Ok(0)
}
