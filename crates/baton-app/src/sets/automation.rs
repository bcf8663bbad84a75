//! Schedules and events as MCP tools: `baton__get_schedule_status`,
//! `baton__manage_schedules`, `baton__list_events`. Always listed: they work on the store
//! (an agent can create the first schedule of a fresh configuration); a running `baton
//! serve`'s scheduler picks changes up at once, another process's within a second.

use std::sync::Arc;

use baton_automation::{Firing, manage};
use baton_core::{
    modes::ToolGroup,
    schedule::{EventKind, ScheduleSpec},
};
use baton_mcp::{ToolContext, ToolSet};
use futures::future::BoxFuture;
use rmcp::{
    ErrorData,
    model::{CallToolResult, JsonObject, Tool},
};
use serde_json::{Value, json};

use super::{Effect, boxed, tool};
use crate::Services;

/// Schedules and the event stream.
#[derive(Debug)]
pub struct AutomationSet(pub Arc<Services>);

impl ToolSet for AutomationSet {
    fn tools(&self, separator: &str) -> Vec<Tool> {
        tools(separator)
    }

    fn group(&self, name: &str) -> Option<ToolGroup> {
        Some(match name {
            MANAGE_SCHEDULES => ToolGroup::Command,
            _ => ToolGroup::Read,
        })
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<CallToolResult, ErrorData>> {
        let config = context.gateway.config();
        boxed(async move { call(&self.0, &config, name, arguments).await })
    }
}

pub const GET_SCHEDULE_STATUS: &str = "get_schedule_status";
pub const MANAGE_SCHEDULES: &str = "manage_schedules";
pub const LIST_EVENTS: &str = "list_events";

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

async fn call(
    services: &Services,
    config: &baton_core::Config,
    name: &str,
    arguments: JsonObject,
) -> Result<Value, String> {
    let store = services.store()?;
    let text = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match name {
        GET_SCHEDULE_STATUS => match text("name") {
            Some(name) => manage::status(store, &name).await,
            None => manage::list(store)
                .await
                .map(|list| json!({ "schedules": list })),
        },
        MANAGE_SCHEDULES => manage_schedules(services, config, &arguments).await,
        LIST_EVENTS => list_events(store, &arguments).await,
        other => Err(format!("unknown tool {other}")),
    }
}

async fn manage_schedules(
    services: &Services,
    config: &baton_core::Config,
    arguments: &JsonObject,
) -> Result<Value, String> {
    let name = arguments
        .get("name")
        .and_then(Value::as_str)
        .ok_or("name is required")?;
    let store = services.store()?;
    let scheduler = services.automation.as_ref().map(|a| &a.scheduler);
    let result = match arguments.get("action").and_then(Value::as_str) {
        Some("add") => {
            let spec: ScheduleSpec = serde_json::from_value(
                arguments
                    .get("schedule")
                    .cloned()
                    .ok_or("add needs schedule: {...}")?,
            )
            .map_err(|error| format!("schedule: {error}"))?;
            manage::add(store, config, name, &spec).await
        }
        Some("pause") => manage::set_paused(store, name, true).await,
        Some("resume") => manage::set_paused(store, name, false).await,
        Some("delete") => manage::delete(store, name).await,
        Some("trigger") => {
            if let Some(scheduler) = scheduler {
                scheduler.refresh();
            }
            let schedule = match scheduler.and_then(|scheduler| scheduler.schedule(name)) {
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
            let firing = match scheduler {
                Some(scheduler) => scheduler.firing().clone(),
                // A one-shot command: fire it here, as `baton schedule trigger` does.
                None => Arc::new(Firing {
                    store: store.clone(),
                    engine: services.engine()?.clone(),
                    bus: services.bus()?.clone(),
                    owner: services.engine()?.owner().to_owned(),
                    separator: config.namespace.separator.clone(),
                    clock: baton_automation::Clock::system(),
                }),
            };
            firing
                .trigger_now(&schedule)
                .await
                .map(|outcome| baton_automation::firing::outcome_json(&outcome))
        }
        Some(other) => Err(format!(
            "unknown action \"{other}\": use add, pause, resume, delete or trigger"
        )),
        None => Err("action is required (add, pause, resume, delete or trigger)".to_owned()),
    };
    if let Some(scheduler) = scheduler {
        scheduler.refresh();
    }
    result
}

async fn list_events(store: &baton_store::Store, arguments: &JsonObject) -> Result<Value, String> {
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
    let rows = store
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
