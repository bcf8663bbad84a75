//! Baton's durable state in an embedded SQLite database (WAL): workflow versions, runs,
//! steps, attempts, out-of-line outputs and approvals.
//!
//! Ownership of a run is a lease (`lease_owner`, `lease_until`, `lease_epoch`): a process
//! claims a run whose lease is free or expired, bumping the epoch, and renews it while it
//! works. Every write about a step is *fenced*: it only happens while the writer still holds
//! the lease with the epoch it claimed, in the same statement or transaction, so a process
//! whose lease was taken over cannot commit anything ([`StoreError::Fenced`]).
//!
//! SQL is portable (TEXT/INTEGER, `$n` placeholders, times as ms since the Unix epoch) so a
//! PostgreSQL store can implement the same methods.

#![forbid(unsafe_code)]

mod automation;
mod batch;
mod builtins;
mod types;

pub use automation::*;
pub use builtins::*;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::Value;
use sqlx::{
    Row,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
        SqliteSynchronous,
    },
};

/// Migrations, applied in order at open; each runs once.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema_2.sql")),
    (3, include_str!("schema_3.sql")),
    (4, include_str!("schema_4.sql")),
];

pub use types::*;

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// The group-commit writer of step starts and successful ends.
    writer: tokio::sync::mpsc::UnboundedSender<batch::Op>,
    path: PathBuf,
    /// Outputs larger than this (bytes of JSON) go to `blobs`.
    inline_limit: usize,
}

impl Store {
    /// Opens (creating it and its folder if needed) the database at `path` and applies
    /// the migrations.
    pub async fn open(path: &Path, inline_limit: usize) -> Result<Store> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Open {
                path: path.to_owned(),
                source: sqlx::Error::Io(error),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            // One connection: SQLite has one writer at a time, and a second connection would
            // wait for the lock in its busy handler (millisecond sleeps) instead of queueing.
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        let store = Store {
            writer: batch::start(pool.clone()),
            pool,
            path: path.to_owned(),
            inline_limit,
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        for (version, sql) in MIGRATIONS {
            // IMMEDIATE: two processes opening a new file at once take turns instead of
            // one failing to upgrade its read lock.
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if applied.is_none() {
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Keeps a workflow definition (compiled, as JSON) under its hash; idempotent.
    pub async fn save_version(&self, hash: &str, name: &str, definition: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO workflow_versions (hash, name, definition, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash)
        .bind(name)
        .bind(definition)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn version(&self, hash: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT definition FROM workflow_versions WHERE hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn create_run(&self, new: NewRun) -> Result<String> {
        let id = new_id();
        let (parent_run, parent_step) = new.parent.unzip();
        sqlx::query(
            "INSERT INTO runs (id, workflow, hash, status, inputs, created_at, parent_run, parent_step, origin) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&new.workflow)
        .bind(&new.hash)
        .bind(new.inputs.to_string())
        .bind(now_ms())
        .bind(parent_run)
        .bind(parent_step)
        .bind(&new.origin)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Takes `run` for `owner` when it is unowned, its lease expired, or `owner` already
    /// holds it; the epoch moves on so that the previous holder is fenced out.
    pub async fn claim(&self, run: &str, owner: &str, ttl: Duration) -> Result<Option<Lease>> {
        let now = now_ms();
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET lease_owner = $1, lease_until = $2, lease_epoch = lease_epoch + 1, status = CASE WHEN status = 'pending' THEN 'running' ELSE status END, started_at = COALESCE(started_at, $3) \
             WHERE id = $4 AND status IN ('pending', 'running') AND (lease_owner IS NULL OR lease_until < $3 OR lease_owner = $1) RETURNING lease_epoch",
        )
        .bind(owner)
        .bind(now + ttl.as_millis() as i64)
        .bind(now)
        .bind(run)
        .fetch_optional(&self.pool)
        .await?;
        Ok(epoch.map(|epoch| Lease {
            owner: owner.to_owned(),
            epoch,
        }))
    }

    /// Takes `run` from `from`, a holder known to be gone (its process died), at once
    /// instead of after its lease time.
    pub async fn take_over(
        &self,
        run: &str,
        from: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET lease_owner = $1, lease_until = $2, lease_epoch = lease_epoch + 1 \
             WHERE id = $3 AND lease_owner = $4 AND status IN ('pending', 'running') RETURNING lease_epoch",
        )
        .bind(owner)
        .bind(now_ms() + ttl.as_millis() as i64)
        .bind(run)
        .bind(from)
        .fetch_optional(&self.pool)
        .await?;
        Ok(epoch.map(|epoch| Lease {
            owner: owner.to_owned(),
            epoch,
        }))
    }

    /// Extends the lease; `false` when it was lost or the run was cancelled meanwhile.
    pub async fn renew(&self, run: &str, lease: &Lease, ttl: Duration) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE runs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND lease_epoch = $4 AND status IN ('pending', 'running')",
        )
        .bind(now_ms() + ttl.as_millis() as i64)
        .bind(run)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the run up (for another process to take at once), keeping its status.
    pub async fn release(&self, run: &str, lease: &Lease) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3",
        )
        .bind(run)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives up a run held by `owner` (whatever the epoch): an interrupted command leaves
    /// it for the next process at once instead of after the lease time.
    pub async fn release_owned(&self, run: &str, owner: &str) -> Result<()> {
        sqlx::query("UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(run)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Unfinished top-level runs nobody holds (never started, or their owner's lease
    /// expired), with their holder if any: what a starting Baton resumes.
    pub async fn resumable(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM runs WHERE status IN ('pending', 'running') AND parent_run IS NULL AND (lease_owner IS NULL OR lease_until < $1) ORDER BY created_at",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Unfinished top-level runs with a live lease, and their holders.
    pub async fn held(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT id, lease_owner FROM runs WHERE status IN ('pending', 'running') AND parent_run IS NULL AND lease_owner IS NOT NULL AND lease_until >= $1",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("lease_owner")?)))
            .collect()
    }

    pub async fn run(&self, run: &str) -> Result<RunRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{RUN_COLUMNS} WHERE id = $1")))
            .bind(run)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NoRun(run.to_owned()))?;
        run_record(&row)
    }

    /// The sub-run a step of `parent` started, if it has.
    pub async fn child_run(&self, parent: &str, step: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM runs WHERE parent_run = $1 AND parent_step = $2 ORDER BY created_at DESC LIMIT 1",
        )
        .bind(parent)
        .bind(step)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The most recent runs first.
    pub async fn runs(&self, limit: u32, workflow: Option<&str>) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{RUN_COLUMNS} WHERE ($1 IS NULL OR workflow = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
        )))
        .bind(workflow)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_record).collect()
    }

    /// Every step record of `run` (outputs stored out of line are read back).
    pub async fn steps(&self, run: &str) -> Result<Vec<StepRecord>> {
        let rows = sqlx::query(
            "SELECT s.step_id, s.item, s.status, s.attempts, COALESCE(s.output, b.data) AS output, s.error, s.started_at, s.finished_at, s.wake_at \
             FROM steps s LEFT JOIN blobs b ON b.id = s.output_blob WHERE s.run_id = $1 ORDER BY s.started_at, s.step_id, s.item",
        )
        .bind(run)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let output: Option<String> = row.try_get("output")?;
                Ok(StepRecord {
                    step_id: row.try_get("step_id")?,
                    item: row.try_get("item")?,
                    status: row.try_get::<String, _>("status")?.parse()?,
                    attempts: row.try_get::<i64, _>("attempts")? as u32,
                    output: output.map(|text| parse_json(&text)).transpose()?,
                    error: row.try_get("error")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    wake_at: row.try_get("wake_at")?,
                })
            })
            .collect()
    }

    /// Starts the next attempt of a step (item -1 for the step as a whole): counts it,
    /// fenced by `lease`, in one statement. Returns the attempt number (1 for the first).
    pub async fn begin_attempt(
        &self,
        run: &str,
        lease: &Lease,
        step: &str,
        item: i64,
    ) -> Result<u32> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(batch::Op::Begin {
                run: run.to_owned(),
                lease: lease.clone(),
                step: step.to_owned(),
                item,
                now: now_ms(),
                reply,
            })
            .map_err(|_| StoreError::Batch("the store's writer stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Batch("the store's writer stopped".to_owned()))?
    }

    /// Commits how attempt `attempt` of a step ended, fenced by `lease` and by the attempt
    /// number (a stale attempt cannot overwrite a newer one). The step row is the attempt's
    /// record; a failed attempt is also kept in `attempts`, in the same transaction.
    pub async fn finish_attempt(
        &self,
        run: &str,
        lease: &Lease,
        step: &str,
        item: i64,
        attempt: u32,
        finish: Finish,
    ) -> Result<()> {
        let now = now_ms();
        let (status, output, error) = match finish {
            Finish::Succeeded(output) => ("succeeded", Some(output.to_string()), None),
            Finish::Failed(error) => ("failed", None, Some(error)),
            Finish::Skipped => ("skipped", None, None),
        };
        let large = output
            .as_ref()
            .is_some_and(|text| text.len() > self.inline_limit);
        if !large && error.is_none() {
            // The common case goes with the other steps finishing now, in one statement.
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.writer
                .send(batch::Op::Finish {
                    run: run.to_owned(),
                    lease: lease.clone(),
                    step: step.to_owned(),
                    item,
                    attempt,
                    status,
                    output,
                    now,
                    reply,
                })
                .map_err(|_| StoreError::Batch("the store's writer stopped".to_owned()))?;
            return answer
                .await
                .map_err(|_| StoreError::Batch("the store's writer stopped".to_owned()))?;
        }
        let mut tx = if large || error.is_some() {
            Some(self.pool.begin().await?)
        } else {
            None
        };
        let (inline, blob) = match (output, tx.as_mut()) {
            (Some(text), Some(tx)) if large => {
                let id = format!("{run}/{step}/{item}/{attempt}");
                sqlx::query(
                    "INSERT INTO blobs (id, run_id, data) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                )
                .bind(&id)
                .bind(run)
                .bind(&text)
                .execute(&mut **tx)
                .await?;
                (None, Some(id))
            }
            (other, _) => (other, None),
        };
        let update = sqlx::query(
            "UPDATE steps SET status = $1, output = $2, output_blob = $3, error = $4, finished_at = $5, wake_at = NULL \
             WHERE run_id = $6 AND step_id = $7 AND item = $8 AND attempts = $9 AND EXISTS (SELECT 1 FROM runs WHERE id = $6 AND lease_owner = $10 AND lease_epoch = $11)",
        )
        .bind(status)
        .bind(inline)
        .bind(blob)
        .bind(&error)
        .bind(now)
        .bind(run)
        .bind(step)
        .bind(item)
        .bind(i64::from(attempt))
        .bind(&lease.owner)
        .bind(lease.epoch);
        let updated = match tx.as_mut() {
            Some(tx) => update.execute(&mut **tx).await?,
            None => update.execute(&self.pool).await?,
        };
        if updated.rows_affected() != 1 {
            return Err(StoreError::Fenced(run.to_owned()));
        }
        if let Some(mut tx) = tx {
            if let Some(error) = &error {
                sqlx::query(
                    "INSERT INTO attempts (run_id, step_id, item, attempt, owner, started_at, finished_at, outcome, error) \
                     SELECT $1, $2, $3, $4, $5, COALESCE(attempt_started_at, $6), $6, 'failed', $7 FROM steps WHERE run_id = $1 AND step_id = $2 AND item = $3 \
                     ON CONFLICT (run_id, step_id, item, attempt) DO NOTHING",
                )
                .bind(run)
                .bind(step)
                .bind(item)
                .bind(i64::from(attempt))
                .bind(&lease.owner)
                .bind(now)
                .bind(error)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// The failed attempts of a step item: (attempt, error), in order.
    pub async fn failed_attempts(
        &self,
        run: &str,
        step: &str,
        item: i64,
    ) -> Result<Vec<(u32, String)>> {
        let rows = sqlx::query(
            "SELECT attempt, error FROM attempts WHERE run_id = $1 AND step_id = $2 AND item = $3 ORDER BY attempt",
        )
        .bind(run)
        .bind(step)
        .bind(item)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get::<i64, _>("attempt")? as u32,
                    row.try_get::<Option<String>, _>("error")?
                        .unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// Marks a step as waiting (a durable timer until `wake_at`, or an approval).
    pub async fn wait_step(
        &self,
        run: &str,
        lease: &Lease,
        step: &str,
        item: i64,
        wake_at: Option<i64>,
    ) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE steps SET status = 'waiting', wake_at = COALESCE(wake_at, $1) WHERE run_id = $2 AND step_id = $3 AND item = $4 \
             AND EXISTS (SELECT 1 FROM runs WHERE id = $2 AND lease_owner = $5 AND lease_epoch = $6)",
        )
        .bind(wake_at)
        .bind(run)
        .bind(step)
        .bind(item)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Fenced(run.to_owned()));
        }
        Ok(())
    }

    /// Ends the run (fenced) and gives up its lease.
    pub async fn finish_run(
        &self,
        run: &str,
        lease: &Lease,
        status: RunStatus,
        outputs: Option<&Value>,
        error: Option<&str>,
    ) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE runs SET status = $1, outputs = $2, error = $3, finished_at = $4, lease_owner = NULL, lease_until = NULL \
             WHERE id = $5 AND lease_owner = $6 AND lease_epoch = $7 AND status IN ('pending', 'running')",
        )
        .bind(status.as_str())
        .bind(outputs.map(Value::to_string))
        .bind(error)
        .bind(now_ms())
        .bind(run)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() != 1 {
            // Cancelled meanwhile is not a fencing failure: the cancel wins.
            if self.run(run).await?.status == RunStatus::Cancelled {
                return Ok(());
            }
            return Err(StoreError::Fenced(run.to_owned()));
        }
        Ok(())
    }

    /// Cancels an unfinished run (and its sub-runs); its executor stops at the next step.
    /// `false` when it had already finished.
    pub async fn cancel(&self, run: &str) -> Result<bool> {
        self.run(run).await?;
        let updated = sqlx::query(
            "UPDATE runs SET status = 'cancelled', finished_at = $1, error = COALESCE(error, 'cancelled') \
             WHERE (id = $2 OR parent_run = $2) AND status IN ('pending', 'running')",
        )
        .bind(now_ms())
        .bind(run)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    /// Makes a finished run runnable again with the given steps forgotten (they run
    /// again; the others keep their results).
    pub async fn reopen(&self, run: &str, forget: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for step in forget {
            sqlx::query("DELETE FROM steps WHERE run_id = $1 AND step_id = $2")
                .bind(run)
                .bind(step)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM approvals WHERE run_id = $1 AND step_id = $2")
                .bind(run)
                .bind(step)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE runs SET status = 'pending', error = NULL, outputs = NULL, finished_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $1",
        )
        .bind(run)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a decision on an approval step (the first decision stands).
    pub async fn decide(
        &self,
        run: &str,
        step: &str,
        approved: bool,
        by: &str,
        comment: Option<&str>,
    ) -> Result<bool> {
        self.run(run).await?;
        let done = sqlx::query(
            "INSERT INTO approvals (run_id, step_id, approved, by_whom, comment, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id, step_id) DO NOTHING",
        )
        .bind(run)
        .bind(step)
        .bind(i64::from(approved))
        .bind(by)
        .bind(comment)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn approval(&self, run: &str, step: &str) -> Result<Option<Approval>> {
        let row = sqlx::query(
            "SELECT approved, by_whom, comment, at FROM approvals WHERE run_id = $1 AND step_id = $2",
        )
        .bind(run)
        .bind(step)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Approval {
                approved: row.try_get::<i64, _>("approved")? != 0,
                by: row.try_get("by_whom")?,
                comment: row.try_get("comment")?,
                at: row.try_get("at")?,
            })
        })
        .transpose()
    }

    /// Deletes finished runs older than `keep_for`, and the oldest finished runs beyond
    /// `keep_runs`. Returns how many went.
    pub async fn prune(&self, keep_for: Duration, keep_runs: u32) -> Result<u64> {
        let cutoff = now_ms() - keep_for.as_millis() as i64;
        let old = sqlx::query(
            "DELETE FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') AND finished_at < $1",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let extra = sqlx::query(
            "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') ORDER BY finished_at DESC LIMIT -1 OFFSET $1)",
        )
        .bind(i64::from(keep_runs))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(old + extra)
    }

    /// The database file's size in bytes (with its WAL).
    pub fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|meta| meta.len())
            .sum()
    }
}

const RUN_COLUMNS: &str = "SELECT id, workflow, hash, status, inputs, outputs, error, created_at, started_at, finished_at, lease_owner, origin, parent_run FROM runs";

fn run_record(row: &SqliteRow) -> Result<RunRecord> {
    let inputs: String = row.try_get("inputs")?;
    let outputs: Option<String> = row.try_get("outputs")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        workflow: row.try_get("workflow")?,
        hash: row.try_get("hash")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        inputs: parse_json(&inputs)?,
        outputs: outputs.map(|text| parse_json(&text)).transpose()?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        lease_owner: row.try_get("lease_owner")?,
        origin: row.try_get("origin")?,
        parent_run: row.try_get("parent_run")?,
    })
}

fn parse_json(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("stored JSON: {error}")))
}

/// A short, sortable-enough run id: time in base 36 plus random hex.
fn new_id() -> String {
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", radix36(now_ms() as u64), &uuid[..6])
}

fn radix36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests;
