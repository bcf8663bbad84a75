//! One file per subcommand. Each returns the process exit code.

mod call;
mod graph;
mod serve;
mod servers;
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
