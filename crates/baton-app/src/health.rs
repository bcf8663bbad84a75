//! `GET /healthz` and `GET /readyz` on `serve --http`, for load balancers and orchestrators.
//!
//! Both are served outside `serve.auth` and the Host/Origin guard (probes come by IP, with
//! no credentials) and share one global token bucket ([`PROBES_PER_SECOND`]), so they cannot
//! be used to load Baton. Neither reaches an upstream: `/readyz` reads the states the
//! gateway already keeps (what `baton__status` shows) and asks the store one cheap question.
//!
//! - `/healthz`: the process answers — 200 `{"status":"ok"}`.
//! - `/readyz`: 200 `{"status":"ready", …}` when the store (if Baton has one) answers, every
//!   *required* server (`required:`, default true; a disabled one never is) has a ready
//!   replica and Baton is not stopping; else 503 `{"status":"not_ready","not_ready":[…]}`.
//!   A replica counts when it is connected and its circuit is not open (what the balancer
//!   picks). Each entry names its `kind` (`server`, `store`, `process`), `name`, `state`
//!   and `reason`. `degraded` lists what is partly down but does not block readiness (a
//!   pool with some replicas down, a server that is not required, Baton serving without its
//!   default store). With `serve.auth` set the reasons are generic words (the
//!   probes are public; the detailed errors are in `baton__status`).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use baton_mcp::{Gateway, upstream::UpstreamState};
use baton_resilience::TokenBucket;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::Services;

/// Probes answered per second at most, `/healthz` and `/readyz` together, from everyone (the
/// bucket holds one second's worth); beyond it, 429 with `Retry-After`.
pub const PROBES_PER_SECOND: f64 = 50.0;

/// How long `/readyz` waits for the store's answer.
pub const STORE_ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The probe routes (merged outside the guard and auth by [`crate::App::serve_http`]).
pub fn router(
    gateway: Arc<Gateway>,
    services: Arc<Services>,
    shutdown: CancellationToken,
) -> Router {
    let probes = Arc::new(Probes {
        gateway,
        services,
        shutdown,
        bucket: Mutex::new(TokenBucket::new(
            PROBES_PER_SECOND,
            PROBES_PER_SECOND,
            Instant::now(),
        )),
    });
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(probes)
}

struct Probes {
    gateway: Arc<Gateway>,
    services: Arc<Services>,
    shutdown: CancellationToken,
    bucket: Mutex<TokenBucket>,
}

impl Probes {
    /// A 429 when the probes' bucket is empty.
    fn over_limit(&self) -> Option<Response> {
        let taken = self
            .bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(Instant::now());
        let wait = taken.err()?;
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        tracing::debug!(
            retry_after_s = seconds,
            "a health probe over the limit was refused"
        );
        let body = json!({
            "status": "rate_limited",
            "error": format!(
                "over {PROBES_PER_SECOND} health probes a second (all callers together): retry in {seconds} s"
            ),
        });
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        Some(response)
    }
}

async fn healthz(State(probes): State<Arc<Probes>>) -> Response {
    if let Some(refused) = probes.over_limit() {
        return refused;
    }
    (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response()
}

async fn readyz(State(probes): State<Arc<Probes>>) -> Response {
    if let Some(refused) = probes.over_limit() {
        return refused;
    }
    let mut report = Report {
        // The reasons of a public probe stay generic when the endpoints need credentials.
        detailed: probes.gateway.config().serve.auth.is_none(),
        ..Report::default()
    };
    if probes.shutdown.is_cancelled() {
        report.not_ready.push(entry(
            "process",
            None,
            "stopping",
            "Baton is shutting down".to_owned(),
        ));
    }
    report.servers(&probes.gateway);
    report.store(&probes.services, &probes.gateway).await;
    let (status, word) = if report.not_ready.is_empty() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    };
    let body = Readiness {
        status: word,
        not_ready: report.not_ready,
        degraded: report.degraded,
    };
    (status, Json(body)).into_response()
}

/// `/readyz`'s body, in this order.
#[derive(serde::Serialize)]
struct Readiness {
    status: &'static str,
    not_ready: Vec<Value>,
    degraded: Vec<Value>,
}

/// What `/readyz` found.
#[derive(Default)]
struct Report {
    detailed: bool,
    not_ready: Vec<Value>,
    degraded: Vec<Value>,
}

impl Report {
    /// Every enabled server of the configuration in force: ready when one of its replicas
    /// is available (connected, circuit not open); a required one with none blocks
    /// readiness.
    fn servers(&mut self, gateway: &Gateway) {
        let topology = gateway.topology();
        for server in topology.config.servers.iter().filter(|s| !s.disabled) {
            let replicas: Vec<_> = topology.replicas(&server.name).collect();
            let down: Vec<Down> = replicas
                .iter()
                .filter(|replica| !replica.is_available())
                .map(|replica| self.down(replica))
                .collect();
            let ready = replicas.len() - down.len();
            let name = Some(server.name.as_str());
            if ready == 0 {
                let mut states: Vec<&str> = down.iter().map(|d| d.state).collect();
                states.dedup();
                let reason = joined(&down);
                if server.required {
                    self.not_ready
                        .push(entry("server", name, &states.join("/"), reason));
                } else {
                    let reason = format!("{reason} (required: false)");
                    self.degraded
                        .push(entry("server", name, &states.join("/"), reason));
                }
            } else if !down.is_empty() {
                let total = replicas.len();
                let reason = format!("{ready} of {total} replicas ready; {}", joined(&down));
                self.degraded
                    .push(entry("server", name, "degraded", reason));
            }
        }
    }

    /// Why one replica is not available.
    fn down(&self, replica: &baton_mcp::upstream::Upstream) -> Down {
        let state = replica.state();
        let (word, reason) = match state {
            UpstreamState::Ready { .. } => (
                "circuit_open",
                "its circuit is open after repeated failures".to_owned(),
            ),
            _ => (
                state.label(),
                self.words(state.unavailable_reason(), generic(&state)),
            ),
        };
        Down {
            label: replica.label(),
            state: word,
            reason,
        }
    }

    /// The store answers a cheap query in time; a store Baton serves without (the default
    /// SQLite file could not be created) is only degraded, one named by `store.url` is not
    /// ready.
    async fn store(&mut self, services: &Services, gateway: &Gateway) {
        let problem = match services.store() {
            Ok(store) => {
                match tokio::time::timeout(STORE_ANSWER_WITHIN, store.schema_version()).await {
                    Ok(Ok(_)) => return,
                    Ok(Err(error)) => self.words(error.to_string(), "the store answered an error"),
                    Err(_) => format!("the store did not answer within {STORE_ANSWER_WITHIN:?}"),
                }
            }
            Err(why) => {
                let reason = self.words(why, "the store could not be opened");
                if gateway.config().store.url.is_none() {
                    let reason = format!("serving without a store: {reason}");
                    self.degraded
                        .push(entry("store", None, "unavailable", reason));
                    return;
                }
                reason
            }
        };
        self.not_ready
            .push(entry("store", None, "unavailable", problem));
    }

    /// `detail` when the probes are served without credentials, else the generic words.
    fn words(&self, detail: String, generic: &str) -> String {
        if self.detailed {
            detail
        } else {
            generic.to_owned()
        }
    }
}

/// A replica that is not available.
struct Down {
    label: String,
    state: &'static str,
    reason: String,
}

/// The reasons of a server's unavailable replicas (named when there are several).
fn joined(down: &[Down]) -> String {
    if let [one] = down {
        return one.reason.clone();
    }
    down.iter()
        .map(|d| format!("{}: {}", d.label, d.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a public probe says of a server in `state` (no error text, which may quote a
/// server's stderr or a URL).
fn generic(state: &UpstreamState) -> &'static str {
    match state {
        UpstreamState::Connecting => "it is still connecting",
        UpstreamState::Ready { .. } => "it is ready",
        UpstreamState::Failed { .. } => "it failed (details in baton__status)",
        UpstreamState::Restarting { .. } => "it stopped and is waiting to restart",
        UpstreamState::Quarantined { .. } => "it is quarantined after repeated crashes",
        UpstreamState::Disabled => "it is disabled",
        UpstreamState::NeedsLogin { .. } => "it needs an OAuth sign-in (baton auth login)",
    }
}

fn entry(kind: &str, name: Option<&str>, state: &str, reason: String) -> Value {
    let mut entry = json!({ "kind": kind, "state": state, "reason": reason });
    if let Some(name) = name {
        entry["name"] = json!(name);
    }
    entry
}
