//! Waiting for a server that is coming up: a call to a server still connecting (or about
//! to restart) waits at most its `connect_wait`, then fails with the server's state.

use std::time::Duration;

use super::{Upstream, UpstreamState};

impl Upstream {
    /// Whether the server is on its way up: connecting, or waiting to restart.
    pub fn is_coming_up(&self) -> bool {
        coming_up(&self.state())
    }

    /// Why requests cannot reach the server; for one on its way up, how long a call waited.
    pub fn unavailable_reason(&self) -> String {
        let state = self.state();
        let reason = state.unavailable_reason();
        if coming_up(&state) {
            let wait = self.config.resilience.connect_wait;
            format!("{reason} (waited {wait:?}, resilience.connect_wait)")
        } else {
            reason
        }
    }

    /// Waits at most `limit` while the server is coming up; true when it is ready. A
    /// remote server waiting to reconnect is tried at once.
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        if matches!(self.state(), UpstreamState::Restarting { .. })
            && !matches!(
                self.config.transport,
                baton_core::config::TransportConfig::Stdio(_)
            )
        {
            self.reconnect_now.notify_one();
        }
        let mut states = self.state.subscribe();
        let wait = states.wait_for(|state| !coming_up(state));
        let _ = tokio::time::timeout(limit, wait).await;
        matches!(self.state(), UpstreamState::Ready { .. })
    }
}

fn coming_up(state: &UpstreamState) -> bool {
    matches!(
        state,
        UpstreamState::Connecting | UpstreamState::Restarting { .. }
    )
}
