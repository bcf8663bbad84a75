//! Supervision of an upstream's shared session: notice when it goes away, and restart a
//! stdio server (or reconnect to a remote one: a redeploy, a dropped SSE stream) with
//! exponential backoff and jitter, quarantining one that keeps failing (the policy itself
//! is baton-resilience's `Supervisor`).

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use baton_core::config::{RestartSettings, TransportConfig};
use baton_resilience::{Decision, RestartPolicy, Supervisor};

use super::{Upstream, UpstreamEvent, UpstreamState};

/// How often the shared session is checked for having closed.
const CLOSURE_POLL: Duration = Duration::from_millis(250);
/// How long to wait for a stopped server's exit status before reporting without it.
const EXIT_WAIT: Duration = Duration::from_secs(1);

impl Upstream {
    /// Runs for the gateway's lifetime after the first [`Upstream::start`] (`ready` is its
    /// outcome).
    pub async fn supervise(self: Arc<Self>, mut ready: bool) {
        let remote = !matches!(self.config.transport, TransportConfig::Stdio(_));
        let mut supervisor = Supervisor::new(policy(&self.config.resilience.restart));
        loop {
            if ready {
                let exit = self.wait_for_closure().await;
                if self.is_stopping() {
                    return;
                }
                let status = match &exit {
                    Some(exit) => super::stdio::exit_status(exit, EXIT_WAIT).await,
                    None => None,
                };
                let tail = self.stderr_tail();
                let details: Vec<String> = status
                    .into_iter()
                    .chain(tail.last().map(|line| format!("last stderr: {line}")))
                    .collect();
                let error = if details.is_empty() {
                    "the server stopped".to_owned()
                } else {
                    format!("the server stopped ({})", details.join("; "))
                };
                tracing::warn!(server = %self.name(), %error, "upstream went away");
                self.set_state(UpstreamState::Failed { error });
                *self.shared.write().await = None;
                let _ = self.events.send(UpstreamEvent::Closed {
                    server: self.name().to_owned(),
                });
            }
            if self.config.disabled || self.is_stopping() {
                return;
            }
            if matches!(self.state(), UpstreamState::NeedsLogin { .. }) {
                // No reconnect loop: nothing changes until someone signs in.
                self.wait_for_login().await;
                if self.is_stopping() {
                    return;
                }
                ready = self.start().await;
                if ready {
                    supervisor.reset();
                    let _ = self.events.send(UpstreamEvent::Up {
                        server: self.name().to_owned(),
                    });
                }
                continue;
            }
            let error = self.state().error().unwrap_or("stopped").to_owned();
            let up_since = *self.up_since.lock().unwrap_or_else(|p| p.into_inner());
            let (wait, quarantined) = match supervisor.on_exit(std::time::Instant::now(), up_since)
            {
                Decision::Restart { after, attempt } => {
                    if remote {
                        tracing::info!(server = %self.name(), attempt, delay = ?after, "reconnecting to upstream");
                    } else {
                        tracing::info!(server = %self.name(), attempt, delay = ?after, "restarting upstream");
                    }
                    self.set_state(UpstreamState::Restarting {
                        error,
                        attempt,
                        next_in: after,
                    });
                    let _ = self.events.send(UpstreamEvent::Restarting {
                        server: self.name().to_owned(),
                        attempt,
                        after,
                    });
                    (after, false)
                }
                Decision::Quarantine {
                    retry_after,
                    crashes,
                } => {
                    tracing::error!(server = %self.name(), crashes, retry_in = ?retry_after, "upstream quarantined: it keeps crashing");
                    self.set_state(UpstreamState::Quarantined {
                        error,
                        crashes,
                        retry_in: retry_after,
                    });
                    let _ = self.events.send(UpstreamEvent::Quarantined {
                        server: self.name().to_owned(),
                        crashes,
                    });
                    (retry_after, true)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.restart_requested.notified() => {
                    tracing::info!(server = %self.name(), "restart requested");
                    supervisor.reset();
                }
                // A call waits for a remote server: reconnecting costs one request, and a
                // redeployed server is usually back by now.
                _ = self.reconnect_now.notified(), if remote && !quarantined => {}
            }
            if quarantined {
                supervisor.reset();
            }
            if self.is_stopping() {
                return;
            }
            *self.up_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.restarts.fetch_add(1, Ordering::Relaxed);
            let was_up = up_since.is_some();
            ready = self.start().await;
            if ready {
                if remote && was_up {
                    // A remote server that dropped Baton's stream (a legacy SSE server
                    // restarted): the session is new.
                    self.recoveries.fetch_add(1, Ordering::Relaxed);
                    let _ = self.events.send(UpstreamEvent::SessionRecovered {
                        server: self.name().to_owned(),
                    });
                }
                let _ = self.events.send(UpstreamEvent::Up {
                    server: self.name().to_owned(),
                });
            }
        }
    }

    /// Returns once `baton auth login` stored new credentials for this server (another
    /// process may have: the store is looked at every [`LOGIN_POLL`]), a restart is asked
    /// for, or Baton stops.
    async fn wait_for_login(&self) {
        let before = super::oauth::credentials_stamp(self.name()).await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(LOGIN_POLL) => {}
                _ = self.restart_requested.notified() => return,
            }
            if self.is_stopping() || super::oauth::credentials_stamp(self.name()).await != before {
                return;
            }
        }
    }

    /// Shut down ([`Upstream::shutdown`]): Baton stops, or a reload removed or replaced it.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Returns when the shared session's transport has closed (or there is none), with
    /// the watch on its process's exit (stdio).
    async fn wait_for_closure(&self) -> Option<super::stdio::ExitWatch> {
        let connection = self.shared_connection().await?;
        let peer = connection.session.peer().clone();
        let exit = connection.exit.clone();
        let modern = connection.is_modern();
        drop(connection);
        // A remote server is pinged when idle, so one that went away without closing the
        // connection (or between requests of a stateless transport) is noticed.
        let remote = !matches!(self.config.transport, TransportConfig::Stdio(_));
        let ping_every = self.config.resilience.ping_every;
        let mut next_ping = tokio::time::Instant::now() + ping_every;
        while !peer.is_transport_closed() && !self.is_stopping() {
            if remote && !ping_every.is_zero() && tokio::time::Instant::now() >= next_ping {
                next_ping = tokio::time::Instant::now() + ping_every;
                if self.in_flight() == 0
                    && !super::breaker::answers(&peer, modern, ping_every.min(PING_TIMEOUT)).await
                {
                    tracing::warn!(server = %self.name(), "upstream did not answer a ping");
                    return exit;
                }
            }
            // A stdio process that exits wakes this at once; the poll covers the rest.
            let mut exited = exit.clone();
            tokio::select! {
                _ = tokio::time::sleep(CLOSURE_POLL) => {}
                _ = async {
                    match &mut exited {
                        Some(watch) if watch.borrow().is_none() => {
                            let _ = watch.wait_for(Option::is_some).await;
                        }
                        _ => std::future::pending::<()>().await,
                    }
                } => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        exit
    }
}

/// How often a server that needs a sign-in looks for new credentials.
const LOGIN_POLL: Duration = Duration::from_secs(2);

/// How long an idle ping may take at most.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

fn policy(settings: &RestartSettings) -> RestartPolicy {
    RestartPolicy {
        initial_delay: settings.initial_delay,
        max_delay: settings.max_delay,
        crash_window: settings.crash_window,
        max_crashes: settings.max_crashes,
        quarantine_retry: settings.quarantine_retry,
    }
}
