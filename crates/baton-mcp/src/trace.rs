//! Traces of MCP requests (OpenTelemetry MCP semantic conventions), carried through
//! `_meta`.
//!
//! Spans are `tracing` spans of target [`TARGET`]: only the OpenTelemetry layer the
//! binary installs (with `telemetry.otlp`) listens to that target, so without it they are
//! disabled at their call site and cost nothing. A client's request is a SERVER span named
//! `{mcp.method.name} {target}` whose parent is the `traceparent` in the request's
//! `params._meta` (or its HTTP `traceparent` header); each attempt sent to a server is a
//! CLIENT span (retries and fallbacks are siblings), and its context goes to the server as
//! `_meta.traceparent` (stdio and HTTP alike).

use std::collections::HashMap;

use opentelemetry::{
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of Baton's request spans.
pub const TARGET: &str = baton_core::TRACE_TARGET;

/// The W3C trace context keys carried in `_meta`.
const KEYS: [&str; 2] = ["traceparent", "tracestate"];

struct Carrier<'a>(&'a HashMap<&'static str, String>);

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().copied().collect()
    }
}

struct Sink(Vec<(String, String)>);

impl Injector for Sink {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// What a downstream request says about itself, for its SERVER span.
pub struct Incoming<'a> {
    pub method: &'static str,
    /// The tool or prompt name, or the resource URI.
    pub target: &'a str,
    /// The request's `params._meta`.
    pub meta: &'a serde_json::Map<String, serde_json::Value>,
    /// The HTTP request's headers, when it came over HTTP.
    pub headers: Option<&'a http::HeaderMap>,
    pub session: Option<&'a str>,
    pub protocol: Option<&'a str>,
    pub request_id: String,
    /// `tcp` (HTTP) or `pipe` (stdio).
    pub transport: &'static str,
}

/// The SERVER span of a downstream request, its parent taken from the request's trace
/// context. Disabled (free) when no trace exporter is installed.
pub fn server_span(incoming: &Incoming<'_>) -> Span {
    let span = tracing::info_span!(
        target: baton_core::TRACE_TARGET,
        "mcp.server",
        otel.name = %format!("{} {}", incoming.method, incoming.target),
        otel.kind = "server",
        mcp.method.name = incoming.method,
        gen_ai.tool.name = tracing::field::Empty,
        gen_ai.prompt.name = tracing::field::Empty,
        mcp.resource.uri = tracing::field::Empty,
        mcp.session.id = incoming.session.unwrap_or_default(),
        mcp.protocol.version = incoming.protocol.unwrap_or_default(),
        jsonrpc.request.id = %incoming.request_id,
        network.transport = incoming.transport,
        error.type = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    match incoming.method {
        "tools/call" => span.record("gen_ai.tool.name", incoming.target),
        "prompts/get" => span.record("gen_ai.prompt.name", incoming.target),
        _ => span.record("mcp.resource.uri", incoming.target),
    };
    let mut carried: HashMap<&'static str, String> = HashMap::new();
    for key in KEYS {
        let from_meta = incoming.meta.get(key).and_then(serde_json::Value::as_str);
        let from_header = || {
            incoming
                .headers
                .and_then(|headers| headers.get(key))
                .and_then(|value| value.to_str().ok())
        };
        if let Some(value) = from_meta.or_else(from_header) {
            carried.insert(key, value.to_owned());
        }
    }
    if carried.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&Carrier(&carried));
        let _ = span.set_parent(parent);
    }
    // The trace id, for the log lines written inside the request.
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", trace_id.to_string());
    span
}

/// The CLIENT span of one attempt sent to `server` (`name`: the server's own name for the
/// tool, prompt or resource).
pub fn client_span(method: &'static str, server: &str, name: &str, attempt: u32) -> Span {
    tracing::info_span!(
        target: baton_core::TRACE_TARGET,
        "mcp.client",
        otel.name = %format!("{method} {name}"),
        otel.kind = "client",
        mcp.method.name = method,
        gen_ai.tool.name = name,
        server.address = server,
        baton.attempt = attempt,
        error.type = tracing::field::Empty,
    )
}

/// Records a failure's class on `span` (`error.type`).
pub fn record_error(span: &Span, error_type: &str) {
    if !span.is_disabled() {
        span.record("error.type", error_type);
        span.record("otel.status_code", "ERROR");
    }
}

/// The current span's trace context as `_meta` entries (`traceparent`, `tracestate`), or
/// nothing when there is no sampled trace.
pub fn current_context() -> Vec<(String, String)> {
    let span = Span::current();
    if span.is_disabled() {
        return Vec::new();
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut sink = Sink(Vec::new());
    TraceContextPropagator::new().inject_context(&context, &mut sink);
    sink.0
}

/// The MCP method of a request Baton sends upstream.
pub fn method_of(request: &rmcp::model::ClientRequest) -> &'static str {
    use rmcp::model::ClientRequest;
    match request {
        ClientRequest::CallToolRequest(_) => "tools/call",
        ClientRequest::GetPromptRequest(_) => "prompts/get",
        ClientRequest::ReadResourceRequest(_) => "resources/read",
        ClientRequest::CompleteRequest(_) => "completion/complete",
        ClientRequest::SubscribeRequest(_) => "resources/subscribe",
        ClientRequest::UnsubscribeRequest(_) => "resources/unsubscribe",
        _ => "request",
    }
}
