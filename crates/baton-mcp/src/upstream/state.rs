//! An upstream's state: what `baton servers`, `baton__status`, `/readyz` and the dashboard
//! show of it, the words for a call that cannot reach it, and why connecting failed.

use std::time::Duration;

use rmcp::model::ProtocolVersion;

/// Why an upstream could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot start `{command}`: {reason} (is it installed and on PATH?)")]
    Spawn { command: String, reason: String },
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("the MCP handshake failed: {reason}{stderr}")]
    Handshake { reason: String, stderr: String },
    #[error("no answer to the MCP handshake within {0:?}{1}")]
    Timeout(Duration, String),
    #[error("the server supports only protocol revisions with `initialize`: {0:?}")]
    LegacyOnly(Vec<ProtocolVersion>),
    /// A stdio server that refused `initialize` as it serves 2026-07-28: it answered
    /// rmcp's `server/discover` probe only after the probe's time ran out.
    #[error("the server refused `initialize` (it serves 2026-07-28): {0}")]
    ModernOnly(String),
    /// The server wants an OAuth token Baton does not have (see [`crate::oauth`]).
    #[error("{0}")]
    NeedsLogin(String),
}

/// What `baton servers` and `baton__status` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamState {
    Connecting,
    Ready {
        protocol: String,
        transport: String,
    },
    Failed {
        error: String,
    },
    /// A stdio server that stopped, waiting `next_in` before restart number `attempt`.
    Restarting {
        error: String,
        attempt: u32,
        next_in: Duration,
    },
    /// A stdio server that kept crashing: left down, tried again after `retry_in` or when
    /// asked (`baton__status` with `restart`).
    Quarantined {
        error: String,
        crashes: u32,
        retry_in: Duration,
    },
    Disabled,
    /// A remote server that wants an OAuth sign-in Baton cannot do alone (no stored
    /// token, or one it could not refresh): it waits for `baton auth login SERVER`
    /// instead of reconnecting in a loop.
    NeedsLogin {
        error: String,
    },
}

impl UpstreamState {
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamState::Connecting => "connecting",
            UpstreamState::Ready { .. } => "ready",
            UpstreamState::Failed { .. } => "failed",
            UpstreamState::Restarting { .. } => "restarting",
            UpstreamState::Quarantined { .. } => "quarantined",
            UpstreamState::Disabled => "disabled",
            UpstreamState::NeedsLogin { .. } => "needs_login",
        }
    }

    /// Why requests cannot reach the server, in words for an error message.
    pub fn unavailable_reason(&self) -> String {
        match self {
            UpstreamState::Connecting => "it is still starting".to_owned(),
            UpstreamState::Ready { .. } => "its connection is gone".to_owned(),
            UpstreamState::Failed { error } => error.clone(),
            UpstreamState::Restarting {
                error,
                attempt,
                next_in,
            } => format!("{error}; restart {attempt} in {next_in:.1?}"),
            UpstreamState::Quarantined {
                error,
                crashes,
                retry_in,
            } => format!(
                "quarantined after {crashes} crashes ({error}); next try in {retry_in:?}, or now with baton__status {{\"restart\": \"<server>\"}}"
            ),
            UpstreamState::Disabled => "it is disabled in the configuration".to_owned(),
            UpstreamState::NeedsLogin { error } => error.clone(),
        }
    }

    /// Why the server is not serving, when it is not.
    pub fn error(&self) -> Option<&str> {
        match self {
            UpstreamState::Failed { error }
            | UpstreamState::Restarting { error, .. }
            | UpstreamState::Quarantined { error, .. }
            | UpstreamState::NeedsLogin { error } => Some(error),
            _ => None,
        }
    }
}
