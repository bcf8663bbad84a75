//! `baton tools [--server S] [--json]`.

use std::{path::PathBuf, process::ExitCode};

use serde_json::json;

use crate::cli::ToolsArgs;

pub async fn run(config_flag: Option<PathBuf>, args: ToolsArgs) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Some(server) = &args.server
        && server != baton_core::config::BUILTIN_SERVER
        && config.server(server).is_none()
    {
        eprintln!("error: no server named \"{server}\" in the configuration");
        return ExitCode::from(2);
    }
    let app = match &args.server {
        Some(server) if server != baton_core::config::BUILTIN_SERVER => {
            baton_app::App::command_for(config, std::slice::from_ref(server)).await
        }
        _ => super::start_settled(config).await,
    };
    let gateway = &app.gateway;
    let catalog = gateway.catalog();
    let selected: Vec<_> = catalog
        .tools
        .iter()
        .filter_map(|tool| {
            let route = catalog.tool_routes.get(tool.name.as_ref())?;
            args.server
                .as_ref()
                .is_none_or(|server| &route.server == server)
                .then_some((tool, route))
        })
        .collect();
    if args.json {
        let tools: Vec<_> = selected
            .iter()
            .map(|(tool, route)| {
                json!({
                    "name": tool.name,
                    "server": route.server,
                    "original_name": route.original,
                    "description": tool.description,
                    "inputSchema": tool.input_schema,
                    "annotations": tool.annotations,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&tools).unwrap_or_default()
        );
    } else {
        let width = selected
            .iter()
            .map(|(tool, _)| tool.name.len())
            .max()
            .unwrap_or(0);
        for (tool, _) in &selected {
            let summary = tool
                .description
                .as_deref()
                .and_then(|d| d.lines().next())
                .unwrap_or("");
            println!("{:width$}  {summary}", tool.name);
        }
    }
    for upstream in gateway.upstreams() {
        if let baton_mcp::upstream::UpstreamState::Failed { error } = upstream.state() {
            eprintln!(
                "warning: server \"{}\" is unavailable: {error}",
                upstream.name()
            );
        }
    }
    app.stop().await;
    ExitCode::SUCCESS
}
