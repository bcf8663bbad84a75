//! [`WorkerStore`] on SQLite: this machine's clock; one writer at a time, so one statement
//! claims ready runs without anyone else getting them.

use std::time::Duration;

use serde_json::Value;

use super::{SqliteStore, parse_json};
use crate::{Lease, Result, WorkerRow, WorkerStore, now_ms};

/// The runs a worker may start now (`$3`: now, `$4`: how many): unfinished top-level runs
/// nobody holds — runs that had begun (their worker is gone) first, then the queue by
/// priority and age — where a queued run with a concurrency key comes only while fewer
/// than its limit of runs with that key are running, counting those claimed with it.
const READY: &str = "SELECT id FROM (SELECT id, status, priority, created_at, concurrency_key, concurrency_limit, \
     ROW_NUMBER() OVER (PARTITION BY concurrency_key, status ORDER BY priority DESC, created_at, id) AS place \
     FROM runs WHERE status IN ('queued', 'running') AND parent_run IS NULL AND (lease_owner IS NULL OR lease_until < $3)) AS c \
     WHERE c.status = 'running' OR c.concurrency_key IS NULL \
     OR c.place + (SELECT count(*) FROM runs AS r WHERE r.concurrency_key = c.concurrency_key AND r.status = 'running') <= c.concurrency_limit \
     ORDER BY c.status = 'running' DESC, c.priority DESC, c.created_at, c.id LIMIT $4";

impl WorkerStore for SqliteStore {
    async fn clock_ms(&self) -> Result<i64> {
        Ok(now_ms())
    }

    async fn claim_ready(
        &self,
        owner: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Vec<(String, Lease)>> {
        // The clock is read once this holds the write lock: a claim that waited for another
        // writer (a run finishing) must not start its runs before that one ended.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let now = now_ms();
        let mut rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE runs SET lease_owner = $1, lease_until = $2, lease_epoch = lease_epoch + 1, \
             status = CASE WHEN status = 'queued' THEN 'running' ELSE status END, started_at = COALESCE(started_at, $3) \
             WHERE id IN ({READY}) RETURNING id, lease_epoch, priority, created_at"
        )))
        .bind(owner)
        .bind(now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.sort_by(|a, b| (-a.2, a.3, &a.0).cmp(&(-b.2, b.3, &b.0)));
        Ok(rows
            .into_iter()
            .map(|(id, epoch, ..)| {
                (
                    id,
                    Lease {
                        owner: owner.to_owned(),
                        epoch,
                    },
                )
            })
            .collect())
    }

    async fn heartbeat(&self, worker: &str, info: &Value) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (id, started_at, heartbeat_at, info) VALUES ($1, $2, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, info = excluded.info",
        )
        .bind(worker)
        .bind(now_ms())
        .bind(info.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerRow>> {
        let rows: Vec<(String, i64, i64, String)> =
            sqlx::query_as("SELECT id, started_at, heartbeat_at, info FROM workers ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        let now = now_ms();
        rows.into_iter()
            .map(|(id, started_at, heartbeat_at, info)| {
                Ok(WorkerRow {
                    id,
                    started_at,
                    heartbeat_at,
                    info: parse_json(&info)?,
                    now,
                })
            })
            .collect()
    }

    crate::shared::same_workers_methods!();

    async fn running_by_owner(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT lease_owner, COUNT(*) FROM runs WHERE status IN ('queued', 'running') AND parent_run IS NULL \
             AND lease_owner IS NOT NULL AND lease_until >= $1 GROUP BY lease_owner ORDER BY lease_owner",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?)
    }
}
