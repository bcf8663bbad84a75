//! Traces over OTLP/HTTP (`telemetry:` and the standard `OTEL_*` variables): the tracer the
//! binary's OpenTelemetry layer exports through, and its flush at exit.
//!
//! The exporter sends batches from a thread of its own (the SDK's batch processor with a
//! blocking HTTP client), so it works before and after the async runtime; [`shutdown`]
//! sends what is left. Sampling is parent-based: a sampled parent from the client is
//! followed, otherwise `sample_ratio` of the traces Baton starts are kept.

use std::{collections::HashMap, path::Path, sync::OnceLock};

use baton_core::config::{self, TraceSettings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SdkTracerProvider, Tracer},
};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The trace settings for `baton serve`: the configuration file's `telemetry:` (read here,
/// before logging starts; the command reports the file's errors later), else the
/// `OTEL_EXPORTER_OTLP_*` variables alone. `None`: no traces.
pub fn settings(config_flag: Option<&Path>) -> Option<TraceSettings> {
    let from_file = config::resolve_path(config_flag)
        .and_then(|path| config::load(&path, &config::process_env).ok())
        .and_then(|config| config.traces);
    let from_env = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    match from_file {
        Some(settings) if settings.endpoint.is_some() || from_env => Some(settings),
        Some(_) => None,
        None if from_env => Some(TraceSettings {
            endpoint: None,
            headers: Vec::new(),
            service_name: None,
            sample_ratio: std::env::var("OTEL_TRACES_SAMPLER_ARG")
                .ok()
                .and_then(|arg| arg.parse::<f64>().ok())
                .filter(|ratio| (0.0..=1.0).contains(ratio))
                .unwrap_or(1.0),
        }),
        None => None,
    }
}

/// The tracer exporting to `settings`' collector (the endpoint from the settings, else
/// from `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`), or why it cannot be built.
pub fn tracer(settings: &TraceSettings) -> Result<Tracer, String> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary);
    if let Some(endpoint) = &settings.endpoint {
        exporter = exporter.with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')));
    }
    if !settings.headers.is_empty() {
        let headers: HashMap<String, String> = settings.headers.iter().cloned().collect();
        exporter = exporter.with_headers(headers);
    }
    let exporter = exporter
        .build()
        .map_err(|error| format!("telemetry.otlp: cannot build the exporter: {error}"))?;
    let service = settings
        .service_name
        .clone()
        .or_else(|| std::env::var("OTEL_SERVICE_NAME").ok())
        .unwrap_or_else(|| "baton".to_owned());
    baton_mcp::trace::set_sample_ratio(settings.sample_ratio);
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sample_ratio,
        ))))
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    let tracer = provider.tracer("baton");
    let _ = PROVIDER.set(provider);
    Ok(tracer)
}

/// Sends the spans still waiting (at exit).
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.shutdown()
    {
        eprintln!("baton: traces: {error}");
    }
}
