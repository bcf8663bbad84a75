//! Opening a session to a server: the transport its configuration names, the protocol
//! era rmcp detects (with Baton's fallbacks for servers that answer the discover probe
//! late or list only revisions with `initialize`), all within `connect_timeout`.

use std::{sync::Arc, time::Duration};

use baton_core::config::{HttpConfig, HttpProtocol, StdioConfig, TransportConfig};
use rmcp::{
    model::{ErrorCode, ProtocolVersion, RequestMetaObject, ServerJsonRpcMessage},
    service::{ClientInitializeError, ClientLifecycleMode, ClientServiceExt},
};

use crate::lines::direct::{DirectRequests, SharedMeta};

use super::{
    Relay, Session, Upstream, UpstreamClient, UpstreamError, oauth, sse, stdio, streamable,
};

/// A connected session plus the relay its handler uses.
pub struct Connection {
    pub session: Session,
    pub relay: Arc<Relay>,
    pub transport: &'static str,
    /// A stdio server's exit status, once it has ended.
    pub(crate) exit: Option<stdio::ExitWatch>,
    /// A stdio server's requests sent beside rmcp's service loop (`lines::direct`).
    pub(crate) direct: Option<Arc<DirectRequests<ServerJsonRpcMessage>>>,
    /// For a 2026-07-28 server, the client metadata rmcp puts in every request's `_meta`
    /// (revision, client info, capabilities), built once for the direct requests.
    pub(crate) client_context: Option<RequestMetaObject>,
    /// The last `_meta` a direct request to a 2026-07-28 server carried (`client_context`
    /// with the caller's relayed capabilities and log level) and what it was built for:
    /// a session's calls all carry the same, so it is built once and cloned.
    pub(crate) last_meta: std::sync::Mutex<Option<(crate::bridge::MetaFor, Arc<SharedMeta>)>>,
    /// Declared after `session` so the session closes first, then the group is signalled.
    _process_group: Option<stdio::ProcessGroupGuard>,
}

impl Connection {
    /// Whether the server speaks 2026-07-28 or later (no `initialize`, per-request metadata).
    pub fn is_modern(&self) -> bool {
        self.session
            .peer()
            .peer_info()
            .is_some_and(|info| !info.protocol_version.has_initialize())
    }

    /// The `_meta` of a direct request to this (2026-07-28) server: its client context,
    /// then what Baton relays for the caller ([`crate::bridge::upstream_meta`]).
    pub(crate) fn direct_meta(&self, wanted: crate::bridge::MetaFor) -> Arc<SharedMeta> {
        let mut last = self.last_meta.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built_for, meta)) = last.as_ref()
            && *built_for == wanted
        {
            return meta.clone();
        }
        let mut meta = self.client_context.clone().unwrap_or_default();
        meta.extend(wanted.meta());
        let meta = Arc::new(SharedMeta::new(meta));
        *last = Some((wanted, meta.clone()));
        meta
    }

    pub fn protocol(&self) -> String {
        self.session
            .peer()
            .peer_info()
            .map(|info| info.protocol_version.to_string())
            .unwrap_or_else(|| "unknown".to_owned())
    }
}

/// What rmcp adds to each request's `_meta` for a 2026-07-28 server (`None` for a server
/// of the revisions with `initialize`): the revision, Baton's client info and capabilities.
fn client_context(session: &Session) -> Option<RequestMetaObject> {
    let server = session.peer().peer_info()?;
    if server.protocol_version.has_initialize() {
        return None;
    }
    let info = rmcp::ClientHandler::get_info(session.service());
    Some(RequestMetaObject::with_client_context(
        server.protocol_version.clone(),
        info.client_info,
        info.capabilities,
    ))
}

impl Upstream {
    /// Opens a new session to this server (the shared one, or a per-client one).
    pub async fn open_session(&self) -> Result<Connection, UpstreamError> {
        let auto = ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::V_2025_11_25),
        };
        match self.open_with(auto).await {
            // It answered `server/discover` but lists only revisions with `initialize`
            // (e.g. an SDK server narrowed to them): speak the newest of those.
            Err(UpstreamError::LegacyOnly(versions)) => {
                tracing::info!(server = %self.label(), ?versions, "the server supports only revisions with initialize; connecting with it");
                self.open_with(ClientLifecycleMode::Initialize).await
            }
            // Slower to start than the probe's ten seconds, then modern: a new process,
            // asked with `server/discover` alone (bounded by `connect_timeout`).
            Err(UpstreamError::ModernOnly(reason)) => {
                tracing::info!(server = %self.label(), %reason, "the server answered server/discover late and refuses initialize; connecting with server/discover");
                self.open_with(ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                })
                .await
            }
            other => other,
        }
    }

    async fn open_with(&self, lifecycle: ClientLifecycleMode) -> Result<Connection, UpstreamError> {
        let relay = Relay::new(self.name(), self.events.clone());
        let handler = UpstreamClient::new(relay.clone());
        let connect = async {
            match &self.config.transport {
                TransportConfig::Stdio(stdio) => self.open_stdio(handler, lifecycle, stdio).await,
                TransportConfig::Http(http) => self.open_http(handler, lifecycle, http).await,
            }
        };
        let limit = self.config.resilience.connect_timeout;
        match tokio::time::timeout(limit, connect).await {
            Ok(Ok(opened)) => {
                let (process_group, exit, direct) = match opened.process {
                    Some(process) => (process.guard, Some(process.exit), Some(process.direct)),
                    None => (None, None, None),
                };
                Ok(Connection {
                    client_context: client_context(&opened.session),
                    last_meta: Default::default(),
                    session: opened.session,
                    relay,
                    transport: opened.transport,
                    exit,
                    direct,
                    _process_group: process_group,
                })
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(UpstreamError::Timeout(limit, self.stderr_hint())),
        }
    }

    /// Starts the process and speaks MCP with it on its stdin and stdout.
    async fn open_stdio(
        &self,
        handler: UpstreamClient,
        lifecycle: ClientLifecycleMode,
        stdio: &StdioConfig,
    ) -> Result<Opened, UpstreamError> {
        let process = stdio::spawn(
            &self.label(),
            stdio,
            self.stderr_tail.clone(),
            self.config.resilience.max_message_bytes,
        )
        .map_err(|error| UpstreamError::Spawn {
            command: stdio.command.clone(),
            reason: error.to_string(),
        })?;
        let auto = matches!(lifecycle, ClientLifecycleMode::Auto { .. });
        let (exit, direct) = (process.exit.clone(), process.direct.clone());
        match handler
            .serve_with_lifecycle(process.transport, lifecycle)
            .await
        {
            Ok(session) => Ok(Opened {
                session,
                transport: "stdio",
                process: Some(Process {
                    guard: process.guard,
                    exit,
                    direct,
                }),
            }),
            Err(error) => {
                if let Some(legacy) = legacy_only(&error) {
                    return Err(legacy);
                }
                if let ClientInitializeError::JsonRpcError(refused) = &error
                    && refused.code == ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
                    && auto
                {
                    return Err(UpstreamError::ModernOnly(refused.message.to_string()));
                }
                // The process is gone or going: let its exit status and last stderr lines
                // in, they usually say why.
                let status = stdio::exit_status(&exit, Duration::from_secs(2)).await;
                if let Some(reader) = process.stderr_reader {
                    let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
                }
                let reason = match status {
                    Some(status) => format!("{error} (the process ended: {status})"),
                    None => error.to_string(),
                };
                Err(self.handshake(reason))
            }
        }
    }

    /// Streamable HTTP (signed in when the server needs OAuth), else — `protocol: auto` —
    /// the legacy SSE transport.
    async fn open_http(
        &self,
        handler: UpstreamClient,
        lifecycle: ClientLifecycleMode,
        http: &HttpConfig,
    ) -> Result<Opened, UpstreamError> {
        if http.protocol != HttpProtocol::Sse {
            let recovery = streamable::Recovery {
                server: self.label(),
                counter: self.recoveries.clone(),
                events: self.events.clone(),
            };
            let client = streamable::session_aware(self.http.client(), recovery);
            let max = self.config.resilience.max_message_bytes;
            let served = match oauth::settings_for(self.name(), http).await {
                None => {
                    let transport = streamable::transport(client, &http.url, &http.headers, max);
                    handler
                        .clone()
                        .serve_with_lifecycle(transport, lifecycle.clone())
                        .await
                }
                Some(settings) => {
                    let client = oauth::signed_in(self.name(), http, &settings, client).await?;
                    let transport = streamable::transport(client, &http.url, &http.headers, max);
                    handler
                        .clone()
                        .serve_with_lifecycle(transport, lifecycle.clone())
                        .await
                }
            };
            match served {
                Ok(session) => {
                    return Ok(Opened {
                        session,
                        transport: "streamable-http",
                        process: None,
                    });
                }
                Err(ref error) if let Some(challenge) = error.auth_challenge() => {
                    return Err(UpstreamError::NeedsLogin(
                        crate::oauth::needs_login_message(
                            self.name(),
                            &oauth::challenge_reason(challenge),
                        ),
                    ));
                }
                Err(error) if let Some(legacy) = legacy_only(&error) => {
                    tracing::debug!(server = %self.label(), %error, "discover found only legacy revisions");
                    return Err(legacy);
                }
                Err(error) if http.protocol == HttpProtocol::StreamableHttp => {
                    return Err(UpstreamError::Connect {
                        url: http.url.clone(),
                        reason: error.to_string(),
                    });
                }
                Err(error) => {
                    tracing::info!(server = %self.name(), %error, "streamable HTTP failed; trying the legacy SSE transport");
                }
            }
        }
        let transport = sse::SseClientTransport::connect(
            self.http.client(),
            &http.url,
            &http.headers,
            self.name(),
            self.config.resilience.max_message_bytes,
        )
        .await
        .map_err(|error| UpstreamError::Connect {
            url: http.url.clone(),
            reason: error.to_string(),
        })?;
        let session = handler
            .serve_with_lifecycle(transport, lifecycle)
            .await
            .map_err(|error| self.handshake(error.to_string()))?;
        Ok(Opened {
            session,
            transport: "sse",
            process: None,
        })
    }

    /// The server's last stderr lines, for an error message (empty when there are none).
    fn stderr_hint(&self) -> String {
        let tail = self.stderr_tail();
        if tail.is_empty() {
            String::new()
        } else {
            format!("; stderr: {}", tail.join(" | "))
        }
    }

    fn handshake(&self, reason: String) -> UpstreamError {
        UpstreamError::Handshake {
            reason,
            stderr: self.stderr_hint(),
        }
    }
}

/// A session just opened, and the process behind it (stdio).
struct Opened {
    session: Session,
    transport: &'static str,
    process: Option<Process>,
}

/// What a stdio connection keeps of its process.
struct Process {
    guard: Option<stdio::ProcessGroupGuard>,
    exit: stdio::ExitWatch,
    direct: Arc<DirectRequests<ServerJsonRpcMessage>>,
}

/// The server answered `server/discover` but lists only revisions with `initialize`.
fn legacy_only(error: &ClientInitializeError) -> Option<UpstreamError> {
    match error {
        ClientInitializeError::NoCompatibleProtocolVersion {
            server_supported, ..
        } if server_supported.iter().any(ProtocolVersion::has_initialize) => {
            Some(UpstreamError::LegacyOnly(server_supported.clone()))
        }
        _ => None,
    }
}
