//! A run's trace across executions: the W3C `traceparent` of its first execution is kept
//! with the run, and a later execution (resumed after a restart, taken over by another
//! worker) links its span to it.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `span`'s context as a `traceparent`, when it is a real (sampled or not) trace.
pub fn traceparent(span: &Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// Links `span` to the trace `traceparent` names (ignored when it does not parse).
pub fn link(span: &Span, traceparent: &str) {
    let mut parts = traceparent.split('-');
    let (Some(_version), Some(trace), Some(id), Some(flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let (Ok(trace), Ok(id), Ok(flags)) = (
        TraceId::from_hex(trace),
        SpanId::from_hex(id),
        u8::from_str_radix(flags, 16),
    ) else {
        return;
    };
    let linked = SpanContext::new(
        trace,
        id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    span.add_link(linked);
}
