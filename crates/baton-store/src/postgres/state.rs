//! [`StateStore`] on PostgreSQL. Writers of one memory take turns on an advisory lock
//! (`hashtext('baton.memory:' || memory)`) held to the end of their transaction.

use sqlx::{Row, postgres::PgRow};

use super::PgStore;
use crate::{
    ArchivedMemoryRow, MemoryEntryRow, MemoryWrite, NewMemoryEntry, NewTimeEntry, Result,
    StateStore, TimeEntryRow, TimeFilter, TimeGroup, TimeImported, TimeStart,
};

const TIME_COLUMNS: &str = "SELECT id, task_id, mode, task, priority, start_at, end_at, duration_ms, result, source, run_id, logged_at FROM task_time";
const MEMORY_COLUMNS: &str =
    "SELECT id, memory, section, text, mode, stamped, created_at FROM memory_entries";

fn time_row(row: &PgRow) -> Result<TimeEntryRow> {
    Ok(TimeEntryRow {
        id: row.try_get("id")?,
        task_id: row.try_get("task_id")?,
        mode: row.try_get("mode")?,
        task: row.try_get("task")?,
        priority: row.try_get("priority")?,
        start_at: row.try_get("start_at")?,
        end_at: row.try_get("end_at")?,
        duration_ms: row.try_get("duration_ms")?,
        result: row.try_get("result")?,
        source: row.try_get("source")?,
        run_id: row.try_get("run_id")?,
        logged_at: row.try_get("logged_at")?,
    })
}

fn memory_row(row: &PgRow) -> Result<MemoryEntryRow> {
    Ok(MemoryEntryRow {
        id: row.try_get("id")?,
        memory: row.try_get("memory")?,
        section: row.try_get("section")?,
        text: row.try_get("text")?,
        mode: row.try_get("mode")?,
        stamped: row.try_get("stamped")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A bound value of a query built at run time.
enum Arg {
    Text(String),
    Int(i64),
}

/// The `WHERE` clause of a time filter (placeholders from `$1`) and its values.
fn time_where(filter: &TimeFilter) -> (String, Vec<Arg>) {
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    let mut push = |clause: &str, arg: Arg| {
        args.push(arg);
        clauses.push(clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(mode) = &filter.mode {
        push("mode = ?", Arg::Text(mode.clone()));
    }
    if let Some(priority) = &filter.priority {
        push("priority = ?", Arg::Text(priority.clone()));
    }
    if let Some(task_id) = &filter.task_id {
        push("task_id = ?", Arg::Text(task_id.clone()));
    }
    if let Some(from) = filter.from_ms {
        push("start_at >= ?", Arg::Int(from));
    }
    if let Some(to) = filter.to_ms {
        push("start_at < ?", Arg::Int(to));
    }
    if filter.open_only {
        clauses.push("end_at IS NULL".to_owned());
    }
    if clauses.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", clauses.join(" AND ")), args)
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(text),
            Arg::Int(n) => query.bind(n),
        };
    }
    query
}

const TIME_RETURNING: &str = "id, task_id, mode, task, priority, start_at, end_at, duration_ms, result, source, run_id, logged_at";
const TIME_INSERT: &str = "INSERT INTO task_time (task_id, mode, task, priority, start_at, end_at, duration_ms, result, source, run_id, logged_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

fn bind_time_entry<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    new: &'q NewTimeEntry,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(&new.task_id)
        .bind(&new.mode)
        .bind(&new.task)
        .bind(&new.priority)
        .bind(new.start_at)
        .bind(new.end_at)
        .bind(new.duration_ms)
        .bind(&new.result)
        .bind(&new.source)
        .bind(&new.run_id)
        .bind(new.logged_at)
}

impl StateStore for PgStore {
    async fn time_start(&self, new: &NewTimeEntry) -> Result<TimeStart> {
        // The open entry a conflicting insert found may be closed before it is read: then
        // try again.
        for _ in 0..5 {
            let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{TIME_INSERT} ON CONFLICT DO NOTHING RETURNING {TIME_RETURNING}"
            )));
            if let Some(row) = bind_time_entry(inserted, new)
                .fetch_optional(&self.pool)
                .await?
            {
                return Ok(TimeStart::Started(time_row(&row)?));
            }
            let open = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{TIME_COLUMNS} WHERE task_id = $1 AND end_at IS NULL"
            )))
            .bind(&new.task_id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = open {
                return Ok(TimeStart::AlreadyOpen(time_row(&row)?));
            }
        }
        Err(crate::StoreError::Batch(format!(
            "task {} is being started and stopped too fast to start it",
            new.task_id
        )))
    }

    crate::shared::same_state_methods!();

    async fn time_import(&self, entries: &[NewTimeEntry]) -> Result<Vec<TimeImported>> {
        let mut tx = self.pool.begin().await?;
        // Imports take turns, as on SQLite: the duplicate check sees the other's rows.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('baton.time_import'))")
            .execute(&mut *tx)
            .await?;
        let mut outcomes = Vec::with_capacity(entries.len());
        for new in entries {
            let second = new.start_at.div_euclid(1000) * 1000;
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM task_time WHERE task_id = $1 AND start_at >= $2 AND start_at < $3 LIMIT 1",
            )
            .bind(&new.task_id)
            .bind(second)
            .bind(second + 1000)
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_some() {
                outcomes.push(TimeImported::Duplicate);
                continue;
            }
            let query = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{TIME_INSERT} ON CONFLICT DO NOTHING"
            )));
            let inserted = bind_time_entry(query, new).execute(&mut *tx).await?;
            if inserted.rows_affected() == 1 {
                outcomes.push(TimeImported::Inserted);
                continue;
            }
            let open = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{TIME_COLUMNS} WHERE task_id = $1 AND end_at IS NULL"
            )))
            .bind(&new.task_id)
            .fetch_one(&mut *tx)
            .await?;
            outcomes.push(TimeImported::OpenConflict(time_row(&open)?));
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn time_groups(&self, filter: &TimeFilter) -> Result<Vec<TimeGroup>> {
        let (clause, args) = time_where(filter);
        let sql = format!(
            "SELECT mode, priority, COUNT(*) AS n, COUNT(end_at) AS closed, COALESCE(SUM(duration_ms), 0)::bigint AS total \
             FROM task_time{clause} GROUP BY mode, priority ORDER BY mode, priority"
        );
        bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(TimeGroup {
                    mode: row.try_get("mode")?,
                    priority: row.try_get("priority")?,
                    count: row.try_get("n")?,
                    closed: row.try_get("closed")?,
                    total_ms: row.try_get("total")?,
                })
            })
            .collect()
    }

    async fn memory_write(
        &self,
        memory: &str,
        entries: &[NewMemoryEntry],
        dedupe: bool,
        cap: impl FnOnce(&[MemoryEntryRow], &[i64]) -> Vec<i64> + Send,
    ) -> Result<MemoryWrite> {
        let mut tx = self.pool.begin().await?;
        // Writers of one memory take turns: the cap sees every entry, none is lost.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('baton.memory:' || $1))")
            .bind(memory)
            .execute(&mut *tx)
            .await?;
        let mut write = MemoryWrite::default();
        for new in entries {
            if dedupe && memory_has(&mut tx, memory, new).await? {
                write.inserted.push(None);
                continue;
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(
                "INSERT INTO memory_entries (memory, section, text, mode, stamped, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, memory, section, text, mode, stamped, created_at",
            ))
            .bind(memory)
            .bind(&new.section)
            .bind(&new.text)
            .bind(&new.mode)
            .bind(new.stamped)
            .bind(new.created_at)
            .fetch_one(&mut *tx)
            .await?;
            write.inserted.push(Some(memory_row(&row)?));
        }
        let all = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMORY_COLUMNS} WHERE memory = $1 ORDER BY id"
        )))
        .bind(memory)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(memory_row)
        .collect::<Result<Vec<_>>>()?;
        let new_ids: Vec<i64> = write.inserted.iter().flatten().map(|row| row.id).collect();
        let now: i64 = sqlx::query_scalar("SELECT baton_now_ms()")
            .fetch_one(&mut *tx)
            .await?;
        for id in cap(&all, &new_ids) {
            let Some(row) = all.iter().find(|row| row.id == id) else {
                continue;
            };
            sqlx::query(
                "INSERT INTO memory_archive (entry_id, memory, section, text, mode, stamped, created_at, archived_at) \
                 SELECT id, memory, section, text, mode, stamped, created_at, $2 FROM memory_entries WHERE id = $1",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM memory_entries WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            write.archived.push(row.clone());
        }
        tx.commit().await?;
        Ok(write)
    }
}

/// Whether `memory` has, or had (archived), an entry equal to `new`.
async fn memory_has(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    memory: &str,
    new: &NewMemoryEntry,
) -> Result<bool> {
    let second = new.created_at.div_euclid(1000) * 1000;
    for table in ["memory_entries", "memory_archive"] {
        let base = format!(
            "SELECT 1 FROM {table} WHERE memory = $1 AND section = $2 AND text = $3 AND stamped = $4"
        );
        let query = if new.stamped {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "{base} AND COALESCE(mode, '') = $5 AND created_at >= $6 AND created_at < $7 LIMIT 1"
            )))
            .bind(memory)
            .bind(&new.section)
            .bind(&new.text)
            .bind(true)
            .bind(new.mode.as_deref().unwrap_or(""))
            .bind(second)
            .bind(second + 1000)
        } else {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("{base} LIMIT 1")))
                .bind(memory)
                .bind(&new.section)
                .bind(&new.text)
                .bind(false)
        };
        let found: Option<i32> = query.fetch_optional(&mut **tx).await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The audit trail: the same SQL on both backends.
impl crate::AuditStore for PgStore {
    crate::shared::same_audit_methods!();
}

/// Remote servers' OAuth credentials: the same SQL on both backends.
impl crate::OAuthStore for PgStore {
    crate::shared::same_oauth_methods!();
}

/// Learned call statistics: the same SQL on both backends.
impl crate::LearnedStore for PgStore {
    crate::shared::same_learned_methods!();
}

impl crate::TaskStore for PgStore {
    crate::tasks::same_task_methods!();
}
