//! Baton as a task *requestor*: a `tools/call` the upstream runs as a task
//! (`servers.NAME.upstream_task_support`) is sent as an upstream task and polled on the
//! connection that created it, so the caller — a synchronous client, or Baton's own task
//! run — gets the final `CallToolResult` as if the call had been synchronous, and a long
//! upstream job is not held on one request.
//!
//! - 2025-11-25 (SEP-1686; rmcp 3.11 does not model it, so the requests are raw JSON):
//!   `tools/call` with `params.task: {ttl}` answers `{"task": {taskId, status,
//!   pollInterval, …}}`; `tasks/get` is polled while the task is `working`; then
//!   `tasks/result` — which waits for the end, and on which the server delivers the
//!   elicitation/sampling requests it queued for `input_required` (the relay routes them to
//!   the caller) — is the answer.
//! - 2026-07-28 (SEP-2663): the tasks extension is declared in the request's `_meta`; a
//!   `CreateTaskResult` is polled with `tasks/get` until terminal (the result inline);
//!   `input_required` is answered through the caller (`bridge::fulfil_input`) and
//!   `tasks/update`. A task such a server makes of any call is followed the same way.
//!
//! Polls honour the server's poll interval, clamped to [`MIN_POLL`]..=[`MAX_POLL`]. Each
//! poll is one request under the call's idle timeout; the whole task (creation included)
//! runs under the call's `total` timeout, which also is the TTL asked of a legacy server.
//! When the call ends without the task's end — the caller cancelled, the budget ran out, a
//! poll failed, or the future was dropped (a Baton task cancelled) — `tasks/cancel` is sent
//! from a spawned task, and the server's answer is logged.

use std::time::Duration;

use baton_core::config::Timeouts;
use rmcp::{
    RoleClient,
    model::{
        CallToolResult, CancelTaskParams, ClientRequest, CustomRequest, GetTaskParams,
        InputRequiredResult, Request, ServerResult, Task, TaskPayload, TaskStatus,
        UpdateTaskParams,
    },
    service::{Peer, PeerRequestOptions},
};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{CallContext, Gateway, forward::Outgoing};
use crate::{
    bridge,
    error::{CallError, GatewayError},
    tasks::InputSource,
    upstream::Connection,
};

/// The shortest wait between two polls, whatever the server suggests.
pub const MIN_POLL: Duration = Duration::from_millis(50);
/// The longest wait between two polls, whatever the server suggests.
pub const MAX_POLL: Duration = Duration::from_secs(5);
/// The wait when the server suggests none.
const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// How long the spawned `tasks/cancel` waits for the server's answer.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// The `_meta` key a 2025-11-25 server marks a task's messages with.
const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";

/// The wait before the next poll for a server that suggests `suggested_ms`.
pub fn clamp_poll(suggested_ms: Option<u64>) -> Duration {
    suggested_ms
        .map_or(DEFAULT_POLL, Duration::from_millis)
        .clamp(MIN_POLL, MAX_POLL)
}

/// A task as a 2025-11-25 server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyTask {
    pub id: String,
    pub status: TaskStatus,
    pub message: Option<String>,
    /// The server's `pollInterval` (ms), when it said one.
    pub poll_ms: Option<u64>,
}

impl LegacyTask {
    /// A task object: `taskId`, `status`, and optionally `statusMessage` and
    /// `pollInterval` (`pollIntervalMs` is read too).
    pub fn from_object(value: &Value) -> Result<LegacyTask, String> {
        let object = value.as_object().ok_or("the task is not an object")?;
        let id = object
            .get("taskId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or("it has no taskId")?;
        let status = object.get("status").ok_or("it has no status")?;
        let status = serde_json::from_value(status.clone())
            .map_err(|_| format!("its status {status} is not a task status"))?;
        let poll_ms = ["pollInterval", "pollIntervalMs"]
            .iter()
            .find_map(|key| object.get(*key).and_then(Value::as_u64));
        Ok(LegacyTask {
            id: id.to_owned(),
            status,
            message: object
                .get("statusMessage")
                .and_then(Value::as_str)
                .map(str::to_owned),
            poll_ms,
        })
    }

    /// The answer to a task-augmented `tools/call` (`{"task": {…}}`); `None` when the
    /// server answered something else (a result at once).
    pub fn created(answer: &Value) -> Option<Result<LegacyTask, String>> {
        answer.get("task").map(LegacyTask::from_object)
    }

    /// An answer to `tasks/get` or `tasks/cancel`, in whichever variant rmcp decoded it
    /// into (a `working` task reads as a `GetTaskResult`, which drops `pollInterval`).
    pub fn answered(result: &ServerResult) -> Result<LegacyTask, String> {
        let value = serde_json::to_value(result).map_err(|error| error.to_string())?;
        LegacyTask::from_object(&value)
    }
}

/// A 2025-11-25 request about task `id` (`tasks/get`, `tasks/result`, `tasks/cancel`).
fn legacy_request(method: &'static str, id: &str) -> ClientRequest {
    ClientRequest::CustomRequest(CustomRequest::new(method, Some(json!({ "taskId": id }))))
}

/// `request` (a `tools/call`) as a 2025-11-25 task-augmented call kept `ttl` by the server.
fn legacy_task_call(request: ClientRequest, ttl: Duration) -> ClientRequest {
    let ClientRequest::CallToolRequest(call) = &request else {
        return request;
    };
    let Ok(Value::Object(mut params)) = serde_json::to_value(&call.params) else {
        return request;
    };
    let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    params.insert("task".to_owned(), json!({ "ttl": ttl }));
    ClientRequest::CustomRequest(CustomRequest::new(
        "tools/call",
        Some(Value::Object(params)),
    ))
}

/// The result as the caller sees it: the upstream's task is not the caller's.
fn without_task_meta(mut result: CallToolResult) -> ServerResult {
    if let Some(meta) = &mut result.meta {
        meta.0.remove(RELATED_TASK);
        if meta.0.is_empty() {
            result.meta = None;
        }
    }
    let mut result = ServerResult::CallToolResult(result);
    bridge::normalize_result(&mut result);
    result
}

impl Gateway {
    /// One request of an attempt on `connection`: a `tools/call` the upstream runs as a
    /// task is sent as one and followed to its end; a task a modern server made of any
    /// call is followed too; anything else is answered by one [`Self::forward`].
    pub(super) async fn forward_call(
        &self,
        out: &Outgoing<'_>,
        connection: &Connection,
        request: &ClientRequest,
    ) -> Result<ServerResult, CallError> {
        let modern = connection.is_modern();
        let timeouts = out.plan.timeouts;
        let as_task =
            out.plan.upstream_task && matches!(request, ClientRequest::CallToolRequest(_));
        let follow = Follow {
            gateway: self,
            server: out.server,
            tool: out.label,
            connection,
            call: out.call,
            modern,
            idle: timeouts.idle,
            total: timeouts.total,
            deadline: Instant::now() + timeouts.total,
        };
        // A step run again (Baton stopped meanwhile) follows the task it made before.
        if as_task
            && let Some(source) = &out.call.input
            && let Some(id) = Box::pin(source.recall_upstream_task(out.server)).await
            && let Some(answer) = Box::pin(follow.reattach(&id)).await?
        {
            return Ok(answer);
        }
        // Boxed, so that the rare legacy task call does not enlarge every call's future.
        let task_call = (as_task && !modern)
            .then(|| Box::new(legacy_task_call(request.clone(), timeouts.total)));
        let request = task_call.as_deref().unwrap_or(request);
        let answer = self
            .forward(out.server, connection, request, out.call, timeouts, as_task)
            .await?;
        match answer {
            ServerResult::CreateTaskResult(created) => {
                follow.created(&created.task.task_id);
                // Boxed: a rare path, whose future would otherwise enlarge every call's.
                Box::pin(follow.track(Tracked::Modern(created.task))).await
            }
            ServerResult::CustomResult(custom) if as_task && !modern => {
                match LegacyTask::created(&custom.0) {
                    Some(Ok(task)) => {
                        follow.created(&task.id);
                        Box::pin(follow.track(Tracked::Legacy(task))).await
                    }
                    Some(Err(reason)) => Err(follow.unreadable("tools/call", "(no id)", &reason)),
                    None => Ok(ServerResult::CustomResult(custom)),
                }
            }
            other => Ok(other),
        }
    }
}

/// An upstream task being followed: where it lives, who asked, and the call's budget.
struct Follow<'a> {
    gateway: &'a Gateway,
    server: &'a str,
    tool: &'a str,
    connection: &'a Connection,
    call: &'a CallContext,
    modern: bool,
    /// The budget of one poll.
    idle: Duration,
    /// The budget of the whole task, ending at `deadline`.
    total: Duration,
    deadline: Instant,
}

/// An upstream task to follow, as its server's revision reports it.
enum Tracked {
    Legacy(LegacyTask),
    Modern(Task),
}

impl Follow<'_> {
    /// Follows a task the upstream made of this call to its end, kept in mind (by the
    /// step's input source) meanwhile so that a step run again after Baton stopped follows
    /// it rather than calling again.
    async fn track(&self, task: Tracked) -> Result<ServerResult, CallError> {
        let id = match &task {
            Tracked::Legacy(task) => task.id.clone(),
            Tracked::Modern(task) => task.task_id.clone(),
        };
        let source = self.call.input.as_ref();
        if let Some(source) = source {
            source.remember_upstream_task(self.server, &id).await;
        }
        let mut cancel = self.cancel_on_drop(&id);
        let result = match task {
            Tracked::Legacy(task) => self.legacy(task, &mut cancel).await,
            Tracked::Modern(task) => self.modern(task, &mut cancel).await,
        };
        // Ended (or cancelled there): nothing to follow again. Otherwise the guard decides.
        if !cancel.armed()
            && let Some(source) = source
        {
            source.forget_upstream_task(self.server).await;
        }
        result
    }

    fn created(&self, id: &str) {
        tracing::info!(server = %self.server, tool = %self.tool, task = %id, "the upstream runs the call as a task");
    }

    /// Follows task `id`, which this step made at the server before Baton stopped; `None`
    /// when the server no longer knows it (it restarted, or the task expired), after which
    /// the tool is called again.
    async fn reattach(&self, id: &str) -> Result<Option<ServerResult>, CallError> {
        let request = if self.modern {
            ClientRequest::GetTaskRequest(Request::new(GetTaskParams::new(id)))
        } else {
            legacy_request("tasks/get", id)
        };
        let answer = match self.ask(request, self.idle).await {
            Err(CallError::Server(error))
                if error.code == rmcp::model::ErrorCode::INVALID_PARAMS =>
            {
                tracing::info!(server = %self.server, tool = %self.tool, task = %id, error = %error.message,
                    "the upstream no longer knows the task this step made; calling the tool again");
                if let Some(source) = &self.call.input {
                    source.forget_upstream_task(self.server).await;
                }
                return Ok(None);
            }
            answer => answer?,
        };
        tracing::info!(server = %self.server, tool = %self.tool, task = %id,
            "re-attached to the upstream task this step made before Baton stopped");
        let task = if self.modern {
            match answer {
                ServerResult::GetTaskResult(got) => Tracked::Modern(got.task.task),
                other => return Err(self.unreadable("tasks/get", id, &format!("{other:?}"))),
            }
        } else {
            Tracked::Legacy(
                LegacyTask::answered(&answer)
                    .map_err(|reason| self.unreadable("tasks/get", id, &reason))?,
            )
        };
        Box::pin(self.track(task)).await.map(Some)
    }

    /// Follows a 2025-11-25 task: `tasks/get` while it works, then `tasks/result`.
    async fn legacy(
        &self,
        task: LegacyTask,
        cancel: &mut CancelOnDrop,
    ) -> Result<ServerResult, CallError> {
        let id = task.id;
        let mut poll = clamp_poll(task.poll_ms);
        let mut status = task.status;
        while status == TaskStatus::Working {
            self.wait(poll).await?;
            let answer = self
                .ask(legacy_request("tasks/get", &id), self.idle)
                .await?;
            let now = LegacyTask::answered(&answer)
                .map_err(|reason| self.unreadable("tasks/get", &id, &reason))?;
            if now.poll_ms.is_some() {
                poll = clamp_poll(now.poll_ms);
            }
            tracing::debug!(server = %self.server, task = %id, status = ?now.status, message = ?now.message, "upstream task polled");
            status = now.status;
        }
        if status == TaskStatus::Cancelled {
            cancel.disarm();
            return Err(self.ended(&id, "it was cancelled there".to_owned()));
        }
        // `input_required` (the server's requests come with `tasks/result`), `completed`
        // or `failed`: `tasks/result` waits for the end and carries the answer.
        let answer = self
            .ask(legacy_request("tasks/result", &id), self.total)
            .await;
        match answer {
            Ok(ServerResult::CallToolResult(result)) => {
                cancel.disarm();
                Ok(without_task_meta(result))
            }
            Ok(other) => {
                cancel.disarm();
                Err(self.unreadable("tasks/result", &id, &format!("{other:?}")))
            }
            Err(CallError::Server(error)) => {
                cancel.disarm();
                Err(CallError::Server(GatewayError::task_failed(
                    self.server,
                    self.tool,
                    &id,
                    error,
                )))
            }
            Err(other) => Err(other),
        }
    }

    /// Follows a 2026-07-28 task: `tasks/get` until terminal, input through the caller.
    async fn modern(
        &self,
        created: Task,
        cancel: &mut CancelOnDrop,
    ) -> Result<ServerResult, CallError> {
        let id = created.task_id;
        let mut poll = clamp_poll(created.poll_interval_ms);
        // A task created in another status is asked about at once.
        let mut wait = created.status == TaskStatus::Working;
        loop {
            if wait {
                self.wait(poll).await?;
            }
            wait = true;
            let get = ClientRequest::GetTaskRequest(Request::new(GetTaskParams::new(&id)));
            let got = match self.ask(get, self.idle).await? {
                ServerResult::GetTaskResult(got) => got.task,
                other => return Err(self.unreadable("tasks/get", &id, &format!("{other:?}"))),
            };
            if got.task.poll_interval_ms.is_some() {
                poll = clamp_poll(got.task.poll_interval_ms);
            }
            match got.payload {
                TaskPayload::Working => {}
                TaskPayload::InputRequired { input_requests } => {
                    self.answer_input(&id, input_requests).await?;
                }
                TaskPayload::Completed { result } => {
                    cancel.disarm();
                    return serde_json::from_value::<CallToolResult>(Value::Object(result))
                        .map(without_task_meta)
                        .map_err(|error| self.unreadable("tasks/get", &id, &error.to_string()));
                }
                TaskPayload::Failed { error } => {
                    cancel.disarm();
                    let error = GatewayError::readable_error(error);
                    return Err(CallError::Server(GatewayError::task_failed(
                        self.server,
                        self.tool,
                        &id,
                        error,
                    )));
                }
                TaskPayload::Cancelled => {
                    cancel.disarm();
                    return Err(self.ended(&id, "it was cancelled there".to_owned()));
                }
                other => {
                    return Err(self.unreadable("tasks/get", &id, &format!("{other:?}")));
                }
            }
        }
    }

    /// Answers a 2026-07-28 task's `input_required` through the caller, with `tasks/update`.
    async fn answer_input(
        &self,
        id: &str,
        requests: rmcp::model::InputRequests,
    ) -> Result<(), CallError> {
        let input = InputRequiredResult::from_input_requests(requests);
        // The upstream's keys are unique over its task's life: one numbering will do.
        let (responses, _) = super::forward::answer_input(self.server, self.call, 0, input)
            .await
            .map_err(|error| match error {
                CallError::Server(error) => {
                    CallError::Server(GatewayError::task_failed(self.server, self.tool, id, error))
                }
                other => other,
            })?;
        let update = UpdateTaskParams::new(id, responses.unwrap_or_default());
        self.ask(
            ClientRequest::UpdateTaskRequest(Request::new(update)),
            self.idle,
        )
        .await
        .map(|_| ())
    }

    /// One request about the task, within `limit` and the task's budget.
    async fn ask(
        &self,
        request: ClientRequest,
        limit: Duration,
    ) -> Result<ServerResult, CallError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timed_out());
        }
        let limit = limit.min(left);
        let timeouts = Timeouts {
            idle: limit,
            total: limit,
            auto: false,
        };
        let answer = self
            .gateway
            .forward(
                self.server,
                self.connection,
                &request,
                self.call,
                timeouts,
                self.modern,
            )
            .await;
        match answer {
            Err(CallError::Gateway(GatewayError::Timeout { .. })) if limit == left => {
                Err(self.timed_out())
            }
            other => other,
        }
    }

    /// Waits `poll` before the next poll; the caller cancelling or the budget ending stop it.
    async fn wait(&self, poll: Duration) -> Result<(), CallError> {
        let until = (Instant::now() + poll).min(self.deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = self.call.cancel.cancelled() => {
                tracing::info!(server = %self.server, tool = %self.tool, "the client cancelled a call running as an upstream task");
                return Err(CallError::Gateway(GatewayError::Cancelled));
            }
        }
        if Instant::now() >= self.deadline {
            return Err(self.timed_out());
        }
        Ok(())
    }

    fn timed_out(&self) -> CallError {
        CallError::Gateway(GatewayError::Timeout {
            server: self.server.to_owned(),
            after: self.total,
        })
    }

    /// The task ended without a result (`reason`).
    fn ended(&self, id: &str, reason: String) -> CallError {
        CallError::Gateway(GatewayError::UpstreamTask {
            server: self.server.to_owned(),
            tool: self.tool.to_owned(),
            task: id.to_owned(),
            reason,
        })
    }

    /// An answer Baton cannot read.
    fn unreadable(&self, method: &str, id: &str, reason: &str) -> CallError {
        self.ended(
            id,
            format!("its answer to {method} is not what the protocol says: {reason}"),
        )
    }

    fn cancel_on_drop(&self, id: &str) -> CancelOnDrop {
        CancelOnDrop {
            peer: Some(self.connection.session.peer().clone()),
            modern: self.modern,
            server: self.server.to_owned(),
            tool: self.tool.to_owned(),
            task: id.to_owned(),
            cancelled: self.call.cancel.clone(),
            source: self.call.input.clone(),
        }
    }
}

/// Sends `tasks/cancel` for a task whose end the call did not see (cancelled, timed out,
/// failed to poll, or the future dropped) — from a spawned task, so a drop sends it too —
/// and logs the server's answer.
struct CancelOnDrop {
    /// `None` once the task ended.
    peer: Option<Peer<RoleClient>>,
    modern: bool,
    server: String,
    tool: String,
    task: String,
    /// The call's cancellation: a step cancelled because Baton is stopping leaves the task
    /// running for the step to follow again ([`InputSource::resumes`]).
    cancelled: tokio_util::sync::CancellationToken,
    /// The step's input source, which remembers the task.
    source: Option<std::sync::Arc<dyn InputSource>>,
}

impl CancelOnDrop {
    fn disarm(&mut self) {
        self.peer = None;
    }

    fn armed(&self) -> bool {
        self.peer.is_some()
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(peer) = self.peer.take() else {
            return;
        };
        let (server, tool, task) = (
            std::mem::take(&mut self.server),
            std::mem::take(&mut self.tool),
            std::mem::take(&mut self.task),
        );
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(%server, %tool, %task, "could not cancel the upstream task: no runtime");
            return;
        };
        let modern = self.modern;
        let source = self.source.take();
        let stopping = self.cancelled.is_cancelled();
        runtime.spawn(async move {
            if stopping
                && let Some(source) = &source
                && source.resumes().await
            {
                tracing::info!(%server, %tool, %task,
                    "left the upstream task running: the step follows it again when its run resumes");
                return;
            }
            cancel_upstream(peer, modern, &server, &tool, &task).await;
            if let Some(source) = source {
                source.forget_upstream_task(&server).await;
            }
        });
    }
}

/// Sends `tasks/cancel` for `task` and logs the server's answer at info.
async fn cancel_upstream(
    peer: Peer<RoleClient>,
    modern: bool,
    server: &str,
    tool: &str,
    task: &str,
) {
    let mut options = PeerRequestOptions::no_options();
    let request = if modern {
        let mut meta = bridge::upstream_meta(None, None);
        bridge::declare_tasks(&mut meta);
        options.meta = Some(meta);
        ClientRequest::CancelTaskRequest(Request::new(CancelTaskParams::new(task)))
    } else {
        legacy_request("tasks/cancel", task)
    };
    let answer = match peer.send_request_with_option(request, options).await {
        Ok(handle) => tokio::time::timeout(CANCEL_WAIT, handle.await_response()).await,
        Err(error) => Ok(Err(error)),
    };
    match answer {
        Ok(Ok(result)) => {
            // A 2025-11-25 server answers with the task; a 2026-07-28 one acknowledges.
            let status = match LegacyTask::answered(&result) {
                Ok(now) => serde_json::to_value(now.status)
                    .ok()
                    .and_then(|status| status.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                Err(_) if modern => "acknowledged".to_owned(),
                Err(reason) => format!("unreadable answer ({reason})"),
            };
            tracing::info!(%server, %tool, %task, %status, "cancelled the upstream task");
        }
        Ok(Err(error)) => {
            tracing::info!(%server, %tool, %task, %error, "the upstream refused to cancel its task");
        }
        Err(_) => tracing::info!(
            %server,
            %tool,
            %task,
            "the upstream did not answer tasks/cancel within {CANCEL_WAIT:?}"
        ),
    }
}

#[cfg(test)]
mod tests;
