//! This process as one worker among several on a shared store: how many runs it executes
//! at once, how it finds runs nobody executes (new ones left by a busy worker, runs whose
//! worker stopped renewing its lease, runs reopened from the CLI), and how a caller that
//! wants a run's result gets it whoever executes the run.
//!
//! Work is found by [`Engine::dispatch`]: it claims ready runs from the store
//! (`claim_ready`: one claimer at a time on PostgreSQL, so two workers never get the
//! same run; higher `priority` first, then the oldest; a run whose concurrency key has no
//! room stays queued) whenever the store says work may have appeared (`work_signal`: `LISTEN/NOTIFY`
//! on PostgreSQL), a run executing here ends, or the slow poll comes round. A worker at
//! capacity (`workers.max_runs`) claims nothing and leaves new runs for the others.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use baton_store::{RunRecord, StoreError};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::{Engine, EngineError, LEASE_TTL};

/// How a worker shares the store with others (`workers:` in baton.yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long a claimed run stays ours without renewal.
    pub lease: Duration,
    /// Top-level runs executing here at once at most (`None`: no limit).
    pub max_runs: Option<u32>,
    /// How often an idle worker looks for work nobody told it about.
    pub poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            lease: LEASE_TTL,
            max_runs: None,
            poll: Duration::from_secs(2),
        }
    }
}

/// Runs claimed per store round trip when there is no limit.
const CLAIM_BATCH: u32 = 32;
/// How often a caller waiting for a run executed elsewhere looks at it.
const AWAIT_POLL: Duration = Duration::from_millis(100);

impl Engine {
    /// A place for one more top-level run here, if there is one (always, without a
    /// limit).
    fn slot(&self) -> Option<Option<OwnedSemaphorePermit>> {
        match &self.slots {
            None => Some(None),
            Some(slots) => slots.clone().try_acquire_owned().ok().map(Some),
        }
    }

    /// How many more runs this worker takes now.
    fn free_slots(&self) -> u32 {
        match &self.slots {
            None => CLAIM_BATCH,
            Some(slots) => slots.available_permits().min(CLAIM_BATCH as usize) as u32,
        }
    }

    /// Executes the created run `id` in the background here when this worker has room
    /// and no run it left waits in the queue before it; otherwise leaves it `queued` in the
    /// store for whichever worker has room (this one included, once a run ends), in
    /// priority order.
    /// `true` when it executes here now (it may still wait for its concurrency key).
    pub fn submit(self: &Arc<Self>, id: &str) -> bool {
        match self.place() {
            Some(permit) => {
                self.spawn_execution(id.to_owned(), permit);
                true
            }
            None => {
                tracing::debug!(run = id, "at capacity; the run waits in the queue");
                self.leave(id);
                false
            }
        }
    }

    /// A place for a new run, unless the queue this worker fills is not empty (then the
    /// new run queues behind the others).
    fn place(&self) -> Option<Option<OwnedSemaphorePermit>> {
        if self.queue_waiting.load(Ordering::Acquire) {
            return None;
        }
        let place = self.slot();
        if place.is_none() {
            self.queue_waiting.store(true, Ordering::Release);
        }
        place
    }

    /// Gives a run this worker created (and so holds) to whichever worker takes it first.
    pub fn leave(self: &Arc<Self>, id: &str) {
        let (engine, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move {
            if let Err(error) = engine.store.release_owned(&id, &engine.owner).await {
                tracing::warn!(run = %id, %error, "could not leave the run to other workers");
            }
            engine.slot_freed.notify_one();
        });
    }

    fn spawn_execution(self: &Arc<Self>, id: String, permit: Option<OwnedSemaphorePermit>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let result = engine.execute(&id).await;
            drop(permit);
            engine.slot_freed.notify_one();
            match result {
                Ok(_) | Err(EngineError::Busy(..)) => {}
                // Its concurrency key is full: it waits in the queue for the dispatcher.
                Err(EngineError::Queued(..)) => engine.leave(&id),
                Err(error) => tracing::warn!(run = %id, %error, "run stopped"),
            }
        });
    }

    /// The run's end, whoever executes it: here when this worker has room and nobody
    /// else holds it, else the worker that does (the store is watched until the run ends).
    pub async fn execute_anywhere(self: &Arc<Self>, id: &str) -> Result<RunRecord, EngineError> {
        if let Some(permit) = self.place() {
            let result = self.execute(id).await;
            drop(permit);
            self.slot_freed.notify_one();
            match result {
                Err(EngineError::Busy(..)) => {}
                Err(EngineError::Queued(..)) => {
                    self.store.release_owned(id, &self.owner).await?;
                }
                other => return other,
            }
        } else {
            self.store.release_owned(id, &self.owner).await?;
            self.slot_freed.notify_one();
        }
        self.await_run(id).await
    }

    /// Where run `id` stands in the queue (1: next to start), if it waits there.
    pub async fn queue_position(&self, id: &str) -> Result<Option<usize>, EngineError> {
        Ok(self
            .store
            .queue()
            .await?
            .iter()
            .position(|queued| queued.id == id)
            .map(|index| index + 1))
    }

    /// Waits until run `id` (executed anywhere) has finished, and returns its record.
    pub async fn await_run(&self, id: &str) -> Result<RunRecord, EngineError> {
        let mut events = self.subscribe();
        loop {
            let record = self.store.run(id).await?;
            if record.status.is_finished() {
                return Ok(record);
            }
            tokio::select! {
                _ = tokio::time::sleep(AWAIT_POLL) => {}
                event = events.recv() => {
                    if let Ok(crate::RunEvent::Finished { run, .. }) = event && run != id {
                        continue;
                    }
                }
            }
        }
    }

    /// Finds and executes runs nobody executes, until `stop`: runs created and left by a
    /// busy worker, runs reopened elsewhere, runs whose worker stopped renewing its lease
    /// (killed, partitioned, paused) and runs whose holder on this machine is gone.
    pub fn dispatch(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let mut signal = engine.store.work_signal();
            loop {
                let more = match engine.dispatch_once().await {
                    Ok(more) => more,
                    Err(error) => {
                        tracing::warn!(%error, "could not look for runs to execute");
                        false
                    }
                };
                if more {
                    continue;
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = signal.changed() => {}
                    _ = engine.slot_freed.notified() => {}
                    _ = tokio::time::sleep(engine.settings.poll) => {}
                }
            }
        })
    }

    /// Claims what this worker has room for; `true` when it was full and more may wait.
    async fn dispatch_once(self: &Arc<Self>) -> Result<bool, StoreError> {
        for (id, holder) in self.store.held().await? {
            if crate::holder_is_dead(&holder)
                && !self.is_executing(&id)
                && let Some(permit) = self.slot()
            {
                tracing::info!(run = %id, holder, "the run's worker is gone; taking it over");
                self.spawn_execution(id, permit);
            }
        }
        let room = self.free_slots();
        if room == 0 {
            return Ok(false);
        }
        let claimed = self
            .store
            .claim_ready(&self.owner, self.settings.lease, room)
            .await?;
        let full = claimed.len() as u32 == room;
        if !full {
            // Everything the queue could give is claimed: a new run may take a place at once.
            self.queue_waiting.store(false, Ordering::Release);
        }
        for (id, _lease) in claimed {
            let Some(permit) = self.slot() else {
                // Claimed but no room after all (a caller took the place meanwhile):
                // give it back at once for anyone.
                self.store.release_owned(&id, &self.owner).await?;
                continue;
            };
            tracing::info!(run = %id, "executing a run found in the store");
            self.spawn_execution(id, permit);
        }
        Ok(full)
    }

    fn is_executing(&self, id: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }
}
