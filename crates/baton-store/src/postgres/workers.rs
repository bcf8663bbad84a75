//! [`WorkerStore`] on PostgreSQL: the database's clock; ready runs claimed by one claimer
//! at a time (an advisory lock), so concurrent claimers never get the same run and a
//! concurrency key's limit holds across workers.

use std::time::Duration;

use serde_json::Value;

use super::PgStore;
use crate::{Lease, Result, WorkerRow, WorkerStore, sqlite::parse_json};

/// The advisory lock claimers take turns on.
pub(crate) const CLAIM_LOCK: i64 = 0x6261_746f_6e01;

/// The runs a worker may start now (`$3`: how many): unfinished top-level runs nobody
/// holds — runs that had begun (their worker is gone) first, then the queue by priority and
/// age — where a queued run with a concurrency key comes only while fewer than its limit of
/// runs with that key are running, counting those claimed with it.
const READY: &str = "SELECT id FROM (SELECT id, status, priority, created_at, concurrency_key, concurrency_limit, \
     ROW_NUMBER() OVER (PARTITION BY concurrency_key, status ORDER BY priority DESC, created_at, id) AS place \
     FROM runs WHERE status IN ('queued', 'running') AND parent_run IS NULL AND (lease_owner IS NULL OR lease_until < baton_now_ms())) AS c \
     WHERE c.status = 'running' OR c.concurrency_key IS NULL \
     OR c.place + (SELECT count(*) FROM runs AS r WHERE r.concurrency_key = c.concurrency_key AND r.status = 'running') <= c.concurrency_limit \
     ORDER BY c.status = 'running' DESC, c.priority DESC, c.created_at, c.id LIMIT $3";

impl WorkerStore for PgStore {
    async fn clock_ms(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT baton_now_ms()")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn claim_ready(
        &self,
        owner: &str,
        ttl: Duration,
        limit: u32,
    ) -> Result<Vec<(String, Lease)>> {
        // Claimers take turns (a transaction-scoped advisory lock): a concurrency key's
        // count of running runs is then exact, whichever worker claims.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH claimed AS (UPDATE runs SET lease_owner = $1, lease_until = baton_now_ms() + $2, lease_epoch = lease_epoch + 1, \
             status = CASE WHEN status = 'queued' THEN 'running' ELSE status END, started_at = COALESCE(started_at, baton_now_ms()) \
             WHERE id IN ({READY}) AND status IN ('queued', 'running') AND (lease_owner IS NULL OR lease_until < baton_now_ms()) \
             RETURNING id, lease_epoch, status, priority, created_at) \
             SELECT id, lease_epoch FROM claimed ORDER BY priority DESC, created_at, id"
        )))
        .bind(owner)
        .bind(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, epoch)| {
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
            "INSERT INTO workers (id, started_at, heartbeat_at, info) VALUES ($1, baton_now_ms(), baton_now_ms(), $2::json) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, info = excluded.info",
        )
        .bind(worker)
        .bind(info.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerRow>> {
        let rows: Vec<(String, i64, i64, String, i64)> = sqlx::query_as(
            "SELECT id, started_at, heartbeat_at, info::text, baton_now_ms() FROM workers ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, started_at, heartbeat_at, info, now)| {
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
             AND lease_owner IS NOT NULL AND lease_until >= baton_now_ms() GROUP BY lease_owner ORDER BY lease_owner",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
