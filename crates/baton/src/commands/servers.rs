//! `baton servers [--json]`.

use std::{path::PathBuf, process::ExitCode};

use baton_mcp::builtin::status_report;
use serde_json::Value;

use crate::cli::ServersArgs;

pub async fn run(config_flag: Option<PathBuf>, args: ServersArgs) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let gateway = super::start_settled(config).await;
    let report = status_report(&gateway, None);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
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
                Some("failed") => text("error"),
                _ => String::new(),
            };
            println!("{:20} {:10} {detail}", text("name"), text("state"));
        }
        if let Some(Value::Array(conflicts)) = report.get("conflicts") {
            for conflict in conflicts {
                eprintln!("warning: {}", conflict.as_str().unwrap_or_default());
            }
        }
    }
    gateway.shutdown().await;
    ExitCode::SUCCESS
}
