//! The validated `resilience:` sections (top level, per server, per tool): timeouts (fixed,
//! or learned with `timeout: auto`), retries, circuit breakers, concurrency, restarts.

use std::{collections::BTreeMap, time::Duration};

/// Timeouts and restart supervision for one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resilience {
    pub timeouts: Timeouts,
    /// How `timeout: auto` budgets are learned.
    pub auto_timeout: AutoTimeout,
    /// Upstream tool name → its own timeouts.
    pub tool_timeouts: BTreeMap<String, Timeouts>,
    /// Upstream tool name → its retry choice (default [`RetryMode::Auto`]).
    pub tool_retry: BTreeMap<String, RetryMode>,
    pub restart: RestartSettings,
    pub retry: RetrySettings,
    /// `None`: no circuit breaker for this server.
    pub breaker: Option<BreakerSettings>,
    pub degrade: Degrade,
    pub concurrency: ConcurrencySettings,
    /// How long results of read-only tools are cached (`None`: not cached).
    pub cache_ttl: Option<Duration>,
    /// Upstream tool name → its own cache time.
    pub tool_cache_ttl: BTreeMap<String, Duration>,
    /// Upstream tool name → exposed tool names to try when it fails.
    pub tool_fallbacks: BTreeMap<String, Vec<String>>,
    /// Upstream tool name → its own circuit breaker, besides the server's.
    pub tool_breakers: BTreeMap<String, BreakerSettings>,
    /// Upstream tool name → whether its `isError: true` results are retried (default: the
    /// server's `retry.on_tool_error`).
    pub tool_retry_on_error: BTreeMap<String, bool>,
    /// How long a call waits for the server while it is connecting or restarting.
    pub connect_wait: Duration,
    /// How often an idle remote server is pinged (`resilience.ping_every`, default 30 s).
    pub ping_every: Duration,
    /// How long the MCP handshake may take.
    pub connect_timeout: Duration,
    /// The largest JSON-RPC message accepted from or sent to the server.
    pub max_message_bytes: usize,
}

/// Default `max_message_bytes`: large enough for real tools' answers (images, files).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Per-server limit on calls in flight, with a bounded wait queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencySettings {
    /// Calls in flight to the server at once, over all its replicas.
    pub max_in_flight: u32,
    /// Calls that may wait for a slot (for the server, and again for a replica).
    pub max_queued: u32,
    /// Calls in flight to one replica at once (`None`: only the server's limit).
    pub per_replica: Option<u32>,
}

impl Default for ConcurrencySettings {
    fn default() -> Self {
        ConcurrencySettings {
            max_in_flight: 64,
            max_queued: 256,
            per_replica: None,
        }
    }
}

/// What clients see of a server while it is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Degrade {
    /// Its tools stay listed and fail at once with the reason.
    #[default]
    FailFast,
    /// Its tools leave tools/list (clients are told) until it recovers.
    Hide,
}

/// A per-server circuit breaker (see baton-resilience's `Breaker`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    pub failures: u32,
    pub failure_rate: f64,
    pub window: Duration,
    pub min_calls: u32,
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            failure_rate: 0.5,
            window: Duration::from_secs(30),
            min_calls: 10,
            open_for: Duration::from_secs(10),
        }
    }
}

// `f64` has no `Eq`; a configured rate is never NaN (validation rejects it).
impl Eq for BreakerSettings {}

impl Resilience {
    /// The timeouts for `tool` (an upstream name).
    pub fn timeouts_for(&self, tool: &str) -> Timeouts {
        self.tool_timeouts
            .get(tool)
            .copied()
            .unwrap_or(self.timeouts)
    }

    /// How long `tool`'s results may be cached, if at all.
    pub fn cache_ttl_for(&self, tool: &str) -> Option<Duration> {
        self.tool_cache_ttl.get(tool).copied().or(self.cache_ttl)
    }

    pub fn retry_mode_for(&self, tool: &str) -> RetryMode {
        self.tool_retry.get(tool).copied().unwrap_or_default()
    }

    /// Whether `tool`'s `isError: true` results count as failures to retry.
    pub fn retry_on_error_for(&self, tool: &str) -> bool {
        self.tool_retry_on_error
            .get(tool)
            .copied()
            .unwrap_or(self.retry.on_tool_error)
    }
}

/// Whether a failed tool call may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryMode {
    /// Only tools whose annotations say so: `readOnlyHint` or `idempotentHint`.
    #[default]
    Auto,
    Always,
    Never,
}

/// Retries on transport errors, timeouts and overload (see baton-resilience's `retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// Also retry tool results with `isError: true` (off: they are answers).
    pub on_tool_error: bool,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            attempts: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            on_tool_error: false,
        }
    }
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience {
            timeouts: Timeouts {
                idle: Duration::from_secs(60),
                total: Duration::from_secs(600),
                auto: false,
            },
            auto_timeout: AutoTimeout::default(),
            tool_timeouts: BTreeMap::new(),
            tool_retry: BTreeMap::new(),
            restart: RestartSettings::default(),
            retry: RetrySettings::default(),
            breaker: Some(BreakerSettings::default()),
            degrade: Degrade::default(),
            concurrency: ConcurrencySettings::default(),
            cache_ttl: None,
            tool_cache_ttl: BTreeMap::new(),
            tool_fallbacks: BTreeMap::new(),
            tool_breakers: BTreeMap::new(),
            tool_retry_on_error: BTreeMap::new(),
            connect_wait: Duration::from_secs(5),
            ping_every: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(60),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// A call may go `idle` without a progress notification, and never run past `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub idle: Duration,
    pub total: Duration,
    /// `timeout: auto`: `idle` is learned from the tool's latency ([`AutoTimeout`]).
    pub auto: bool,
}

/// How a crashed stdio server is restarted (see baton-resilience's `RestartPolicy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartSettings {
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub crash_window: Duration,
    pub max_crashes: u32,
    pub quarantine_retry: Duration,
}

impl Default for RestartSettings {
    fn default() -> Self {
        RestartSettings {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            crash_window: Duration::from_secs(60),
            max_crashes: 5,
            quarantine_retry: Duration::from_secs(600),
        }
    }
}

/// `resilience.auto_timeout`: how a `timeout: auto` budget follows the tool's latency —
/// its p99 × `factor`, at least `min`, at most the call's `max_timeout`, once `min_calls`
/// calls were seen (the configured `timeout` until then).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoTimeout {
    pub factor: f64,
    pub min: Duration,
    pub min_calls: u64,
}

impl Eq for AutoTimeout {}

impl Default for AutoTimeout {
    fn default() -> Self {
        AutoTimeout {
            factor: 3.0,
            min: Duration::from_secs(1),
            min_calls: 20,
        }
    }
}

impl AutoTimeout {
    /// The budget for a tool whose last calls had this p99 (`None` until `min_calls`).
    pub fn budget(&self, calls: u64, p99_ms: Option<f64>, total: Duration) -> Option<Duration> {
        if calls < self.min_calls {
            return None;
        }
        let learned = Duration::from_secs_f64(p99_ms? * self.factor / 1000.0);
        Some(learned.clamp(self.min.min(total), total))
    }
}
