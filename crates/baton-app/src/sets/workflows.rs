//! Workflows as MCP tools: `workflow__<name>` runs one to its end (progress notifications
//! stream to the caller as steps finish), and `baton__run_workflow`, `baton__get_run`,
//! `baton__list_runs`, `baton__cancel_run`, `baton__approve` manage runs. (The engine
//! calls tools through the gateway: [`crate::caller`].)

use std::sync::Arc;

use baton_core::config::{BUILTIN_SERVER, WORKFLOW_SERVER};
use baton_engine::{
    Engine, EngineError, RunEvent, ToolOutput,
    baton_store::{RunRecord, StepRecord},
};
use futures::future::BoxFuture;
use rmcp::{
    ErrorData,
    model::{
        CallToolResult, ContentBlock, JsonObject, ProgressNotificationParam, Tool, ToolAnnotations,
    },
};
use serde_json::{Value, json};

use baton_core::modes::ToolGroup;
use baton_mcp::{CallContext, ToolContext, ToolSet, error::GatewayError};

use crate::Services;

pub const RUN_WORKFLOW: &str = "run_workflow";
pub const GET_RUN: &str = "get_run";
pub const LIST_RUNS: &str = "list_runs";
pub const CANCEL_RUN: &str = "cancel_run";
pub const APPROVE: &str = "approve";

/// Every workflow as a tool, `workflow__<name>`.
#[derive(Debug)]
pub struct WorkflowSet(pub Arc<Services>);

impl ToolSet for WorkflowSet {
    fn tools(&self, separator: &str) -> Vec<Tool> {
        match &self.0.engine {
            Some(engine) => workflow_tools(engine, separator),
            None => Vec::new(),
        }
    }

    fn group(&self, _name: &str) -> Option<ToolGroup> {
        Some(ToolGroup::Command)
    }

    fn reconfigure(&self, config: &baton_core::Config) {
        if let Some(engine) = &self.0.engine {
            engine.set_workflows(config.workflows.definitions.clone());
        }
    }

    fn task_support(&self, _name: &str) -> Option<baton_core::config::TaskSupport> {
        Some(crate::tasks::WORKFLOW_TASK_SUPPORT)
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<CallToolResult, ErrorData>> {
        Box::pin(async move {
            let engine = self.0.engine().map_err(|error| invalid(&error))?;
            run(engine, name, &arguments, context.call, true, None).await
        })
    }
}

/// Runs as tools: `baton__run_workflow`, `get_run`, `list_runs`, `cancel_run`, `approve`.
#[derive(Debug)]
pub struct RunsSet(pub Arc<Services>);

impl ToolSet for RunsSet {
    fn tools(&self, separator: &str) -> Vec<Tool> {
        run_tools(separator)
    }

    fn group(&self, name: &str) -> Option<ToolGroup> {
        Some(match name {
            GET_RUN | LIST_RUNS => ToolGroup::Read,
            _ => ToolGroup::Command,
        })
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<CallToolResult, ErrorData>> {
        Box::pin(async move {
            let engine = self.0.engine().map_err(|error| invalid(&error))?;
            // A workflow is run under its tool's name: `access:` rules over
            // `workflow__NAME` hold for `baton__run_workflow` too.
            if name == RUN_WORKFLOW
                && let Some(workflow) = arguments.get("workflow").and_then(Value::as_str)
            {
                let config = context.gateway.config();
                let separator = &config.namespace.separator;
                let tool = format!("{WORKFLOW_SERVER}{separator}{workflow}");
                if !context.call.may_use(&config, &tool) {
                    // The same answer as for a workflow that does not exist.
                    return Err(engine_error(EngineError::UnknownWorkflow(
                        workflow.to_owned(),
                    )));
                }
            }
            call(engine, name, arguments, context.call).await
        })
    }
}

/// A tool result as a step output: `structuredContent` when present, else the text.
pub fn output_of(result: &CallToolResult) -> ToolOutput {
    let value = result.structured_content.clone().unwrap_or_else(|| {
        Value::String(
            result
                .content
                .iter()
                .filter_map(|block| block.as_text().map(|text| text.text.clone()))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    });
    ToolOutput {
        value,
        is_error: result.is_error == Some(true),
    }
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

/// One tool per workflow the engine knows.
fn workflow_tools(engine: &Engine, separator: &str) -> Vec<Tool> {
    engine
        .workflows()
        .iter()
        .map(|workflow| {
            let description = format!(
                "{}{}Runs Baton workflow \"{}\" ({} step{}) to its end and returns its outputs; progress notifications follow its steps.",
                workflow.description,
                if workflow.description.is_empty() { "" } else { " — " },
                workflow.name,
                workflow.steps.len(),
                if workflow.steps.len() == 1 { "" } else { "s" }
            );
            let mut tool = Tool::new(
                format!("{WORKFLOW_SERVER}{separator}{}", workflow.name),
                description,
                object(workflow.input_schema()),
            );
            tool.annotations = Some(ToolAnnotations::new().read_only(false).open_world(true));
            tool
        })
        .collect()
}

/// The run-management tools.
fn run_tools(separator: &str) -> Vec<Tool> {
    let mut tools = Vec::new();
    let builtin = |name: &str, description: &str, schema: Value, hints: ToolAnnotations| {
        let mut tool = Tool::new(
            format!("{BUILTIN_SERVER}{separator}{name}"),
            description.to_owned(),
            object(schema),
        );
        tool.annotations = Some(hints);
        tool
    };
    let read_only = ToolAnnotations::new().read_only(true).open_world(false);
    tools.push(builtin(
        RUN_WORKFLOW,
        "Starts a workflow run. With wait (default true) it runs to its end and returns the outputs; with wait false it returns the run id at once (see baton__get_run).",
        json!({
            "type": "object",
            "properties": {
                "workflow": { "type": "string", "description": "The workflow's name." },
                "inputs": { "type": "object", "description": "Its inputs." },
                "wait": { "type": "boolean", "default": true },
                "priority": { "type": "integer", "description": "The run's place in the run queue when it has to wait (workflows.max_concurrent, a concurrency key): higher first, then the oldest. Default: the workflow's priority, else 0." }
            },
            "required": ["workflow"],
            "additionalProperties": false
        }),
        ToolAnnotations::new().read_only(false).open_world(true),
    ));
    tools.push(builtin(
        GET_RUN,
        "A run's status, inputs, outputs or error, and each step's status, attempts, times and output (truncated).",
        json!({
            "type": "object",
            "properties": { "run": { "type": "string" } },
            "required": ["run"],
            "additionalProperties": false
        }),
        read_only.clone(),
    ));
    tools.push(builtin(
        LIST_RUNS,
        "The most recent workflow runs, newest first.",
        json!({
            "type": "object",
            "properties": {
                "workflow": { "type": "string", "description": "Only runs of this workflow." },
                "limit": { "type": "integer", "minimum": 1, "maximum": 500, "default": 20 }
            },
            "additionalProperties": false
        }),
        read_only,
    ));
    tools.push(builtin(
        CANCEL_RUN,
        "Cancels an unfinished run (and its sub-runs).",
        json!({
            "type": "object",
            "properties": { "run": { "type": "string" } },
            "required": ["run"],
            "additionalProperties": false
        }),
        ToolAnnotations::new()
            .read_only(false)
            .destructive(true)
            .idempotent(true)
            .open_world(false),
    ));
    tools.push(builtin(
        APPROVE,
        "Approves (or, with approve false, rejects) a run's waiting approval step.",
        json!({
            "type": "object",
            "properties": {
                "run": { "type": "string" },
                "step": { "type": "string" },
                "approve": { "type": "boolean", "default": true },
                "by": { "type": "string", "description": "Who decides (recorded)." },
                "comment": { "type": "string" }
            },
            "required": ["run", "step"],
            "additionalProperties": false
        }),
        ToolAnnotations::new()
            .read_only(false)
            .idempotent(true)
            .open_world(false),
    ));
    tools
}

/// Runs one of the run-management tools.
async fn call(
    engine: &Arc<Engine>,
    name: &str,
    arguments: JsonObject,
    call: &CallContext,
) -> Result<CallToolResult, ErrorData> {
    let text = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match name {
        RUN_WORKFLOW => {
            let workflow =
                text("workflow").ok_or_else(|| invalid("`workflow` (a name) is required"))?;
            let inputs = match arguments.get("inputs") {
                Some(Value::Object(map)) => map.clone(),
                None | Some(Value::Null) => JsonObject::new(),
                Some(other) => {
                    return Err(invalid(&format!("`inputs` must be an object, got {other}")));
                }
            };
            let wait = arguments
                .get("wait")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let priority = match arguments.get("priority") {
                None | Some(Value::Null) => None,
                Some(value) => Some(value.as_i64().ok_or_else(|| {
                    invalid(&format!("`priority` must be an integer, got {value}"))
                })?),
            };
            run(engine, &workflow, &inputs, call, wait, priority).await
        }
        GET_RUN => {
            let run = text("run").ok_or_else(|| invalid("`run` is required"))?;
            let record = engine.store().run(&run).await.map_err(engine_error)?;
            let steps = engine.store().steps(&run).await.map_err(engine_error)?;
            let mut value = run_json(&record, Some(&steps));
            place_in_queue(engine.store(), std::slice::from_mut(&mut value)).await;
            Ok(result(value))
        }
        LIST_RUNS => {
            let limit = arguments
                .get("limit")
                .and_then(Value::as_u64)
                .unwrap_or(20)
                .clamp(1, 500) as u32;
            let runs = engine
                .store()
                .runs(limit, text("workflow").as_deref())
                .await
                .map_err(engine_error)?;
            let mut runs: Vec<Value> = runs.iter().map(|r| run_json(r, None)).collect();
            place_in_queue(engine.store(), &mut runs).await;
            Ok(result(json!({ "runs": runs })))
        }
        CANCEL_RUN => {
            let run = text("run").ok_or_else(|| invalid("`run` is required"))?;
            let cancelled = engine.cancel(&run).await.map_err(engine_error)?;
            Ok(result(json!({ "run": run, "cancelled": cancelled })))
        }
        APPROVE => {
            let run = text("run").ok_or_else(|| invalid("`run` is required"))?;
            let step = text("step").ok_or_else(|| invalid("`step` is required"))?;
            let approve = arguments
                .get("approve")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let by = text("by").unwrap_or_else(|| "an MCP client".to_owned());
            let recorded = engine
                .decide(&run, &step, approve, &by, text("comment").as_deref())
                .await
                .map_err(engine_error)?;
            Ok(result(
                json!({ "run": run, "step": step, "approved": approve, "recorded": recorded }),
            ))
        }
        other => Err(invalid(&format!("unknown tool baton__{other}"))),
    }
}

/// Starts a run; with `wait`, executes it here, relaying progress to the caller.
async fn run(
    engine: &Arc<Engine>,
    workflow: &str,
    inputs: &JsonObject,
    call: &CallContext,
    wait: bool,
    priority: Option<i64>,
) -> Result<CallToolResult, ErrorData> {
    let id = engine
        .start_with(workflow, inputs, "mcp", priority)
        .await
        .map_err(engine_error)?;
    if !wait {
        // Here when this worker has room, else by whichever worker has, in queue order.
        let status = if engine.submit(&id) {
            "running"
        } else {
            "queued"
        };
        return Ok(result(json!({ "run": id, "status": status })));
    }
    let relay = relay_progress(engine, &id, call);
    // The run's steps may need this client (a mode that delegates by sampling).
    let _client = crate::caller::attach_waiting_client(&id, call);
    let cancel = call.cancel.clone();
    let record = tokio::select! {
        record = engine.execute_anywhere(&id) => record.map_err(engine_error)?,
        _ = cancel.cancelled() => {
            let _ = engine.cancel(&id).await;
            return Err(GatewayError::Internal(format!("the client cancelled; run {id} was cancelled")).into());
        }
    };
    // The relay stops at the run's `Finished` event, after sending what came before it.
    if let Some(relay) = relay
        && tokio::time::timeout(std::time::Duration::from_secs(2), relay)
            .await
            .is_err()
    {
        tracing::debug!(run = %id, "progress relay did not finish in time");
    }
    Ok(run_answer(&record))
}

/// What a workflow tool answers for its finished run: the run, flagged as an error unless
/// it succeeded (the synchronous answer and a task's result alike).
pub fn run_answer(record: &RunRecord) -> CallToolResult {
    let mut answer = result(run_json(record, None));
    if record.status != baton_engine::baton_store::RunStatus::Succeeded {
        answer.is_error = Some(true);
    }
    answer
}

/// Progress notifications to the caller (when it asked for them) as steps finish, and
/// approval steps put to it as elicitation requests (when it supports them).
fn relay_progress(
    engine: &Arc<Engine>,
    run: &str,
    call: &CallContext,
) -> Option<tokio::task::JoinHandle<()>> {
    let peer = call.peer.clone()?;
    let token = call.progress.clone();
    let elicits = match &call.capabilities {
        Some(capabilities) => capabilities.elicitation.is_some(),
        None => peer
            .peer_info()
            .is_some_and(|info| info.capabilities.elicitation.is_some()),
    };
    if token.is_none() && !elicits {
        return None;
    }
    let mut events = engine.subscribe();
    let (engine, run) = (engine.clone(), run.to_owned());
    Some(tokio::spawn(async move {
        let (mut finished, mut total) = (0u32, None);
        while let Ok(event) = events.recv().await {
            if event.run() != run {
                continue;
            }
            let message = match &event {
                RunEvent::Started { steps, .. } => {
                    total = Some(*steps as f64);
                    continue;
                }
                RunEvent::StepFinished {
                    step,
                    status,
                    error,
                    ..
                } => {
                    finished += 1;
                    match error {
                        Some(error) => format!("step {step} {}: {error}", status.as_str()),
                        None => format!("step {step} {}", status.as_str()),
                    }
                }
                RunEvent::Waiting { step, reason, .. } => format!("step {step} waiting: {reason}"),
                RunEvent::ApprovalNeeded { step, prompt, .. } => {
                    if elicits {
                        tokio::spawn(ask_approval(
                            engine.clone(),
                            peer.clone(),
                            run.clone(),
                            step.clone(),
                            prompt.clone(),
                        ));
                    }
                    continue;
                }
                RunEvent::Finished { .. } => break,
                RunEvent::StepStarted { .. } => continue,
            };
            let Some(token) = &token else { continue };
            let mut params = ProgressNotificationParam::new(token.clone(), f64::from(finished));
            params.total = total;
            params.message = Some(message);
            if peer.notify_progress(params).await.is_err() {
                break;
            }
        }
    }))
}

/// Asks the client that started the run to decide an approval step (MCP elicitation).
/// Accept with `approve` decides; decline rejects; cancel leaves the step waiting for
/// `baton approve` or `baton__approve`.
async fn ask_approval(
    engine: Arc<Engine>,
    peer: rmcp::Peer<rmcp::RoleServer>,
    run: String,
    step: String,
    prompt: String,
) {
    let schema = json!({
        "type": "object",
        "properties": {
            "approve": { "type": "boolean", "description": "Approve (true) or reject (false)" },
            "comment": { "type": "string", "description": "Recorded with the decision" }
        },
        "required": ["approve"]
    });
    let Ok(requested_schema) = serde_json::from_value(schema) else {
        return;
    };
    let params = rmcp::model::ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!("{prompt} (workflow run {run}, step {step})"),
        requested_schema,
    };
    let by = peer
        .peer_info()
        .map(|info| info.client_info.name.clone())
        .unwrap_or_else(|| "an MCP client".to_owned());
    match peer.create_elicitation(params).await {
        Ok(answer) => {
            let content = answer.content.unwrap_or_default();
            let (approved, comment) = match answer.action {
                rmcp::model::ElicitationAction::Accept => (
                    content
                        .get("approve")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    content
                        .get("comment")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                ),
                rmcp::model::ElicitationAction::Decline => (false, Some("declined".to_owned())),
                _ => return,
            };
            if let Err(error) = engine
                .decide(&run, &step, approved, &by, comment.as_deref())
                .await
            {
                tracing::warn!(run, step, %error, "could not record the approval");
            }
        }
        Err(error) => {
            tracing::info!(run, step, %error, "the client did not answer the approval request; waiting for `baton approve`")
        }
    }
}

fn result(value: Value) -> CallToolResult {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result
}

/// How long an output may be in run summaries.
const OUTPUT_PREVIEW: usize = 2000;

/// Adds `queue_position` (1: next to start) to the queued runs among `runs` (`run_json`
/// values).
pub async fn place_in_queue(store: &baton_store::Store, runs: &mut [Value]) {
    if !runs.iter().any(|run| run["status"] == "queued") {
        return;
    }
    let queue = match store.queue().await {
        Ok(queue) => queue,
        Err(error) => {
            tracing::warn!(%error, "could not read the run queue");
            return;
        }
    };
    for run in runs.iter_mut() {
        if let Some(index) = queue
            .iter()
            .position(|queued| run["run"] == queued.id.as_str())
        {
            run["queue_position"] = json!(index + 1);
        }
    }
}

pub fn run_json(record: &RunRecord, steps: Option<&[StepRecord]>) -> Value {
    let mut value = json!({
        "run": record.id,
        "workflow": record.workflow,
        "status": record.status.as_str(),
        "inputs": record.inputs,
        "outputs": record.outputs,
        "error": record.error,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration_ms": record.finished_at.zip(record.started_at).map(|(end, start)| end - start),
        "origin": record.origin,
        "priority": record.priority,
    });
    if let Some(key) = &record.concurrency_key {
        value["concurrency_key"] = json!(key);
    }
    if !record.status.is_finished() {
        // The process executing it, if any (`null`: waiting to be resumed).
        value["held_by"] = json!(record.lease_owner);
    }
    if let Some(steps) = steps {
        value["steps"] = steps
            .iter()
            .filter(|step| step.item == -1)
            .map(|step| {
                json!({
                    "step": step.step_id,
                    "status": step.status.as_str(),
                    "attempts": step.attempts,
                    "started_at": step.started_at,
                    "finished_at": step.finished_at,
                    "duration_ms": step.finished_at.zip(step.started_at).map(|(end, start)| end - start),
                    "error": step.error,
                    "output": step.output.as_ref().map(preview),
                })
            })
            .collect();
    }
    value
}

/// An output as is when short, else its JSON text cut at [`OUTPUT_PREVIEW`] characters.
pub fn preview(output: &Value) -> Value {
    let text = output.to_string();
    if text.len() <= OUTPUT_PREVIEW {
        return output.clone();
    }
    let cut: String = text.chars().take(OUTPUT_PREVIEW).collect();
    Value::String(format!("{cut}… ({} bytes in all)", text.len()))
}

fn invalid(message: &str) -> ErrorData {
    GatewayError::InvalidParams(message.to_owned()).into()
}

fn engine_error(error: impl Into<EngineError>) -> ErrorData {
    let error = error.into();
    match error {
        EngineError::UnknownWorkflow(_) | EngineError::Inputs { .. } => {
            GatewayError::InvalidParams(error.to_string()).into()
        }
        other => GatewayError::Internal(other.to_string()).into(),
    }
}
