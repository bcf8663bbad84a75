//! `baton validate [FILE] [--connect]`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use baton_core::{
    config,
    names::server_prefix,
    workflow::{self, Workflow},
};

use crate::cli::ValidateArgs;

/// Compiles one workflow file against `config` (its servers, separator, env allow-list).
pub fn compile_file(config: &config::Config, path: &Path) -> Result<Workflow, ExitCode> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        eprintln!("error: cannot read {}: {error}", path.display());
        ExitCode::from(2)
    })?;
    let servers = config.server_names();
    let context = config.workflow_context(&servers);
    workflow::compile_workflow(path, &text, context).map_err(|errors| {
        eprint!("{errors}");
        ExitCode::FAILURE
    })
}

/// Whether `path` holds a workflow (top-level `steps:` or `phases:`) rather than a config.
fn is_workflow_file(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(serde_json::Value::Object(map)) = serde_saphyr::from_str::<serde_json::Value>(&text)
    else {
        return false;
    };
    map.contains_key("steps") || map.contains_key("phases")
}

pub async fn run(config_flag: Option<PathBuf>, args: ValidateArgs) -> ExitCode {
    if let Some(file) = &args.file
        && is_workflow_file(file)
    {
        // The config alone: the workflows folder may hold this very file.
        let config = match config::resolve_path(config_flag.as_deref()) {
            None => config::Config::empty(),
            Some(path) => match config::load_file(&path, &config::process_env) {
                Ok(config) => config,
                Err(errors) => {
                    eprint!("{errors}");
                    return ExitCode::from(2);
                }
            },
        };
        return match compile_file(&config, file) {
            Ok(workflow) => {
                println!(
                    "{}: ok (workflow \"{}\", {} step{})",
                    file.display(),
                    workflow.name,
                    workflow.steps.len(),
                    if workflow.steps.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        };
    }
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
        let app = super::start_settled(config.clone()).await;
        let gateway = &app.gateway;
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
        // Every tool a workflow step, schedule or trigger calls must be in the live catalog;
        // when its server is down that cannot be known, so it is a warning.
        let mut callers: Vec<(String, String, String)> = Vec::new();
        for workflow in &config.workflows.definitions {
            for step in workflow
                .steps
                .iter()
                .flat_map(|s| std::iter::once(s).chain(s.fallback.as_deref()))
            {
                if let baton_core::workflow::StepKind::Tool { tool, .. } = &step.kind {
                    callers.push((
                        format!(
                            "{}:{}:{}",
                            workflow.source.display(),
                            step.line,
                            step.column
                        ),
                        format!("workflow \"{}\" step \"{}\"", workflow.name, step.id),
                        tool.clone(),
                    ));
                }
            }
        }
        let file = path.display().to_string();
        let targets = config
            .schedules
            .iter()
            .map(|s| ("schedule", &s.name, &s.target, s.line, s.column))
            .chain(
                config
                    .triggers
                    .iter()
                    .map(|t| ("trigger", &t.name, &t.target, t.line, t.column)),
            );
        for (kind, name, target, line, column) in targets {
            if let baton_core::schedule::Target::Tool { tool, .. } = target {
                callers.push((
                    format!("{file}:{line}:{column}"),
                    format!("{kind} \"{name}\""),
                    tool.clone(),
                ));
            }
        }
        for (at, who, tool) in callers {
            if catalog.tool_routes.contains_key(tool.as_str())
                || tool.starts_with(baton_core::workflow::TOOL_PREFIX)
            {
                continue;
            }
            let server = tool
                .split(&config.namespace.separator)
                .next()
                .unwrap_or_default();
            let up = gateway.upstreams().iter().any(|u| {
                u.name() == server
                    && matches!(u.state(), baton_mcp::upstream::UpstreamState::Ready { .. })
            });
            if up {
                eprintln!(
                    "error: {at}: {who} calls unknown tool \"{tool}\" (server \"{server}\" does not list it; see `baton tools -s {server}`)"
                );
                failed = true;
            } else {
                warnings.push(format!(
                    "{at}: {who} calls \"{tool}\", which cannot be checked while server \"{server}\" is down"
                ));
            }
        }
        app.stop().await;
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if failed {
        return ExitCode::FAILURE;
    }
    let workflows = config.workflows.definitions.len();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut extra = String::new();
    for (count, what) in [
        (config.schedules.len(), "schedule"),
        (config.triggers.len(), "trigger"),
    ] {
        if count > 0 {
            extra.push_str(&format!(", {count} {what}{}", plural(count)));
        }
    }
    println!(
        "{}: ok ({} server{}, {workflows} workflow{}{extra})",
        path.display(),
        config.servers.len(),
        plural(config.servers.len()),
        plural(workflows)
    );
    ExitCode::SUCCESS
}
