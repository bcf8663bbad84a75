//! `events:` — retention of the recorded event stream, and the events derived from the
//! servers' numbers (`events.derive`).

use std::time::Duration;

/// `events:` — retention of the recorded event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSettings {
    pub keep: u32,
    pub keep_for: Duration,
    pub derive: DeriveSettings,
}

/// `events.derive:` — events derived from the servers' numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct DeriveSettings {
    pub enabled: bool,
    pub every: Duration,
    /// `server_degraded`: p95 above `factor` × its baseline, or above `above`, for
    /// `sustained`; the baseline counts after `latency_min_calls` calls.
    pub factor: f64,
    pub above: Option<Duration>,
    pub sustained: Duration,
    pub latency_min_calls: u64,
    /// `error_rate_exceeded`: at least `rate` of at least `errors_min_calls` calls in
    /// `window` failed.
    pub rate: f64,
    pub window: Duration,
    pub errors_min_calls: u64,
}

impl Default for DeriveSettings {
    fn default() -> Self {
        DeriveSettings {
            enabled: true,
            every: Duration::from_secs(5),
            factor: 3.0,
            above: None,
            sustained: Duration::from_secs(30),
            latency_min_calls: 20,
            rate: 0.5,
            window: Duration::from_secs(60),
            errors_min_calls: 10,
        }
    }
}
