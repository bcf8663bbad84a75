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

use std::{
    cell::Cell,
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
};

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

/// The share of requests without a parent that are traced (`telemetry.sample_ratio`), as
/// `f64` bits. Decided before any span is built: an unsampled request costs a lookup and a
/// random draw, not a span.
static SAMPLE_RATIO: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000); // 1.0

/// Sets the share of parentless requests traced (the SDK's sampler keeps the same ratio).
pub fn set_sample_ratio(ratio: f64) {
    SAMPLE_RATIO.store(ratio.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
}

thread_local! {
    /// xorshift64* state: the head-sampling draw needs speed, not cryptography.
    static DRAW: Cell<u64> = Cell::new({
        let here = &DRAW as *const _ as u64;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (here ^ now) | 1
    });
}

/// Whether a request is traced: by its parent's sampled flag when it carries a
/// `traceparent`, else with probability `sample_ratio`.
fn head_sampled(traceparent: Option<&str>) -> bool {
    if let Some(parent) = traceparent {
        // version-traceid-spanid-flags; bit 0 of the flags is "sampled".
        return parent
            .rsplit('-')
            .next()
            .and_then(|flags| u8::from_str_radix(flags, 16).ok())
            .is_some_and(|flags| flags & 1 == 1);
    }
    let ratio = f64::from_bits(SAMPLE_RATIO.load(Ordering::Relaxed));
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let draw = DRAW.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    });
    ((draw >> 11) as f64 / (1u64 << 53) as f64) < ratio
}

/// Whether spans are recorded at all (a trace exporter is installed): when not, a caller
/// need not gather what a span would say.
pub fn spans_wanted() -> bool {
    tracing::enabled!(target: baton_core::TRACE_TARGET, tracing::Level::INFO)
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
    if !spans_wanted() {
        return Span::none();
    }
    let carried = |key: &str| {
        incoming
            .meta
            .get(key)
            .and_then(serde_json::Value::as_str)
            .or_else(|| {
                incoming
                    .headers
                    .and_then(|headers| headers.get(key))
                    .and_then(|value| value.to_str().ok())
            })
    };
    if !head_sampled(carried("traceparent")) {
        // Not traced: no span, so no CLIENT span under it and no context sent upstream.
        return Span::none();
    }
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
    let found: HashMap<&'static str, String> = KEYS
        .into_iter()
        .filter_map(|key| Some((key, carried(key)?.to_owned())))
        .collect();
    if found.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&Carrier(&found));
        let _ = span.set_parent(parent);
    }
    // The trace id, for the log lines written inside the request.
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", trace_id.to_string());
    span
}

/// The client's trace context to pass upstream unchanged: only when Baton traces (an
/// exporter is installed) but not this request, whose `traceparent` is not sampled — a
/// sampled one is replaced by Baton's CLIENT span's context.
pub fn passthrough(
    meta: &serde_json::Map<String, serde_json::Value>,
    headers: Option<&http::HeaderMap>,
) -> Vec<(String, String)> {
    if !tracing::enabled!(target: baton_core::TRACE_TARGET, tracing::Level::INFO) {
        return Vec::new();
    }
    let carried = |key: &str| {
        meta.get(key)
            .and_then(serde_json::Value::as_str)
            .or_else(|| {
                headers
                    .and_then(|headers| headers.get(key))
                    .and_then(|value| value.to_str().ok())
            })
            .map(str::to_owned)
    };
    match carried("traceparent") {
        Some(parent) if !head_sampled(Some(&parent)) => {
            std::iter::once(("traceparent".to_owned(), parent))
                .chain(carried("tracestate").map(|state| ("tracestate".to_owned(), state)))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Whether a call made now is traced: inside a traced request or run (a request that was
/// not sampled has no span, and neither have its calls).
pub fn tracing_here() -> bool {
    if !tracing::enabled!(target: baton_core::TRACE_TARGET, tracing::Level::INFO) {
        return false;
    }
    // The current span may be another library's (rmcp's request span): only one of ours
    // carries an OpenTelemetry context.
    let current = Span::current();
    !current.is_none() && current.context().span().span_context().is_valid()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_decides_by_its_flag_and_the_ratio_decides_the_rest() {
        assert!(head_sampled(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        )));
        assert!(!head_sampled(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
        )));
        assert!(!head_sampled(Some("garbage")));
        set_sample_ratio(0.0);
        assert!((0..1000).all(|_| !head_sampled(None)));
        set_sample_ratio(0.25);
        let kept = (0..20_000).filter(|_| head_sampled(None)).count();
        assert!((4_000..6_000).contains(&kept), "{kept} of 20000 at 0.25");
        set_sample_ratio(1.0);
        assert!((0..1000).all(|_| head_sampled(None)));
    }
}
