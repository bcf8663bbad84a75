//! One file per subcommand. Each returns the process exit code.

mod call;
mod events;
mod graph;
mod runs;
mod schedule;
mod serve;
mod servers;
mod state;
mod tools;
mod validate;

use std::{process::ExitCode, sync::Arc, time::Duration};

use baton_core::config::{self, Config};
use baton_mcp::Gateway;

use crate::cli::{Cli, Command};

/// How long one-shot commands wait for servers to connect.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(75);

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(cli.config, args).await,
        Command::Validate(args) => validate::run(cli.config, args).await,
        Command::Tools(args) => tools::run(cli.config, args).await,
        Command::Call(args) => call::run(cli.config, args).await,
        Command::Servers(args) => servers::run(cli.config, args).await,
        Command::Graph(args) => graph::run(cli.config, args),
        Command::Run(args) => runs::run(cli.config, args).await,
        Command::Runs(args) => runs::list(cli.config, args).await,
        Command::Cancel(args) => runs::cancel(cli.config, args).await,
        Command::Retry(args) => runs::retry(cli.config, args).await,
        Command::Resume(args) => runs::resume(cli.config, args).await,
        Command::Approve(args) => runs::approve(cli.config, args).await,
        Command::Schedule(command) => schedule::run(cli.config, command).await,
        Command::Events(args) => events::run(cli.config, args).await,
        Command::Timing(command) => state::timing(cli.config, command).await,
        Command::Memory(command) => state::memory(cli.config, command).await,
        Command::Modes { json } => state::modes(cli.config, json),
    }
}

/// Loads the configuration, or prints every error and returns the exit code to use.
pub fn load_config(explicit: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    let Some(path) = config::resolve_path(explicit) else {
        tracing::info!(
            "no configuration file (./baton.yaml or --config): serving Baton's built-in tools only"
        );
        let mut config = Config::empty();
        config::load_workflow_dir(&mut config).map_err(|errors| {
            eprint!("{errors}");
            ExitCode::from(2)
        })?;
        return Ok(config);
    };
    config::load(&path, &config::process_env).map_err(|errors| {
        eprint!("{errors}");
        ExitCode::from(2)
    })
}

/// Starts the gateway and waits until every server is ready or failed.
pub async fn start_settled(config: Config) -> Arc<Gateway> {
    let gateway = Gateway::start(config);
    gateway.wait_settled(SETTLE_TIMEOUT).await;
    gateway
}

/// Deletes old finished runs now and every hour (`workflows.keep_for`, `keep_runs`).
pub fn prune_runs(
    store: baton_engine::baton_store::Store,
    settings: baton_core::config::WorkflowSettings,
    events: baton_core::config::EventSettings,
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
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}

/// Opens the configured store and an engine calling tools through `gateway`.
pub async fn open_engine(
    config: &Config,
    gateway: &Arc<Gateway>,
) -> Result<Arc<baton_engine::Engine>, String> {
    let store = baton_engine::baton_store::Store::open(
        &config.store.path,
        config.workflows.inline_output_limit,
    )
    .await
    .map_err(|error| {
        format!("cannot open Baton's store: {error} (set store.path in baton.yaml)")
    })?;
    let tools = Arc::new(baton_mcp::workflows::GatewayTools(Arc::downgrade(gateway)));
    let engine = baton_engine::Engine::new(
        store,
        tools,
        config.workflows.definitions.clone(),
        &config.workflows.env_allow,
    );
    gateway.attach_engine(engine.clone()).await;
    Ok(engine)
}
