//! The per-server circuit breaker (baton-resilience's `Breaker`) as the upstream uses it:
//! state changes are logged and announced, and a half-open trial is preceded by a cheap
//! probe (`ping` for legacy servers, `tools/list` for 2026-07-28 ones).

use std::time::{Duration, Instant};

use baton_core::config::BreakerSettings;
use baton_resilience::{Breaker, BreakerPolicy, BreakerState, Permit, Rejected, Transition};
use rmcp::model::{ClientRequest, PingRequest};

use super::{Connection, Upstream, UpstreamEvent};

/// How long a half-open probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn new_breaker(settings: Option<&BreakerSettings>) -> Option<std::sync::Mutex<Breaker>> {
    settings.map(|settings| {
        std::sync::Mutex::new(Breaker::new(BreakerPolicy {
            consecutive_failures: settings.failures,
            failure_rate: settings.failure_rate,
            window: settings.window,
            min_calls: settings.min_calls,
            open_for: settings.open_for,
            trial_calls: 1,
        }))
    })
}

impl Upstream {
    /// May a call start now? `Err` while the breaker is open.
    pub fn breaker_check(&self) -> Result<Permit, Rejected> {
        let Some(breaker) = &self.breaker else {
            return Ok(Permit::Normal);
        };
        let (decision, transition) = breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check(Instant::now());
        self.announce_breaker(transition);
        decision
    }

    /// Records whether a call reached the server and got an answer.
    pub fn breaker_record(&self, success: bool) {
        let Some(breaker) = &self.breaker else { return };
        let transition = breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(Instant::now(), success);
        self.announce_breaker(transition);
    }

    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.breaker
            .as_ref()
            .map(|breaker| breaker.lock().unwrap_or_else(|p| p.into_inner()).state())
    }

    /// A cheap request that says whether the server answers at all.
    pub async fn probe(&self, connection: &Connection) -> bool {
        let peer = connection.session.peer();
        let request = async {
            if connection.is_modern() {
                peer.list_tools(None).await.map(drop)
            } else {
                peer.send_request(ClientRequest::PingRequest(PingRequest {
                    method: Default::default(),
                    extensions: Default::default(),
                }))
                .await
                .map(drop)
            }
        };
        matches!(
            tokio::time::timeout(PROBE_TIMEOUT, request).await,
            Ok(Ok(()))
        )
    }

    fn announce_breaker(&self, transition: Option<Transition>) {
        let Some(transition) = transition else { return };
        match transition {
            Transition::Opened { failures } => {
                tracing::warn!(server = %self.name(), failures, "circuit opened")
            }
            Transition::HalfOpened => {
                tracing::info!(server = %self.name(), "circuit half-open: probing")
            }
            Transition::Closed => tracing::info!(server = %self.name(), "circuit closed"),
        }
        let _ = self.events.send(UpstreamEvent::Breaker {
            server: self.name().to_owned(),
            transition,
        });
    }
}
