//! The task side of [`DownstreamSession`]: a call Baton runs as a task, and `tasks/get`,
//! `tasks/cancel`, `tasks/update` answered through the gateway's [`TaskBackend`].

use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolRequestParams, CancelTaskParams, CreateTaskResult, GetTaskParams, GetTaskResult,
        UpdateTaskParams,
    },
    service::RequestContext,
};

use super::DownstreamSession;
use crate::tasks::{NewTask, ProgressSink, TaskBackend, owner};

impl DownstreamSession {
    /// Who owns the tasks this request creates or may see (see [`owner`]): a stateless
    /// HTTP request (no session id) without credentials is `anonymous`.
    pub(super) fn task_owner(&self, context: &RequestContext<RoleServer>) -> String {
        let call = self.call_context(context);
        let parts = context.extensions.get::<http::request::Parts>();
        let session = match parts {
            // The session id the client holds (stable for the session's life, whichever
            // handler serves it).
            Some(parts) => parts
                .headers
                .get(super::MCP_SESSION_ID)
                .and_then(|value| value.to_str().ok()),
            // stdio and legacy SSE: this handler is the session.
            None => Some(self.id.as_str()),
        };
        owner(
            call.principal
                .as_ref()
                .map(|principal| principal.name.as_str()),
            session,
        )
    }

    pub(super) fn backend(&self) -> Result<&std::sync::Arc<dyn TaskBackend>, ErrorData> {
        self.gateway
            .tasks()
            .ok_or_else(|| crate::error::GatewayError::NoTasks.into())
    }

    /// Starts `request` as a task owned by this request's caller, kept for `ttl` when the
    /// client asked (else `tasks.ttl`), its progress sent to `progress` if given.
    pub(super) async fn start_task(
        &self,
        backend: &std::sync::Arc<dyn TaskBackend>,
        request: CallToolRequestParams,
        (ttl, progress): (Option<std::time::Duration>, Option<ProgressSink>),
        context: &RequestContext<RoleServer>,
    ) -> Result<CreateTaskResult, ErrorData> {
        let owner = self.task_owner(context);
        let origin = match owner.strip_prefix("principal:") {
            Some(principal) => format!("task:{principal}"),
            None => "task".to_owned(),
        };
        let task = backend
            .create(NewTask {
                tool: request.name.to_string(),
                arguments: request.arguments,
                owner,
                origin,
                ttl,
                progress,
                answers: request.input_responses,
            })
            .await?;
        Ok(CreateTaskResult::new(task))
    }

    pub(super) async fn task_get(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        let owner = self.task_owner(&context);
        let task = self.backend()?.get(&owner, &request.task_id).await?;
        Ok(GetTaskResult::new(task))
    }

    pub(super) async fn task_cancel(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let owner = self.task_owner(&context);
        self.backend()?.cancel(&owner, &request.task_id).await
    }

    /// `tasks/update`: delivers the client's answers to the input the task waits for
    /// (responses for keys nothing waits under are ignored, as the extension says); the
    /// task must exist and be the caller's.
    pub(super) async fn task_update(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let owner = self.task_owner(&context);
        self.backend()?
            .update(&owner, &request.task_id, request.input_responses)
            .await
    }
}
