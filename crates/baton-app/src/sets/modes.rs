//! Modes as tools: `get_mode_capabilities`, `switch_mode`, `delegate_task`; and the check
//! every tool call of a session in a mode goes through (its groups, Roo's `fileRegex`).
//!
//! A session's mode is what `switch_mode` set, or, per request, `_meta["io.baton/mode"]`
//! (how a delegated agent calling back into Baton, or a stateless 2026-07-28 client,
//! names its mode).

// Sampling is deprecated by SEP-2577, but it is how a mode delegates to the calling
// client's model (legacy clients support it).
#![allow(deprecated)]

use std::sync::Arc;

use baton_builtins::timing;
use baton_core::{
    modes::{Executor, Mode, ToolGroup},
    workflow::Workflow,
};
use rmcp::model::{CreateMessageRequestParams, JsonObject, SamplingMessage, Tool};
use serde_json::{Map, Value, json};

use baton_core::config::BUILTIN_SERVER;
use baton_mcp::{
    CallContext, Gateway, SessionScope, ToolContext, ToolSet, gateway::guard::unknown_mode,
    toolset::MODE_META,
};
use futures::future::BoxFuture;
use rmcp::{ErrorData, model::CallToolResult};

use super::{Effect, boxed, tool};
use crate::Services;

/// Mode capabilities, switching and delegation.
#[derive(Debug)]
pub struct ModesSet(pub Arc<Services>);

impl ToolSet for ModesSet {
    fn tools(&self, separator: &str) -> Vec<Tool> {
        tools(separator)
    }

    fn group(&self, name: &str) -> Option<ToolGroup> {
        match name {
            // A mode's own bookkeeping.
            SWITCH_MODE | DELEGATE_TASK => None,
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
            context.scope,
            context.call,
        ))
    }
}

pub const GET_MODE_CAPABILITIES: &str = "get_mode_capabilities";
pub const SWITCH_MODE: &str = "switch_mode";
pub const DELEGATE_TASK: &str = "delegate_task";

pub fn tools(separator: &str) -> Vec<Tool> {
    vec![
        tool(
            separator,
            GET_MODE_CAPABILITIES,
            "The configured modes (from baton.yaml and .roomodes): role, when to use, tool groups (with fileRegex limits), how tasks are delegated to them; the Baton tools of each group; the session's current mode.",
            json!({
                "type": "object",
                "properties": {"mode": {"type": "string", "description": "Only this mode."}},
                "additionalProperties": false
            }),
            Effect::Read,
        ),
        tool(
            separator,
            SWITCH_MODE,
            "Sets this session's mode: from now on its tool calls are limited to the mode's groups (a read mode cannot write files). Recorded in time tracking (time per mode). `mode: null` leaves modes.",
            json!({
                "type": "object",
                "properties": {"mode": {"type": ["string", "null"]}},
                "required": ["mode"],
                "additionalProperties": false
            }),
            Effect::Write { idempotent: true },
        ),
        tool(
            separator,
            DELEGATE_TASK,
            "Hands a task to a mode: its executor runs it (an agent tool of an MCP server, or a sampling request to this client) with the mode's role definition and the instructions as prompt. Recorded as a run (baton runs) and in time tracking; answers the result.",
            json!({
                "type": "object",
                "properties": {
                    "mode": {"type": "string"},
                    "instructions": {"type": "string", "minLength": 1},
                    "context": {"type": "string"},
                    "priority": {"type": "string", "enum": ["schedule", "todo"]}
                },
                "required": ["mode", "instructions"],
                "additionalProperties": false
            }),
            Effect::Write { idempotent: false },
        ),
    ]
}

/// A mode as JSON, with the Baton tools it may call.
fn capabilities(gateway: &Gateway, mode: &Mode) -> Value {
    let mut value = mode.to_json();
    let catalog = gateway.catalog();
    let separator = gateway.config().namespace.separator.clone();
    let prefix = format!("{BUILTIN_SERVER}{separator}");
    let baton: Vec<String> = catalog
        .tools
        .iter()
        .filter_map(|tool| {
            let route = catalog.tool_routes.get(tool.name.as_ref())?;
            let set = gateway.tool_set(route.set?)?;
            let name = tool.name.strip_prefix(&prefix)?;
            set.group(&route.original)
                .is_none_or(|group| mode.allows(group, None).is_ok())
                .then(|| name.to_owned())
        })
        .collect();
    value["baton_tools"] = json!(baton);
    value["upstream_tools"] = json!(mode.allows(ToolGroup::Mcp, None).is_ok());
    value
}

pub async fn call(
    services: &Services,
    gateway: &Gateway,
    name: &str,
    arguments: JsonObject,
    scope: &SessionScope,
    context: &CallContext,
) -> Result<Value, String> {
    let config = gateway.config();
    let text = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match name {
        GET_MODE_CAPABILITIES => {
            let modes: Vec<Value> = config
                .modes
                .iter()
                .filter(|mode| text("mode").is_none_or(|only| mode.slug == only))
                .map(|mode| capabilities(gateway, mode))
                .collect();
            if let Some(only) = text("mode")
                && modes.is_empty()
            {
                return Err(unknown_mode(&config, &only));
            }
            Ok(json!({"current_mode": scope.mode(), "modes": modes}))
        }
        SWITCH_MODE => {
            let next = text("mode");
            if let Some(slug) = &next
                && config.mode(slug).is_none()
            {
                return Err(unknown_mode(&config, slug));
            }
            let previous = scope.set_mode(next.clone());
            // Time per mode: the session's open mode entry stops, the new one starts.
            let task_id = format!("session-{}-mode", scope.id());
            if let Ok(store) = services.store() {
                if previous.is_some() {
                    let _ = timing::stop(
                        store,
                        timing::StopTask {
                            task_id: task_id.clone(),
                            result: Some("switched".to_owned()),
                        },
                    )
                    .await;
                }
                if let Some(mode) = &next {
                    let _ = timing::start(
                        store,
                        timing::StartTask {
                            task_id,
                            mode: mode.clone(),
                            task: format!("session in mode {mode}"),
                            priority: timing::Priority::Todo,
                        },
                    )
                    .await;
                }
            }
            Ok(json!({
                "previous": previous,
                "current": next,
                "mode": next.as_deref().and_then(|slug| config.mode(slug)).map(|mode| capabilities(gateway, mode)),
            }))
        }
        DELEGATE_TASK => {
            let slug = text("mode").ok_or("mode is required")?;
            let mode = config
                .mode(&slug)
                .cloned()
                .ok_or_else(|| unknown_mode(&config, &slug))?;
            let instructions = text("instructions").ok_or("instructions is required")?;
            let priority = match text("priority").as_deref() {
                Some("schedule") => timing::Priority::Schedule,
                _ => timing::Priority::Todo,
            };
            delegate(
                services,
                &mode,
                &instructions,
                text("context").as_deref(),
                priority,
                context,
            )
            .await
        }
        other => Err(format!("unknown tool {other}")),
    }
}

async fn delegate(
    services: &Services,
    mode: &Mode,
    instructions: &str,
    context: Option<&str>,
    priority: timing::Priority,
    call: &CallContext,
) -> Result<Value, String> {
    let engine = services.engine()?.clone();
    let prompt = mode.prompt(instructions, context);
    let started = baton_engine::baton_store::now_ms();
    let origin = format!("delegate_task to mode {}", mode.slug);
    let (run, status, output, error) = match &mode.executor {
        Executor::Mcp {
            tool,
            prompt_argument,
            args,
        } => {
            // An agent calling back into Baton names its mode, and its groups apply.
            let prompt = format!(
                "{prompt}\n\n(Your Baton mode is {slug}: when you call Baton's tools, send _meta {{\"{MODE_META}\": \"{slug}\"}}; the mode's tool groups limit what you may call.)",
                slug = mode.slug
            );
            let mut args: Map<String, Value> = args.clone();
            args.insert(prompt_argument.clone(), Value::String(prompt));
            let definition = Workflow::single_call(
                &format!("delegate:{}", mode.slug),
                &format!("a task delegated to mode {} ({tool})", mode.slug),
                tool,
                Value::Object(args),
            );
            let run = engine
                .start_definition(&definition, &Map::new(), &origin, None)
                .await
                .map_err(|error| error.to_string())?;
            let record = engine
                .execute(&run)
                .await
                .map_err(|error| error.to_string())?;
            let output = record.outputs.clone().unwrap_or(Value::Null);
            (run, record.status, output, record.error)
        }
        Executor::Sampling { max_tokens } => {
            let peer = call
                .peer
                .clone()
                .ok_or("this mode delegates by sampling, which needs a connected client session")?;
            // A 2026-07-28 client has no session to send a request back on.
            let supports = call.legacy
                && call
                    .capabilities
                    .as_ref()
                    .is_some_and(|capabilities| capabilities.sampling.is_some());
            if !supports {
                return Err(format!(
                    "mode \"{}\" delegates by sampling, but this client cannot answer a sampling request (it needs a session with the sampling capability; or give the mode an executor: {{ tool: server__agent }})",
                    mode.slug
                ));
            }
            let mut request = CreateMessageRequestParams::new(
                vec![SamplingMessage::user_text(prompt.clone())],
                *max_tokens,
            );
            request.system_prompt = Some(mode.role_definition.clone());
            let definition = Workflow::single_call(
                &format!("delegate:{}", mode.slug),
                &format!("a task delegated to mode {} (sampling)", mode.slug),
                "sampling/createMessage",
                json!({ "prompt": prompt }),
            );
            let outcome = peer.create_message(request).await;
            let (status, output, error) = match outcome {
                // The answer is the model's text (or the whole result when it is not text).
                Ok(result) => (
                    baton_engine::baton_store::RunStatus::Succeeded,
                    match serde_json::to_value(&result).unwrap_or(Value::Null) {
                        Value::Object(mut whole) => match whole
                            .get_mut("content")
                            .and_then(|content| content.get_mut("text"))
                            .map(Value::take)
                        {
                            Some(Value::String(text)) => Value::String(text),
                            _ => Value::Object(whole),
                        },
                        other => other,
                    },
                    None,
                ),
                Err(error) => (
                    baton_engine::baton_store::RunStatus::Failed,
                    Value::Null,
                    Some(format!("the client's sampling failed: {error}")),
                ),
            };
            let run = record_run(
                &engine,
                &definition,
                &origin,
                status,
                &output,
                error.as_deref(),
            )
            .await?;
            (run, status, output, error)
        }
    };
    if let Ok(store) = services.store() {
        let _ = timing::record_run(
            store,
            timing::RecordRun {
                run_id: run.clone(),
                task_id: run.clone(),
                mode: mode.slug.clone(),
                task: instructions.chars().take(200).collect(),
                priority,
                source: timing::Source::Delegation,
                start_ms: started,
                end_ms: baton_engine::baton_store::now_ms(),
                result: match status {
                    baton_engine::baton_store::RunStatus::Succeeded => "completed".to_owned(),
                    other => other.as_str().to_owned(),
                },
            },
        )
        .await;
    }
    let answer = json!({
        "mode": mode.slug,
        "run": run,
        "status": status.as_str(),
        "output": output,
        "error": error,
    });
    if status == baton_engine::baton_store::RunStatus::Succeeded {
        Ok(answer)
    } else {
        Err(format!(
            "the task delegated to mode {} failed (run {run}): {}",
            mode.slug,
            error.unwrap_or_default()
        ))
    }
}

/// A run record for work done outside the engine (a sampling request): created, claimed
/// and finished at once.
async fn record_run(
    engine: &Arc<baton_engine::Engine>,
    definition: &Workflow,
    origin: &str,
    status: baton_engine::baton_store::RunStatus,
    output: &Value,
    error: Option<&str>,
) -> Result<String, String> {
    let run = engine
        .start_definition(definition, &Map::new(), origin, None)
        .await
        .map_err(|error| error.to_string())?;
    let store = engine.store();
    let lease = store
        .claim(&run, engine.owner(), std::time::Duration::from_secs(30))
        .await
        .map_err(|error| error.to_string())?
        .ok_or("the delegation's run record was taken by another process")?;
    store
        .finish_run(&run, &lease, status, Some(output), error)
        .await
        .map_err(|error| error.to_string())?;
    Ok(run)
}
