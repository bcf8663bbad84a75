//! Trait methods whose SQL and row handling are the same on every backend, written once
//! and expanded into each backend's `impl` (the names they use — `self.pool`, the row
//! decoders, the records — resolve where they are expanded). A method moves here only
//! when its text is the same for SQLite and PostgreSQL; the others differ in types,
//! casts or clock and stay in the backend.

/// [`crate::AutomationStore`] methods: `remove_config_schedules_except`, `schedules`,
/// `schedule`, `schedules_version`, `schedule_failed`, `oldest_buffered`, `take_buffered`,
/// `schedules_with_buffered`, `buffered_count`, `active_schedule_runs`, `unsettled_slots`,
/// `slot_of_run`, `run_with_origin`, `schedule_result`, `slots`, `claim_trigger`.
macro_rules! same_automation_methods {
    () => {
        async fn remove_config_schedules_except(&self, keep: &[String]) -> Result<Vec<String>> {
            let stored: Vec<String> =
                sqlx::query_scalar("SELECT name FROM schedules WHERE origin = $1")
                    .bind(ORIGIN_CONFIG)
                    .fetch_all(&self.pool)
                    .await?;
            let mut removed = Vec::new();
            for name in stored {
                if !keep.contains(&name) {
                    self.delete_schedule(&name).await?;
                    removed.push(name);
                }
            }
            Ok(removed)
        }

        async fn schedules(&self) -> Result<Vec<ScheduleRow>> {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SCHEDULE_COLUMNS} ORDER BY name"
            )))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(schedule_row)
            .collect()
        }

        async fn schedule(&self, name: &str) -> Result<Option<ScheduleRow>> {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SCHEDULE_COLUMNS} WHERE name = $1"
            )))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(schedule_row)
            .transpose()
        }

        async fn schedules_version(&self) -> Result<(i64, i64)> {
            let row =
                sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS at FROM schedules")
                    .fetch_one(&self.pool)
                    .await?;
            Ok((row.try_get("n")?, row.try_get("at")?))
        }

        async fn schedule_failed(&self, schedule: &str, error: &str) -> Result<()> {
            sqlx::query("UPDATE schedules SET last_result = 'failed', last_error = $2 WHERE name = $1")
                .bind(schedule)
                .bind(error)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn oldest_buffered(&self, schedule: &str) -> Result<Option<i64>> {
            Ok(sqlx::query_scalar(
                "SELECT slot FROM schedule_slots WHERE schedule = $1 AND state = 'buffered' ORDER BY slot LIMIT 1",
            )
            .bind(schedule)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn take_buffered(&self, schedule: &str, slot: i64, owner: &str) -> Result<bool> {
            let updated = sqlx::query(
                "UPDATE schedule_slots SET state = 'claimed', owner = $3 \
                 WHERE schedule = $1 AND slot = $2 AND state = 'buffered'",
            )
            .bind(schedule)
            .bind(slot)
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(updated.rows_affected() == 1)
        }

        async fn schedules_with_buffered(&self) -> Result<Vec<String>> {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT schedule FROM schedule_slots WHERE state = 'buffered'",
            )
            .fetch_all(&self.pool)
            .await?)
        }

        async fn buffered_count(&self, schedule: &str) -> Result<i64> {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM schedule_slots WHERE schedule = $1 AND state = 'buffered'",
            )
            .bind(schedule)
            .fetch_one(&self.pool)
            .await?)
        }

        async fn active_schedule_runs(&self, schedule: &str) -> Result<Vec<String>> {
            Ok(sqlx::query_scalar(
                "SELECT s.run FROM schedule_slots s JOIN runs r ON r.id = s.run \
                 WHERE s.schedule = $1 AND s.state = 'fired' AND r.status IN ('queued', 'running') \
                 ORDER BY s.slot",
            )
            .bind(schedule)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn unsettled_slots(&self) -> Result<Vec<SlotRow>> {
            sqlx::query(
                "SELECT schedule, slot, state, reason, run, owner, recorded_at FROM schedule_slots \
                 WHERE state = 'claimed' ORDER BY slot",
            )
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(slot_row)
            .collect()
        }

        async fn slot_of_run(&self, run: &str) -> Result<Option<(String, i64)>> {
            Ok(
                sqlx::query_as("SELECT schedule, slot FROM schedule_slots WHERE run = $1")
                    .bind(run)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        }

        async fn run_with_origin(&self, origin: &str) -> Result<Option<String>> {
            Ok(
                sqlx::query_scalar("SELECT id FROM runs WHERE origin = $1 ORDER BY created_at LIMIT 1")
                    .bind(origin)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        }

        async fn schedule_result(
            &self,
            schedule: &str,
            run: &str,
            result: &str,
            error: Option<&str>,
        ) -> Result<()> {
            sqlx::query(
                "UPDATE schedules SET last_result = $3, last_error = $4 WHERE name = $1 AND last_run = $2",
            )
            .bind(schedule)
            .bind(run)
            .bind(result)
            .bind(error)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn slots(&self, schedule: &str, limit: u32) -> Result<Vec<SlotRow>> {
            sqlx::query(
                "SELECT schedule, slot, state, reason, run, owner, recorded_at FROM schedule_slots \
                 WHERE schedule = $1 ORDER BY slot DESC LIMIT $2",
            )
            .bind(schedule)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(slot_row)
            .collect()
        }

        async fn claim_trigger(&self, name: &str, now: i64, cooldown_ms: i64) -> Result<bool> {
            let updated = sqlx::query(
                "INSERT INTO trigger_state (name, last_fired_at) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET last_fired_at = excluded.last_fired_at \
                 WHERE trigger_state.last_fired_at <= $3",
            )
            .bind(name)
            .bind(now)
            .bind(now - cooldown_ms.max(0))
            .execute(&self.pool)
            .await?;
            Ok(updated.rows_affected() == 1)
        }
    };
}

/// [`crate::RunStore`] methods: `version`, `run`, `child_run`, `queue`, `trace_parent`.
macro_rules! same_runs_methods {
    () => {
        async fn version(&self, hash: &str) -> Result<Option<String>> {
            Ok(
                sqlx::query_scalar("SELECT definition FROM workflow_versions WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?,
            )
        }

        async fn run(&self, run: &str) -> Result<RunRecord> {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{RUN_COLUMNS} WHERE id = $1")))
                .bind(run)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NoRun(run.to_owned()))?;
            run_record(&row)
        }

        async fn child_run(&self, parent: &str, step: &str) -> Result<Option<String>> {
            Ok(sqlx::query_scalar(
                "SELECT id FROM runs WHERE parent_run = $1 AND parent_step = $2 ORDER BY created_at DESC LIMIT 1",
            )
            .bind(parent)
            .bind(step)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn trace_parent(&self, run: &str, keep: Option<&str>) -> Result<Option<String>> {
            if let Some(traceparent) = keep {
                sqlx::query("UPDATE runs SET trace_parent = $2 WHERE id = $1 AND trace_parent IS NULL")
                    .bind(run)
                    .bind(traceparent)
                    .execute(&self.pool)
                    .await?;
            }
            let kept: Option<Option<String>> =
                sqlx::query_scalar("SELECT trace_parent FROM runs WHERE id = $1")
                    .bind(run)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(kept.flatten())
        }

        async fn queue(&self) -> Result<Vec<crate::QueuedRun>> {
            let rows: Vec<(String, String, i64, i64, Option<String>)> = sqlx::query_as(
                "SELECT id, workflow, priority, created_at, concurrency_key FROM runs \
                 WHERE status = 'queued' AND parent_run IS NULL ORDER BY priority DESC, created_at, id",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, workflow, priority, created_at, concurrency_key)| crate::QueuedRun {
                    id,
                    workflow,
                    priority,
                    created_at,
                    concurrency_key,
                })
                .collect())
        }
    };
}

/// [`crate::StateStore`] methods: `time_stop`, `time_record_run`, `time_entries`,
/// `memory_entries`, `memory_archive`.
macro_rules! same_state_methods {
    () => {
        async fn time_stop(
            &self,
            task_id: &str,
            end_at: i64,
            result: &str,
        ) -> Result<Option<TimeEntryRow>> {
            let row = sqlx::query(
                "UPDATE task_time SET end_at = $2, duration_ms = CASE WHEN $2 > start_at THEN $2 - start_at ELSE 0 END, result = $3 \
                 WHERE task_id = $1 AND end_at IS NULL \
                 RETURNING id, task_id, mode, task, priority, start_at, end_at, duration_ms, result, source, run_id, logged_at",
            )
            .bind(task_id)
            .bind(end_at)
            .bind(result)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(time_row).transpose()
        }

        async fn time_record_run(&self, new: &NewTimeEntry) -> Result<TimeEntryRow> {
            let query = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{TIME_INSERT} ON CONFLICT (run_id) DO UPDATE SET task_id = excluded.task_id, mode = excluded.mode, \
                 task = excluded.task, priority = excluded.priority, start_at = excluded.start_at, end_at = excluded.end_at, \
                 duration_ms = excluded.duration_ms, result = excluded.result, source = excluded.source, logged_at = excluded.logged_at \
                 RETURNING id, task_id, mode, task, priority, start_at, end_at, duration_ms, result, source, run_id, logged_at"
            )));
            let row = bind_time_entry(query, new).fetch_one(&self.pool).await?;
            time_row(&row)
        }

        async fn time_entries(
            &self,
            filter: &TimeFilter,
            newest_first: bool,
            limit: Option<u32>,
        ) -> Result<Vec<TimeEntryRow>> {
            let (clause, mut args) = time_where(filter);
            let order = if newest_first { "DESC" } else { "ASC" };
            let mut sql = format!("{TIME_COLUMNS}{clause} ORDER BY start_at {order}, id {order}");
            if let Some(limit) = limit {
                args.push(Arg::Int(i64::from(limit)));
                sql.push_str(&format!(" LIMIT ${}", args.len()));
            }
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(time_row)
                .collect()
        }

        async fn memory_entries(&self, memory: &str) -> Result<Vec<MemoryEntryRow>> {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{MEMORY_COLUMNS} WHERE memory = $1 ORDER BY id"
            )))
            .bind(memory)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(memory_row)
            .collect()
        }

        async fn memory_archive(
            &self,
            memory: &str,
            limit: u32,
        ) -> Result<(Vec<ArchivedMemoryRow>, i64)> {
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM memory_archive WHERE memory = $1")
                    .bind(memory)
                    .fetch_one(&self.pool)
                    .await?;
            let rows = sqlx::query(
                "SELECT entry_id AS id, memory, section, text, mode, stamped, created_at, archived_at FROM memory_archive \
                 WHERE memory = $1 ORDER BY archived_at DESC, id DESC LIMIT $2",
            )
            .bind(memory)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(ArchivedMemoryRow {
                    entry: memory_row(row)?,
                    archived_at: row.try_get("archived_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
            Ok((rows, total))
        }
    };
}

/// [`crate::WorkerStore`] methods: `remove_worker`.
macro_rules! same_workers_methods {
    () => {
        async fn remove_worker(&self, worker: &str) -> Result<()> {
            sqlx::query("DELETE FROM workers WHERE id = $1")
                .bind(worker)
                .execute(&self.pool)
                .await?;
            Ok(())
        }
    };
}

pub(crate) use same_automation_methods;
pub(crate) use same_runs_methods;
pub(crate) use same_state_methods;
pub(crate) use same_workers_methods;

/// [`crate::AuditStore`], the same on every backend (integers and text only).
macro_rules! same_audit_methods {
    () => {
        async fn insert_audit(&self, records: &[crate::NewAudit]) -> Result<()> {
            let mut tx = self.pool.begin().await?;
            for record in records {
                sqlx::query(
                    "INSERT INTO audit_log (at, principal, kind, name, outcome, duration_ms, arguments_sha256) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(record.at)
                .bind(&record.principal)
                .bind(&record.kind)
                .bind(&record.name)
                .bind(&record.outcome)
                .bind(record.duration_ms)
                .bind(&record.arguments_sha256)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn audit(&self, filter: &crate::AuditFilter) -> Result<Vec<crate::AuditRow>> {
            let limit = filter.limit.unwrap_or(100);
            let like = filter.name.as_deref().map(crate::audit::glob_to_like);
            let mut rows = Vec::new();
            let mut before = i64::MAX;
            // Pages of candidates (LIKE narrows; the glob decides), newest first, until
            // `limit` records match or none are left.
            while rows.len() < limit as usize {
                let page = sqlx::query(
                    "SELECT id, at, principal, kind, name, outcome, duration_ms, arguments_sha256 \
                     FROM audit_log WHERE id < $1 AND ($2 IS NULL OR principal = $2) \
                     AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR name LIKE $4 ESCAPE '\\') \
                     ORDER BY id DESC LIMIT $5",
                )
                .bind(before)
                .bind(&filter.principal)
                .bind(filter.since_ms)
                .bind(&like)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                let Some(last) = page.last() else { break };
                before = last.try_get("id")?;
                let full = page.len() == limit as usize;
                for row in &page {
                    let record = crate::AuditRow {
                        id: row.try_get("id")?,
                        at: row.try_get("at")?,
                        principal: row.try_get("principal")?,
                        kind: row.try_get("kind")?,
                        name: row.try_get("name")?,
                        outcome: row.try_get("outcome")?,
                        duration_ms: row.try_get("duration_ms")?,
                        arguments_sha256: row.try_get("arguments_sha256")?,
                    };
                    let matches = filter
                        .name
                        .as_deref()
                        .is_none_or(|glob| crate::audit::glob_matches(glob, &record.name));
                    if matches && rows.len() < limit as usize {
                        rows.push(record);
                    }
                }
                if !full {
                    break;
                }
            }
            Ok(rows)
        }

        async fn prune_audit(&self, before_ms: i64) -> Result<u64> {
            Ok(sqlx::query("DELETE FROM audit_log WHERE at < $1")
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected())
        }
    };
}
pub(crate) use same_audit_methods;

/// [`crate::OAuthStore`] methods: the same SQL on both backends.
macro_rules! same_oauth_methods {
    () => {
        async fn oauth_credentials(&self, server: &str) -> Result<Option<crate::OAuthRow>> {
            let row: Option<(String, String, i64)> = sqlx::query_as(
                "SELECT server, credentials, updated_at FROM oauth_credentials WHERE server = $1",
            )
            .bind(server)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(|(server, credentials, updated_at)| crate::OAuthRow {
                server,
                credentials,
                updated_at,
            }))
        }

        async fn save_oauth_credentials(&self, server: &str, credentials: &str) -> Result<()> {
            sqlx::query(
                "INSERT INTO oauth_credentials (server, credentials, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (server) DO UPDATE SET credentials = excluded.credentials, updated_at = excluded.updated_at",
            )
            .bind(server)
            .bind(credentials)
            .bind(crate::now_ms())
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn delete_oauth_credentials(&self, server: &str) -> Result<bool> {
            let deleted = sqlx::query("DELETE FROM oauth_credentials WHERE server = $1")
                .bind(server)
                .execute(&self.pool)
                .await?;
            Ok(deleted.rows_affected() > 0)
        }

        async fn oauth_servers(&self) -> Result<Vec<crate::OAuthRow>> {
            let rows: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT server, credentials, updated_at FROM oauth_credentials ORDER BY server",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(server, credentials, updated_at)| crate::OAuthRow {
                    server,
                    credentials,
                    updated_at,
                })
                .collect())
        }
    };
}
pub(crate) use same_oauth_methods;

/// [`crate::LearnedStore`] methods: the same SQL on both backends.
macro_rules! same_learned_methods {
    () => {
        async fn save_learned(&self, rows: &[crate::LearnedStats]) -> Result<()> {
            let mut tx = self.pool.begin().await?;
            for row in rows {
                let samples = serde_json::to_string(&row.samples_ms).unwrap_or_default();
                sqlx::query(
                    "INSERT INTO learned_stats (server, name, calls, errors, timeouts, samples, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (server, name) DO UPDATE SET \
                     calls = excluded.calls, errors = excluded.errors, timeouts = excluded.timeouts, \
                     samples = excluded.samples, updated_at = excluded.updated_at",
                )
                .bind(&row.server)
                .bind(&row.name)
                .bind(row.calls)
                .bind(row.errors)
                .bind(row.timeouts)
                .bind(samples)
                .bind(crate::now_ms())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn learned(&self) -> Result<Vec<crate::LearnedStats>> {
            let rows: Vec<(String, String, i64, i64, i64, String)> = sqlx::query_as(
                "SELECT server, name, calls, errors, timeouts, samples FROM learned_stats ORDER BY server, name",
            )
            .fetch_all(&self.pool)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(server, name, calls, errors, timeouts, samples)| crate::LearnedStats {
                    server,
                    name,
                    calls,
                    errors,
                    timeouts,
                    samples_ms: serde_json::from_str(&samples).unwrap_or_default(),
                })
                .collect())
        }
    };
}
pub(crate) use same_learned_methods;
