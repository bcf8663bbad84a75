//! Baton's Prometheus metrics recorded on the request path (the `metrics` facade; a no-op
//! until the application installs a recorder). Every name is here and in docs/METRICS.md.
//! Label values are bounded: server and tool names come from the catalog (a name the
//! catalog does not route is `unknown`), outcomes and methods from fixed lists.
//!
//! Numbers that Baton already keeps (per-server attempts, errors, retries, restarts,
//! breaker states, cache hits) are not counted twice: the application sets them from the
//! same sources at scrape time, so `/metrics`, `baton servers --stats` and `baton__status`
//! agree.

use std::time::Duration;

use crate::catalog::Catalog;

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
pub fn tool_labels(catalog: &Catalog, name: &str) -> (String, String) {
    match catalog.tool_routes.get(name) {
        Some(route) => (route.server.clone(), route.original.clone()),
        None => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

/// One tool call a client made, with its outcome (see [`crate::audit::AuditRecord::outcome`]).
pub fn tool_call(server: String, tool: String, outcome: &'static str, took: Duration) {
    metrics::histogram!(TOOL_CALL_DURATION, "server" => server.clone(), "tool" => tool.clone())
        .record(took.as_secs_f64());
    metrics::counter!(TOOL_CALLS, "server" => server, "tool" => tool, "outcome" => outcome)
        .increment(1);
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
    let method = METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other");
    metrics::counter!(REQUESTS, "method" => method, "transport" => transport).increment(1);
}

/// An HTTP response of the MCP endpoints, by status code.
pub fn http_response(status: u16) {
    metrics::counter!(HTTP_RESPONSES, "status" => status_label(status)).increment(1);
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

fn status_label(status: u16) -> &'static str {
    const NAMED: [(u16, &str); 15] = [
        (200, "200"),
        (202, "202"),
        (204, "204"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (406, "406"),
        (413, "413"),
        (415, "415"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
    ];
    if let Some((_, label)) = NAMED.iter().find(|(code, _)| *code == status) {
        return label;
    }
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
