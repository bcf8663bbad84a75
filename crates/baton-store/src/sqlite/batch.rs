//! Group commit of the hot step writes. Every statement is a round trip to the database's
//! worker thread, which costs more than the write itself; so the starts and successful
//! ends of steps that arrive together (parallel steps, `for_each` items, several runs) are
//! written by one statement each, with one row per step — each row still fenced by its own
//! run's lease and attempt number. Failures, large outputs and everything else take the
//! ordinary path.

use sqlx::{Row, sqlite::SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::{Lease, Result, StoreError};

/// Steps written per statement at most.
const MAX_BATCH: usize = 64;

pub(crate) enum Op {
    Begin {
        run: String,
        lease: Lease,
        step: String,
        item: i64,
        now: i64,
        reply: oneshot::Sender<Result<u32>>,
    },
    Finish {
        run: String,
        lease: Lease,
        step: String,
        item: i64,
        attempt: u32,
        status: &'static str,
        output: Option<String>,
        now: i64,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// Starts the writer task; it ends when every sender is gone.
pub(crate) fn start(pool: SqlitePool) -> mpsc::UnboundedSender<Op> {
    let (sender, mut receiver) = mpsc::unbounded_channel::<Op>();
    tokio::spawn(async move {
        while let Some(first) = receiver.recv().await {
            let mut begins = Vec::new();
            let mut finishes = Vec::new();
            let mut next = Some(first);
            while let Some(op) = next.take() {
                match op {
                    op @ Op::Begin { .. } => begins.push(op),
                    op @ Op::Finish { .. } => finishes.push(op),
                }
                if begins.len() + finishes.len() < MAX_BATCH {
                    next = receiver.try_recv().ok();
                }
            }
            if !begins.is_empty() {
                begin_all(&pool, begins).await;
            }
            if !finishes.is_empty() {
                finish_all(&pool, finishes).await;
            }
        }
    });
    sender
}

fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let cells: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn begin_all(pool: &SqlitePool, ops: Vec<Op>) {
    let sql = format!(
        "INSERT INTO steps (run_id, step_id, item, status, attempts, started_at, attempt_started_at) \
         SELECT v.column1, v.column2, v.column3, 'running', 1, v.column4, v.column4 FROM (VALUES {}) AS v \
         WHERE EXISTS (SELECT 1 FROM runs r WHERE r.id = v.column1 AND r.lease_owner = v.column5 AND r.lease_epoch = v.column6 AND r.status IN ('queued', 'running')) \
         ON CONFLICT (run_id, step_id, item) DO UPDATE SET status = 'running', attempts = steps.attempts + 1, error = NULL, \
         started_at = COALESCE(steps.started_at, excluded.started_at), attempt_started_at = excluded.attempt_started_at \
         RETURNING run_id, step_id, item, attempts",
        placeholders(ops.len(), 6)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for op in &ops {
        if let Op::Begin {
            run,
            lease,
            step,
            item,
            now,
            ..
        } = op
        {
            query = query
                .bind(run)
                .bind(step)
                .bind(*item)
                .bind(*now)
                .bind(&lease.owner)
                .bind(lease.epoch);
        }
    }
    let rows = query.fetch_all(pool).await;
    let written: Result<Vec<(String, String, i64, i64)>> =
        rows.map_err(StoreError::from).and_then(|rows| {
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get("run_id")?,
                        row.try_get("step_id")?,
                        row.try_get("item")?,
                        row.try_get("attempts")?,
                    ))
                })
                .collect()
        });
    for op in ops {
        let Op::Begin {
            run,
            step,
            item,
            reply,
            ..
        } = op
        else {
            continue;
        };
        let answer = match &written {
            Ok(rows) => rows
                .iter()
                .find(|(r, s, i, _)| *r == run && *s == step && *i == item)
                .map(|(.., attempts)| *attempts as u32)
                .ok_or(StoreError::Fenced(run)),
            Err(error) => Err(StoreError::Batch(error.to_string())),
        };
        let _ = reply.send(answer);
    }
}

async fn finish_all(pool: &SqlitePool, ops: Vec<Op>) {
    let sql = format!(
        "UPDATE steps SET status = v.column5, output = v.column6, finished_at = v.column7, output_blob = NULL, error = NULL, wake_at = NULL \
         FROM (VALUES {}) AS v \
         WHERE steps.run_id = v.column1 AND steps.step_id = v.column2 AND steps.item = v.column3 AND steps.attempts = v.column4 \
         AND EXISTS (SELECT 1 FROM runs r WHERE r.id = v.column1 AND r.lease_owner = v.column8 AND r.lease_epoch = v.column9) \
         RETURNING steps.run_id, steps.step_id, steps.item",
        placeholders(ops.len(), 9)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for op in &ops {
        if let Op::Finish {
            run,
            lease,
            step,
            item,
            attempt,
            status,
            output,
            now,
            ..
        } = op
        {
            query = query
                .bind(run)
                .bind(step)
                .bind(*item)
                .bind(i64::from(*attempt))
                .bind(*status)
                .bind(output)
                .bind(*now)
                .bind(&lease.owner)
                .bind(lease.epoch);
        }
    }
    let rows = query.fetch_all(pool).await;
    let written: Result<Vec<(String, String, i64)>> =
        rows.map_err(StoreError::from).and_then(|rows| {
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get("run_id")?,
                        row.try_get("step_id")?,
                        row.try_get("item")?,
                    ))
                })
                .collect()
        });
    for op in ops {
        let Op::Finish {
            run,
            step,
            item,
            reply,
            ..
        } = op
        else {
            continue;
        };
        let answer = match &written {
            Ok(rows) => {
                if rows
                    .iter()
                    .any(|(r, s, i)| *r == run && *s == step && *i == item)
                {
                    Ok(())
                } else {
                    Err(StoreError::Fenced(run))
                }
            }
            Err(error) => Err(StoreError::Batch(error.to_string())),
        };
        let _ = reply.send(answer);
    }
}
