//! Input a task waits for: when a step of a task's run calls a server that asks for input
//! (a 2026-07-28 `input_required` result — elicitation, sampling, roots), no client is on
//! the line, so the requests are parked in the store (`task_inputs`). `tasks/get` shows the
//! task `input_required` with the requests still unanswered; `tasks/update` records the
//! client's responses; the step, which waits here, retries the call with them once every
//! request of its round is answered. The wait is in the store, so the responses may reach
//! any Baton process sharing it; a step repeated after a restart finds the responses the
//! client already gave to the same requests.

use std::{sync::LazyLock, time::Duration};

use baton_engine::baton_store::{Store, TaskRecord};
use baton_mcp::{
    bridge,
    error::{CallError, GatewayError},
    tasks::{InputAnswer, InputSource},
};
use futures::future::BoxFuture;
use rmcp::{
    ErrorData, Peer, RoleServer,
    model::{InputRequest, InputRequests, InputRequiredResult, InputResponses},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Woken whenever this process records a response, so a waiting step here goes on at once;
/// a response recorded by another process is seen at the next poll.
static ANSWERED: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Woken whenever a step here parks a request for input, so those following its task
/// (`tasks/result`, status notifications) see `input_required` at once.
pub static ASKED: LazyLock<Notify> = LazyLock::new(Notify::new);

/// How often a waiting step looks for responses another process recorded.
const POLL: Duration = Duration::from_millis(500);

/// The input source of one engine call: the task of its run when it has one, else the
/// legacy client waiting for the run (as before tasks could wait).
pub struct StepInput {
    pub store: Store,
    /// The step's idempotency key, `RUN/STEP/ITEM`.
    pub key: String,
    pub cancel: CancellationToken,
    /// A legacy client waiting for the run, asked directly.
    pub client: Option<Peer<RoleServer>>,
}

impl InputSource for StepInput {
    fn fulfil<'a>(
        &'a self,
        server: &'a str,
        round: usize,
        input: InputRequiredResult,
    ) -> BoxFuture<'a, Result<InputAnswer, CallError>> {
        Box::pin(async move {
            self.answer(server, round, input)
                .await
                .map_err(|error| match error {
                    Stop::Cancelled => CallError::Gateway(GatewayError::Cancelled),
                    Stop::Error(error) => CallError::Server(error),
                })
        })
    }

    fn progress(&self) -> Option<baton_mcp::tasks::ProgressSink> {
        crate::tasks::progress_of(self.run())
    }

    fn recall_upstream_task<'a>(&'a self, server: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            self.store
                .upstream_task(&self.key, server)
                .await
                .inspect_err(|error| tracing::warn!(step = %self.key, %server, %error, "could not read the step's upstream task"))
                .ok()
                .flatten()
        })
    }

    fn remember_upstream_task<'a>(&'a self, server: &'a str, task: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let now = chrono::Utc::now().timestamp_millis();
            if let Err(error) = self
                .store
                .remember_upstream_task(&self.key, server, task, now)
                .await
            {
                tracing::warn!(step = %self.key, %server, %task, %error,
                    "could not record the step's upstream task (a restart would call the tool again)");
            }
        })
    }

    fn forget_upstream_task<'a>(&'a self, server: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(error) = self.store.forget_upstream_task(&self.key, server).await {
                tracing::warn!(step = %self.key, %server, %error, "could not forget the step's upstream task");
            }
        })
    }

    fn resumes(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            use baton_engine::baton_store::RunStatus;
            match self.store.run(self.run()).await {
                Ok(run) => matches!(run.status, RunStatus::Running | RunStatus::Queued),
                Err(_) => false,
            }
        })
    }
}

impl StepInput {
    /// The run this step belongs to.
    fn run(&self) -> &str {
        self.key.split('/').next().unwrap_or_default()
    }

    async fn answer(
        &self,
        server: &str,
        round: usize,
        input: InputRequiredResult,
    ) -> Result<InputAnswer, Stop> {
        let run = self.key.split('/').next().unwrap_or_default();
        let task = self.store.task_of_run(run).await.map_err(internal)?;
        let Some(task) = task else {
            return Ok(bridge::fulfil_input(server, self.client.as_ref(), input).await?);
        };
        let requests = input.input_requests.unwrap_or_default();
        if requests.is_empty() {
            // Only state to carry: the server wants the call again as it is.
            return match input.request_state {
                Some(state) => Ok((None, Some(state))),
                None => Err(GatewayError::Relay(format!(
                    "server \"{server}\" asked for input without saying what it needs"
                ))
                .into()),
            };
        }
        let responses = self.wait(&task, round, &requests).await?;
        Ok((Some(responses), input.request_state))
    }

    /// The prefix of this step's keys: its step and item (a run's steps may wait at once).
    fn prefix(&self) -> &str {
        self.key.split_once('/').map_or("", |(_, step)| step)
    }

    /// Parks `requests` under the task and waits until each has a response.
    async fn wait(
        &self,
        task: &TaskRecord,
        round: usize,
        requests: &InputRequests,
    ) -> Result<InputResponses, Stop> {
        let prefix = format!("{}/{round}/", self.prefix());
        let now = chrono::Utc::now().timestamp_millis();
        for (key, request) in requests {
            let text = serde_json::to_string(request).map_err(internal)?;
            self.store
                .ask_task_input(&task.id, &format!("{prefix}{key}"), &text, now)
                .await
                .map_err(internal)?;
        }
        ASKED.notify_waiters();
        tracing::info!(task = %task.id, tool = %task.tool, keys = requests.len(),
            "the task waits for input");
        let step = format!("{}/", self.prefix());
        loop {
            // Armed before the store is read, so a response recorded meanwhile wakes us.
            let answered = ANSWERED.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            let mut answers = InputResponses::new();
            for input in self.store.task_inputs(&task.id).await.map_err(internal)? {
                let asked = input
                    .key
                    .strip_prefix(&prefix)
                    .filter(|key| requests.contains_key(*key));
                match (asked, input.response) {
                    (Some(key), Some(response)) => {
                        if let Ok(value) = serde_json::from_str(&response) {
                            answers.insert(key.to_owned(), value);
                        }
                    }
                    // This step's request that is not asked any more (a step repeated after
                    // a restart whose server asked otherwise): `tasks/get` must not show it.
                    (None, None) if input.key.starts_with(&step) => {
                        self.store
                            .forget_task_input(&task.id, &input.key)
                            .await
                            .map_err(internal)?;
                    }
                    _ => {}
                }
            }
            if answers.len() == requests.len() {
                return Ok(answers);
            }
            if task.expired(chrono::Utc::now().timestamp_millis()) {
                return Err(GatewayError::Relay(format!(
                    "task {} expired while waiting for input (tasks.ttl)",
                    task.id
                ))
                .into());
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(Stop::Cancelled),
                _ = answered => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// The requests task `task` waits for (unanswered), by the key the client answers under.
pub async fn pending(store: &Store, task: &str) -> Result<InputRequests, ErrorData> {
    let mut pending = InputRequests::new();
    for input in store.task_inputs(task).await.map_err(internal)? {
        if input.response.is_some() {
            continue;
        }
        if let Ok(request) = serde_json::from_str::<InputRequest>(&input.request) {
            pending.insert(input.key, request);
        }
    }
    Ok(pending)
}

/// Records `answers` a client gave to a tool's first input round before its task existed
/// (`after_input`), for the task's one-step run: its call asks again under the same keys
/// (the step `call`, not a `for_each` item: `-1`, round 0) and finds them.
pub async fn answer_ahead(
    store: &Store,
    task: &str,
    answers: InputResponses,
    now: i64,
) -> Result<(), ErrorData> {
    for (key, response) in answers {
        let key = format!("{WHOLE_CALL_STEP}/-1/0/{key}");
        let response = serde_json::to_string(&response).map_err(internal)?;
        store
            .ask_task_input(task, &key, baton_engine::baton_store::ANY_REQUEST, now)
            .await
            .map_err(internal)?;
        store
            .answer_task_input(task, &key, &response)
            .await
            .map_err(internal)?;
    }
    Ok(())
}

/// The step of a one-step run calling a tool ([`baton_core::workflow::Workflow::whole_call`]).
const WHOLE_CALL_STEP: &str = "call";

/// Records the client's `responses` for task `task` (keys nothing waits under are
/// ignored) and wakes the steps waiting here.
pub async fn answer(store: &Store, task: &str, responses: InputResponses) -> Result<(), ErrorData> {
    for (key, response) in responses {
        let text = serde_json::to_string(&response).map_err(internal)?;
        store
            .answer_task_input(task, &key, &text)
            .await
            .map_err(internal)?;
    }
    ANSWERED.notify_waiters();
    Ok(())
}

/// Why a step stopped waiting for input.
enum Stop {
    Cancelled,
    Error(ErrorData),
}

impl From<ErrorData> for Stop {
    fn from(error: ErrorData) -> Self {
        Stop::Error(error)
    }
}

impl From<GatewayError> for Stop {
    fn from(error: GatewayError) -> Self {
        Stop::Error(error.into())
    }
}

fn internal(error: impl std::fmt::Display) -> ErrorData {
    GatewayError::Internal(error.to_string()).into()
}
