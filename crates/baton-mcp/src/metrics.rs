//! Baton's Prometheus metrics recorded on the request path (the `metrics` facade; nothing
//! is recorded on the call path until the application installs a recorder and says so,
//! [`recorder_installed`]). Every name is here and in docs/METRICS.md.
//! Label values are bounded: server and tool names come from the catalog (a name the
//! catalog does not route is `unknown`), outcomes and methods from fixed lists.
//!
//! Numbers that Baton already keeps (per-server attempts, errors, retries, restarts,
//! breaker states, cache hits) are not counted twice: the application sets them from the
//! same sources at scrape time, so `/metrics`, `baton servers --stats` and `baton__status`
//! agree.

use std::{
    sync::{
        Arc, Mutex, OnceLock, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use metrics::{Counter, Histogram};

use crate::{FastMap, catalog::Catalog};

pub const TOOL_CALLS: &str = "baton_tool_calls_total";
pub const TOOL_CALL_DURATION: &str = "baton_tool_call_duration_seconds";
pub const PROMPT_GETS: &str = "baton_prompt_gets_total";
pub const RESOURCE_READS: &str = "baton_resource_reads_total";
pub const REQUESTS: &str = "baton_requests_total";
pub const HTTP_RESPONSES: &str = "baton_http_responses_total";
pub const AUTH_REFUSALS: &str = "baton_auth_refusals_total";
pub const SESSIONS_REFUSED: &str = "baton_sessions_refused_total";
pub const SESSIONS_PARKED: &str = "baton_sessions_parked";

/// The MCP methods counted by name; any other is `other`.
const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// (server, tool) labels of an exposed tool name: its route, or `unknown` twice.
pub fn tool_labels<'c>(catalog: &'c Catalog, name: &str) -> (&'c str, &'c str) {
    match catalog.tool_routes.get(name) {
        Some(route) => (&route.server, &route.original),
        None => ("unknown", "unknown"),
    }
}

/// One tool call a client made, with its outcome (see [`crate::audit::AuditRecord::outcome`]).
pub fn tool_call(server: &str, tool: &str, outcome: &'static str, took: Duration) {
    if let Some(kept) = kept() {
        kept.tool(server, tool).record(outcome, took);
    }
}

/// A call answered by one of its tool's `fallback:` candidates (both names from the
/// catalog: bounded).
pub fn fallback_used(catalog: &Catalog, tool: &str, fallback: &str) {
    let label = |name: &str| {
        if catalog.tool_routes.contains_key(name) {
            name.to_owned()
        } else {
            "unknown".to_owned()
        }
    };
    metrics::counter!("baton_tool_call_fallbacks_total", "tool" => label(tool), "fallback" => label(fallback))
        .increment(1);
}

/// One prompt get or resource read, by the owning server.
pub fn other_use(kind: crate::audit::AuditKind, server: String, outcome: &'static str) {
    let name = match kind {
        crate::audit::AuditKind::Prompt => PROMPT_GETS,
        crate::audit::AuditKind::Resource => RESOURCE_READS,
        crate::audit::AuditKind::Tool => TOOL_CALLS,
    };
    metrics::counter!(name, "server" => server, "outcome" => outcome).increment(1);
}

/// A JSON-RPC message received over `transport` (`streamable_http`, `sse`).
pub fn request(method: &str, transport: &'static str) {
    let index = METHODS
        .iter()
        .position(|known| *known == method)
        .unwrap_or(METHODS.len());
    let method = METHODS.get(index).copied().unwrap_or("other");
    let (Some(kept), Some(by_transport)) = (
        kept(),
        TRANSPORTS.iter().position(|known| *known == transport),
    ) else {
        return;
    };
    kept.requests[index][by_transport]
        .get_or_init(|| metrics::counter!(REQUESTS, "method" => method, "transport" => transport))
        .increment(1);
}

/// An HTTP response of the MCP endpoints, by status code.
pub fn http_response(status: u16) {
    let (index, label) = status_label(status);
    if let Some(kept) = kept() {
        kept.responses[index]
            .get_or_init(|| metrics::counter!(HTTP_RESPONSES, "status" => label))
            .increment(1);
    }
}

/// A request refused by `serve.auth` (`missing`, `invalid_token`, `insufficient_scope`,
/// `rate_limited`).
pub fn auth_refused(reason: &'static str) {
    metrics::counter!(AUTH_REFUSALS, "reason" => reason).increment(1);
}

/// Streamable HTTP sessions parked now (idle, their worker and service closed).
pub fn sessions_parked(parked: usize) {
    metrics::gauge!(SESSIONS_PARKED).set(parked as f64);
}

/// A new session refused by a session cap (`global`, `principal`).
pub fn session_refused(cap: &'static str) {
    metrics::counter!(SESSIONS_REFUSED, "cap" => cap).increment(1);
}

/// The status label of a status code, and its index among [`STATUS_LABELS`].
fn status_label(status: u16) -> (usize, &'static str) {
    const NAMED: [u16; NAMED_STATUSES] = [
        200, 202, 204, 400, 401, 403, 404, 405, 406, 413, 415, 429, 500, 502, 503,
    ];
    let index = NAMED
        .iter()
        .position(|code| *code == status)
        .unwrap_or(match status {
            100..=199 => NAMED_STATUSES,
            200..=299 => NAMED_STATUSES + 1,
            300..=399 => NAMED_STATUSES + 2,
            400..=499 => NAMED_STATUSES + 3,
            _ => NAMED_STATUSES + 4,
        });
    (index, STATUS_LABELS[index])
}

const NAMED_STATUSES: usize = 15;
const STATUS_LABELS: [&str; NAMED_STATUSES + 5] = [
    "200", "202", "204", "400", "401", "403", "404", "405", "406", "413", "415", "429", "500",
    "502", "503", "1xx", "2xx", "3xx", "4xx", "5xx",
];

const TRANSPORTS: [&str; 2] = ["streamable_http", "sse"];

/// Set once the application's recorder is installed. Handles taken before then would be the
/// facade's no-ops, so nothing is recorded (nor kept) until it is set; after it, the request path's
/// handles are registered once and kept ([`Kept`]) instead of being looked up by their
/// labels on every call (the facade hashes and compares every label each time).
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Tells the request path that the process-wide recorder is installed (the application
/// calls it right after `install_recorder`).
pub fn recorder_installed() {
    RECORDING.store(true, Ordering::Release);
}

/// The request path's metric handles, once a recorder is installed. Bounded as the labels
/// are: tools by the catalog's routes (and `unknown`), methods, transports and statuses by
/// their fixed lists.
struct Kept {
    requests: [[OnceLock<Counter>; TRANSPORTS.len()]; METHODS.len() + 1],
    responses: [OnceLock<Counter>; STATUS_LABELS.len()],
    /// server → tool → handles.
    tools: RwLock<FastMap<String, FastMap<String, Arc<ToolHandles>>>>,
}

fn kept() -> Option<&'static Kept> {
    static KEPT: OnceLock<Kept> = OnceLock::new();
    if !RECORDING.load(Ordering::Acquire) {
        return None;
    }
    Some(KEPT.get_or_init(|| Kept {
        requests: [const { [const { OnceLock::new() }; TRANSPORTS.len()] }; METHODS.len() + 1],
        responses: [const { OnceLock::new() }; STATUS_LABELS.len()],
        tools: RwLock::default(),
    }))
}

impl Kept {
    fn tool(&self, server: &str, tool: &str) -> Arc<ToolHandles> {
        let found = self
            .tools
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
            .and_then(|tools| tools.get(tool))
            .cloned();
        if let Some(handles) = found {
            return handles;
        }
        let mut tools = self.tools.write().unwrap_or_else(|p| p.into_inner());
        tools
            .entry(server.to_owned())
            .or_default()
            .entry(tool.to_owned())
            .or_insert_with(|| Arc::new(ToolHandles::new(server, tool)))
            .clone()
    }
}

/// One tool's duration histogram and call counters (by outcome, as they occur).
struct ToolHandles {
    server: String,
    tool: String,
    duration: Histogram,
    calls: Mutex<Vec<(&'static str, Counter)>>,
}

impl ToolHandles {
    fn new(server: &str, tool: &str) -> Self {
        ToolHandles {
            server: server.to_owned(),
            tool: tool.to_owned(),
            duration: metrics::histogram!(TOOL_CALL_DURATION, "server" => server.to_owned(), "tool" => tool.to_owned()),
            calls: Mutex::new(Vec::with_capacity(2)),
        }
    }

    fn record(&self, outcome: &'static str, took: Duration) {
        self.duration.record(took.as_secs_f64());
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, counter)) = calls.iter().find(|(known, _)| *known == outcome) {
            counter.increment(1);
            return;
        }
        let counter = metrics::counter!(TOOL_CALLS, "server" => self.server.clone(), "tool" => self.tool.clone(), "outcome" => outcome);
        counter.increment(1);
        calls.push((outcome, counter));
    }
}
