//! `baton serve [--http ADDR]`.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use baton_automation::{Automation, EventBus, fields};
use baton_core::schedule::EventKind;
use baton_mcp::{Gateway, downstream};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{cli::ServeArgs, reload::ReloadOutcome};

pub async fn run(config_flag: Option<PathBuf>, args: ServeArgs) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let address = args.http.map(|address| {
        if address.is_empty() {
            config.serve.http.clone()
        } else {
            address
        }
    });
    let workflows = !config.workflows.definitions.is_empty()
        || !config.schedules.is_empty()
        || !config.triggers.is_empty()
        || !config.modes.is_empty()
        || config.store.path.exists();
    let settings = config.workflows.clone();
    let engine_config = config.clone();
    let gateway = Gateway::start(config);
    // Taken at once: a server that fails at start-up is a `server_down` event too.
    let health = gateway.subscribe_events();
    let shutdown = CancellationToken::new();
    let signal_shutdown = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal_shutdown.cancel();
    });
    // Workflows (and the store) only when there are some, or a store from earlier runs:
    // a plain gateway writes no files.
    if workflows {
        match super::open_engine(&engine_config, &gateway).await {
            Ok(engine) => {
                start_automation(&engine_config, &gateway, &engine, health, shutdown.clone()).await;
                crate::run_times::record(&engine, &gateway);
                match engine.resume_all().await {
                    Ok(resumed) if !resumed.is_empty() => {
                        tracing::info!(runs = resumed.len(), "resuming unfinished workflow runs")
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "could not look for unfinished runs"),
                }
                super::prune_runs(
                    engine.store().clone(),
                    settings,
                    engine_config.events.clone(),
                );
            }
            Err(error) => tracing::error!("{error}; serving without workflows"),
        }
    } else {
        take_up_store_when_it_appears(&gateway, shutdown.clone());
    }
    // Hot reload: edits to the config file and the workflows folder apply live.
    if let Some(path) = engine_config.source.clone() {
        // `sync_environment` reloads the same way a saved edit does.
        let weak = Arc::downgrade(&gateway);
        let (file, stop) = (path.clone(), shutdown.clone());
        gateway.set_reloader(Arc::new(move || {
            let (weak, file, stop) = (weak.clone(), file.clone(), stop.clone());
            Box::pin(async move {
                let Some(gateway) = weak.upgrade() else {
                    return json!({"applied": false, "reason": "Baton is shutting down"});
                };
                let outcome = crate::reload::apply(&file, &gateway).await;
                let summary = match &outcome {
                    ReloadOutcome::Applied { report, .. } => {
                        json!({"applied": true, "report": report})
                    }
                    ReloadOutcome::Rejected { errors } => {
                        json!({"applied": false, "errors": errors})
                    }
                };
                reloaded(&gateway, outcome, stop);
                summary
            })
        }));
        let weak = Arc::downgrade(&gateway);
        let shutdown = shutdown.clone();
        crate::reload::watch(path, gateway.clone(), move |outcome| {
            if let Some(gateway) = weak.upgrade() {
                reloaded(&gateway, outcome, shutdown.clone());
            }
        });
    }
    let result = match address {
        None => {
            tokio::select! {
                result = downstream::stdio::serve(gateway.clone()) => result,
                _ = shutdown.cancelled() => Ok(()),
            }
        }
        Some(address) => match tokio::net::TcpListener::bind(&address).await {
            Ok(listener) => {
                let local = listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or(address);
                tracing::info!(
                    "serving MCP on http://{local}/mcp (streamable HTTP) and http://{local}/sse (legacy SSE)"
                );
                // Tests and scripts read this line to find the port when ADDR ends in :0.
                eprintln!("baton: listening on http://{local}");
                downstream::http::serve(gateway.clone(), listener, shutdown.clone()).await
            }
            Err(error) => Err(std::io::Error::new(
                error.kind(),
                format!("cannot listen on {address}: {error}"),
            )),
        },
    };
    gateway.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// After a reload: schedules and triggers follow the new configuration (started if it is
/// the first to have any), and a `config_reloaded` event records the outcome.
fn reloaded(gateway: &Arc<Gateway>, outcome: ReloadOutcome, shutdown: CancellationToken) {
    let gateway = gateway.clone();
    tokio::spawn(async move {
        let (data, applied) = match outcome {
            ReloadOutcome::Applied { report, config } => {
                let automation = match gateway.automation() {
                    Some(automation) => {
                        Some((automation.reconfigure(&config).await, automation.clone()))
                    }
                    None => match gateway.engine() {
                        Some(engine)
                            if !config.schedules.is_empty() || !config.triggers.is_empty() =>
                        {
                            let engine = engine.clone();
                            let health = gateway.subscribe_events();
                            start_automation(&config, &gateway, &engine, health, shutdown).await;
                            gateway
                                .automation()
                                .map(|automation| ("started".to_owned(), automation.clone()))
                        }
                        _ => None,
                    },
                };
                let schedules = automation.as_ref().map(|(summary, _)| summary.clone());
                (
                    fields([
                        ("applied", true.into()),
                        ("added", json!(report.added)),
                        ("removed", json!(report.removed)),
                        ("changed", json!(report.changed)),
                        ("needs_restart", json!(report.needs_restart)),
                        ("workflows_changed", report.workflows_changed.into()),
                        ("schedules", json!(schedules)),
                    ]),
                    true,
                )
            }
            ReloadOutcome::Rejected { errors } => (
                fields([("applied", false.into()), ("errors", errors.into())]),
                false,
            ),
        };
        if let Some(automation) = gateway.automation() {
            automation.bus.emit(EventKind::ConfigReloaded, data);
        }
        if applied {
            tracing::info!("configuration reloaded");
        }
    });
}

/// A gateway started without a store takes one up when it appears (`baton schedule add`,
/// a first `baton run` from another terminal): schedules then fire without a restart.
fn take_up_store_when_it_appears(gateway: &Arc<Gateway>, shutdown: CancellationToken) {
    let weak = Arc::downgrade(gateway);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(gateway) = weak.upgrade() else {
                return;
            };
            let config = gateway.config();
            if gateway.automation().is_some() || !config.store.path.exists() {
                continue;
            }
            let health = gateway.subscribe_events();
            let engine = match gateway.engine() {
                Some(engine) => engine.clone(),
                None => match super::open_engine(&config, &gateway).await {
                    Ok(engine) => {
                        crate::run_times::record(&engine, &gateway);
                        super::prune_runs(
                            engine.store().clone(),
                            config.workflows.clone(),
                            config.events.clone(),
                        );
                        engine
                    }
                    Err(error) => {
                        tracing::warn!("{error}");
                        continue;
                    }
                },
            };
            tracing::info!(store = %config.store.path.display(), "a store appeared: schedules and triggers start");
            start_automation(&config, &gateway, &engine, health, shutdown.clone()).await;
            return;
        }
    });
}

/// The event stream (recorded in the store), the scheduler and the triggers.
async fn start_automation(
    config: &baton_core::Config,
    gateway: &Arc<Gateway>,
    engine: &Arc<baton_engine::Engine>,
    health: tokio::sync::broadcast::Receiver<baton_mcp::GatewayEvent>,
    shutdown: CancellationToken,
) {
    // Start-up, a reload and a store appearing may each get here: one scheduler only.
    static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = STARTING.lock().await;
    if gateway.automation().is_some() {
        return;
    }
    let bus = EventBus::new(Some(engine.store().clone()));
    baton_automation::forward_run_events(engine, bus.clone());
    baton_mcp::automation::forward_gateway_events(health, bus.clone());
    let automation = Automation::start(engine.clone(), bus, config, shutdown).await;
    gateway.attach_automation(automation).await;
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
