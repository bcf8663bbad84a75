//! What the store keeps and says: errors, statuses, records, leases.

use std::{
    path::PathBuf,
    str::FromStr,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("this process no longer owns run {0}: another Baton took it over (its lease expired)")]
    Fenced(String),
    #[error("no run \"{0}\" (see `baton runs`)")]
    NoRun(String),
    #[error("the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("database error: {0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// A batched write failed (the same error for each step of the batch).
    #[error("{0}")]
    Batch(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error(
        "cannot connect to PostgreSQL at {location}: {source}. Is PostgreSQL running and reachable from here? Check `store.url` (or BATON_STORE_URL)"
    )]
    Connect {
        location: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the database \"{database}\" does not exist at {location}: create it (`createdb {database}`) or fix `store.url` (or BATON_STORE_URL)"
    )]
    NoDatabase { location: String, database: String },
    #[error(
        "PostgreSQL at {location} refused the credentials: {source}. Check the user and password in `store.url` (or BATON_STORE_URL)"
    )]
    Auth {
        location: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the PostgreSQL user of {location} lacks a privilege Baton needs: {source}. Grant it, e.g. `GRANT CREATE ON SCHEMA public TO <user>` (or use the database's owner)"
    )]
    Privileges {
        location: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the database {location} has schema version {found}; this Baton knows up to {known}: upgrade Baton"
    )]
    SchemaTooNew {
        location: String,
        found: i64,
        known: i64,
    },
    #[error(
        "cannot copy into {location}: its table `{table}` already has rows. Copy into an empty database"
    )]
    NotEmpty { location: String, table: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Created, waiting for a place to execute (the run queue).
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl FromStr for RunStatus {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Self> {
        Ok(match text {
            // "pending" is how stores before schema 8 (SQLite) / 4 (PostgreSQL) named it.
            "queued" | "pending" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            other => return Err(StoreError::Corrupt(format!("run status \"{other}\""))),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Running,
    /// A durable timer or an approval.
    Waiting,
    Succeeded,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Waiting => "waiting",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded | StepStatus::Failed | StepStatus::Skipped
        )
    }
}

impl FromStr for StepStatus {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Self> {
        Ok(match text {
            "running" => StepStatus::Running,
            "waiting" => StepStatus::Waiting,
            "succeeded" => StepStatus::Succeeded,
            "failed" => StepStatus::Failed,
            "skipped" => StepStatus::Skipped,
            other => return Err(StoreError::Corrupt(format!("step status \"{other}\""))),
        })
    }
}

/// A run's ownership, as claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub epoch: i64,
}

#[derive(Debug, Clone)]
pub struct NewRun {
    pub workflow: String,
    pub hash: String,
    pub inputs: Value,
    pub parent: Option<(String, String)>,
    /// What started it: `cli`, `mcp`, `schedule:NAME`, …
    pub origin: String,
    /// Created already held by this owner for this long (the creator executes it next,
    /// and no other worker takes it meanwhile); `None`: ready for any worker.
    pub held_by: Option<(String, std::time::Duration)>,
    /// Higher runs leave the queue first; ties by age.
    pub priority: i64,
    /// Runs sharing a key execute at most `limit` at a time: (key, limit).
    pub concurrency: Option<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub workflow: String,
    pub hash: String,
    pub status: RunStatus,
    pub inputs: Value,
    pub outputs: Option<Value>,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub origin: Option<String>,
    pub parent_run: Option<String>,
    pub priority: i64,
    pub concurrency_key: Option<String>,
}

/// A top-level run waiting in the queue ([`crate::RunStore::queue`]), in the order runs
/// leave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRun {
    pub id: String,
    pub workflow: String,
    pub priority: i64,
    pub created_at: i64,
    pub concurrency_key: Option<String>,
}

/// A page of runs, newest first ([`crate::RunStore::run_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Only runs of these workflows (`None`: every workflow).
    pub workflows: Option<Vec<String>>,
    pub status: Option<RunStatus>,
    /// Only runs whose origin starts with this (`schedule:`, `tool`, `cli`, …).
    pub origin: Option<String>,
    /// Only runs created at or after this time (ms since the Unix epoch).
    pub since: Option<i64>,
    /// Only runs created before this run (its `created_at` and id): the next page.
    pub before: Option<(i64, String)>,
    /// At most this many (1 to 500).
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub step_id: String,
    /// The `for_each` item, or -1 for the step as a whole.
    pub item: i64,
    pub status: StepStatus,
    pub attempts: u32,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub wake_at: Option<i64>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    Succeeded(Value),
    Failed(String),
    Skipped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub approved: bool,
    pub by: String,
    pub comment: Option<String>,
    pub at: i64,
}
