//! Baton's application core: the lifecycle that owns start-up and shutdown, and Baton's own
//! tool sets ([`sets`]), registered with the gateway like any server's catalog.
//!
//! Start-up is one ordered sequence ([`App::start`]), each state built from the ones
//! before it, nothing attached later:
//!
//! 1. **config** (loaded by the caller);
//! 2. **store**: opened at start (it holds the schedules the always-listed schedule tools
//!    manage). When it cannot be opened (a read-only folder), Baton still serves; the
//!    tools that need it answer why;
//! 3. **engine**: its tool calls go into a queue ([`caller`]) until the gateway serves it;
//! 4. **automation** (`baton serve` only): event stream, scheduler, triggers;
//! 5. **gateway**: the upstreams plus the tool sets; the engine's queue is served;
//! 6. **background** (`serve`): health events into the event stream, run times, resumed
//!    runs, pruning, hot reload, the audit trail's writer ([`audit`]);
//! 7. **listeners**: [`App::serve_stdio`] or [`App::serve_http`].
//!
//! [`App::stop`] reverses it: stop accepting, drain in-flight requests up to a deadline,
//! stop runs executing here and release their leases, stop every upstream (and its process
//! group).

#![forbid(unsafe_code)]

pub mod audit;
pub mod caller;
pub mod derive;
pub mod health;
pub mod hooks;
pub mod learned;
pub mod metrics;
pub mod oauth;
pub mod reload;
pub mod run_times;
pub mod sets;
pub mod store;
pub mod task_input;
pub mod tasks;
pub mod telemetry;
pub mod ui;
pub mod workers;

use std::{sync::Arc, time::Duration};

use baton_automation::{Automation, EventBus};
use baton_core::{Config, schedule::EventKind};
use baton_engine::{Engine, WorkerSettings};
use baton_mcp::{Gateway, GatewayEvent, downstream};
use baton_store::Store;
use tokio_util::sync::CancellationToken;

/// How long one-shot commands wait for servers to connect.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(75);

/// How long [`App::stop`] lets in-flight requests finish.
pub const DRAIN_FOR: Duration = Duration::from_secs(10);

/// The log target of announcements scripts read (`baton: listening on http://…`): written
/// whatever the log level, as the bare line in text logs (see the binary's `init_logging`).
pub const ANNOUNCE: &str = "baton::announce";

/// What the tool sets work with, built before the gateway.
#[derive(Debug)]
pub struct Services {
    /// The store, or why it could not be opened.
    store: Result<Store, String>,
    pub engine: Option<Arc<Engine>>,
    pub bus: Option<Arc<EventBus>>,
    /// The scheduler and triggers (`baton serve` only).
    pub automation: Option<Arc<Automation>>,
    /// Reloads the configuration file (`baton serve` with a file).
    pub reload: Option<reload::Requests>,
}

impl Services {
    pub fn store(&self) -> Result<&Store, String> {
        self.store.as_ref().map_err(Clone::clone)
    }

    pub fn engine(&self) -> Result<&Arc<Engine>, String> {
        self.engine.as_ref().ok_or_else(|| self.why_not())
    }

    pub fn bus(&self) -> Result<&Arc<EventBus>, String> {
        self.bus.as_ref().ok_or_else(|| self.why_not())
    }

    fn why_not(&self) -> String {
        match &self.store {
            Err(error) => error.clone(),
            Ok(_) => "this needs a running `baton serve`".to_owned(),
        }
    }
}

/// What the application is started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `baton serve`: schedules and triggers fire, unfinished runs resume, edits reload.
    Serve,
    /// A one-shot command (`tools`, `call`, `run`, …): the same catalog, no background work.
    Command,
}

/// A started application.
pub struct App {
    pub gateway: Arc<Gateway>,
    pub services: Arc<Services>,
    shutdown: CancellationToken,
    /// The audit trail's writer (`baton serve` with `audit:` on and a store).
    audit: Option<Arc<audit::StoreAudit>>,
    started: std::time::Instant,
    /// `baton serve` keeps what it learned of call latencies in the store ([`learned`]).
    saves_learned: bool,
}

impl App {
    /// Starts every state in order (see the crate documentation). `shutdown` stops the
    /// background work and the listeners.
    pub async fn start(config: Config, role: Role, shutdown: CancellationToken) -> App {
        let store = store::open_store(&config).await.inspect_err(|message| {
            tracing::warn!(
                "{message}; serving without workflows, schedules, memory or time tracking"
            )
        });
        if let Ok(store) = &store {
            oauth::install(store);
        }
        let (tools, calls) = caller::queue();
        let engine = store.as_ref().ok().map(|store| {
            Engine::with_settings(
                store.clone(),
                Arc::new(tools),
                config.workflows.definitions.clone(),
                &config.workflows.env_allow,
                WorkerSettings {
                    lease: config.workers.lease,
                    max_runs: config.run_limit(),
                    poll: config.workers.poll,
                },
            )
        });
        let bus = store
            .as_ref()
            .ok()
            .map(|store| EventBus::new(Some(store.clone())));
        let automation = match (role, &engine, &bus) {
            (Role::Serve, Some(engine), Some(bus)) => {
                baton_automation::forward_run_events(engine, bus.clone());
                let started =
                    Automation::start(engine.clone(), bus.clone(), &config, shutdown.clone());
                Some(started.await)
            }
            _ => None,
        };
        let (reload, reload_requests) = match (role, &config.source) {
            (Role::Serve, Some(_)) => {
                let (requests, queue) = reload::requests();
                (Some(requests), Some(queue))
            }
            _ => (None, None),
        };
        let services = Arc::new(Services {
            store,
            engine,
            bus,
            automation,
            reload,
        });
        let source = config.source.clone();
        let audit = match (role, config.audit.enabled, &services.store) {
            (Role::Serve, true, Ok(store)) => Some(audit::StoreAudit::start(
                store.clone(),
                config.audit.keep_for,
            )),
            (Role::Serve, true, Err(_)) => {
                tracing::warn!("audit: the store could not be opened, so no call is recorded");
                None
            }
            _ => None,
        };
        let gateway = Gateway::start(config, sets::all(&services));
        if let Ok(store) = &services.store {
            learned::load(&gateway, store).await;
        }
        if let Some(audit) = &audit {
            gateway.set_audit(audit.clone());
        }
        // MCP tasks are engine runs: `serve` keeps them (a one-shot command has no client
        // to come back for one).
        let task_store = (role == Role::Serve && services.engine.is_some())
            .then(|| services.store.clone().ok())
            .flatten();
        if task_store.is_some() {
            gateway.set_tasks(Arc::new(tasks::StoreTasks::new(services.clone(), &gateway)));
        }
        // Taken at once: a server that fails at start-up is a `server_down` event too.
        let health = gateway.subscribe_events();
        calls.serve(Arc::downgrade(&gateway), task_store);
        let app = App {
            gateway,
            services,
            shutdown,
            audit,
            started: std::time::Instant::now(),
            saves_learned: role == Role::Serve,
        };
        if role == Role::Serve {
            app.background(health, source, reload_requests).await;
        }
        app
    }

    /// A one-shot command's application, once every server is ready or failed.
    pub async fn command(config: Config) -> App {
        let app = App::start(config, Role::Command, CancellationToken::new()).await;
        app.gateway.wait_settled(SETTLE_TIMEOUT).await;
        app
    }

    /// A one-shot command's application, once the servers it needs (`servers`) are ready
    /// or failed: a slow or hung server it does not use does not hold it.
    pub async fn command_for(config: Config, servers: &[String]) -> App {
        let app = App::start(config, Role::Command, CancellationToken::new()).await;
        app.gateway.wait_for_servers(servers, SETTLE_TIMEOUT).await;
        app
    }

    /// The engine, or why there is none (the store could not be opened).
    pub fn engine(&self) -> Result<&Arc<Engine>, String> {
        self.services.engine()
    }

    async fn background(
        &self,
        health: tokio::sync::broadcast::Receiver<GatewayEvent>,
        source: Option<std::path::PathBuf>,
        reload_requests: Option<reload::Queue>,
    ) {
        if let Some(bus) = &self.services.bus {
            hooks::forward_gateway_events(health, bus.clone());
            derive::start(&self.gateway, bus.clone(), self.shutdown.clone());
        }
        metrics::follow(self.services.engine.as_ref(), self.services.bus.as_ref());
        if let Some(engine) = &self.services.engine {
            run_times::record(engine, &self.gateway);
            // Unfinished runs nobody holds (this process's own after a restart, another
            // worker's after its lease ran out) are found and executed from here on.
            engine.dispatch(self.shutdown.clone());
            workers::heartbeat(engine.clone(), self.shutdown.clone());
            learned::keep(
                self.gateway.clone(),
                engine.store().clone(),
                self.shutdown.clone(),
            );
            let config = self.gateway.config();
            prune(
                engine.store().clone(),
                config.workflows.clone(),
                config.events.clone(),
                self.shutdown.clone(),
            );
        }
        if let Some(path) = source {
            let services = self.services.clone();
            let on_applied = move |outcome| reloaded(&services, outcome);
            reload::watch(path, self.gateway.clone(), reload_requests, on_applied);
        }
    }

    /// Serves MCP on stdin/stdout until the client leaves or `shutdown` is cancelled (then
    /// the client's calls in flight have [`DRAIN_FOR`] to finish).
    pub async fn serve_stdio(&self) -> std::io::Result<()> {
        let serve = downstream::stdio::serve(self.gateway.clone());
        tokio::select! {
            result = serve => result,
            _ = self.drained() => Ok(()),
        }
    }

    /// Serves streamable HTTP (`/mcp`), legacy SSE (`/sse`), the webhooks
    /// (`/hooks/<name>`), the health probes (`/healthz`, `/readyz`), `/metrics` and the
    /// dashboard (`/ui`, `/api/`, [`ui`]) on `listener` until `shutdown` is cancelled: then nothing new is
    /// accepted, the clients' calls in flight have [`DRAIN_FOR`] to finish, and the sessions
    /// end.
    pub async fn serve_http(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        // Outside the Host/Origin guard and serve.auth: webhooks prove themselves with their
        // secret; the probes come by IP without credentials and only read states.
        let outside_guard = hooks::router(self.services.clone()).merge(health::router(
            self.gateway.clone(),
            self.services.clone(),
            self.shutdown.clone(),
        ));
        let end_sessions = CancellationToken::new();
        let sessions = downstream::http::sessions_for(&self.gateway);
        let wanted = self.gateway.config().metrics;
        let metrics = wanted.then(metrics::handle).flatten().map(|handle| {
            metrics::router(metrics::Scrape {
                handle,
                gateway: self.gateway.clone(),
                sessions: sessions.clone(),
                engine: self.services.engine.clone(),
                started: self.started,
            })
        });
        if let (Some(metrics), Some(address)) = (&metrics, &self.gateway.config().serve.metrics) {
            self.serve_metrics(address, metrics.clone()).await?;
        }
        let dashboard = ui::routes(
            self.gateway.clone(),
            self.services.clone(),
            self.shutdown.clone(),
        );
        let serve = downstream::http::serve(
            self.gateway.clone(),
            listener,
            self.shutdown.clone(),
            end_sessions.clone(),
            sessions,
            downstream::http::ExtraRoutes {
                inside: metrics.unwrap_or_default().merge(dashboard.api),
                public: dashboard.public,
                outside_guard,
            },
        );
        let ended = async {
            self.drained().await;
            end_sessions.cancel();
            // The connections close with their sessions; a stuck one is not waited for.
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        tokio::select! {
            result = serve => result,
            _ = ended => Ok(()),
        }
    }

    /// `serve.metrics`: `/metrics` alone on its own address, without `serve.auth` (for a
    /// scraper on an internal network), until shutdown.
    async fn serve_metrics(&self, address: &str, metrics: axum::Router) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("serve.metrics: cannot listen on {address}: {error}"),
                )
            })?;
        let bound = listener.local_addr()?;
        tracing::info!(target: ANNOUNCE, "baton: metrics on http://{bound}/metrics");
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, metrics)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "serve.metrics stopped");
            }
        });
        Ok(())
    }

    /// After `shutdown`: when the clients' tool calls in flight have finished (at most
    /// [`DRAIN_FOR`]).
    async fn drained(&self) {
        self.shutdown.cancelled().await;
        if !self.gateway.drain(DRAIN_FOR).await {
            tracing::warn!("tool calls still in flight after {DRAIN_FOR:?}: stopping anyway");
        }
    }

    /// Stops runs executing here (their leases released, so another Baton resumes them at
    /// once) and every upstream with its process group.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        if self.saves_learned
            && let Ok(store) = &self.services.store
        {
            learned::save(&self.gateway, store).await;
        }
        if let Some(engine) = &self.services.engine {
            engine.stop().await;
        }
        self.gateway.shutdown().await;
        if let Some(audit) = &self.audit {
            audit.flush().await;
        }
    }
}

/// Deletes old finished runs and events now and every hour (`workflows.keep_for`,
/// `keep_runs`, `events.keep`, `events.keep_for`).
fn prune(
    store: Store,
    settings: baton_core::config::WorkflowSettings,
    events: baton_core::config::EventSettings,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            match store.prune(settings.keep_for, settings.keep_runs).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "deleted old finished runs"),
                Err(error) => tracing::warn!(%error, "could not prune old runs"),
            }
            if let Err(error) = store
                .prune_events(events.keep, events.keep_for.as_millis() as i64)
                .await
            {
                tracing::warn!(%error, "could not prune old events");
            }
            if let Err(error) = store
                .prune_tasks(chrono::Utc::now().timestamp_millis())
                .await
            {
                tracing::warn!(%error, "could not prune expired tasks");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

/// After a reload: schedules and triggers follow the new configuration, and a
/// `config_reloaded` event records the outcome.
fn reloaded(services: &Arc<Services>, outcome: reload::ReloadOutcome) {
    let services = services.clone();
    tokio::spawn(async move {
        let (data, applied) = match outcome {
            reload::ReloadOutcome::Applied { report, config } => {
                let schedules = match &services.automation {
                    Some(automation) => Some(automation.reconfigure(&config).await),
                    None => None,
                };
                let data = baton_automation::fields([
                    ("applied", true.into()),
                    ("added", serde_json::json!(report.added)),
                    ("removed", serde_json::json!(report.removed)),
                    ("changed", serde_json::json!(report.changed)),
                    ("needs_restart", serde_json::json!(report.needs_restart)),
                    ("workflows_changed", report.workflows_changed.into()),
                    ("schedules", serde_json::json!(schedules)),
                ]);
                (data, true)
            }
            reload::ReloadOutcome::Rejected { errors } => (
                baton_automation::fields([("applied", false.into()), ("errors", errors.into())]),
                false,
            ),
        };
        if let Some(bus) = &services.bus {
            bus.emit(EventKind::ConfigReloaded, data);
        }
        if applied {
            tracing::info!("configuration reloaded");
        }
    });
}
