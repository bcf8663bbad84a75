//! The seam for MCP tasks (the `io.modelcontextprotocol/tasks` extension, SEP-2663).
//!
//! This crate decides *when* a call becomes a task — the client declared the extension
//! (for its session, or in the request's `_meta`) and the tool's support says so — and
//! *who* owns it ([`owner`]); the application's [`TaskBackend`] makes it durable (a run of
//! the engine) and answers for it from the store. Without a backend Baton advertises no
//! tasks and every call is synchronous.

use baton_core::config::TaskSupport;
use futures::future::BoxFuture;
use rmcp::{
    ErrorData, RoleServer,
    model::{DetailedTask, InputRequiredResult, InputResponses, JsonObject, ProgressToken, Task},
    service::Peer,
};

use crate::error::GatewayError;

/// A call to run as a task.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The exposed tool name.
    pub tool: String,
    pub arguments: Option<JsonObject>,
    /// Who may see it ([`owner`]).
    pub owner: String,
    /// Where it came from, for `baton runs` (`task`, `task:PRINCIPAL`).
    pub origin: String,
    /// How long the client asked the task to be kept (a 2025-11-25 `params.task.ttl`);
    /// `None`: `tasks.ttl`. Never more than `tasks.max_ttl`.
    pub ttl: Option<std::time::Duration>,
    /// Where the task's progress goes while its client stays connected: a 2025-11-25
    /// client's `progressToken` stays valid for the task's life.
    pub progress: Option<ProgressSink>,
    /// The client's answers to the tool's first input round, gathered before the task was
    /// made (`after_input`): the task's call is answered with them when the tool asks again.
    pub answers: Option<InputResponses>,
}

/// A client and the progress token it gave: where a task's progress notifications go.
pub type ProgressSink = (Peer<RoleServer>, ProgressToken);

/// What keeps tasks (the application installs one with [`crate::gateway::Gateway::set_tasks`]).
pub trait TaskBackend: Send + Sync {
    /// Starts the work and records the task; returns once `tasks/get` would find it.
    fn create(&self, task: NewTask) -> BoxFuture<'_, Result<Task, ErrorData>>;
    /// The task `id` as `owner` sees it; an unknown, expired or foreign id is the same
    /// `-32602` error.
    fn get<'a>(
        &'a self,
        owner: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<DetailedTask, ErrorData>>;
    /// Asks the work to stop (idempotent on a finished task).
    fn cancel<'a>(&'a self, owner: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), ErrorData>>;
    /// Delivers `responses` to the input the task `id` waits for (`tasks/update`):
    /// responses under keys nothing waits for are ignored, as the extension says.
    fn update<'a>(
        &'a self,
        owner: &'a str,
        id: &'a str,
        responses: InputResponses,
    ) -> BoxFuture<'a, Result<(), ErrorData>>;
    /// `owner`'s tasks, newest first: at most `limit` of them after the first `skip`
    /// (the 2025-11-25 `tasks/list`), each with its status.
    fn list<'a>(
        &'a self,
        owner: &'a str,
        skip: usize,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>, ErrorData>>;
    /// Resolves when the task `id` may have changed (its run moved on, or it asked for
    /// input), or after `within` at the latest — for those who follow a task
    /// (`tasks/result`, status notifications) without polling the store in a tight loop.
    fn changed<'a>(&'a self, id: &'a str, within: std::time::Duration) -> BoxFuture<'a, ()> {
        let _ = id;
        Box::pin(tokio::time::sleep(within))
    }
}

/// The answers to one `input_required` round: the responses and the server's request
/// state, for the retry.
pub type InputAnswer = (Option<InputResponses>, Option<String>);

/// Who answers an upstream's `input_required` rounds for a call with no client on the
/// line: a step of a Baton task parks the requests in the store (`tasks/get` shows them,
/// status `input_required`) until the client answers them with `tasks/update`.
pub trait InputSource: Send + Sync {
    /// Answers round `round` (0 for the first) of a call to `server`; a call cancelled
    /// meanwhile is `CallError::Gateway(GatewayError::Cancelled)`.
    fn fulfil<'a>(
        &'a self,
        server: &'a str,
        round: usize,
        input: InputRequiredResult,
    ) -> BoxFuture<'a, Result<InputAnswer, crate::error::CallError>>;
    /// Where the call's progress notifications go, if anywhere (the task's client, while
    /// it is connected and asked for progress).
    fn progress(&self) -> Option<ProgressSink> {
        None
    }
    /// The task this step made at `server` earlier and has not seen end (the step runs
    /// again after Baton stopped): the call follows it instead of calling the tool again.
    fn recall_upstream_task<'a>(&'a self, server: &'a str) -> BoxFuture<'a, Option<String>> {
        let _ = server;
        Box::pin(async { None })
    }
    /// Records that this step's call made task `task` at `server`.
    fn remember_upstream_task<'a>(&'a self, server: &'a str, task: &'a str) -> BoxFuture<'a, ()> {
        let _ = (server, task);
        Box::pin(async {})
    }
    /// Forgets this step's task at `server` (it ended, was cancelled, or is unknown there).
    fn forget_upstream_task<'a>(&'a self, server: &'a str) -> BoxFuture<'a, ()> {
        let _ = server;
        Box::pin(async {})
    }
    /// Whether a call cancelled under this step will run again (Baton is stopping and the
    /// run resumes later) rather than end (its run was cancelled): an upstream task it made
    /// is then left running, for the step to follow when it runs again.
    fn resumes(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

/// The owner of the tasks a caller creates: its principal when it authenticated, else its
/// session, else (a stateless client without credentials) `anonymous` — whose tasks are
/// found by their random id alone.
pub fn owner(principal: Option<&str>, session: Option<&str>) -> String {
    match (principal, session) {
        (Some(principal), _) => format!("principal:{principal}"),
        (None, Some(session)) => format!("session:{session}"),
        (None, None) => "anonymous".to_owned(),
    }
}

/// What a call to a tool with `support` becomes for a client that did (`declared`) or did
/// not declare the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    Sync,
    Task,
    /// A task once the call carries the client's input responses; before, synchronous
    /// (its `input_required` rounds go to the client).
    TaskAfterInput,
    /// The tool runs only as a task and the client cannot take one: `-32021`.
    MissingCapability,
}

pub fn dispatch(support: Option<TaskSupport>, declared: bool) -> Dispatch {
    match (support, declared) {
        (Some(TaskSupport::Required), false) => Dispatch::MissingCapability,
        (Some(TaskSupport::Optional | TaskSupport::Required), true) => Dispatch::Task,
        (Some(TaskSupport::AfterInput), true) => Dispatch::TaskAfterInput,
        _ => Dispatch::Sync,
    }
}

/// The `-32021` error naming the tasks extension.
pub fn missing_capability(tool: &str) -> ErrorData {
    GatewayError::TaskRequired(tool.to_owned()).into()
}

/// The `-32602` answer for a task id that is unknown, expired or someone else's.
pub fn unknown_task(id: &str) -> ErrorData {
    GatewayError::UnknownTask(id.to_owned()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_declaring_client_gets_a_task_and_required_tools_refuse_the_others() {
        use TaskSupport::*;
        assert_eq!(dispatch(None, true), Dispatch::Sync);
        assert_eq!(dispatch(Some(Forbidden), true), Dispatch::Sync);
        assert_eq!(dispatch(Some(Optional), true), Dispatch::Task);
        assert_eq!(dispatch(Some(Optional), false), Dispatch::Sync);
        assert_eq!(dispatch(Some(Required), true), Dispatch::Task);
        assert_eq!(dispatch(Some(Required), false), Dispatch::MissingCapability);
        assert_eq!(dispatch(Some(AfterInput), true), Dispatch::TaskAfterInput);
        assert_eq!(dispatch(Some(AfterInput), false), Dispatch::Sync);
        assert_eq!(missing_capability("x").code.0, -32021);
    }

    #[test]
    fn a_principal_owns_before_a_session() {
        assert_eq!(owner(Some("ana"), Some("s1")), "principal:ana");
        assert_eq!(owner(None, Some("s1")), "session:s1");
        assert_eq!(owner(None, None), "anonymous");
    }
}
