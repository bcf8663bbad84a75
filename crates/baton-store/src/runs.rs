//! Workflow runs: versions, runs and their leases, steps, attempts, out-of-line outputs and
//! approvals.
//!
//! Ownership of a run is a lease (`lease_owner`, `lease_until`, `lease_epoch`): a process
//! claims a run whose lease is free or expired, bumping the epoch, and renews it while it
//! works. Every write about a step is *fenced*: it only happens while the writer still holds
//! the lease with the epoch it claimed, in the same statement or transaction, so a process
//! whose lease was taken over cannot commit anything ([`crate::StoreError::Fenced`]). Lease
//! times are on the store's clock ([`crate::WorkerStore::clock_ms`]: on PostgreSQL the
//! database's), never on the caller's.

use std::time::Duration;

use serde_json::Value;

use crate::{
    Approval, Finish, Lease, NewRun, QueuedRun, Result, RunQuery, RunRecord, RunStatus, StepRecord,
};

feature! {
    /// Runs and their steps, as every backend keeps them.
    RunStore {
        /// Keeps a workflow definition (compiled, as JSON) under its hash; idempotent.
        fn save_version(&self, hash: &str, name: &str, definition: &str) -> Result<()>;
        fn version(&self, hash: &str) -> Result<Option<String>>;
        fn create_run(&self, new: NewRun) -> Result<String>;
        /// Takes `run` for `owner` when it is unowned, its lease expired, or `owner` already
        /// holds it; the epoch moves on so that the previous holder is fenced out. A queued
        /// run with a concurrency key is never taken here (`None`): only
        /// [`crate::WorkerStore::claim_ready`] starts one, when its key has room.
        fn claim(&self, run: &str, owner: &str, ttl: Duration) -> Result<Option<Lease>>;
        /// Takes `run` from `from`, a holder known to be gone (its process died), at once
        /// instead of after its lease time (a queued run with a concurrency key: never).
        fn take_over(
            &self,
            run: &str,
            from: &str,
            owner: &str,
            ttl: Duration,
        ) -> Result<Option<Lease>>;
        /// Extends the lease; `false` when it was lost or the run was cancelled meanwhile.
        fn renew(&self, run: &str, lease: &Lease, ttl: Duration) -> Result<bool>;
        /// Gives the run up (for another process to take at once), keeping its status.
        fn release(&self, run: &str, lease: &Lease) -> Result<()>;
        /// Gives up a run held by `owner` (whatever the epoch): an interrupted command leaves
        /// it for the next process at once instead of after the lease time.
        fn release_owned(&self, run: &str, owner: &str) -> Result<()>;
        /// Unfinished top-level runs nobody holds (never started, or their owner's lease
        /// expired), with their holder if any: what a starting Baton resumes.
        fn resumable(&self) -> Result<Vec<String>>;
        /// Unfinished top-level runs with a live lease, and their holders.
        fn held(&self) -> Result<Vec<(String, String)>>;
        fn run(&self, run: &str) -> Result<RunRecord>;
        /// Top-level runs waiting to execute, in the order they leave the queue (higher
        /// priority first, then the oldest).
        fn queue(&self) -> Result<Vec<QueuedRun>>;
        /// The sub-run a step of `parent` started, if it has.
        fn child_run(&self, parent: &str, step: &str) -> Result<Option<String>>;
        /// The most recent runs first.
        fn runs(&self, limit: u32, workflow: Option<&str>) -> Result<Vec<RunRecord>>;
        /// A filtered page of runs, newest first (continue with the last one's
        /// `created_at` and id as `before`).
        fn run_page(&self, query: &RunQuery) -> Result<Vec<RunRecord>>;
        /// The traceparent of `run`'s first execution; with `keep`, that one is recorded
        /// when none was (a later call changes nothing).
        fn trace_parent(&self, run: &str, keep: Option<&str>) -> Result<Option<String>>;
        /// Every step record of `run` (outputs stored out of line are read back).
        fn steps(&self, run: &str) -> Result<Vec<StepRecord>>;
        /// Starts the next attempt of a step (item -1 for the step as a whole): counts it,
        /// fenced by `lease`, in one statement. Returns the attempt number (1 for the first).
        fn begin_attempt(&self, run: &str, lease: &Lease, step: &str, item: i64) -> Result<u32>;
        /// Commits how attempt `attempt` of a step ended, fenced by `lease` and by the attempt
        /// number (a stale attempt cannot overwrite a newer one). The step row is the attempt's
        /// record; a failed attempt is also kept in `attempts`, in the same transaction.
        fn finish_attempt(
            &self,
            run: &str,
            lease: &Lease,
            step: &str,
            item: i64,
            attempt: u32,
            finish: Finish,
        ) -> Result<()>;
        /// The failed attempts of a step item: (attempt, error), in order.
        fn failed_attempts(&self, run: &str, step: &str, item: i64) -> Result<Vec<(u32, String)>>;
        /// Marks a step as waiting (a durable timer until `wake_at`, or an approval).
        fn wait_step(
            &self,
            run: &str,
            lease: &Lease,
            step: &str,
            item: i64,
            wake_at: Option<i64>,
        ) -> Result<()>;
        /// Ends the run (fenced) and gives up its lease.
        fn finish_run(
            &self,
            run: &str,
            lease: &Lease,
            status: RunStatus,
            outputs: Option<&Value>,
            error: Option<&str>,
        ) -> Result<()>;
        /// Cancels an unfinished run (and its sub-runs); its executor stops at the next step.
        /// `false` when it had already finished.
        fn cancel(&self, run: &str) -> Result<bool>;
        /// Makes a finished run runnable again with the given steps forgotten (they run
        /// again; the others keep their results).
        fn reopen(&self, run: &str, forget: &[String]) -> Result<()>;
        /// Records a decision on an approval step (the first decision stands).
        fn decide(
            &self,
            run: &str,
            step: &str,
            approved: bool,
            by: &str,
            comment: Option<&str>,
        ) -> Result<bool>;
        fn approval(&self, run: &str, step: &str) -> Result<Option<Approval>>;
        /// Deletes finished runs older than `keep_for`, and the oldest finished runs beyond
        /// `keep_runs`. Returns how many went.
        fn prune(&self, keep_for: Duration, keep_runs: u32) -> Result<u64>;
    }
}
