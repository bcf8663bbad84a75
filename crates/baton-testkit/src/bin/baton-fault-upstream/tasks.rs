//! `task_job {ms}`: with the tasks extension declared in the request (SEP-2663), a task
//! that completes after `ms` milliseconds ("slept MS as a task"), polled with `tasks/get`
//! and stopped by `tasks/cancel` (which says so on stderr); without it, the same sleep
//! answered inline ("slept MS inline").

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::{
    ErrorData,
    model::{
        CallToolResult, ContentBlock, CreateTaskResult, DetailedTask, GetTaskResult, JsonObject,
        Task, TaskPayload, TaskStatus,
    },
};

const CREATED_AT: &str = "2026-01-01T00:00:00Z";

enum State {
    Working,
    Completed(CallToolResult),
    Cancelled,
}

/// The tasks this process runs.
#[derive(Default)]
pub struct Tasks {
    next: AtomicU64,
    states: Mutex<HashMap<String, State>>,
}

impl Tasks {
    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a task that completes after `ms` (unless cancelled first).
    pub fn start(self: &Arc<Self>, ms: u64) -> CreateTaskResult {
        let id = format!("job-{}", self.next.fetch_add(1, Ordering::SeqCst) + 1);
        self.states().insert(id.clone(), State::Working);
        let tasks = self.clone();
        let done = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let mut states = tasks.states();
            if let Some(state @ State::Working) = states.get_mut(&done) {
                let text = format!("slept {ms} as a task");
                *state = State::Completed(CallToolResult::success(vec![ContentBlock::text(text)]));
            }
        });
        eprintln!("task_job: task {id} started");
        CreateTaskResult::new(task(&id, TaskStatus::Working))
    }

    pub fn get(&self, id: &str) -> Result<GetTaskResult, ErrorData> {
        let states = self.states();
        let state = states.get(id).ok_or_else(|| unknown(id))?;
        let payload = match state {
            State::Working => TaskPayload::Working,
            State::Cancelled => TaskPayload::Cancelled,
            State::Completed(result) => {
                let result: JsonObject = match serde_json::to_value(result) {
                    Ok(serde_json::Value::Object(object)) => object,
                    _ => JsonObject::new(),
                };
                TaskPayload::Completed { result }
            }
        };
        Ok(GetTaskResult::new(DetailedTask::new(
            task(id, payload.status()),
            payload,
        )))
    }

    pub fn cancel(&self, id: &str) -> Result<(), ErrorData> {
        let mut states = self.states();
        let state = states.get_mut(id).ok_or_else(|| unknown(id))?;
        if matches!(state, State::Working) {
            *state = State::Cancelled;
            eprintln!("task_job: task {id} cancelled");
        }
        Ok(())
    }
}

fn task(id: &str, status: TaskStatus) -> Task {
    Task::new(id, status, CREATED_AT, CREATED_AT)
        .with_ttl_ms(60_000)
        .with_poll_interval_ms(100)
}

fn unknown(id: &str) -> ErrorData {
    ErrorData::invalid_params(format!("no task {id}"), None)
}
