//! System and development tools: `get_system_status`, `run_validation` (only the commands
//! declared under `validation.commands`), `error_recovery` (named actions) and
//! `sync_environment` (reload the configuration, refresh the catalogs, report changes).

use std::{process::Stdio, sync::Arc, time::Instant};

use rmcp::model::{JsonObject, Tool};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use baton_core::modes::ToolGroup;
use baton_mcp::{Gateway, ToolContext, ToolSet, upstream::ListChanged};
use futures::future::BoxFuture;
use rmcp::{ErrorData, model::CallToolResult};

use super::{Effect, boxed, tool};
use crate::Services;

/// Status, validation commands, recovery actions and sync.
#[derive(Debug)]
pub struct SystemSet(pub Arc<Services>);

impl ToolSet for SystemSet {
    fn tools(&self, separator: &str) -> Vec<Tool> {
        tools(separator)
    }

    fn group(&self, name: &str) -> Option<ToolGroup> {
        Some(match name {
            GET_SYSTEM_STATUS => ToolGroup::Read,
            _ => ToolGroup::Command,
        })
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<CallToolResult, ErrorData>> {
        boxed(call(
            &self.0,
            context.gateway,
            name,
            arguments,
            context.mode,
        ))
    }
}

pub const GET_SYSTEM_STATUS: &str = "get_system_status";
pub const RUN_VALIDATION: &str = "run_validation";
pub const ERROR_RECOVERY: &str = "error_recovery";
pub const SYNC_ENVIRONMENT: &str = "sync_environment";

pub fn tools(separator: &str) -> Vec<Tool> {
    vec![
        tool(
            separator,
            GET_SYSTEM_STATUS,
            "Baton at a glance: servers (state, breaker), runs in flight, schedules (paused, next fire, last result), the store's size, uptime, Baton's memory use, and the session's current mode.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            Effect::Read,
        ),
        tool(
            separator,
            RUN_VALIDATION,
            "Runs one of the validation commands declared in baton.yaml (validation.commands, e.g. tests or lint) with its timeout; answers its exit status, duration and output (head and tail kept when long). Without `command`, lists them.",
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The declared command's name."},
                    "timeout_s": {"type": "integer", "minimum": 1, "description": "Lower than the declared timeout only."}
                },
                "additionalProperties": false
            }),
            Effect::Write { idempotent: false },
        ),
        tool(
            separator,
            ERROR_RECOVERY,
            "A named recovery action: restart_server (target: a server; its new process connects before the old one stops), reset_breaker (target: a server; closes its circuit breakers), retry_run (target: a failed or cancelled run; it continues from its failed steps).",
            json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["restart_server", "reset_breaker", "retry_run"]},
                    "target": {"type": "string"}
                },
                "required": ["action", "target"],
                "additionalProperties": false
            }),
            Effect::Destructive { idempotent: false },
        ),
        tool(
            separator,
            SYNC_ENVIRONMENT,
            "Reloads baton.yaml and the workflows (as saving the file would), re-reads every server's tools, prompts and resources, and reports what changed.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            Effect::Write { idempotent: true },
        ),
    ]
}

/// Resident set size in bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

pub async fn call(
    services: &Services,
    gateway: &Arc<Gateway>,
    name: &str,
    arguments: JsonObject,
    mode: Option<String>,
) -> Result<Value, String> {
    let text = |key: &str| {
        arguments
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match name {
        GET_SYSTEM_STATUS => Ok(system_status(services, gateway, mode).await),
        RUN_VALIDATION => match text("command") {
            None => Ok(json!({ "commands": declared(gateway) })),
            Some(command) => {
                run_validation(
                    gateway,
                    &command,
                    arguments.get("timeout_s").and_then(Value::as_u64),
                )
                .await
            }
        },
        ERROR_RECOVERY => {
            let target = text("target").ok_or("target is required")?;
            match text("action").as_deref() {
                Some("restart_server") => {
                    let ready = gateway.restart_server(&target).await?;
                    Ok(json!({"action": "restart_server", "server": target, "ready": ready}))
                }
                Some("reset_breaker") => {
                    let replicas = gateway.replicas(&target);
                    if replicas.is_empty() {
                        return Err(format!("no server named \"{target}\" is configured"));
                    }
                    // Every replica is reset (no short circuit).
                    let reset = replicas
                        .iter()
                        .map(|upstream| upstream.reset_breakers())
                        .filter(|had| *had)
                        .count()
                        > 0;
                    Ok(json!({"action": "reset_breaker", "server": target, "had_breakers": reset}))
                }
                Some("retry_run") => {
                    let engine = services.engine()?;
                    let steps = engine
                        .reopen(&target, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    engine.submit(&target);
                    Ok(json!({"action": "retry_run", "run": target, "steps_to_run_again": steps}))
                }
                _ => Err("action must be restart_server, reset_breaker or retry_run".into()),
            }
        }
        SYNC_ENVIRONMENT => Ok(sync_environment(services, gateway).await),
        other => Err(format!("unknown tool {other}")),
    }
}

fn declared(gateway: &Gateway) -> Vec<Value> {
    gateway
        .config()
        .validation
        .iter()
        .map(|command| {
            json!({
                "name": command.name,
                "description": command.description,
                "run": command.run,
                "timeout_s": command.timeout.as_secs(),
            })
        })
        .collect()
}

async fn system_status(services: &Services, gateway: &Gateway, mode: Option<String>) -> Value {
    let report = super::status_report(gateway, None, false);
    let servers: Vec<Value> = report["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|server| {
            json!({
                "name": server["name"],
                "state": server["state"],
                "tools": server["tools"],
                "breaker": server.get("breaker").cloned().unwrap_or(json!({"state": "none"})),
                "error": server.get("error"),
            })
        })
        .collect();
    let (runs, store) = match &services.engine {
        Some(engine) => {
            let store = engine.store();
            let mut runs: Vec<Value> = store
                .runs(500, None)
                .await
                .unwrap_or_default()
                .iter()
                .filter(|run| !run.status.is_finished())
                .map(|run| super::workflows::run_json(run, None))
                .collect();
            super::workflows::place_in_queue(store, &mut runs).await;
            let queued = runs.iter().filter(|run| run["status"] == "queued").count();
            let workers: Vec<Value> = store
                .workers()
                .await
                .unwrap_or_default()
                .iter()
                .map(|worker| {
                    json!({
                        "worker": worker.id,
                        "heartbeat_age_ms": worker.now - worker.heartbeat_at,
                        "executing": worker.info.get("executing"),
                        "max_runs": worker.info.get("max_runs"),
                    })
                })
                .collect();
            (
                runs,
                json!({
                    "backend": store.backend_name(),
                    "location": store.location(),
                    "path": store.path(),
                    "size_bytes": store.database_size().await.unwrap_or(0),
                    "this_worker": engine.owner(),
                    "max_concurrent": engine.settings().max_runs,
                    "queued": queued,
                    "workers": workers,
                }),
            )
        }
        None => (Vec::new(), Value::Null),
    };
    let schedules = match services.store() {
        Ok(store) => baton_automation::manage::list(store)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                json!({
                    "name": s["name"], "paused": s["paused"], "next_fire": s["next_fire"],
                    "last_result": s["last_result"], "skipped": s["skipped"], "missed": s["missed"],
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": gateway.uptime().as_secs(),
        "memory": {"rss_bytes": rss_bytes()},
        "servers": servers,
        "runs_in_flight": runs,
        "schedules": schedules,
        "store": store,
        "current_mode": mode,
    })
}

/// Keeps the head and tail of `bytes` when longer than `limit`.
fn cut(bytes: &[u8], limit: usize) -> (String, bool) {
    if bytes.len() <= limit {
        return (String::from_utf8_lossy(bytes).into_owned(), false);
    }
    let half = limit / 2;
    let head = String::from_utf8_lossy(&bytes[..half]);
    let tail = String::from_utf8_lossy(&bytes[bytes.len() - half..]);
    (
        format!("{head}\n… {} bytes cut …\n{tail}", bytes.len() - 2 * half),
        true,
    )
}

async fn run_validation(
    gateway: &Gateway,
    name: &str,
    timeout_s: Option<u64>,
) -> Result<Value, String> {
    let config = gateway.config();
    let command = config
        .validation
        .iter()
        .find(|command| command.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = config.validation.iter().map(|c| c.name.as_str()).collect();
            format!(
                "no validation command \"{name}\": declared ones are {} (validation.commands in baton.yaml)",
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            )
        })?;
    let timeout = timeout_s
        .map(std::time::Duration::from_secs)
        .map_or(command.timeout, |given| given.min(command.timeout));
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command.run)
        .current_dir(&command.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            format!(
                "cannot run \"{}\" in {}: {error}",
                command.run,
                command.cwd.display()
            )
        })?;
    let started = Instant::now();
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let read_all = |pipe: Option<tokio::process::ChildStdout>| async move {
        let mut buffer = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buffer).await;
        }
        buffer
    };
    let out = tokio::spawn(read_all(stdout.take()));
    let err = tokio::spawn(async move {
        let mut buffer = Vec::new();
        if let Some(pipe) = stderr.as_mut() {
            let _ = pipe.read_to_end(&mut buffer).await;
        }
        buffer
    });
    let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => (status.ok(), false),
        Err(_) => {
            if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            (child.wait().await.ok(), true)
        }
    };
    let duration = started.elapsed();
    let (stdout, stdout_cut) = cut(&out.await.unwrap_or_default(), command.max_output);
    let (stderr, stderr_cut) = cut(&err.await.unwrap_or_default(), command.max_output);
    let code = status.and_then(|status| status.code());
    let signal = status.and_then(|status| {
        use std::os::unix::process::ExitStatusExt;
        status.signal()
    });
    Ok(json!({
        "command": command.name,
        "run": command.run,
        "cwd": command.cwd,
        "success": code == Some(0) && !timed_out,
        "exit_code": code,
        "signal": signal,
        "timed_out": timed_out,
        "timeout_s": timeout.as_secs(),
        "duration_ms": duration.as_millis() as u64,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": stdout_cut || stderr_cut,
    }))
}

async fn sync_environment(services: &Services, gateway: &Arc<Gateway>) -> Value {
    let reloaded = match &services.reload {
        Some(reload) => reload.reload().await,
        None => json!({"applied": false, "reason": "no configuration file to reload"}),
    };
    let mut refreshed = Vec::new();
    for upstream in gateway.upstreams() {
        if let Some(connection) = upstream.shared_connection().await {
            for list in [
                ListChanged::Tools,
                ListChanged::Prompts,
                ListChanged::Resources,
            ] {
                upstream.refresh(&connection, list).await;
            }
            refreshed.push(upstream.name().to_owned());
        }
    }
    let before = gateway.catalog();
    let changes = gateway.refresh_catalog().await;
    let after = gateway.catalog();
    json!({
        "config": reloaded,
        "servers_refreshed": refreshed,
        "lists_changed": changes,
        "tools": {"before": before.tool_routes.len(), "after": after.tool_routes.len()},
    })
}
