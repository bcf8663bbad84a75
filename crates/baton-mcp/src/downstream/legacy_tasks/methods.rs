//! The handler side of the 2025-11-25 task methods: the requests the shim renamed
//! `baton/legacy/<method>` (see the parent module), answered in that revision's shapes from
//! the gateway's task backend — the same tasks, store and owner rules as the 2026-07-28
//! extension.
//!
//! - `tools/call` with `params.task`: a task at once (`{"task": {…}}`), kept for the `ttl`
//!   asked (at most `tasks.max_ttl`); a tool that does not run as a task is `-32601`.
//!   While the session lasts, each status change is sent as `notifications/tasks/status`
//!   (at once for this process's own changes, within 5 s for another process's).
//! - `tasks/get`: the task (`ttl`, `pollInterval` in ms); `tasks/list`: the caller's tasks,
//!   newest first, 50 a page (`nextCursor`).
//! - `tasks/result`: waits for the end and answers the tool's result (with the
//!   `related-task` `_meta`), or the task's JSON-RPC error; a task waiting for input has its
//!   requests put to the client on this request (elicitation, sampling, roots), the answers
//!   recorded as `tasks/update` would.
//! - `tasks/cancel`: the task, `cancelled`; an ended task is `-32602`.
//! - `tools/list`: each tool that runs as a task carries `execution.taskSupport`.
//!
//! A session that declared the 2026-07-28 extension at `initialize` keeps that revision's
//! answers to `tasks/get` and `tasks/cancel` and a list without `execution`.

use std::{sync::Arc, time::Duration};

use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolRequestParams, CustomNotification, CustomRequest, CustomResult, InputResponses,
        ServerNotification, ServerResult, Task, TaskPayload, TaskStatus,
    },
    service::{Peer, RequestContext},
};
use serde_json::{Value, json};

use super::{PREFIX, TASKS_SINCE};
use crate::{
    audit::AuditKind,
    downstream::DownstreamSession,
    error::GatewayError,
    tasks::{Dispatch, TaskBackend, dispatch},
};

/// How many tasks one `tasks/list` page holds.
const PAGE: usize = 50;

/// The `_meta` key naming the task a result belongs to.
const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

/// The longest wait between two looks at a task `tasks/result` waits for, for changes
/// another process made (this process's own changes wake it at once).
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The same for the status notifications' follower, of which there is one per task a
/// connected client created (so a client with many long tasks costs few store reads).
const FOLLOW_EVERY: Duration = Duration::from_secs(5);

impl DownstreamSession {
    /// Answers a request the shim renamed.
    pub(in crate::downstream) async fn legacy_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let method = request
            .method
            .strip_prefix(PREFIX)
            .unwrap_or(&request.method);
        let params = request.params.clone().unwrap_or(Value::Null);
        let answer = match method {
            "tools/list" => self.legacy_list_tools(context).await?,
            "tools/call" => self.legacy_call(params, context).await?,
            "tasks/get" | "tasks/result" | "tasks/list" | "tasks/cancel" => {
                self.legacy_task_method(method, params, context).await?
            }
            _ => return Err(GatewayError::UnknownMethod(request.method.clone()).into()),
        };
        Ok(CustomResult::new(answer))
    }

    async fn legacy_task_method(
        &self,
        method: &str,
        params: Value,
        context: RequestContext<RoleServer>,
    ) -> Result<Value, ErrorData> {
        let backend = self.backend()?.clone();
        let owner = self.task_owner(&context);
        if method == "tasks/list" {
            return list(backend.as_ref(), &owner, &params).await;
        }
        let id = params
            .get("taskId")
            .and_then(Value::as_str)
            .ok_or_else(|| GatewayError::InvalidParams(format!("{method}: taskId is required")))?
            .to_owned();
        let extension = declared_extension(&context);
        match method {
            "tasks/get" if extension => {
                let params = serde_json::from_value(params).map_err(invalid(method))?;
                let got = self.task_get(params, context).await?;
                legacy_shape(ServerResult::GetTaskResult(got))
            }
            "tasks/cancel" if extension => {
                let params = serde_json::from_value(params).map_err(invalid(method))?;
                self.task_cancel(params, context).await?;
                legacy_shape(ServerResult::task_ack(()))
            }
            "tasks/get" => Ok(legacy_task(&backend.get(&owner, &id).await?.task)),
            "tasks/cancel" => cancel(backend.as_ref(), &owner, &id).await,
            _ => result(backend.as_ref(), &owner, &id, &context).await,
        }
    }

    /// `tools/list` with each task tool's `execution.taskSupport`.
    async fn legacy_list_tools(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<Value, ErrorData> {
        let marks = !declared_extension(&context)
            && context
                .protocol_version()
                .is_some_and(|version| version.as_str() >= TASKS_SINCE);
        let tools = rmcp::ServerHandler::list_tools(self, None, context).await?;
        let mut supports = Vec::with_capacity(tools.tools.len());
        if marks {
            for tool in &tools.tools {
                supports.push(self.gateway.task_support(&tool.name, false).await);
            }
        }
        let mut value = legacy_shape(ServerResult::ListToolsResult(tools))?;
        if let Some(listed) = value.get_mut("tools").and_then(Value::as_array_mut) {
            for (tool, support) in listed.iter_mut().zip(supports) {
                if let Some(support) = support {
                    tool["execution"] = json!({ "taskSupport": support.execution() });
                }
            }
        }
        Ok(value)
    }

    /// A task-augmented `tools/call`.
    async fn legacy_call(
        &self,
        params: Value,
        context: RequestContext<RoleServer>,
    ) -> Result<Value, ErrorData> {
        let Value::Object(mut params) = params else {
            return Err(
                GatewayError::InvalidParams("tools/call: params must be an object".into()).into(),
            );
        };
        let ttl = params
            .remove("task")
            .and_then(|task| task.get("ttl").and_then(Value::as_u64))
            .map(Duration::from_millis);
        let request: CallToolRequestParams =
            serde_json::from_value(Value::Object(params)).map_err(invalid("tools/call"))?;
        let name = request.name.to_string();
        let used = self.begin(&context, AuditKind::Tool, &name, request.arguments.as_ref());
        if !self.may_use(&context, &name) {
            self.end(used, &name, "denied");
            return Err(GatewayError::UnknownTool(name).into());
        }
        let started = self.legacy_start(request, ttl, &context).await;
        self.end(used, &name, crate::downstream::handler::outcome(&started));
        started
    }

    async fn legacy_start(
        &self,
        request: CallToolRequestParams,
        ttl: Option<Duration>,
        context: &RequestContext<RoleServer>,
    ) -> Result<Value, ErrorData> {
        let backend = self.backend()?.clone();
        let name = request.name.to_string();
        let support = self.gateway.task_support(&name, true).await;
        if !matches!(
            dispatch(support, true),
            Dispatch::Task | Dispatch::TaskAfterInput
        ) {
            return Err(GatewayError::NotATaskTool(name).into());
        }
        // The call's progress token stays valid for the task's life (2025-11-25).
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| (context.peer.clone(), token));
        let task = self
            .start_task(&backend, request, (ttl, progress), context)
            .await?
            .task;
        follow(
            backend,
            self.task_owner(context),
            task.clone(),
            context.peer.clone(),
        );
        Ok(json!({ "task": legacy_task(&task) }))
    }
}

/// Whether the client declared the 2026-07-28 tasks extension (for its session or this
/// request).
fn declared_extension(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .is_some_and(|capabilities| capabilities.supports_tasks())
}

fn invalid(method: &str) -> impl Fn(serde_json::Error) -> ErrorData + '_ {
    move |error| GatewayError::InvalidParams(format!("{method}: {error}")).into()
}

/// A result as rmcp would send it to a legacy peer, as JSON.
fn legacy_shape(mut result: ServerResult) -> Result<Value, ErrorData> {
    result.strip_result_type_for_legacy_peer();
    result.strip_non_object_output_for_legacy_peer();
    serde_json::to_value(result).map_err(|error| GatewayError::Internal(error.to_string()).into())
}

/// A task in the 2025-11-25 shape (`ttl` and `pollInterval` in ms; `ttl: null` when kept
/// until pruned).
pub(super) fn legacy_task(task: &Task) -> Value {
    let mut value = json!({
        "taskId": task.task_id,
        "status": task.status,
        "createdAt": task.created_at,
        "lastUpdatedAt": task.last_updated_at,
        "ttl": task.ttl_ms,
    });
    if let Some(interval) = task.poll_interval_ms {
        value["pollInterval"] = json!(interval);
    }
    let message = match task.status {
        TaskStatus::InputRequired => {
            Some("waiting for the client's input: call tasks/result to answer it")
        }
        _ => task.status_message.as_deref(),
    };
    if let Some(message) = message {
        value["statusMessage"] = json!(message);
    }
    value
}

fn terminal(status: TaskStatus) -> bool {
    matches!(
        status,
        TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
    )
}

/// `tasks/list`: a page of the caller's tasks; the cursor is how many came before.
async fn list(backend: &dyn TaskBackend, owner: &str, params: &Value) -> Result<Value, ErrorData> {
    let skip = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(cursor)) => cursor.parse::<usize>().map_err(|_| {
            GatewayError::InvalidParams(format!(
                "tasks/list: cursor \"{cursor}\" is not one Baton gave (use the nextCursor of the previous page)"
            ))
        })?,
        Some(other) => {
            return Err(GatewayError::InvalidParams(format!(
                "tasks/list: cursor must be a string, got {other}"
            ))
            .into());
        }
    };
    let mut tasks = backend.list(owner, skip, PAGE + 1).await?;
    let more = tasks.len() > PAGE;
    tasks.truncate(PAGE);
    let mut answer = json!({ "tasks": tasks.iter().map(legacy_task).collect::<Vec<_>>() });
    if more {
        answer["nextCursor"] = json!((skip + PAGE).to_string());
    }
    Ok(answer)
}

/// `tasks/cancel`: the task, cancelled; an ended one cannot be.
async fn cancel(backend: &dyn TaskBackend, owner: &str, id: &str) -> Result<Value, ErrorData> {
    let task = backend.get(owner, id).await?.task;
    if terminal(task.status) {
        let status = serde_json::to_value(task.status)
            .ok()
            .and_then(|status| status.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(GatewayError::TaskFinished {
            id: id.to_owned(),
            status,
        }
        .into());
    }
    backend.cancel(owner, id).await?;
    Ok(legacy_task(&backend.get(owner, id).await?.task))
}

/// `tasks/result`: waits for the task's end; its input requests are put to the client
/// meanwhile.
async fn result(
    backend: &dyn TaskBackend,
    owner: &str,
    id: &str,
    context: &RequestContext<RoleServer>,
) -> Result<Value, ErrorData> {
    loop {
        let task = backend.get(owner, id).await?;
        match task.payload {
            TaskPayload::Completed { mut result } => {
                // Kept as a 2026-07-28 result; a legacy client gets the older shape.
                if result.get("resultType").and_then(Value::as_str) == Some("complete") {
                    result.remove("resultType");
                }
                let meta = result
                    .entry("_meta")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(meta) = meta {
                    meta.insert(RELATED_TASK.to_owned(), json!({ "taskId": id }));
                }
                return Ok(Value::Object(result));
            }
            TaskPayload::Failed { error } => {
                return Err(
                    serde_json::from_value(Value::Object(error)).unwrap_or_else(|_| {
                        GatewayError::Internal(format!("task \"{id}\" failed")).into()
                    }),
                );
            }
            TaskPayload::Cancelled => return Err(GatewayError::TaskCancelled(id.to_owned()).into()),
            TaskPayload::InputRequired { input_requests } => {
                let who = format!("task \"{id}\"");
                let mut responses = InputResponses::new();
                for (key, request) in input_requests {
                    let answer = crate::bridge::ask_client(&who, &context.peer, request).await?;
                    responses.insert(key, answer);
                }
                backend.update(owner, id, responses).await?;
            }
            _ => {
                tokio::select! {
                    () = backend.changed(id, LOOK_EVERY) => {}
                    () = context.ct.cancelled() => return Err(GatewayError::Cancelled.into()),
                }
            }
        }
    }
}

/// Sends `notifications/tasks/status` to `peer` at each status change of `task`, until the
/// task ends, expires, or the session goes.
fn follow(backend: Arc<dyn TaskBackend>, owner: String, task: Task, peer: Peer<RoleServer>) {
    tokio::spawn(async move {
        let mut last = task.status;
        while !terminal(last) {
            backend.changed(&task.task_id, FOLLOW_EVERY).await;
            if peer.is_transport_closed() {
                return;
            }
            let Ok(now) = backend.get(&owner, &task.task_id).await else {
                return;
            };
            if now.task.status == last {
                continue;
            }
            last = now.task.status;
            let status =
                CustomNotification::new("notifications/tasks/status", Some(legacy_task(&now.task)));
            let sent = peer
                .send_notification(ServerNotification::CustomNotification(status))
                .await;
            if sent.is_err() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_in_the_legacy_shape_has_ttl_and_poll_interval_in_ms() {
        let task = Task::new(
            "t1",
            TaskStatus::InputRequired,
            "2026-12-06T00:00:00.000Z",
            "2026-12-06T00:00:01.000Z",
        )
        .with_ttl_ms(60_000)
        .with_poll_interval_ms(1000);
        let value = legacy_task(&task);
        assert_eq!(value["taskId"], "t1");
        assert_eq!(value["status"], "input_required");
        assert_eq!(value["ttl"], 60_000);
        assert_eq!(value["pollInterval"], 1000);
        assert!(
            value["statusMessage"]
                .as_str()
                .unwrap()
                .contains("tasks/result")
        );
        assert!(value.get("ttlMs").is_none());
        let unlimited = Task::new("t2", TaskStatus::Working, "a", "b");
        assert_eq!(legacy_task(&unlimited)["ttl"], Value::Null);
    }
}
