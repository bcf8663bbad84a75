//! [`AutomationStore`] on SQLite.

use serde_json::Value;
use sqlx::{Row, sqlite::SqliteRow};

use super::{SqliteStore, parse_json};
use crate::{
    AutomationStore, EventRow, ORIGIN_CONFIG, ORIGIN_RUNTIME, Reconciled, Result, ScheduleRow,
    SlotRow, now_ms,
};

const SCHEDULE_COLUMNS: &str = "SELECT name, spec, origin, paused, pause_reason, cursor, created_at, updated_at, last_slot, last_fired_at, last_run, last_result, last_error, skipped, missed FROM schedules";

fn schedule_row(row: &SqliteRow) -> Result<ScheduleRow> {
    let spec: String = row.try_get("spec")?;
    Ok(ScheduleRow {
        name: row.try_get("name")?,
        spec: parse_json(&spec)?,
        origin: row.try_get("origin")?,
        paused: row.try_get::<i64, _>("paused")? != 0,
        pause_reason: row.try_get("pause_reason")?,
        cursor: row.try_get("cursor")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_slot: row.try_get("last_slot")?,
        last_fired_at: row.try_get("last_fired_at")?,
        last_run: row.try_get("last_run")?,
        last_result: row.try_get("last_result")?,
        last_error: row.try_get("last_error")?,
        skipped: row.try_get("skipped")?,
        missed: row.try_get("missed")?,
    })
}

fn slot_row(row: &SqliteRow) -> Result<SlotRow> {
    Ok(SlotRow {
        schedule: row.try_get("schedule")?,
        slot: row.try_get("slot")?,
        state: row.try_get("state")?,
        reason: row.try_get("reason")?,
        run: row.try_get("run")?,
        owner: row.try_get("owner")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

impl AutomationStore for SqliteStore {
    async fn upsert_config_schedule(
        &self,
        name: &str,
        spec: &Value,
        paused: bool,
        cursor: i64,
    ) -> Result<Reconciled> {
        let text = spec.to_string();
        let mut tx = self.pool.begin().await?;
        let existing: Option<(String, String)> =
            sqlx::query_as("SELECT spec, origin FROM schedules WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let now = now_ms();
        let outcome = match existing {
            None => {
                sqlx::query(
                    "INSERT INTO schedules (name, spec, origin, paused, cursor, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(name)
                .bind(&text)
                .bind(ORIGIN_CONFIG)
                .bind(i64::from(paused))
                .bind(cursor)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                Reconciled::Added
            }
            Some((stored, origin)) if stored == text && origin == ORIGIN_CONFIG => {
                Reconciled::Unchanged
            }
            Some(_) => {
                // A new timing starts from now: slots of the new spec before the change
                // were never due.
                sqlx::query(
                    "UPDATE schedules SET spec = $2, origin = $3, paused = $4, pause_reason = NULL, updated_at = $5, \
                     cursor = MAX(cursor, $6) WHERE name = $1",
                )
                .bind(name)
                .bind(&text)
                .bind(ORIGIN_CONFIG)
                .bind(i64::from(paused))
                .bind(now)
                .bind(cursor)
                .execute(&mut *tx)
                .await?;
                Reconciled::Changed
            }
        };
        tx.commit().await?;
        if outcome != Reconciled::Unchanged {
            self.wake();
        }
        Ok(outcome)
    }

    crate::shared::same_automation_methods!();

    async fn add_schedule(
        &self,
        name: &str,
        spec: &Value,
        paused: bool,
        cursor: i64,
    ) -> Result<bool> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO schedules (name, spec, origin, paused, cursor, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(spec.to_string())
        .bind(ORIGIN_RUNTIME)
        .bind(i64::from(paused))
        .bind(cursor)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.wake();
        Ok(inserted.rows_affected() == 1)
    }

    async fn delete_schedule(&self, name: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM schedule_slots WHERE schedule = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM schedules WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.wake();
        Ok(deleted.rows_affected() == 1)
    }

    async fn set_paused(
        &self,
        name: &str,
        paused: bool,
        reason: Option<&str>,
        resume_at: i64,
    ) -> Result<bool> {
        let updated = if paused {
            sqlx::query(
                "UPDATE schedules SET paused = 1, pause_reason = $2, updated_at = $3 WHERE name = $1",
            )
            .bind(name)
            .bind(reason)
            .bind(now_ms())
            .execute(&self.pool)
            .await?
        } else {
            sqlx::query(
                "UPDATE schedules SET paused = 0, pause_reason = NULL, updated_at = $2, \
                 cursor = MAX(cursor, $3) WHERE name = $1",
            )
            .bind(name)
            .bind(now_ms())
            .bind(resume_at)
            .execute(&self.pool)
            .await?
        };
        self.wake();
        Ok(updated.rows_affected() == 1)
    }

    async fn claim_slots(&self, slots: &[(&str, i64)], owner: &str) -> Result<Vec<bool>> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        let mut claimed = Vec::with_capacity(slots.len());
        for (schedule, slot) in slots {
            let inserted = sqlx::query(
                "INSERT INTO schedule_slots (schedule, slot, state, owner, recorded_at) \
                 VALUES ($1, $2, 'claimed', $3, $4) ON CONFLICT (schedule, slot) DO NOTHING",
            )
            .bind(*schedule)
            .bind(*slot)
            .bind(owner)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            claimed.push(inserted.rows_affected() == 1);
            sqlx::query("UPDATE schedules SET cursor = MAX(cursor, $2) WHERE name = $1")
                .bind(*schedule)
                .bind(*slot)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn claim_manual_slot(&self, schedule: &str, slot: i64, owner: &str) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO schedule_slots (schedule, slot, state, owner, recorded_at) \
             VALUES ($1, $2, 'claimed', $3, $4) ON CONFLICT (schedule, slot) DO NOTHING",
        )
        .bind(schedule)
        .bind(slot)
        .bind(owner)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn settle_slot(
        &self,
        schedule: &str,
        slot: i64,
        state: &str,
        run: Option<&str>,
        reason: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        sqlx::query(
            "UPDATE schedule_slots SET state = $3, run = $4, reason = $5, recorded_at = $6 \
             WHERE schedule = $1 AND slot = $2",
        )
        .bind(schedule)
        .bind(slot)
        .bind(state)
        .bind(run)
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let update = match state {
            "fired" => {
                "UPDATE schedules SET last_slot = $2, last_fired_at = $3, last_run = $4, \
                 last_result = 'running', last_error = NULL WHERE name = $1"
            }
            "skipped" => "UPDATE schedules SET skipped = skipped + 1 WHERE name = $1",
            "missed" => "UPDATE schedules SET missed = missed + 1 WHERE name = $1",
            _ => "UPDATE schedules SET name = name WHERE name = $1",
        };
        sqlx::query(update)
            .bind(schedule)
            .bind(slot)
            .bind(now)
            .bind(run)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn reclaim_slot(&self, schedule: &str, slot: i64, from: &str, to: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE schedule_slots SET owner = $4, recorded_at = $5 \
             WHERE schedule = $1 AND slot = $2 AND state = 'claimed' AND COALESCE(owner, '') = $3",
        )
        .bind(schedule)
        .bind(slot)
        .bind(from)
        .bind(to)
        .bind(crate::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_events(&self, events: &[(i64, &str, &Value)]) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(events.len());
        for (at, kind, data) in events {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO events (at, kind, data) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(*at)
            .bind(*kind)
            .bind(data.to_string())
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn events(
        &self,
        kind: Option<&str>,
        after: i64,
        limit: u32,
        newest: bool,
    ) -> Result<Vec<EventRow>> {
        let order = if newest { "DESC" } else { "ASC" };
        let mut rows: Vec<EventRow> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, at, kind, data FROM events WHERE id > $1 AND ($2 IS NULL OR kind = $2) \
             ORDER BY id {order} LIMIT $3"
        )))
        .bind(after)
        .bind(kind)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let data: String = row.try_get("data")?;
            Ok(EventRow {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                kind: row.try_get("kind")?,
                data: parse_json(&data)?,
            })
        })
        .collect::<Result<_>>()?;
        if newest {
            rows.reverse();
        }
        Ok(rows)
    }

    async fn prune_events(&self, keep: u32, keep_for_ms: i64) -> Result<u64> {
        let old = sqlx::query("DELETE FROM events WHERE at < $1")
            .bind(now_ms() - keep_for_ms)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let extra = sqlx::query(
            "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET $1)",
        )
        .bind(i64::from(keep))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(old + extra)
    }
}
