//! `baton call TOOL --args '{json}' [--json]`: one call, its result on stdout.

use std::{path::PathBuf, process::ExitCode};

use baton_mcp::{
    gateway::{CallContext, SessionScope},
    rmcp::model::{CallToolRequestParams, CallToolResponse, ContentBlock},
};
use tokio_util::sync::CancellationToken;

use crate::cli::CallArgs;

pub async fn run(config_flag: Option<PathBuf>, args: CallArgs) -> ExitCode {
    let arguments = match serde_json::from_str::<serde_json::Value>(&args.args) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => {
            eprintln!("error: --args must be a JSON object, e.g. --args '{{\"message\": \"hi\"}}'");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("error: --args is not valid JSON: {error}");
            return ExitCode::from(2);
        }
    };
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let app = super::start_for_tool(config, &args.tool).await;
    let gateway = &app.gateway;
    let scope = SessionScope::default();
    let mut params = CallToolRequestParams::new(args.tool.clone());
    params.arguments = Some(arguments);
    let call = CallContext {
        principal: None,
        peer: None,
        progress: None,
        cancel: CancellationToken::new(),
        legacy: true,
        capabilities: None,
        log_level: None,
        mode: None,
        single_attempt: false,
        trace_passthrough: Vec::new(),
        input: None,
    };
    let result = gateway.call_tool(&scope, params, call).await;
    drop(scope);
    app.stop().await;
    let result = match result {
        Ok(CallToolResponse::Complete(result)) => result,
        Ok(other) => {
            eprintln!(
                "error: the server asked for input or started a task, which `baton call` cannot provide: {other:?}"
            );
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("error: {}", error.message);
            return ExitCode::FAILURE;
        }
    };
    let failed = result.is_error.unwrap_or(false);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        );
    } else {
        for content in &result.content {
            match content {
                ContentBlock::Text(text) => println!("{}", text.text),
                other => println!("{}", serde_json::to_string(other).unwrap_or_default()),
            }
        }
        if result.content.is_empty()
            && let Some(structured) = &result.structured_content
        {
            println!(
                "{}",
                serde_json::to_string_pretty(structured).unwrap_or_default()
            );
        }
    }
    if failed {
        eprintln!("error: tool {} reported an error", args.tool);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
