//! Rate-limited warnings: what strangers cause (refused handshakes, busy refusals) is logged at
//! most [`MAX_WARNINGS_PER_INTERVAL_COUNT`] times per kind per [`LOG_INTERVAL_MS`]; the rest
//! are counted, and the next line of that kind says how many were suppressed. A flood of
//! attempts cannot grow the log faster than that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Length of one window of the warning budget, in milliseconds.
pub const LOG_INTERVAL_MS: u64 = 60_000;

/// Most warnings of one kind logged in one [`LOG_INTERVAL_MS`] window; further ones are only
/// counted.
pub const MAX_WARNINGS_PER_INTERVAL_COUNT: u64 = 10;

/// What to do with one warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Log it; `suppressed` warnings of its kind were dropped since the last logged one.
    Log {
        /// warnings of this kind not logged since the last one that was
        suppressed: u64,
    },
    /// Count it, log nothing.
    Suppress,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    logged: u64,
    suppressed: u64,
}

/// Per-kind warning budget (kinds are static strings, so the map stays small).
#[derive(Debug, Default)]
pub struct LogLimiter {
    kinds: Mutex<HashMap<&'static str, Window>>,
}

impl LogLimiter {
    /// A limiter with every budget full.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a warning of `kind` at `now` is logged.
    pub fn admit(&self, kind: &'static str, now: Instant) -> Admit {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        let w = kinds.entry(kind).or_insert(Window {
            start: now,
            logged: 0,
            suppressed: 0,
        });
        if now.saturating_duration_since(w.start) >= Duration::from_millis(LOG_INTERVAL_MS) {
            w.start = now;
            w.logged = 0;
        }
        if w.logged < MAX_WARNINGS_PER_INTERVAL_COUNT {
            w.logged += 1;
            let suppressed = std::mem::take(&mut w.suppressed);
            Admit::Log { suppressed }
        } else {
            w.suppressed += 1;
            Admit::Suppress
        }
    }
}

/// Logs a warning through `limiter`: `warn!(kind, suppressed, fields…, message)`.
macro_rules! warn_limited {
    ($limiter:expr, $kind:literal, $($rest:tt)+) => {
        if let $crate::quic::lograte::Admit::Log { suppressed } =
            $limiter.admit($kind, std::time::Instant::now())
        {
            if suppressed > 0 {
                tracing::warn!(kind = $kind, suppressed, "suppressed {suppressed} warnings of this kind");
            }
            tracing::warn!(kind = $kind, $($rest)+);
        }
    };
}
pub(crate) use warn_limited;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_budget_per_window_then_a_count_of_the_rest() {
        let l = LogLimiter::new();
        let t0 = Instant::now();
        for _ in 0..MAX_WARNINGS_PER_INTERVAL_COUNT {
            assert_eq!(l.admit("refused", t0), Admit::Log { suppressed: 0 });
        }
        // N + 1 and beyond, in the same window: counted only.
        for _ in 0..1000 {
            assert_eq!(l.admit("refused", t0), Admit::Suppress);
        }
        // Another kind has its own budget.
        assert_eq!(l.admit("busy", t0), Admit::Log { suppressed: 0 });
        // Just before the window ends: still suppressed.
        let end = t0 + Duration::from_millis(LOG_INTERVAL_MS);
        assert_eq!(
            l.admit("refused", end - Duration::from_millis(1)),
            Admit::Suppress
        );
        // The next window: logged, with the count of what was dropped.
        assert_eq!(l.admit("refused", end), Admit::Log { suppressed: 1001 });
        assert_eq!(l.admit("refused", end), Admit::Log { suppressed: 0 });
    }
}
