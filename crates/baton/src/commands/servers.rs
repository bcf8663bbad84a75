//! `baton servers [--json] [--stats] [--url URL]`.

use std::{path::PathBuf, process::ExitCode};

use baton_mcp::rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, ContentBlock},
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};

use crate::cli::ServersArgs;

pub async fn run(config_flag: Option<PathBuf>, args: ServersArgs) -> ExitCode {
    let report = match &args.url {
        Some(url) => match remote_status(url, args.stats).await {
            Ok(report) => report,
            Err(error) => {
                eprintln!("error: cannot read the status of the Baton at {url}: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => {
            let config = match super::load_config(config_flag.as_deref()) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let app = super::start_settled(config).await;
            let gateway = &app.gateway;
            let report = baton_app::sets::status_report(gateway, None, args.stats);
            app.stop().await;
            if args.stats && !args.json {
                eprintln!(
                    "note: these are the statistics of this one-shot process; use --url to read a running `baton serve --http`"
                );
            }
            report
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    print_table(&report, args.stats);
    ExitCode::SUCCESS
}

/// Calls `baton__status` on a running Baton.
async fn remote_status(url: &str, stats: bool) -> Result<Value, String> {
    let client =
        ().serve(StreamableHttpClientTransport::from_uri(url.to_owned()))
            .await
            .map_err(|error| error.to_string())?;
    let mut params = CallToolRequestParams::new("baton__status");
    params.arguments = json!({ "stats": stats }).as_object().cloned();
    let result = client
        .peer()
        .call_tool(params)
        .await
        .map_err(|error| error.to_string())?;
    let _ = client.cancel().await;
    let text = result
        .content
        .iter()
        .find_map(|content| match content {
            ContentBlock::Text(text) => Some(text.text.clone()),
            _ => None,
        })
        .ok_or("baton__status returned no text")?;
    serde_json::from_str(&text).map_err(|error| error.to_string())
}

fn print_table(report: &Value, stats: bool) {
    let servers = report["servers"].as_array().cloned().unwrap_or_default();
    if servers.is_empty() {
        println!("no upstream servers configured (only Baton's built-in tools)");
    }
    for server in servers {
        let text = |key: &str| server[key].as_str().unwrap_or("-").to_owned();
        let detail = match server["state"].as_str() {
            Some("ready") => format!(
                "{} {} · {} tools",
                text("transport"),
                text("protocol"),
                server["tools"].as_u64().unwrap_or(0)
            ),
            _ => text("error"),
        };
        println!("{:20} {:12} {detail}", text("name"), text("state"));
        if stats {
            let s = &server["stats"];
            let ms = |key: &str| {
                s["latency_ms"][key]
                    .as_f64()
                    .map_or("-".to_owned(), |v| format!("{v:.1}"))
            };
            println!(
                "{:20} calls {} · errors {} · timeouts {} · retries {} · restarts {} · p50 {} ms · p95 {} ms · p99 {} ms · breaker {}",
                "",
                s["calls"],
                s["errors"],
                s["timeouts"],
                s["retries"],
                s["restarts"],
                ms("p50"),
                ms("p95"),
                ms("p99"),
                server["breaker"]["state"].as_str().unwrap_or("-"),
            );
            if let Some(Value::Object(tools)) = server.get("auto_timeouts") {
                for (tool, budget) in tools {
                    println!(
                        "{:20} tool {tool}: timeout auto → {} ms ({})",
                        "",
                        budget["timeout_ms"],
                        if budget["learned"] == true {
                            "learned from its latency"
                        } else {
                            "the configured timeout until enough calls"
                        }
                    );
                }
            }
            if let Some(Value::Object(tools)) = server.get("tool_breakers") {
                for (tool, breaker) in tools {
                    println!(
                        "{:20} tool {tool}: breaker {}",
                        "",
                        breaker["state"].as_str().unwrap_or("-")
                    );
                }
            }
        }
    }
    if let Some(Value::Array(conflicts)) = report.get("conflicts") {
        for conflict in conflicts {
            eprintln!("warning: {}", conflict.as_str().unwrap_or_default());
        }
    }
}
