//! [`WorkerStore`] on PostgreSQL: the database's clock; ready runs claimed with
//! `FOR UPDATE SKIP LOCKED`, so concurrent claimers never get the same run.

use std::time::Duration;

use serde_json::Value;

use super::PgStore;
use crate::{Lease, Result, WorkerRow, WorkerStore, sqlite::parse_json};

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
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "WITH claimed AS (UPDATE runs SET lease_owner = $1, lease_until = baton_now_ms() + $2, lease_epoch = lease_epoch + 1, \
             status = CASE WHEN status = 'pending' THEN 'running' ELSE status END, started_at = COALESCE(started_at, baton_now_ms()) \
             WHERE id IN (SELECT id FROM runs WHERE status IN ('pending', 'running') AND parent_run IS NULL \
                 AND (lease_owner IS NULL OR lease_until < baton_now_ms()) ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             AND status IN ('pending', 'running') AND (lease_owner IS NULL OR lease_until < baton_now_ms()) \
             RETURNING id, lease_epoch, created_at) \
             SELECT id, lease_epoch FROM claimed ORDER BY created_at, id",
        )
        .bind(owner)
        .bind(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
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
            "SELECT lease_owner, COUNT(*) FROM runs WHERE status IN ('pending', 'running') AND parent_run IS NULL \
             AND lease_owner IS NOT NULL AND lease_until >= baton_now_ms() GROUP BY lease_owner ORDER BY lease_owner",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
