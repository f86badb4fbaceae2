//! Reconnection delays: exponential backoff with jitter, from a seeded generator so that a
//! simulation replays the same delays (no global randomness).

use std::time::Duration;

/// First reconnection delay ceiling, in milliseconds.
pub const RECONNECT_BASE_DELAY_MS: u64 = 500;

/// Largest reconnection delay, in milliseconds: an office link that is down for hours is tried
/// again at least this often.
pub const RECONNECT_MAX_DELAY_MS: u64 = 5 * 60 * 1000;

/// Exponential backoff with "equal jitter": the n-th delay (from 0) lies in
/// `[c / 2, c]` where `c = min(max, base · 2ⁿ)`, so peers that lost the same link do not all
/// come back at the same instant, and no delay exceeds the maximum.
#[derive(Debug, Clone)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
    attempt: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// Backoff between [`RECONNECT_BASE_DELAY_MS`] and [`RECONNECT_MAX_DELAY_MS`], jitter drawn
    /// from `seed` (the node seeds from the OS, a simulation from its scenario seed).
    pub fn new(seed: u64) -> Self {
        Self::with_bounds(seed, RECONNECT_BASE_DELAY_MS, RECONNECT_MAX_DELAY_MS)
    }

    /// Backoff with other bounds, in milliseconds. Panics unless `1 <= base_ms <= max_ms`
    /// (the caller's constants, not outside input).
    pub fn with_bounds(seed: u64, base_ms: u64, max_ms: u64) -> Self {
        assert!(
            base_ms >= 1 && base_ms <= max_ms,
            "backoff bounds must satisfy 1 <= base ({base_ms}) <= max ({max_ms})"
        );
        Self {
            base_ms,
            max_ms,
            attempt: 0,
            rng: SplitMix64(seed),
        }
    }

    /// The delay before the next attempt; each call doubles the ceiling up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << self.attempt.min(MAX_DOUBLINGS))
            .min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        let floor = ceiling / 2;
        let jitter = self.rng.next_u64() % (ceiling - floor + 1);
        Duration::from_millis(floor + jitter)
    }

    /// After a successful connection: the next delay starts again from the base.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Delays handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// Doublings beyond which the ceiling stops growing (it saturates at the maximum long before).
const MAX_DOUBLINGS: u32 = 62;

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed generator; not cryptographic, which
/// jitter does not need.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
