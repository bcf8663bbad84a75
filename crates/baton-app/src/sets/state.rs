//! Orchestration state as tools: `track_task_time`, `get_time_tracking`,
//! `get_persistent_memory`, `update_persistent_memory`, `get_todo_status`. Backed by the
//! store the application opened at start.

use baton_builtins::{memory, timing, todo};
use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};

use std::sync::Arc;

use baton_core::modes::ToolGroup;
use baton_mcp::{Gateway, ToolContext, ToolSet};
use futures::future::BoxFuture;
use rmcp::{ErrorData, model::CallToolResult};

use super::{Effect, boxed, tool};
use crate::Services;

/// Time tracking, memory and TODO status.
#[derive(Debug)]
pub struct StateSet(pub Arc<Services>);

impl ToolSet for StateSet {
    fn tools(&self, separator: &str) -> Vec<Tool> {
        tools(separator)
    }

    fn group(&self, name: &str) -> Option<ToolGroup> {
        match name {
            // A mode's own bookkeeping.
            TRACK_TASK_TIME | UPDATE_PERSISTENT_MEMORY => None,
            _ => Some(ToolGroup::Read),
        }
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<CallToolResult, ErrorData>> {
        boxed(call(
            &self.0,
            context.gateway,
            name,
            arguments,
            context.mode,
        ))
    }
}

pub const TRACK_TASK_TIME: &str = "track_task_time";
pub const GET_TIME_TRACKING: &str = "get_time_tracking";
pub const GET_PERSISTENT_MEMORY: &str = "get_persistent_memory";
pub const UPDATE_PERSISTENT_MEMORY: &str = "update_persistent_memory";
pub const GET_TODO_STATUS: &str = "get_todo_status";

pub fn tools(separator: &str) -> Vec<Tool> {
    vec![
        tool(
            separator,
            TRACK_TASK_TIME,
            "Starts or stops timing a task. `start` needs task_id, mode and priority (schedule or todo); a second start of an open task, or a stop without a start, is an error. `stop` records the result (completed by default).",
            json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["start", "stop"]},
                    "task_id": {"type": "string", "minLength": 1},
                    "mode": {"type": "string", "description": "The mode doing the task (default: the session's current mode)."},
                    "task": {"type": "string", "description": "What the task is."},
                    "priority": {"type": "string", "enum": ["schedule", "todo"]},
                    "result": {"type": "string", "description": "On stop: completed (default), failed, cancelled or free text."}
                },
                "required": ["action", "task_id"],
                "additionalProperties": false
            }),
            Effect::Write { idempotent: false },
        ),
        tool(
            separator,
            GET_TIME_TRACKING,
            "Timed tasks (tool calls, workflow and scheduled runs), newest first, with totals, open tasks and per-mode and per-priority summaries. Filters: mode, priority, from/to (RFC 3339 or a date), task_id, limit.",
            json!({
                "type": "object",
                "properties": {
                    "mode": {"type": "string"},
                    "priority": {"type": "string", "enum": ["schedule", "todo"]},
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                    "task_id": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "format": {"type": "string", "enum": ["json", "tsv"], "description": "tsv: the matching entries as Roo's task_timing.tsv text (in `tsv`)."}
                },
                "additionalProperties": false
            }),
            Effect::Read,
        ),
        tool(
            separator,
            GET_PERSISTENT_MEMORY,
            "A persistent memory (default `project`), whole or one section, as sections of entries and as markdown. `archive: true` adds the entries archived by the line cap.",
            json!({
                "type": "object",
                "properties": {
                    "memory": {"type": "string"},
                    "section": {"type": "string"},
                    "archive": {"type": "boolean"}
                },
                "additionalProperties": false
            }),
            Effect::Read,
        ),
        tool(
            separator,
            UPDATE_PERSISTENT_MEMORY,
            "Appends an entry (with its time and mode) to a section of a persistent memory. When the memory passes its line cap, the oldest entries of the log section are archived (never lost; read them with get_persistent_memory archive: true).",
            json!({
                "type": "object",
                "properties": {
                    "memory": {"type": "string"},
                    "section": {"type": "string"},
                    "text": {"type": "string", "minLength": 1},
                    "mode": {"type": "string", "description": "Default: the session's current mode."}
                },
                "required": ["section", "text"],
                "additionalProperties": false
            }),
            Effect::Write { idempotent: false },
        ),
        tool(
            separator,
            GET_TODO_STATUS,
            "A TODO markdown file of the project (default TODO.md) as sections with their checkbox items (nested), done/total per section and overall.",
            json!({
                "type": "object",
                "properties": {"path": {"type": "string", "description": "Relative to the project root."}},
                "additionalProperties": false
            }),
            Effect::Read,
        ),
    ]
}

/// The settings of memory `name` in `config` (its own shape, else the defaults).
pub fn memory_settings(config: &baton_core::Config, name: &str) -> memory::MemorySettings {
    let shape = config.memory.shape(name);
    memory::MemorySettings {
        sections: shape.sections,
        max_lines: shape.max_lines as usize,
        log_section: shape.log_section,
    }
}

fn text(arguments: &JsonObject, key: &str) -> Option<String> {
    arguments
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn to_json<T: serde::Serialize>(value: T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|error| error.to_string())
}

/// Runs one of these tools; `mode` is the calling session's current mode.
pub async fn call(
    services: &Services,
    gateway: &Gateway,
    name: &str,
    arguments: JsonObject,
    mode: Option<String>,
) -> Result<Value, String> {
    if name == GET_TODO_STATUS {
        let path = text(&arguments, "path").unwrap_or_else(|| "TODO.md".to_owned());
        let sandbox = super::files::sandbox(gateway)?;
        let content = tokio::task::spawn_blocking(move || sandbox.read(&path, &Default::default()))
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| error.to_string())?;
        let mut status = to_json(todo::parse(&content.content))?;
        status["path"] = json!(content.path);
        return Ok(status);
    }
    let store = services.store()?.clone();
    let memory_name =
        || text(&arguments, "memory").unwrap_or_else(|| gateway.config().memory.default.clone());
    match name {
        TRACK_TASK_TIME => {
            let task_id = text(&arguments, "task_id").ok_or("task_id is required")?;
            match text(&arguments, "action").as_deref() {
                Some("start") => {
                    let mode = text(&arguments, "mode")
                        .or(mode)
                        .ok_or("mode is required (or switch_mode first)")?;
                    let priority = match text(&arguments, "priority") {
                        Some(text) => text
                            .parse()
                            .map_err(|_| format!("priority \"{text}\" is not schedule or todo"))?,
                        None => return Err("priority is required: schedule or todo".into()),
                    };
                    let start = timing::StartTask {
                        task_id,
                        mode,
                        task: text(&arguments, "task").unwrap_or_default(),
                        priority,
                    };
                    to_json(
                        timing::start(&store, start)
                            .await
                            .map_err(|e| e.to_string())?,
                    )
                }
                Some("stop") => {
                    let stop = timing::StopTask {
                        task_id,
                        result: text(&arguments, "result"),
                    };
                    to_json(
                        timing::stop(&store, stop)
                            .await
                            .map_err(|e| e.to_string())?,
                    )
                }
                _ => Err("action must be start or stop".into()),
            }
        }
        GET_TIME_TRACKING => {
            let mut arguments = arguments;
            let format = arguments.remove("format");
            let filter: timing::Filter = serde_json::from_value(Value::Object(arguments))
                .map_err(|error| format!("invalid filter: {error}"))?;
            if format.as_ref().and_then(Value::as_str) == Some("tsv") {
                let tsv = timing::export_tsv(&store, &filter)
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(json!({ "format": "tsv", "tsv": tsv }));
            }
            to_json(
                timing::query(&store, filter)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        }
        GET_PERSISTENT_MEMORY => {
            let name = memory_name();
            let settings = memory_settings(&gateway.config(), &name);
            let section = text(&arguments, "section");
            let mut view = to_json(
                memory::get(&store, &settings, &name, section.as_deref())
                    .await
                    .map_err(|e| e.to_string())?,
            )?;
            if arguments.get("archive").and_then(Value::as_bool) == Some(true) {
                view["archive"] = to_json(
                    memory::archive(&store, &name, 1000)
                        .await
                        .map_err(|e| e.to_string())?,
                )?;
            }
            Ok(view)
        }
        UPDATE_PERSISTENT_MEMORY => {
            let name = memory_name();
            let settings = memory_settings(&gateway.config(), &name);
            let update = memory::Update {
                memory: name,
                section: text(&arguments, "section").ok_or("section is required")?,
                text: text(&arguments, "text").ok_or("text is required")?,
                mode: text(&arguments, "mode").or(mode),
            };
            to_json(
                memory::update(&store, &settings, update)
                    .await
                    .map_err(|e| e.to_string())?,
            )
        }
        other => Err(format!("unknown tool {other}")),
    }
}
