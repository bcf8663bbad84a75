//! What the application adds around the gateway for schedules and triggers: the gateway's
//! health events fed into the event stream, and `POST /hooks/<name>` for webhook triggers
//! (served outside the MCP endpoints' Host/Origin guard: a hook proves itself with its
//! secret).

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use baton_automation::{EventBus, fields, webhook::HookError};
use baton_core::schedule::EventKind;
use baton_mcp::GatewayEvent;
use serde_json::{Value, json};

use crate::Services;

/// The webhook routes.
pub fn router(services: Arc<Services>) -> Router {
    Router::new()
        .route("/hooks/{name}", axum::routing::post(webhook))
        .with_state(services)
}

/// Feeds the gateway's health events (from `events`, a [`Gateway::subscribe_events`]
/// receiver taken right after start so that no early event is missed) into the stream.
pub fn forward_gateway_events(
    mut events: tokio::sync::broadcast::Receiver<GatewayEvent>,
    bus: Arc<EventBus>,
) {
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            let (kind, data) = match event {
                GatewayEvent::ServerUp { server } => {
                    (EventKind::ServerUp, fields([("server", server.into())]))
                }
                GatewayEvent::ServerDown { server, error } => (
                    EventKind::ServerDown,
                    fields([("server", server.into()), ("error", error.into())]),
                ),
                GatewayEvent::Quarantined { server, crashes } => (
                    EventKind::ServerQuarantined,
                    fields([("server", server.into()), ("crashes", crashes.into())]),
                ),
                GatewayEvent::BreakerOpened {
                    server,
                    tool,
                    failures,
                } => (
                    EventKind::CircuitOpened,
                    fields([
                        ("server", server.into()),
                        ("tool", tool.map_or(Value::Null, Value::String)),
                        ("failures", failures.into()),
                    ]),
                ),
                GatewayEvent::BreakerClosed { server, tool } => (
                    EventKind::CircuitClosed,
                    fields([
                        ("server", server.into()),
                        ("tool", tool.map_or(Value::Null, Value::String)),
                    ]),
                ),
                GatewayEvent::SessionRecovered { server } => (
                    EventKind::SessionRecovered,
                    fields([("server", server.into())]),
                ),
                GatewayEvent::PoolScaled {
                    server,
                    replica,
                    replicas,
                    added,
                } => (
                    EventKind::PoolScaled,
                    fields([
                        ("server", server.into()),
                        ("replica", replica.into()),
                        ("replicas", replicas.into()),
                        ("direction", if added { "out" } else { "in" }.into()),
                    ]),
                ),
                GatewayEvent::Restarting { .. } | GatewayEvent::BreakerHalfOpen { .. } => continue,
            };
            bus.emit(kind, data);
        }
    });
}

/// `POST /hooks/<name>`: 202 when accepted; 404 for an unknown hook, 401 for a missing or
/// wrong secret, 413 for a body over the hook's limit — each logged, none runs anything.
pub async fn webhook(
    State(services): State<Arc<Services>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let refuse = |status: StatusCode, message: String| {
        tracing::warn!(
            hook = name,
            status = status.as_u16(),
            "webhook refused: {message}"
        );
        (status, axum::Json(json!({ "error": message }))).into_response()
    };
    let Some(automation) = &services.automation else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no webhook named \"{name}\""),
        );
    };
    let Some(limit) = automation.triggers.hook_limit(&name) else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no webhook named \"{name}\""),
        );
    };
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the hook's limit of {limit} bytes"),
        );
    };
    let header = |key: &str| {
        headers
            .get(key)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    match automation.triggers.receive_webhook(&name, &header, &bytes) {
        Ok(()) => {
            tracing::info!(hook = name, bytes = bytes.len(), "webhook received");
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({ "accepted": true })),
            )
                .into_response()
        }
        Err(error @ HookError::NotFound(_)) => refuse(StatusCode::NOT_FOUND, error.to_string()),
        Err(error @ HookError::Unauthorized(_)) => {
            refuse(StatusCode::UNAUTHORIZED, error.to_string())
        }
        Err(error @ HookError::TooLarge(_)) => {
            refuse(StatusCode::PAYLOAD_TOO_LARGE, error.to_string())
        }
    }
}
