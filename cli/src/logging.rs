//! Logging through tracing: human-readable by default, JSON with `--log-json`; the level comes
//! from `SANGKIEN_LOG` (e.g. `info`), or from a command (the node service reads it from its
//! configuration), else `error`.

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the subscriber, writing to stderr.
pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_env("SANGKIEN_LOG").unwrap_or_else(|_| EnvFilter::new("error"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
    if result.is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// Sets the level, unless `SANGKIEN_LOG` chose one.
pub fn set_level(level: &str) {
    if std::env::var_os("SANGKIEN_LOG").is_some() {
        return;
    }
    if let Some(h) = FILTER.get() {
        let _ = h.modify(|f| *f = EnvFilter::new(level));
    }
}
