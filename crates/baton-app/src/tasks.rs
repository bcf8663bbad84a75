//! MCP tasks kept by the durable engine ([`baton_mcp::tasks::TaskBackend`]): a task is a
//! run — a workflow tool's own run, or a one-step run whose output is the tool's whole
//! answer — plus a `tasks` row (owner, tool, TTL). So a task keeps running when its client
//! leaves, survives a restart (the run resumes, its finished step is not repeated) and is
//! answered from the store by whichever process the client reaches.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use baton_core::{config::TaskSupport, workflow::Workflow};
use baton_engine::{
    Engine,
    baton_store::{RunRecord, RunStatus, Store, TaskRecord},
};
use baton_mcp::{
    error::GatewayError,
    tasks::{NewTask, ProgressSink, TaskBackend, unknown_task},
};
use futures::future::BoxFuture;
use rmcp::{
    ErrorData,
    model::{DetailedTask, InputRequests, JsonObject, Task, TaskPayload, TaskStatus},
};
use serde_json::Value;

use baton_core::config::WORKFLOW_SERVER;

use crate::{Services, sets::workflows::run_answer};

/// Where the progress of each task's run goes while its client is connected (a 2025-11-25
/// client's progress token; this process's runs only), by run id.
static PROGRESS: LazyLock<Mutex<HashMap<String, ProgressSink>>> = LazyLock::new(Default::default);

fn progress_sinks() -> std::sync::MutexGuard<'static, HashMap<String, ProgressSink>> {
    PROGRESS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the progress of `run`'s calls goes, if its task's client asked for progress and
/// is still connected.
pub(crate) fn progress_of(run: &str) -> Option<ProgressSink> {
    let mut sinks = progress_sinks();
    let closed = sinks.get(run)?.0.is_transport_closed();
    if closed {
        sinks.remove(run);
        return None;
    }
    sinks.get(run).cloned()
}

/// The tasks of one Baton process, in its store.
pub struct StoreTasks {
    services: Arc<Services>,
    gateway: std::sync::Weak<baton_mcp::gateway::Gateway>,
}

impl StoreTasks {
    pub fn new(services: Arc<Services>, gateway: &Arc<baton_mcp::gateway::Gateway>) -> Self {
        StoreTasks {
            services,
            gateway: Arc::downgrade(gateway),
        }
    }

    fn parts(&self) -> Result<(&Store, &Arc<Engine>), ErrorData> {
        let unavailable = |why: String| internal(format!("tasks are unavailable: {why}"));
        Ok((
            self.services.store().map_err(unavailable)?,
            self.services.engine().map_err(unavailable)?,
        ))
    }

    fn settings(&self) -> baton_core::config::TaskSettings {
        self.gateway
            .upgrade()
            .map(|gateway| gateway.config().tasks.clone())
            .unwrap_or_default()
    }

    /// The workflow a `workflow__NAME` tool runs (`None`: another tool).
    fn workflow_of<'a>(&self, tool: &'a str) -> Option<&'a str> {
        let gateway = self.gateway.upgrade()?;
        let separator = gateway.config().namespace.separator.clone();
        tool.strip_prefix(WORKFLOW_SERVER)?
            .strip_prefix(separator.as_str())
    }

    /// `owner`'s task `id`, if it exists and has not expired.
    async fn find(&self, store: &Store, owner: &str, id: &str) -> Result<TaskRecord, ErrorData> {
        let record = store.task(id).await.map_err(internal)?;
        match record {
            Some(task) if task.owner == owner && !task.expired(baton_store_now()) => Ok(task),
            _ => Err(unknown_task(id)),
        }
    }

    async fn create_task(&self, new: NewTask) -> Result<Task, ErrorData> {
        let (store, engine) = self.parts()?;
        let settings = self.settings();
        let arguments = new.arguments.unwrap_or_default();
        let (run, kind) = match self.workflow_of(&new.tool) {
            Some(workflow) => (
                engine
                    .start_with(workflow, &arguments, &new.origin, None)
                    .await,
                "workflow",
            ),
            None => {
                let definition = Workflow::whole_call(
                    &format!("task:{}", new.tool),
                    &format!("a task calling {}", new.tool),
                    &new.tool,
                    Value::Object(arguments),
                );
                let run = engine
                    .start_definition(&definition, &JsonObject::new(), &new.origin, None)
                    .await;
                (run, "tool")
            }
        };
        let run =
            run.map_err(|error| ErrorData::from(GatewayError::InvalidParams(error.to_string())))?;
        let now = baton_store_now();
        let record = TaskRecord {
            id: new_task_id(),
            run_id: run.clone(),
            owner: new.owner,
            tool: new.tool,
            kind: kind.to_owned(),
            created_at: now,
            ttl_ms: Some(millis(
                new.ttl
                    .map_or(settings.ttl, |asked| asked.min(settings.max_ttl)),
            )),
            poll_interval_ms: millis(settings.poll_interval),
        };
        if let Some(sink) = new.progress {
            let mut sinks = progress_sinks();
            sinks.retain(|_, (peer, _)| !peer.is_transport_closed());
            sinks.insert(run.clone(), sink);
        }
        if let Err(error) = store.create_task(&record).await {
            progress_sinks().remove(&run);
            let _ = engine.cancel(&run).await;
            return Err(internal(format!("the task could not be recorded: {error}")));
        }
        if let (Some(answers), "tool") = (new.answers, kind) {
            // Answers gathered before the task (an `after_input` tool's first round): the
            // task's call asks again, and finds them.
            crate::task_input::answer_ahead(store, &record.id, answers, now).await?;
        }
        // Here when this worker has room, else by whichever worker has.
        engine.submit(&run);
        Ok(base(&record, None))
    }

    async fn get_task(&self, owner: &str, id: &str) -> Result<DetailedTask, ErrorData> {
        let (store, _) = self.parts()?;
        let task = self.find(store, owner, id).await?;
        view(store, &task).await
    }

    async fn update_task(
        &self,
        owner: &str,
        id: &str,
        responses: rmcp::model::InputResponses,
    ) -> Result<(), ErrorData> {
        let (store, _) = self.parts()?;
        let task = self.find(store, owner, id).await?;
        crate::task_input::answer(store, &task.id, responses).await
    }

    /// `owner`'s live tasks, newest first, `limit` after the first `skip`.
    async fn list_tasks(
        &self,
        owner: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<Task>, ErrorData> {
        let (store, _) = self.parts()?;
        let wanted = i64::try_from(skip.saturating_add(limit)).unwrap_or(i64::MAX);
        let now = baton_store_now();
        let records = store.tasks_of(owner, wanted).await.map_err(internal)?;
        let mut tasks = Vec::new();
        for task in records.iter().filter(|task| !task.expired(now)).skip(skip) {
            tasks.push(view(store, task).await?.task);
        }
        Ok(tasks)
    }

    /// Waits until task `id`'s run emits an event here, a step here asks for input, or
    /// `within` passes (a change made by another process is seen then).
    async fn task_changed(&self, id: &str, within: std::time::Duration) {
        let Ok((store, engine)) = self.parts() else {
            return tokio::time::sleep(within).await;
        };
        // Armed before the store is read, so nothing that happens meanwhile is missed.
        let mut events = engine.subscribe();
        let asked = crate::task_input::ASKED.notified();
        let run = match store.task(id).await {
            Ok(Some(task)) => task.run_id,
            _ => return tokio::time::sleep(within).await,
        };
        let of_run = async {
            loop {
                match events.recv().await {
                    Ok(event) if event.run() == run => return,
                    Ok(_) => {}
                    // Missed events may include this run's.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        return std::future::pending().await;
                    }
                }
            }
        };
        tokio::select! {
            () = of_run => {}
            () = asked => {}
            () = tokio::time::sleep(within) => {}
        }
    }

    async fn cancel_task(&self, owner: &str, id: &str) -> Result<(), ErrorData> {
        let (store, engine) = self.parts()?;
        let task = self.find(store, owner, id).await?;
        engine
            .cancel(&task.run_id)
            .await
            .map(|_| ())
            .map_err(internal)
    }
}

impl TaskBackend for StoreTasks {
    fn create(&self, task: NewTask) -> BoxFuture<'_, Result<Task, ErrorData>> {
        Box::pin(self.create_task(task))
    }

    fn get<'a>(
        &'a self,
        owner: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<DetailedTask, ErrorData>> {
        Box::pin(self.get_task(owner, id))
    }

    fn cancel<'a>(&'a self, owner: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), ErrorData>> {
        Box::pin(self.cancel_task(owner, id))
    }

    fn update<'a>(
        &'a self,
        owner: &'a str,
        id: &'a str,
        responses: rmcp::model::InputResponses,
    ) -> BoxFuture<'a, Result<(), ErrorData>> {
        Box::pin(self.update_task(owner, id, responses))
    }

    fn list<'a>(
        &'a self,
        owner: &'a str,
        skip: usize,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Task>, ErrorData>> {
        Box::pin(self.list_tasks(owner, skip, limit))
    }

    fn changed<'a>(&'a self, id: &'a str, within: std::time::Duration) -> BoxFuture<'a, ()> {
        Box::pin(self.task_changed(id, within))
    }
}

/// A workflow tool runs as a task for a client that can take one.
pub const WORKFLOW_TASK_SUPPORT: TaskSupport = TaskSupport::Optional;

/// The task's base fields, `updated` being when its run last changed (ms).
fn base(task: &TaskRecord, updated: Option<i64>) -> Task {
    let mut base = Task::new(
        task.id.clone(),
        TaskStatus::Working,
        iso(task.created_at),
        iso(updated.unwrap_or(task.created_at)),
    )
    .with_poll_interval_ms(u64::try_from(task.poll_interval_ms).unwrap_or(1000));
    if let Some(ttl) = task.ttl_ms {
        base = base.with_ttl_ms(u64::try_from(ttl).unwrap_or(u64::MAX));
    }
    base
}

/// The task as `tasks/get` shows it now: its run's status, and the input it waits for.
/// A finished run's progress sink is dropped.
async fn view(store: &Store, task: &TaskRecord) -> Result<DetailedTask, ErrorData> {
    let run = store.run(&task.run_id).await.map_err(internal)?;
    let waiting = if run.status.is_finished() {
        progress_sinks().remove(&run.id);
        Default::default()
    } else {
        crate::task_input::pending(store, &task.id).await?
    };
    Ok(detailed(task, &run, waiting))
}

/// The task as `tasks/get` shows it, from its run and the input it `waits` for.
fn detailed(task: &TaskRecord, run: &RunRecord, waits: InputRequests) -> DetailedTask {
    let updated = run.finished_at.or(run.started_at).unwrap_or(run.created_at);
    let mut base = base(task, Some(updated));
    if !waits.is_empty() {
        base = base.with_status_message("waiting for the client's input (tasks/update)");
    } else if !run.status.is_finished() {
        base = base.with_status_message(run.status.as_str());
    }
    let payload = match run.status {
        RunStatus::Running if !waits.is_empty() => TaskPayload::InputRequired {
            input_requests: waits,
        },
        RunStatus::Queued | RunStatus::Running => TaskPayload::Working,
        RunStatus::Cancelled => TaskPayload::Cancelled,
        // A workflow answers as its tool does: the run, flagged as an error if it failed.
        _ if task.kind == "workflow" => TaskPayload::Completed {
            result: object(run_answer(run)),
        },
        RunStatus::Succeeded => match run.outputs.clone() {
            Some(Value::Object(result)) => TaskPayload::Completed { result },
            other => failed(&format!("the tool's answer was not kept: {other:?}")),
        },
        RunStatus::Failed => failed(run.error.as_deref().unwrap_or("the call failed")),
    };
    DetailedTask::new(base, payload)
}

/// A protocol-level failure: the call got no answer (the server's JSON-RPC error, an
/// unreachable server, a timeout).
fn failed(message: &str) -> TaskPayload {
    let mut error = JsonObject::new();
    error.insert("code".into(), Value::from(-32603));
    error.insert("message".into(), Value::from(message));
    TaskPayload::Failed { error }
}

fn object<T: serde::Serialize>(value: T) -> JsonObject {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => JsonObject::new(),
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn baton_store_now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A task id: 122 random bits (a v4 UUID), never repeated, not guessable.
fn new_task_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Baton's own failure, as a JSON-RPC error.
fn internal(error: impl std::fmt::Display) -> ErrorData {
    GatewayError::Internal(error.to_string()).into()
}
