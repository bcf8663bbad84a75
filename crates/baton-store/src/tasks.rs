//! MCP tasks (SQLite migration 11, PostgreSQL 7): a tool call a client asked to run as a
//! task is a run of the engine, so its status and result live with the run; this record
//! adds what the protocol needs around it — the task's own id (what the client holds),
//! who may see it, the tool it calls and how long it is kept.

use crate::Result;

/// One task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The id the client holds (random, not guessable).
    pub id: String,
    /// The engine run that does the work.
    pub run_id: String,
    /// Who may see it: `principal:NAME`, `session:ID`, or `anonymous` (see docs/TASKS.md).
    pub owner: String,
    /// The exposed tool name the client called.
    pub tool: String,
    /// `tool` (a one-step run whose output is the tool's whole answer) or `workflow`.
    pub kind: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// How long after `created_at` the task is kept; `None`: until pruned by age.
    pub ttl_ms: Option<i64>,
    pub poll_interval_ms: i64,
}

impl TaskRecord {
    /// Whether the task's time to live has passed at `now` (ms).
    pub fn expired(&self, now: i64) -> bool {
        self.ttl_ms
            .is_some_and(|ttl| self.created_at.saturating_add(ttl) <= now)
    }
}

/// The request a response given ahead of it is parked under: the client's answer to a
/// tool's input round gathered before the task was made, kept for whatever request the task's
/// step then asks under that key.
pub const ANY_REQUEST: &str = "*";

/// A request for input a task waits for (SQLite migration 12, PostgreSQL 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInput {
    /// The key the client answers under (unique over the task's life).
    pub key: String,
    /// The request (`elicitation/create`, …) as JSON text.
    pub request: String,
    /// The client's response as JSON text, once it gave one.
    pub response: Option<String>,
}

feature! {
    /// Tasks, as every backend keeps them.
    TaskStore {
        /// Records a task (its run exists already).
        fn create_task(&self, task: &TaskRecord) -> Result<()>;
        /// The task with this id.
        fn task(&self, id: &str) -> Result<Option<TaskRecord>>;
        /// The task whose work is this run.
        fn task_of_run(&self, run: &str) -> Result<Option<TaskRecord>>;
        /// `owner`'s tasks, newest first, at most `limit`.
        fn tasks_of(&self, owner: &str, limit: i64) -> Result<Vec<TaskRecord>>;
        /// Deletes the tasks whose time to live has passed at `now` (ms); their runs stay
        /// (pruned with the other runs). Returns how many were deleted.
        fn prune_tasks(&self, now: i64) -> Result<u64>;
        /// Parks `request` (JSON) under `key` for task `task`. A response already given to
        /// the same request under that key (a step repeated after a restart), or given
        /// before any request was seen (parked as [`ANY_REQUEST`]), is kept; a different
        /// request under the key replaces it, unanswered.
        fn ask_task_input(&self, task: &str, key: &str, request: &str, now: i64) -> Result<()>;
        /// Every input of task `task` (answered or not), by key.
        fn task_inputs(&self, task: &str) -> Result<Vec<TaskInput>>;
        /// Records the client's `response` (JSON) under `key`, if a request waits under it
        /// unanswered; returns whether one did.
        fn answer_task_input(&self, task: &str, key: &str, response: &str) -> Result<bool>;
        /// Forgets the input under `key` (a request no step waits for any more).
        fn forget_task_input(&self, task: &str, key: &str) -> Result<()>;
        /// Records that the step `step_key` (`RUN/STEP/ITEM`) made upstream task `task` at
        /// `server` (SQLite migration 13, PostgreSQL 9).
        fn remember_upstream_task(&self, step_key: &str, server: &str, task: &str, now: i64) -> Result<()>;
        /// The upstream task the step `step_key` made at `server` and has not seen end.
        fn upstream_task(&self, step_key: &str, server: &str) -> Result<Option<String>>;
        /// Forgets the step's upstream task at `server` (it ended, or is not known there).
        fn forget_upstream_task(&self, step_key: &str, server: &str) -> Result<()>;
    }
}

/// [`TaskStore`] methods: the same SQL on both backends.
macro_rules! same_task_methods {
    () => {
        async fn create_task(&self, task: &crate::TaskRecord) -> Result<()> {
            sqlx::query(
                "INSERT INTO tasks (id, run_id, owner, tool, kind, created_at, ttl_ms, poll_interval_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&task.id)
            .bind(&task.run_id)
            .bind(&task.owner)
            .bind(&task.tool)
            .bind(&task.kind)
            .bind(task.created_at)
            .bind(task.ttl_ms)
            .bind(task.poll_interval_ms)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn task(&self, id: &str) -> Result<Option<crate::TaskRecord>> {
            let row: Option<crate::tasks::TaskRow> = sqlx::query_as(crate::tasks::TASK_BY_ID)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.map(crate::tasks::record))
        }

        async fn task_of_run(&self, run: &str) -> Result<Option<crate::TaskRecord>> {
            let row: Option<crate::tasks::TaskRow> = sqlx::query_as(crate::tasks::TASK_BY_RUN)
                .bind(run)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.map(crate::tasks::record))
        }

        async fn tasks_of(&self, owner: &str, limit: i64) -> Result<Vec<crate::TaskRecord>> {
            let rows: Vec<crate::tasks::TaskRow> = sqlx::query_as(crate::tasks::TASKS_OF)
                .bind(owner)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.into_iter().map(crate::tasks::record).collect())
        }

        async fn prune_tasks(&self, now: i64) -> Result<u64> {
            let deleted = sqlx::query(
                "DELETE FROM tasks WHERE ttl_ms IS NOT NULL AND created_at + ttl_ms <= $1",
            )
            .bind(now)
            .execute(&self.pool)
            .await?;
            sqlx::query("DELETE FROM task_inputs WHERE task_id NOT IN (SELECT id FROM tasks)")
                .execute(&self.pool)
                .await?;
            sqlx::query("DELETE FROM upstream_tasks WHERE run_id NOT IN (SELECT id FROM runs)")
                .execute(&self.pool)
                .await?;
            Ok(deleted.rows_affected())
        }

        async fn ask_task_input(&self, task: &str, key: &str, request: &str, now: i64) -> Result<()> {
            sqlx::query(
                "INSERT INTO task_inputs (task_id, key, request, response, created_at) \
                 VALUES ($1, $2, $3, NULL, $4) \
                 ON CONFLICT (task_id, key) DO UPDATE SET \
                   response = CASE WHEN task_inputs.request = excluded.request \
                                     OR task_inputs.request = '*' \
                                   THEN task_inputs.response ELSE NULL END, \
                   request = excluded.request",
            )
            .bind(task)
            .bind(key)
            .bind(request)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn task_inputs(&self, task: &str) -> Result<Vec<crate::TaskInput>> {
            let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT key, request, response FROM task_inputs WHERE task_id = $1 ORDER BY key",
            )
            .bind(task)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(key, request, response)| crate::TaskInput {
                    key,
                    request,
                    response,
                })
                .collect())
        }

        async fn answer_task_input(&self, task: &str, key: &str, response: &str) -> Result<bool> {
            let updated = sqlx::query(
                "UPDATE task_inputs SET response = $3 \
                 WHERE task_id = $1 AND key = $2 AND response IS NULL",
            )
            .bind(task)
            .bind(key)
            .bind(response)
            .execute(&self.pool)
            .await?;
            Ok(updated.rows_affected() > 0)
        }

        async fn forget_task_input(&self, task: &str, key: &str) -> Result<()> {
            sqlx::query("DELETE FROM task_inputs WHERE task_id = $1 AND key = $2")
                .bind(task)
                .bind(key)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn remember_upstream_task(&self, step_key: &str, server: &str, task: &str, now: i64) -> Result<()> {
            let run = step_key.split('/').next().unwrap_or_default();
            sqlx::query(
                "INSERT INTO upstream_tasks (step_key, server, task_id, run_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (step_key, server) DO UPDATE SET \
                   task_id = excluded.task_id, created_at = excluded.created_at",
            )
            .bind(step_key)
            .bind(server)
            .bind(task)
            .bind(run)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn upstream_task(&self, step_key: &str, server: &str) -> Result<Option<String>> {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT task_id FROM upstream_tasks WHERE step_key = $1 AND server = $2",
            )
            .bind(step_key)
            .bind(server)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(|(task,)| task))
        }

        async fn forget_upstream_task(&self, step_key: &str, server: &str) -> Result<()> {
            sqlx::query("DELETE FROM upstream_tasks WHERE step_key = $1 AND server = $2")
                .bind(step_key)
                .bind(server)
                .execute(&self.pool)
                .await?;
            Ok(())
        }
    };
}
pub(crate) use same_task_methods;

pub(crate) const TASK_BY_ID: &str = "SELECT id, run_id, owner, tool, kind, created_at, ttl_ms, \
     poll_interval_ms FROM tasks WHERE id = $1";
pub(crate) const TASK_BY_RUN: &str = "SELECT id, run_id, owner, tool, kind, created_at, ttl_ms, \
     poll_interval_ms FROM tasks WHERE run_id = $1";
pub(crate) const TASKS_OF: &str = "SELECT id, run_id, owner, tool, kind, created_at, ttl_ms, \
     poll_interval_ms FROM tasks WHERE owner = $1 ORDER BY created_at DESC, id DESC LIMIT $2";

/// A row as both backends decode it.
pub(crate) type TaskRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    i64,
);

pub(crate) fn record(row: TaskRow) -> TaskRecord {
    let (id, run_id, owner, tool, kind, created_at, ttl_ms, poll_interval_ms) = row;
    TaskRecord {
        id,
        run_id,
        owner,
        tool,
        kind,
        created_at,
        ttl_ms,
        poll_interval_ms,
    }
}
