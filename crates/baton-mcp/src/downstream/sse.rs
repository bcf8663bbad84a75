//! The legacy HTTP+SSE server transport (protocol 2024-11-05), which rmcp does not ship:
//! `GET /sse` opens a session whose first event, `endpoint`, names
//! `/message?sessionId=…`; the client POSTs JSON-RPC there (202 Accepted) and every
//! answer arrives as a `message` event on the stream.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Query, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::StreamExt;
use rmcp::{
    RoleServer, ServiceExt,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    transport::Transport,
};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::DownstreamSession;
use crate::gateway::Gateway;

/// Open sessions: where their messages go, and who opened them (with `serve.auth`).
type Open = Arc<
    Mutex<
        HashMap<
            String,
            (
                mpsc::Sender<RxJsonRpcMessage<RoleServer>>,
                Option<super::auth::Principal>,
            ),
        >,
    >,
>;

#[derive(Clone)]
struct SseState {
    gateway: Arc<Gateway>,
    sessions: Open,
    shutdown: CancellationToken,
    /// The session caps (a stream takes its slot when it opens).
    caps: Arc<super::sessions::Sessions>,
    /// For the callers' call budgets.
    auth: Option<Arc<super::auth::Authenticator>>,
    /// The 2025-11-25 tasks shim, both ways.
    legacy_tasks: Arc<super::legacy_tasks::LegacyTasks>,
}

pub fn router(
    gateway: Arc<Gateway>,
    shutdown: CancellationToken,
    caps: Arc<super::sessions::Sessions>,
    auth: Option<Arc<super::auth::Authenticator>>,
) -> Router {
    let state = SseState {
        legacy_tasks: super::legacy_tasks::LegacyTasks::new(&gateway),
        gateway,
        sessions: Arc::default(),
        shutdown,
        caps,
        auth,
    };
    Router::new()
        .route("/sse", get(open_stream))
        .route("/message", post(post_message))
        .with_state(state)
}

/// Removes the session when the client's event stream goes away.
struct SessionGuard {
    id: String,
    sessions: Open,
    cancel: CancellationToken,
    /// Its place under the session caps, freed with it.
    _slot: Option<super::sessions::SessionSlot>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        self.cancel.cancel();
        tracing::debug!(session = %self.id, "SSE client left");
    }
}

async fn open_stream(
    State(state): State<SseState>,
    principal: Option<axum::Extension<super::auth::Principal>>,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
) -> Response {
    let principal = principal.map(|axum::Extension(principal)| principal);
    let who = principal.as_ref().map(|p| p.name.as_str());
    let address = client.map(|axum::Extension(info)| info.0.ip());
    let slot = match state
        .caps
        .admit(who, address, super::sessions::Transport::Sse)
    {
        Ok(slot) => Some(slot),
        Err(refused) => return super::http::too_many_sessions(who, refused),
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (to_server, from_client) = mpsc::channel(64);
    let (to_client, from_server) = mpsc::channel(64);
    state
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.clone(), (to_server, principal.clone()));
    let cancel = state.shutdown.child_token();
    let transport = ChannelTransport {
        incoming: from_client,
        outgoing: to_client,
    };
    let gateway = state.gateway.clone();
    let session_cancel = cancel.clone();
    let session_id = id.clone();
    tokio::spawn(async move {
        let session = DownstreamSession::for_principal(gateway, principal);
        let service = match session.serve(transport).await {
            Ok(service) => service,
            Err(error) => {
                tracing::info!(session = %session_id, %error, "SSE client did not complete initialize");
                return;
            }
        };
        let service_cancel = service.cancellation_token();
        tokio::select! {
            _ = service.waiting() => {}
            _ = session_cancel.cancelled() => service_cancel.cancel(),
        }
    });
    let guard = SessionGuard {
        id: id.clone(),
        sessions: state.sessions.clone(),
        cancel,
        _slot: slot,
    };
    let endpoint = futures::stream::once(async move {
        Ok::<_, Infallible>(
            Event::default()
                .event("endpoint")
                .data(format!("/message?sessionId={id}")),
        )
    });
    let shim = state.legacy_tasks.clone();
    let messages = ReceiverStream::new(from_server).map(move |mut message| {
        let _keep = &guard;
        shim.outbound(&mut message);
        let data = serde_json::to_string(&message).unwrap_or_default();
        Ok(Event::default().event("message").data(data))
    });
    Sse::new(endpoint.chain(messages))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[derive(Deserialize)]
struct MessageQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

async fn post_message(
    State(state): State<SseState>,
    Query(query): Query<MessageQuery>,
    principal: Option<axum::Extension<super::auth::Principal>>,
    body: Bytes,
) -> Response {
    let Some(session_id) = query.session_id else {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            crate::error::INVALID_REQUEST,
            "missing sessionId query parameter: open GET /sse first and POST to the endpoint it announces",
        );
    };
    let sender = state
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&session_id)
        .cloned();
    let Some((sender, opener)) = sender else {
        return jsonrpc_error(
            StatusCode::NOT_FOUND,
            crate::error::INVALID_REQUEST,
            &format!(
                "unknown SSE session \"{session_id}\": it ended or never existed; reconnect to /sse"
            ),
        );
    };
    // A session is used by whoever opened it, no one else.
    let principal = principal.map(|axum::Extension(principal)| principal);
    if principal != opener {
        return jsonrpc_error(
            StatusCode::FORBIDDEN,
            crate::error::INVALID_REQUEST,
            "this SSE session was opened with other credentials",
        );
    }
    if let (Some(auth), Some(principal)) = (&state.auth, &principal)
        && let Some(refused) =
            super::http::over_budget(auth, &principal.name, &body, &state.gateway)
    {
        return refused;
    }
    crate::metrics::request(
        super::http::method_of(&body).as_deref().unwrap_or("other"),
        "sse",
    );
    // A 2025-11-25 task request rmcp cannot parse is renamed for the handler.
    let renamed = state.legacy_tasks.inbound(&body);
    let body = renamed.as_deref().unwrap_or(&body);
    let message: RxJsonRpcMessage<RoleServer> = match serde_json::from_slice(body) {
        Ok(message) => message,
        Err(error) => {
            let code = if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
                crate::error::INVALID_REQUEST
            } else {
                crate::error::PARSE_ERROR
            };
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                code,
                &format!("not a valid JSON-RPC message: {error}"),
            );
        }
    };
    if sender.send(message).await.is_err() {
        return jsonrpc_error(
            StatusCode::GONE,
            crate::error::INVALID_REQUEST,
            "the SSE session has ended; reconnect to /sse",
        );
    }
    StatusCode::ACCEPTED.into_response()
}

fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    crate::error::http_error(status, code, message)
}

/// rmcp's server side over two channels.
struct ChannelTransport {
    incoming: mpsc::Receiver<RxJsonRpcMessage<RoleServer>>,
    outgoing: mpsc::Sender<TxJsonRpcMessage<RoleServer>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the SSE client disconnected")]
struct Disconnected;

impl Transport<RoleServer> for ChannelTransport {
    type Error = Disconnected;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outgoing = self.outgoing.clone();
        async move { outgoing.send(item).await.map_err(|_| Disconnected) }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleServer>>> + Send {
        self.incoming.recv()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.incoming.close();
        std::future::ready(Ok(()))
    }
}
