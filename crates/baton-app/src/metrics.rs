//! `/metrics` (Prometheus text format) for `baton serve --http`, and on `serve.metrics`.
//!
//! Three sources, one naming scheme (`baton_` prefix, base units; docs/METRICS.md):
//! - recorded on the request path by `baton_mcp::metrics` (calls by outcome, durations,
//!   requests, responses, refusals);
//! - set at scrape time from what Baton already keeps ([`refresh`]): upstream states,
//!   attempts, errors, retries, restarts, breakers, in-flight calls, replicas, the result
//!   cache, open sessions, runs executing here, the process — the numbers `baton servers
//!   --stats` and `baton__status` show;
//! - counted from the engine's run events and the event stream ([`follow`]): runs started
//!   and finished, step durations, events by type, schedule fires, skips and lateness,
//!   trigger fires, breaker transitions.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
    time::Instant,
};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use baton_automation::EventBus;
use baton_core::schedule::EventKind;
use baton_engine::{Engine, RunEvent};
use baton_mcp::{Gateway, downstream::sessions::Sessions, upstream::UpstreamState};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets for durations (seconds): 1 ms to 5 min.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The process-wide recorder, installed once.
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => {
                    baton_mcp::metrics::recorder_installed();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics are off: the recorder could not be installed");
                    None
                }
            }
        })
        .clone()
}

/// What `/metrics` reads at scrape time.
#[derive(Clone)]
pub struct Scrape {
    pub handle: PrometheusHandle,
    pub gateway: Arc<Gateway>,
    pub sessions: Arc<Sessions>,
    pub engine: Option<Arc<Engine>>,
    pub started: Instant,
}

/// `GET /metrics`.
pub fn router(scrape: Scrape) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(scrape)
}

async fn render(State(scrape): State<Scrape>) -> impl IntoResponse {
    refresh(&scrape);
    scrape.handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
}

/// Every [`UpstreamState::label`], so each state has a series (0 when no replica is in it).
const STATES: [&str; 7] = [
    "connecting",
    "ready",
    "failed",
    "restarting",
    "quarantined",
    "disabled",
    "needs_login",
];

/// Per server (replicas summed).
#[derive(Default)]
struct ServerTotals {
    replicas: u64,
    ready: u64,
    states: HashMap<&'static str, u64>,
    attempts: u64,
    errors: u64,
    timeouts: u64,
    retries: u64,
    restarts: u64,
    in_flight: u64,
    queued: u64,
    /// 0 closed, 1 half-open, 2 open (the worst replica's).
    breaker: u64,
    retries_by_tool: HashMap<String, u64>,
}

/// Sets the scrape-time gauges and counters from the live state.
fn refresh(scrape: &Scrape) {
    let mut servers: HashMap<String, ServerTotals> = HashMap::new();
    for upstream in scrape.gateway.upstreams().iter() {
        let totals = servers.entry(upstream.name().to_owned()).or_default();
        let state = upstream.state();
        totals.replicas += 1;
        *totals.states.entry(state.label()).or_default() += 1;
        if matches!(state, UpstreamState::Ready { .. }) {
            totals.ready += 1;
        }
        let (total, by_name) = upstream.stats();
        totals.attempts += total.calls;
        totals.errors += total.errors;
        totals.timeouts += total.timeouts;
        totals.retries += total.retries;
        totals.restarts += upstream.restarts();
        totals.in_flight += upstream.in_flight() as u64;
        totals.queued += upstream.queued() as u64;
        let breaker = match upstream.breaker_state() {
            Some(baton_resilience::BreakerState::Open { .. }) => 2,
            Some(baton_resilience::BreakerState::HalfOpen { .. }) => 1,
            _ => 0,
        };
        totals.breaker = totals.breaker.max(breaker);
        for (tool, summary) in by_name {
            *totals.retries_by_tool.entry(tool).or_default() += summary.retries;
        }
    }
    for (server, totals) in servers {
        let up = if totals.ready > 0 { 1.0 } else { 0.0 };
        gauge!("baton_upstream_up", "server" => server.clone()).set(up);
        for state in STATES {
            let count = totals.states.get(state).copied().unwrap_or(0);
            gauge!("baton_upstream_state", "server" => server.clone(), "state" => state)
                .set(count as f64);
        }
        gauge!("baton_upstream_replicas", "server" => server.clone()).set(totals.replicas as f64);
        gauge!("baton_upstream_in_flight", "server" => server.clone()).set(totals.in_flight as f64);
        gauge!("baton_upstream_queued", "server" => server.clone()).set(totals.queued as f64);
        gauge!("baton_breaker_state", "server" => server.clone()).set(totals.breaker as f64);
        counter!("baton_upstream_attempts_total", "server" => server.clone())
            .absolute(totals.attempts);
        counter!("baton_upstream_errors_total", "server" => server.clone()).absolute(totals.errors);
        counter!("baton_upstream_timeouts_total", "server" => server.clone())
            .absolute(totals.timeouts);
        counter!("baton_upstream_retries_total", "server" => server.clone())
            .absolute(totals.retries);
        counter!("baton_upstream_restarts_total", "server" => server.clone())
            .absolute(totals.restarts);
        for (tool, retries) in totals.retries_by_tool {
            counter!("baton_tool_call_retries_total", "server" => server.clone(), "tool" => tool)
                .absolute(retries);
        }
    }
    let (hits, misses, entries) = scrape.gateway.cache_counters();
    counter!("baton_cache_hits_total").absolute(hits);
    counter!("baton_cache_misses_total").absolute(misses);
    gauge!("baton_cache_entries").set(entries as f64);
    let (streamable, sse) = scrape.sessions.by_transport();
    gauge!("baton_sessions_open", "transport" => "streamable_http").set(f64::from(streamable));
    gauge!("baton_sessions_open", "transport" => "sse").set(f64::from(sse));
    if let Some(engine) = &scrape.engine {
        gauge!("baton_runs_executing").set(engine.executing() as f64);
        counter!("baton_run_takeovers_total").absolute(engine.takeovers());
    }
    process(scrape.started);
}

/// RSS, open file descriptors, uptime and build info (Linux `/proc`).
fn process(started: Instant) {
    gauge!("baton_process_uptime_seconds").set(started.elapsed().as_secs_f64());
    gauge!("baton_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm")
        && let Some(pages) = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<f64>().ok())
    {
        gauge!("baton_process_resident_memory_bytes").set(pages * 4096.0);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge!("baton_process_open_fds").set(fds.count() as f64);
    }
}

/// Counts the engine's run events and the event stream's events, from now on.
pub fn follow(engine: Option<&Arc<Engine>>, bus: Option<&Arc<EventBus>>) {
    if let Some(engine) = engine {
        let mut runs = engine.subscribe();
        tokio::spawn(async move {
            // Run id → workflow, while the run is in progress here.
            let mut workflows: HashMap<String, String> = HashMap::new();
            // Steps waiting now (a durable sleep or an approval), by run.
            let mut waiting: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
            loop {
                let event = match runs.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                track_waiting(&mut waiting, &event);
                run_event(&mut workflows, event);
            }
        });
    }
    if let Some(bus) = bus {
        let mut events = bus.subscribe();
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                stream_event(&event);
            }
        });
    }
}

/// `baton_steps_waiting`: steps of runs executing here that wait (a sleep or an approval).
fn track_waiting(
    waiting: &mut HashMap<String, std::collections::HashSet<String>>,
    event: &RunEvent,
) {
    match event {
        RunEvent::Waiting { run, step, .. } => {
            waiting.entry(run.clone()).or_default().insert(step.clone());
        }
        RunEvent::StepFinished { run, step, .. } => {
            if let Some(steps) = waiting.get_mut(run) {
                steps.remove(step);
                if steps.is_empty() {
                    waiting.remove(run);
                }
            }
        }
        RunEvent::Finished { run, .. } => {
            waiting.remove(run);
        }
        _ => return,
    }
    gauge!("baton_steps_waiting")
        .set(waiting.values().map(|steps| steps.len()).sum::<usize>() as f64);
}

fn run_event(workflows: &mut HashMap<String, String>, event: RunEvent) {
    match event {
        RunEvent::Started { run, workflow, .. } => {
            counter!("baton_runs_started_total", "workflow" => workflow.clone()).increment(1);
            workflows.insert(run, workflow);
        }
        RunEvent::StepFinished {
            run,
            status,
            millis,
            ..
        } => {
            let workflow = workflows
                .get(&run)
                .cloned()
                .unwrap_or_else(|| "unknown".into());
            histogram!("baton_step_duration_seconds", "workflow" => workflow, "status" => status.as_str())
                .record(millis as f64 / 1000.0);
        }
        RunEvent::Waiting { .. } => counter!("baton_steps_waited_total").increment(1),
        RunEvent::Finished { run, status, .. } => {
            let workflow = workflows.remove(&run).unwrap_or_else(|| "unknown".into());
            counter!("baton_runs_finished_total", "workflow" => workflow, "status" => status.as_str())
                .increment(1);
        }
        RunEvent::StepStarted { .. } | RunEvent::ApprovalNeeded { .. } => {}
    }
}

fn stream_event(event: &baton_automation::Event) {
    counter!("baton_events_total", "type" => event.kind.as_str()).increment(1);
    let field = |name: &str| {
        event
            .data
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown")
            .to_owned()
    };
    match event.kind {
        EventKind::ScheduleFired => {
            let schedule = field("schedule");
            if let Some(late_ms) = event
                .data
                .get("late_ms")
                .and_then(serde_json::Value::as_f64)
            {
                histogram!("baton_schedule_lateness_seconds", "schedule" => schedule.clone())
                    .record(late_ms / 1000.0);
            }
            counter!("baton_schedule_fires_total", "schedule" => schedule).increment(1);
        }
        EventKind::ScheduleSkipped => {
            // A catch-up policy reports the slots it left out as one event with `missed`.
            match event.data.get("missed").and_then(serde_json::Value::as_u64) {
                Some(missed) => {
                    counter!("baton_schedule_misses_total", "schedule" => field("schedule"))
                        .increment(missed);
                }
                None => {
                    counter!("baton_schedule_skips_total", "schedule" => field("schedule"))
                        .increment(1);
                }
            }
        }
        EventKind::TriggerFired => {
            counter!("baton_trigger_fires_total", "trigger" => field("trigger")).increment(1);
        }
        EventKind::CircuitOpened | EventKind::CircuitClosed => {
            let to = if event.kind == EventKind::CircuitOpened {
                "open"
            } else {
                "closed"
            };
            counter!("baton_breaker_transitions_total", "server" => field("server"), "to" => to)
                .increment(1);
        }
        _ => {}
    }
}
