//! Several Baton processes (workers) sharing one database: the store's clock, claiming the
//! runs nobody holds, and the registry of live workers.
//!
//! Every lease decision uses the store's clock ([`WorkerStore::clock_ms`]): on PostgreSQL the
//! database's, so a machine whose clock is off cannot steal a lease early.

use std::time::Duration;

use serde_json::Value;

use crate::{Lease, Result};

/// A worker as registered by its heartbeats.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    pub id: String,
    /// Its first heartbeat (ms, store clock).
    pub started_at: i64,
    /// Its latest heartbeat (ms, store clock).
    pub heartbeat_at: i64,
    /// What it said about itself (host, pid, version, …).
    pub info: Value,
    /// The store's clock when the list was read: `now - heartbeat_at` is the silence.
    pub now: i64,
}

feature! {
    /// The store's clock, claiming ready runs, and the workers registry, as every backend
    /// keeps them.
    WorkerStore {
        /// The store's clock in ms since the Unix epoch: the database's on PostgreSQL, this
        /// machine's on SQLite. Lease times are on this clock.
        fn clock_ms(&self) -> Result<i64>;
        /// Claims, for `owner`, up to `limit` unfinished top-level runs nobody holds (no
        /// owner, or a lease expired by the store's clock), oldest first, exactly as
        /// [`crate::RunStore::claim`] would each (epoch bumped, pending → running, start
        /// time set). Concurrent claimers never get the same run.
        fn claim_ready(
            &self,
            owner: &str,
            ttl: Duration,
            limit: u32,
        ) -> Result<Vec<(String, Lease)>>;
        /// Registers `worker` as alive now (store clock), with `info` about it; its first
        /// heartbeat sets its start time.
        fn heartbeat(&self, worker: &str, info: &Value) -> Result<()>;
        /// The registered workers, by id, with the store's clock at the query.
        fn workers(&self) -> Result<Vec<WorkerRow>>;
        /// Forgets `worker` (it stopped).
        fn remove_worker(&self, worker: &str) -> Result<()>;
        /// How many unfinished top-level runs each owner holds with a live lease, by owner.
        fn running_by_owner(&self) -> Result<Vec<(String, i64)>>;
    }
}
