//! Learned call statistics kept in the store: loaded into each server's first replica when
//! Baton starts (the latencies are the most recent ones only, so old knowledge leaves as
//! new calls come), and saved every
//! [`SAVE_EVERY`] and at shutdown by `baton serve`. What `timeout: auto` and the status
//! tools know then survives a restart and reaches the other workers of a shared store.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use baton_mcp::Gateway;
use baton_store::{LearnedStats, MAX_SAMPLES, Store};
use tokio_util::sync::CancellationToken;

/// How often `baton serve` saves what it learned.
pub const SAVE_EVERY: Duration = Duration::from_secs(30);

/// Seeds each server's statistics with what the store has.
pub async fn load(gateway: &Gateway, store: &Store) {
    let rows = match store.learned().await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, "could not load the learned call statistics");
            return;
        }
    };
    let topology = gateway.topology();
    for row in rows {
        if let Some(upstream) = topology.upstream(&row.server) {
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            upstream.seed_learned(
                &row.name,
                count(row.calls),
                count(row.errors),
                count(row.timeouts),
                &row.samples_ms,
            );
        }
    }
}

/// Saves what every server's replicas learned (summed per server and name).
pub async fn save(gateway: &Gateway, store: &Store) {
    let mut merged: BTreeMap<(String, String), LearnedStats> = BTreeMap::new();
    for upstream in gateway.upstreams() {
        for (name, calls, errors, timeouts, samples) in upstream.learned(MAX_SAMPLES) {
            let entry = merged
                .entry((upstream.name().to_owned(), name.clone()))
                .or_insert_with(|| LearnedStats {
                    server: upstream.name().to_owned(),
                    name,
                    calls: 0,
                    errors: 0,
                    timeouts: 0,
                    samples_ms: Vec::new(),
                });
            entry.calls += i64::try_from(calls).unwrap_or(i64::MAX);
            entry.errors += i64::try_from(errors).unwrap_or(i64::MAX);
            entry.timeouts += i64::try_from(timeouts).unwrap_or(i64::MAX);
            entry.samples_ms.extend(samples);
        }
    }
    let rows: Vec<LearnedStats> = merged
        .into_values()
        .map(|mut row| {
            let extra = row.samples_ms.len().saturating_sub(MAX_SAMPLES);
            row.samples_ms.drain(..extra);
            row
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    if let Err(error) = store.save_learned(&rows).await {
        tracing::warn!(%error, "could not save the learned call statistics");
    }
}

/// Saves every [`SAVE_EVERY`] until `stop`, when calls were made since the last save.
pub fn keep(gateway: Arc<Gateway>, store: Store, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut saved_at = calls_so_far(&gateway);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(SAVE_EVERY) => {
                    let calls = calls_so_far(&gateway);
                    if calls != saved_at {
                        save(&gateway, &store).await;
                        saved_at = calls;
                    }
                }
            }
        }
    });
}

/// Every replica's call count: it moves whenever there is something new to save.
fn calls_so_far(gateway: &Gateway) -> u64 {
    gateway
        .upstreams()
        .iter()
        .map(|upstream| upstream.stats().0.calls)
        .sum()
}
