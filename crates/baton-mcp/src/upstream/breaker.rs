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
    settings.map(breaker_of)
}

/// The per-tool breakers configured for a server (`resilience.tools.T.breaker`).
pub(super) fn tool_breakers(
    tools: &std::collections::BTreeMap<String, BreakerSettings>,
) -> std::collections::BTreeMap<String, std::sync::Mutex<Breaker>> {
    tools
        .iter()
        .map(|(tool, settings)| (tool.clone(), breaker_of(settings)))
        .collect()
}

fn breaker_of(settings: &BreakerSettings) -> std::sync::Mutex<Breaker> {
    {
        std::sync::Mutex::new(Breaker::new(BreakerPolicy {
            consecutive_failures: settings.failures,
            failure_rate: settings.failure_rate,
            window: settings.window,
            min_calls: settings.min_calls,
            open_for: settings.open_for,
            trial_calls: 1,
        }))
    }
}

impl Upstream {
    /// Closes the server's breaker and its tools' breakers (`error_recovery`
    /// reset_breaker); `false` when it has none.
    pub fn reset_breakers(&self) -> bool {
        let mut any = false;
        if let (Some(breaker), Some(settings)) =
            (&self.breaker, self.config.resilience.breaker.as_ref())
        {
            let fresh = breaker_of(settings)
                .into_inner()
                .unwrap_or_else(|p| p.into_inner());
            *breaker.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
            any = true;
        }
        for (tool, breaker) in &self.tool_breakers {
            if let Some(settings) = self.config.resilience.tool_breakers.get(tool) {
                let fresh = breaker_of(settings)
                    .into_inner()
                    .unwrap_or_else(|p| p.into_inner());
                *breaker.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
                any = true;
            }
        }
        if any {
            tracing::info!(server = self.name(), "circuit breakers reset by request");
        }
        any
    }

    /// May a call start now? `Err` while the breaker is open.
    pub fn breaker_check(&self) -> Result<Permit, Rejected> {
        let Some(breaker) = &self.breaker else {
            return Ok(Permit::Normal);
        };
        let (decision, transition) = breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check(Instant::now());
        self.announce_breaker(None, transition);
        decision
    }

    /// Records whether a call reached the server and got an answer.
    pub fn breaker_record(&self, success: bool) {
        let Some(breaker) = &self.breaker else { return };
        let transition = breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(Instant::now(), success);
        self.announce_breaker(None, transition);
    }

    /// May a call of `tool` (an upstream name) start now, by its own breaker (if any)?
    /// A half-open tool breaker needs no probe: the call itself is the trial.
    pub fn tool_breaker_check(&self, tool: &str) -> Result<Permit, Rejected> {
        let Some(breaker) = self.tool_breakers.get(tool) else {
            return Ok(Permit::Normal);
        };
        let (decision, transition) = breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check(Instant::now());
        self.announce_breaker(Some(tool), transition);
        decision
    }

    /// Gives back `tool`'s trial permit when the call did not start after all.
    pub fn tool_breaker_release(&self, tool: &str, permit: Permit) {
        if let Some(breaker) = self.tool_breakers.get(tool) {
            breaker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .release(permit);
        }
    }

    pub fn tool_breaker_record(&self, tool: &str, success: bool) {
        let Some(breaker) = self.tool_breakers.get(tool) else {
            return;
        };
        let transition = breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(Instant::now(), success);
        self.announce_breaker(Some(tool), transition);
    }

    /// Each per-tool breaker's state, by upstream tool name.
    pub fn tool_breaker_states(&self) -> Vec<(String, BreakerState)> {
        self.tool_breakers
            .iter()
            .map(|(tool, breaker)| {
                let state = breaker.lock().unwrap_or_else(|p| p.into_inner()).state();
                (tool.clone(), state)
            })
            .collect()
    }

    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.breaker
            .as_ref()
            .map(|breaker| breaker.lock().unwrap_or_else(|p| p.into_inner()).state())
    }

    /// A cheap request that says whether the server answers at all.
    pub async fn probe(&self, connection: &Connection) -> bool {
        answers(
            connection.session.peer(),
            connection.is_modern(),
            PROBE_TIMEOUT,
        )
        .await
    }

    fn announce_breaker(&self, tool: Option<&str>, transition: Option<Transition>) {
        let Some(transition) = transition else { return };
        let server = self.label();
        let tool_field = tool.unwrap_or("");
        match transition {
            Transition::Opened { failures } => {
                tracing::warn!(server, tool = tool_field, failures, "circuit opened")
            }
            Transition::HalfOpened => {
                tracing::info!(server, tool = tool_field, "circuit half-open: probing")
            }
            Transition::Closed => tracing::info!(server, tool = tool_field, "circuit closed"),
        }
        let _ = self.events.send(UpstreamEvent::Breaker {
            server: self.name().to_owned(),
            tool: tool.map(str::to_owned),
            transition,
        });
    }
}

/// Whether the server answers an MCP `ping` (`tools/list` for a 2026-07-28 server, which has
/// no ping) within `limit`: the breaker's probe and the idle ping.
pub(super) async fn answers(
    peer: &rmcp::Peer<rmcp::RoleClient>,
    modern: bool,
    limit: std::time::Duration,
) -> bool {
    let request = async {
        if modern {
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
    matches!(tokio::time::timeout(limit, request).await, Ok(Ok(())))
}
