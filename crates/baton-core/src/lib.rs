//! Baton's core: the configuration model and its validation, tool-name rules and the
//! errors they produce. This crate performs no network or process I/O; the only I/O is
//! reading the configuration file in [`config::load`].

#![forbid(unsafe_code)]

pub mod config;
pub mod modes;
pub mod names;
pub mod schedule;
pub mod workflow;

pub use config::{Config, ConfigError, ConfigErrors};

/// The `tracing` target of Baton's trace spans (requests, attempts, runs, steps): only the
/// OpenTelemetry layer listens to it, so without `telemetry.otlp` they are disabled.
pub const TRACE_TARGET: &str = "mcp_trace";
