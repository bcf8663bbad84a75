//! `baton validate [FILE] [--connect]`.

use std::{collections::HashMap, path::PathBuf, process::ExitCode};

use baton_core::{config, names::server_prefix};

use crate::cli::ValidateArgs;

pub async fn run(config_flag: Option<PathBuf>, args: ValidateArgs) -> ExitCode {
    let explicit = args.file.or(config_flag);
    let Some(path) = config::resolve_path(explicit.as_deref()) else {
        eprintln!(
            "error: no configuration to validate: pass a FILE, use --config, or create ./baton.yaml"
        );
        return ExitCode::from(2);
    };
    let config = match config::load(&path, &config::process_env) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let mut warnings = Vec::new();
    let mut prefixes: HashMap<String, &str> = HashMap::new();
    for server in &config.servers {
        let prefix = server_prefix(&server.name);
        if let Some(other) = prefixes.insert(prefix.clone(), &server.name) {
            warnings.push(format!(
                "servers \"{other}\" and \"{}\" share the tool prefix \"{prefix}\": their tools may collide (colliding names get a hash suffix)",
                server.name
            ));
        }
    }
    let mut failed = false;
    if args.connect {
        let gateway = super::start_settled(config.clone()).await;
        let catalog = gateway.catalog();
        warnings.extend(catalog.conflicts.iter().cloned());
        for upstream in gateway.upstreams() {
            if let baton_mcp::upstream::UpstreamState::Failed { error } = upstream.state() {
                eprintln!("error: server \"{}\": {error}", upstream.name());
                failed = true;
            }
        }
        println!(
            "{} tools from {} servers",
            catalog.tools.len(),
            config.servers.len()
        );
        gateway.shutdown().await;
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if failed {
        return ExitCode::FAILURE;
    }
    println!(
        "{}: ok ({} server{})",
        path.display(),
        config.servers.len(),
        if config.servers.len() == 1 { "" } else { "s" }
    );
    ExitCode::SUCCESS
}
