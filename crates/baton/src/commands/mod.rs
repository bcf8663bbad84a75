//! One file per subcommand. Each returns the process exit code.

mod audit;
mod auth;
mod call;
mod doctor;
mod events;
mod graph;
mod init;
mod runs;
mod schedule;
mod serve;
mod servers;
mod state;
mod store;
mod tools;
mod validate;

use std::process::ExitCode;

use baton_core::config::{self, Config};

use crate::cli::{Cli, Command};

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
        Command::Audit(args) => audit::run(cli.config, args).await,
        Command::Timing(command) => state::timing(cli.config, command).await,
        Command::Memory(command) => state::memory(cli.config, command).await,
        Command::Modes { json } => state::modes(cli.config, json),
        Command::Store(command) => store::run(cli.config, command).await,
        Command::Workers { json } => store::workers(cli.config, json).await,
        Command::Auth(crate::cli::AuthCommand::Key(crate::cli::KeyCommand::New { name })) => {
            new_key(&name)
        }
        Command::Auth(command) => auth::run(cli.config, command).await,
        Command::Init(args) => init::run(args),
        Command::Doctor { json } => doctor::run(cli.config, json).await,
        Command::ConformanceClient { url } => auth::conformance_client(&url).await,
    }
}

/// Loads the configuration, or prints every error and returns the exit code to use.
pub fn load_config(explicit: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    let Some(path) = config::resolve_path(explicit) else {
        tracing::info!(
            "no configuration file (./baton.yaml or --config): serving Baton's built-in tools only"
        );
        let mut config = Config::empty();
        config.store.url = config::process_env(config::STORE_URL_ENV).filter(|url| !url.is_empty());
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

/// Opens the configured store, or prints why it cannot and returns the exit code.
pub async fn store_of(config: &Config) -> Result<baton_store::Store, ExitCode> {
    baton_app::store::open_store(config)
        .await
        .map_err(|message| {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        })
}

/// Starts the application for a one-shot command (the same catalog `serve` has) and waits
/// until every server is ready or failed.
pub async fn start_settled(config: Config) -> baton_app::App {
    baton_app::App::command(config).await
}

/// Starts the application for a one-shot command about `tool` (or a prompt): waits for
/// the server its prefix names only; for Baton's own tools, for every server.
pub async fn start_for_tool(config: Config, tool: &str) -> baton_app::App {
    let owner = config.server_named_by(tool).map(str::to_owned);
    match owner {
        Some(server) => baton_app::App::command_for(config, &[server]).await,
        None => baton_app::App::command(config).await,
    }
}

/// `baton auth key new NAME`: a random key (32 bytes, hex), shown once, and its hash line.
fn new_key(name: &str) -> ExitCode {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ':') {
        eprintln!("error: a principal name has no spaces or colons, e.g. ci-bot");
        return ExitCode::from(2);
    }
    let key = format!(
        "bk_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    println!(
        "key for {name} (shown once; give it to the client as `Authorization: Bearer <key>`):"
    );
    println!("  {key}");
    println!("add under serve.auth.api_keys in baton.yaml:");
    println!(
        "  {name}: \"sha256:{}\"",
        config::sha256_hex(key.as_bytes())
    );
    ExitCode::SUCCESS
}
