//! Schedules and events as MCP tools (`baton__get_schedule_status`,
//! `baton__manage_schedules`, `baton__list_events`), the gateway's health events fed into
//! the event stream, and `POST /hooks/<name>` for webhook triggers.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use baton_automation::{Automation, EventBus, fields, manage, webhook::HookError};
use baton_core::schedule::{EventKind, ScheduleSpec};
use rmcp::model::{CallToolResult, JsonObject, Tool};

use crate::builtin::{Effect, answer, tool};
use serde_json::{Value, json};

use crate::gateway::{Gateway, GatewayEvent};

pub const GET_SCHEDULE_STATUS: &str = "get_schedule_status";
pub const MANAGE_SCHEDULES: &str = "manage_schedules";
pub const LIST_EVENTS: &str = "list_events";

pub fn is_tool(name: &str) -> bool {
    matches!(name, GET_SCHEDULE_STATUS | MANAGE_SCHEDULES | LIST_EVENTS)
}

pub fn tools(separator: &str) -> Vec<Tool> {
    let spec = json!({
        "type": "object",
        "description": "The schedule, as in baton.yaml: one of every/cron/at, one target (workflow+inputs, tool+args, mode+task), policies.",
        "properties": {
            "description": {"type": "string"},
            "every": {"type": "string", "description": "Interval, e.g. 10m."},
            "cron": {"type": "string", "description": "Cron pattern, e.g. */10 8-18 * * 1-5."},
            "at": {"type": "string", "description": "One-shot time (RFC 3339, or local in timezone)."},
            "timezone": {"type": "string"},
            "days": {"type": "array", "items": {"type": "string"}},
            "start": {"type": "string"},
            "until": {"type": "string"},
            "jitter": {"type": "string"},
            "workflow": {"type": "string"},
            "inputs": {"type": "object"},
            "tool": {"type": "string"},
            "args": {"type": "object"},
            "mode": {"type": "string"},
            "task": {"type": "string"},
            "overlap": {"type": "string", "enum": ["skip", "buffer_one", "buffer_all", "cancel_other", "allow_all"]},
            "catch_up": {"type": "string", "enum": ["none", "latest", "all"]},
            "catch_up_window": {"type": "string"},
            "pause_on_failure": {"type": "boolean"},
            "paused": {"type": "boolean"}
        },
        "additionalProperties": false
    });
    vec![
        tool(
            separator,
            GET_SCHEDULE_STATUS,
            "Baton's schedules: timing, target, overlap and catch-up policies, paused or not, last fire, last run and its result, next fire, skipped and missed slots. `name` for one schedule.",
            json!({
                "type": "object",
                "properties": {"name": {"type": "string", "description": "Only this schedule."}},
                "additionalProperties": false
            }),
            Effect::Read,
        ),
        tool(
            separator,
            MANAGE_SCHEDULES,
            "Adds, pauses, resumes, deletes or triggers (runs now, through its overlap policy) a schedule. Schedules declared in baton.yaml can be paused, resumed and triggered, not deleted.",
            json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["add", "pause", "resume", "delete", "trigger"]},
                    "name": {"type": "string"},
                    "schedule": spec
                },
                "required": ["action", "name"],
                "additionalProperties": false
            }),
            Effect::Destructive { idempotent: false },
        ),
        tool(
            separator,
            LIST_EVENTS,
            "Baton's recorded events (run started/completed/failed, step failed, server up/down/quarantined, circuit opened/closed, schedule fired/skipped, config reloaded, webhook received, file changed, trigger fired), oldest first. Without `after`, the newest `limit`.",
            json!({
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": EventKind::ALL.map(EventKind::as_str)},
                    "after": {"type": "integer", "description": "Only events with a larger id (paging)."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}
                },
                "additionalProperties": false
            }),
            Effect::Read,
        ),
    ]
}

pub async fn call(automation: &Automation, name: &str, arguments: JsonObject) -> CallToolResult {
    let text = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let result = match name {
        GET_SCHEDULE_STATUS => match text("name") {
            Some(name) => manage::status(&automation.store, &name).await,
            None => manage::list(&automation.store)
                .await
                .map(|list| json!({ "schedules": list })),
        },
        MANAGE_SCHEDULES => manage_schedules(automation, &arguments).await,
        LIST_EVENTS => list_events(automation, &arguments).await,
        other => Err(format!("unknown tool {other}")),
    };
    answer(result)
}

async fn manage_schedules(
    automation: &Automation,
    arguments: &JsonObject,
) -> Result<Value, String> {
    let name = arguments
        .get("name")
        .and_then(Value::as_str)
        .ok_or("name is required")?;
    let store = &automation.store;
    let result = match arguments.get("action").and_then(Value::as_str) {
        Some("add") => {
            let spec: ScheduleSpec = serde_json::from_value(
                arguments
                    .get("schedule")
                    .cloned()
                    .ok_or("add needs schedule: {...}")?,
            )
            .map_err(|error| format!("schedule: {error}"))?;
            manage::add(store, &automation.config(), name, &spec).await
        }
        Some("pause") => manage::set_paused(store, name, true).await,
        Some("resume") => manage::set_paused(store, name, false).await,
        Some("delete") => manage::delete(store, name).await,
        Some("trigger") => {
            automation.scheduler.refresh();
            let schedule = match automation.scheduler.schedule(name) {
                Some(schedule) => schedule,
                None => {
                    let row = store
                        .schedule(name)
                        .await
                        .map_err(|error| error.to_string())?
                        .ok_or_else(|| manage::no_schedule(name))?;
                    let spec: ScheduleSpec =
                        serde_json::from_value(row.spec).map_err(|error| error.to_string())?;
                    Arc::new(
                        spec.compile(name)
                            .map_err(|_| format!("schedule \"{name}\" is invalid"))?,
                    )
                }
            };
            automation
                .scheduler
                .firing()
                .trigger_now(&schedule)
                .await
                .map(|outcome| baton_automation::firing::outcome_json(&outcome))
        }
        Some(other) => Err(format!(
            "unknown action \"{other}\": use add, pause, resume, delete or trigger"
        )),
        None => Err("action is required (add, pause, resume, delete or trigger)".to_owned()),
    };
    automation.scheduler.refresh();
    result
}

async fn list_events(automation: &Automation, arguments: &JsonObject) -> Result<Value, String> {
    let kind = arguments.get("type").and_then(Value::as_str);
    if let Some(kind) = kind
        && EventKind::parse(kind).is_none()
    {
        return Err(format!(
            "unknown event type \"{kind}\": use one of {}",
            EventKind::names()
        ));
    }
    let limit = arguments
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(50)
        .clamp(1, 1000) as u32;
    let after = arguments.get("after").and_then(Value::as_i64);
    let rows = automation
        .store
        .events(kind, after.unwrap_or(0), limit, after.is_none())
        .await
        .map_err(|error| error.to_string())?;
    let events: Vec<Value> = rows
        .into_iter()
        .filter_map(baton_automation::Event::from_row)
        .map(|event| event.to_json())
        .collect();
    Ok(json!({ "events": events }))
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
                GatewayEvent::Restarting { .. } | GatewayEvent::BreakerHalfOpen { .. } => continue,
            };
            bus.emit(kind, data);
        }
    });
}

/// `POST /hooks/<name>`: 202 when accepted; 404 for an unknown hook, 401 for a missing or
/// wrong secret, 413 for a body over the hook's limit — each logged, none runs anything.
pub async fn webhook(
    State(gateway): State<Arc<Gateway>>,
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
    let Some(automation) = gateway.automation() else {
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
