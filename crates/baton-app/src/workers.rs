//! This process's entry in the store's worker list: a heartbeat while it serves (what
//! `baton workers` shows), removed when it stops cleanly.

use std::{sync::Arc, time::Duration};

use baton_engine::Engine;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// How often the heartbeat is written at most (a third of the lease when that is
/// shorter).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Writes this worker's heartbeat now and then until `shutdown`, then removes the entry.
pub fn heartbeat(engine: Arc<Engine>, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let every = HEARTBEAT_EVERY.min(engine.settings().lease / 3);
        let store = engine.store().clone();
        loop {
            let info = json!({
                "version": env!("CARGO_PKG_VERSION"),
                "pid": std::process::id(),
                "executing": engine.executing(),
                "max_runs": engine.settings().max_runs,
                "lease_ms": engine.settings().lease.as_millis() as u64,
            });
            if let Err(error) = store.heartbeat(engine.owner(), &info).await {
                tracing::warn!(%error, "could not write this worker's heartbeat");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        if let Err(error) = store.remove_worker(engine.owner()).await {
            tracing::debug!(%error, "could not remove this worker from the list");
        }
    });
}
