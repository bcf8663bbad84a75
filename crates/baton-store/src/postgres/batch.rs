//! Group commit of the hot step writes, as on SQLite: the starts and successful ends of
//! steps that arrive together are written by one statement each (one row per step, each
//! fenced by its own run's lease, locked `FOR SHARE`, and attempt number), which saves
//! round trips. PostgreSQL lets one statement touch a row once, so a batch naming one step
//! twice is split into rounds.

use sqlx::{Row, postgres::PgPool};
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
        reply: oneshot::Sender<Result<()>>,
    },
}

impl Op {
    fn key(&self) -> (&str, &str, i64) {
        match self {
            Op::Begin {
                run, step, item, ..
            }
            | Op::Finish {
                run, step, item, ..
            } => (run, step, *item),
        }
    }
}

/// Starts the writer task; it ends when every sender is gone.
pub(crate) fn start(pool: PgPool) -> mpsc::UnboundedSender<Op> {
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
            for round in rounds(begins) {
                begin_all(&pool, round).await;
            }
            for round in rounds(finishes) {
                finish_all(&pool, round).await;
            }
        }
    });
    sender
}

/// Splits `ops` into rounds in which no step appears twice, keeping their order.
fn rounds(ops: Vec<Op>) -> Vec<Vec<Op>> {
    let mut rounds: Vec<Vec<Op>> = Vec::new();
    for op in ops {
        let free = rounds
            .iter()
            .rposition(|round| round.iter().any(|other| other.key() == op.key()))
            .map_or(0, |last| last + 1);
        match rounds.get_mut(free) {
            Some(round) => round.push(op),
            None => rounds.push(vec![op]),
        }
    }
    rounds
}

/// `($1::t1, $2::t2, …), (…)`: `rows` rows of the given column types.
fn placeholders(rows: usize, types: &[&str]) -> String {
    (0..rows)
        .map(|row| {
            let cells: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(column, ty)| format!("${}::{ty}", row * types.len() + column + 1))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn begin_all(pool: &PgPool, ops: Vec<Op>) {
    let sql = format!(
        "INSERT INTO steps (run_id, step_id, item, status, attempts, started_at, attempt_started_at) \
         SELECT v.column1, v.column2, v.column3, 'running', 1, t.now, t.now FROM (VALUES {}) AS v, (SELECT baton_now_ms() AS now) AS t \
         WHERE EXISTS (SELECT 1 FROM runs r WHERE r.id = v.column1 AND r.lease_owner = v.column4 AND r.lease_epoch = v.column5 \
         AND r.status IN ('queued', 'running') FOR SHARE) \
         ON CONFLICT (run_id, step_id, item) DO UPDATE SET status = 'running', attempts = steps.attempts + 1, error = NULL, \
         started_at = COALESCE(steps.started_at, excluded.started_at), attempt_started_at = excluded.attempt_started_at \
         RETURNING run_id, step_id, item, attempts",
        placeholders(ops.len(), &["text", "text", "bigint", "text", "bigint"])
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for op in &ops {
        if let Op::Begin {
            run,
            lease,
            step,
            item,
            ..
        } = op
        {
            query = query
                .bind(run)
                .bind(step)
                .bind(*item)
                .bind(&lease.owner)
                .bind(lease.epoch);
        }
    }
    let written: Result<Vec<(String, String, i64, i64)>> = query
        .fetch_all(pool)
        .await
        .map_err(StoreError::from)
        .and_then(|rows| {
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

async fn finish_all(pool: &PgPool, ops: Vec<Op>) {
    let sql = format!(
        "UPDATE steps SET status = v.column5, output = v.column6, finished_at = baton_now_ms(), output_blob = NULL, error = NULL, wake_at = NULL \
         FROM (VALUES {}) AS v \
         WHERE steps.run_id = v.column1 AND steps.step_id = v.column2 AND steps.item = v.column3 AND steps.attempts = v.column4 \
         AND EXISTS (SELECT 1 FROM runs r WHERE r.id = v.column1 AND r.lease_owner = v.column7 AND r.lease_epoch = v.column8 FOR SHARE) \
         RETURNING steps.run_id, steps.step_id, steps.item",
        placeholders(
            ops.len(),
            &[
                "text", "text", "bigint", "bigint", "text", "json", "text", "bigint"
            ]
        )
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
                .bind(&lease.owner)
                .bind(lease.epoch);
        }
    }
    let written: Result<Vec<(String, String, i64)>> = query
        .fetch_all(pool)
        .await
        .map_err(StoreError::from)
        .and_then(|rows| {
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
            Ok(rows)
                if rows
                    .iter()
                    .any(|(r, s, i)| *r == run && *s == step && *i == item) =>
            {
                Ok(())
            }
            Ok(_) => Err(StoreError::Fenced(run)),
            Err(error) => Err(StoreError::Batch(error.to_string())),
        };
        let _ = reply.send(answer);
    }
}
