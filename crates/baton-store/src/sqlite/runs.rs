//! [`RunStore`] on SQLite.

use std::time::Duration;

use serde_json::Value;
use sqlx::{Row, sqlite::SqliteRow};

use super::{SqliteStore, batch, new_id, parse_json};
use crate::{
    Approval, Finish, Lease, NewRun, Result, RunQuery, RunRecord, RunStatus, RunStore, StepRecord,
    StoreError, now_ms,
};

impl RunStore for SqliteStore {
    async fn save_version(&self, hash: &str, name: &str, definition: &str) -> Result<()> {
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

    crate::shared::same_runs_methods!();

    async fn create_run(&self, new: NewRun) -> Result<String> {
        let id = new_id();
        let (parent_run, parent_step) = new.parent.unzip();
        let (key, limit) = new.concurrency.unzip();
        let now = now_ms();
        let (owner, until) = new
            .held_by
            .map(|(owner, ttl)| (owner, now + ttl.as_millis() as i64))
            .unzip();
        sqlx::query(
            "INSERT INTO runs (id, workflow, hash, status, inputs, created_at, parent_run, parent_step, origin, lease_owner, lease_until, \
             priority, concurrency_key, concurrency_limit) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&id)
        .bind(&new.workflow)
        .bind(&new.hash)
        .bind(new.inputs.to_string())
        .bind(now)
        .bind(parent_run)
        .bind(parent_step)
        .bind(&new.origin)
        .bind(&owner)
        .bind(until)
        .bind(new.priority)
        .bind(key)
        .bind(limit.map(i64::from))
        .execute(&self.pool)
        .await?;
        if owner.is_none() {
            self.wake();
        }
        Ok(id)
    }

    async fn claim(&self, run: &str, owner: &str, ttl: Duration) -> Result<Option<Lease>> {
        // The clock is read under the write lock (see `claim_ready`).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_ms();
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET lease_owner = $1, lease_until = $2, lease_epoch = lease_epoch + 1, status = CASE WHEN status = 'queued' THEN 'running' ELSE status END, started_at = COALESCE(started_at, $3) \
             WHERE id = $4 AND status IN ('queued', 'running') AND (lease_owner IS NULL OR lease_until < $3 OR lease_owner = $1) \
             AND (status = 'running' OR concurrency_key IS NULL) RETURNING lease_epoch",
        )
        .bind(owner)
        .bind(now + ttl.as_millis() as i64)
        .bind(now)
        .bind(run)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(epoch.map(|epoch| Lease {
            owner: owner.to_owned(),
            epoch,
        }))
    }

    async fn take_over(
        &self,
        run: &str,
        from: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let epoch: Option<i64> = sqlx::query_scalar(
            "UPDATE runs SET lease_owner = $1, lease_until = $2, lease_epoch = lease_epoch + 1 \
             WHERE id = $3 AND lease_owner = $4 AND status IN ('queued', 'running') \
             AND (status = 'running' OR concurrency_key IS NULL) RETURNING lease_epoch",
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

    async fn renew(&self, run: &str, lease: &Lease, ttl: Duration) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE runs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND lease_epoch = $4 AND status IN ('queued', 'running')",
        )
        .bind(now_ms() + ttl.as_millis() as i64)
        .bind(run)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, run: &str, lease: &Lease) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3",
        )
        .bind(run)
        .bind(&lease.owner)
        .bind(lease.epoch)
        .execute(&self.pool)
        .await?;
        self.wake();
        Ok(())
    }

    async fn release_owned(&self, run: &str, owner: &str) -> Result<()> {
        sqlx::query("UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(run)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        self.wake();
        Ok(())
    }

    async fn resumable(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM runs WHERE status IN ('queued', 'running') AND parent_run IS NULL AND (lease_owner IS NULL OR lease_until < $1) ORDER BY created_at",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn held(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT id, lease_owner FROM runs WHERE status IN ('queued', 'running') AND parent_run IS NULL AND lease_owner IS NOT NULL AND lease_until >= $1",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("lease_owner")?)))
            .collect()
    }

    async fn runs(&self, limit: u32, workflow: Option<&str>) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{RUN_COLUMNS} WHERE ($1 IS NULL OR workflow = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
        )))
        .bind(workflow)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_record).collect()
    }

    async fn run_page(&self, query: &RunQuery) -> Result<Vec<RunRecord>> {
        let workflows = query
            .workflows
            .as_ref()
            .map(|names| serde_json::to_string(names).unwrap_or_default());
        let (before_at, before_id) = query.before.clone().unzip();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{RUN_COLUMNS} WHERE ($1 IS NULL OR workflow IN (SELECT value FROM json_each($1))) \
             AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR substr(origin, 1, length($3)) = $3) \
             AND ($4 IS NULL OR created_at >= $4) \
             AND ($5 IS NULL OR created_at < $5 OR (created_at = $5 AND id < $6)) \
             ORDER BY created_at DESC, id DESC LIMIT $7"
        )))
        .bind(workflows)
        .bind(query.status.map(RunStatus::as_str))
        .bind(query.origin.as_deref())
        .bind(query.since)
        .bind(before_at)
        .bind(before_id)
        .bind(i64::from(query.limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_record).collect()
    }

    async fn steps(&self, run: &str) -> Result<Vec<StepRecord>> {
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

    async fn begin_attempt(&self, run: &str, lease: &Lease, step: &str, item: i64) -> Result<u32> {
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

    async fn finish_attempt(
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

    async fn failed_attempts(
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

    async fn wait_step(
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

    async fn finish_run(
        &self,
        run: &str,
        lease: &Lease,
        status: RunStatus,
        outputs: Option<&Value>,
        error: Option<&str>,
    ) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE runs SET status = $1, outputs = $2, error = $3, finished_at = $4, lease_owner = NULL, lease_until = NULL \
             WHERE id = $5 AND lease_owner = $6 AND lease_epoch = $7 AND status IN ('queued', 'running')",
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

    async fn cancel(&self, run: &str) -> Result<bool> {
        self.run(run).await?;
        let updated = sqlx::query(
            "UPDATE runs SET status = 'cancelled', finished_at = $1, error = COALESCE(error, 'cancelled') \
             WHERE (id = $2 OR parent_run = $2) AND status IN ('queued', 'running')",
        )
        .bind(now_ms())
        .bind(run)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn reopen(&self, run: &str, forget: &[String]) -> Result<()> {
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
            "UPDATE runs SET status = 'queued', error = NULL, outputs = NULL, finished_at = NULL, lease_owner = NULL, lease_until = NULL WHERE id = $1",
        )
        .bind(run)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    async fn decide(
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
        self.wake();
        Ok(done.rows_affected() == 1)
    }

    async fn approval(&self, run: &str, step: &str) -> Result<Option<Approval>> {
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

    async fn prune(&self, keep_for: Duration, keep_runs: u32) -> Result<u64> {
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
}

const RUN_COLUMNS: &str = "SELECT id, workflow, hash, status, inputs, outputs, error, created_at, started_at, finished_at, lease_owner, origin, parent_run, priority, concurrency_key FROM runs";

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
        priority: row.try_get("priority")?,
        concurrency_key: row.try_get("concurrency_key")?,
    })
}
