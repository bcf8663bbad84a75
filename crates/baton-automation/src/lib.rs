//! What starts work without a client asking: schedules (exactly once per slot, with
//! explicit overlap and catch-up policies), the recorded event stream, and triggers on
//! events, webhooks and file changes. Runs go through the engine, so they are durable.
//!
//! - [`events`]: the typed event stream, recorded then broadcast.
//! - [`plan`]: catch-up and overlap decisions as pure functions.
//! - [`firing`]: one slot's fate (start, buffer, skip) and a run's end.
//! - [`scheduler`]: the loop over every schedule's next fire time.
//! - [`triggers`], [`files`], [`webhook`]: event, file and webhook triggers.

#![forbid(unsafe_code)]

pub mod clock;
pub mod derive;
pub mod events;
pub mod files;
pub mod firing;
mod launch;
pub mod manage;
pub mod plan;
pub mod scheduler;
pub mod status;
pub mod triggers;
pub mod webhook;

pub use clock::Clock;
pub use events::{Event, EventBus, fields};
pub use firing::{Fire, Firing, Outcome};
pub use launch::launch;
pub use scheduler::Scheduler;
pub use triggers::Triggers;

use std::{path::PathBuf, sync::Arc};

use baton_core::Config;
use baton_engine::Engine;
use baton_store::Store;
use tokio_util::sync::CancellationToken;

/// Everything of this crate running in one `baton serve`.
#[derive(Debug)]
pub struct Automation {
    pub store: Store,
    pub bus: Arc<EventBus>,
    pub scheduler: Scheduler,
    pub triggers: Arc<Triggers>,
    /// What run-time schedules are checked against (replaced on reload).
    config: std::sync::RwLock<Arc<Config>>,
}

impl Automation {
    /// Starts the scheduler and the triggers for `config`, recording events on `bus`.
    pub async fn start(
        engine: Arc<Engine>,
        bus: Arc<EventBus>,
        config: &Config,
        shutdown: CancellationToken,
    ) -> Arc<Automation> {
        let store = engine.store().clone();
        let separator = config.namespace.separator.clone();
        let firing = Arc::new(Firing {
            store: store.clone(),
            engine: engine.clone(),
            bus: bus.clone(),
            owner: engine.owner().to_owned(),
            separator: separator.clone(),
            clock: crate::Clock::synced_to(store.clone(), shutdown.clone()).await,
        });
        let scheduler = Scheduler::start(firing, config.schedules.clone(), shutdown.clone()).await;
        let ignore: Vec<PathBuf> = config
            .store
            .path
            .parent()
            .map(|dir| vec![dir.to_owned()])
            .unwrap_or_default();
        let triggers = Triggers::start(
            store.clone(),
            engine,
            bus.clone(),
            separator,
            ignore,
            config.triggers.clone(),
            shutdown,
        );
        Arc::new(Automation {
            store,
            bus,
            scheduler,
            triggers,
            config: std::sync::RwLock::new(Arc::new(config.clone())),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A new configuration: schedules reconciled, triggers replaced. Returns a summary.
    pub async fn reconfigure(&self, config: &Config) -> String {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config.clone());
        self.triggers.set(config.triggers.clone());
        let summary = self.scheduler.reconcile(config.schedules.clone()).await;
        format!("{summary}; {} trigger(s)", config.triggers.len())
    }
}

/// Feeds the engine's run events into the event stream: run started, completed, failed
/// or cancelled (with the workflow and the run's origin), and failed steps.
pub fn forward_run_events(engine: &Arc<Engine>, bus: Arc<EventBus>) {
    use baton_core::schedule::EventKind;
    use baton_engine::RunEvent;
    use baton_store::{RunStatus, StepStatus};
    let mut events = engine.subscribe();
    let store = engine.store().clone();
    // Which worker executed the run (several may share the store).
    let worker = engine.owner().to_owned();
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            let about = |run: &str| {
                let store = store.clone();
                let run = run.to_owned();
                async move {
                    store
                        .run(&run)
                        .await
                        .map(|record| (record.workflow, record.origin.unwrap_or_default()))
                        .unwrap_or_default()
                }
            };
            match event {
                RunEvent::Started { run, workflow, .. } => {
                    let (_, origin) = about(&run).await;
                    bus.emit(
                        EventKind::RunStarted,
                        fields([
                            ("run", run.into()),
                            ("workflow", workflow.into()),
                            ("origin", origin.into()),
                            ("worker", worker.as_str().into()),
                        ]),
                    );
                }
                RunEvent::Finished { run, status, error } => {
                    let kind = match status {
                        RunStatus::Succeeded => EventKind::RunCompleted,
                        RunStatus::Failed => EventKind::RunFailed,
                        RunStatus::Cancelled => EventKind::RunCancelled,
                        RunStatus::Queued | RunStatus::Running => continue,
                    };
                    let (workflow, origin) = about(&run).await;
                    bus.emit(
                        kind,
                        fields([
                            ("run", run.into()),
                            ("workflow", workflow.into()),
                            ("origin", origin.into()),
                            ("worker", worker.as_str().into()),
                            ("error", error.map_or(serde_json::Value::Null, Into::into)),
                        ]),
                    );
                }
                RunEvent::StepFinished {
                    run,
                    step,
                    status: StepStatus::Failed,
                    error,
                    ..
                } => {
                    let (workflow, origin) = about(&run).await;
                    bus.emit(
                        EventKind::StepFailed,
                        fields([
                            ("run", run.into()),
                            ("workflow", workflow.into()),
                            ("step", step.into()),
                            ("origin", origin.into()),
                            ("error", error.map_or(serde_json::Value::Null, Into::into)),
                        ]),
                    );
                }
                _ => {}
            }
        }
    });
}
