//! Baton's own tools, always present under the `baton` namespace: `status` here, and the
//! tool sets of [`state`] (time tracking, persistent memory, TODO status). Each tool has a
//! precise input schema, answers with `structuredContent` plus the same JSON as text, and
//! carries `readOnlyHint` / `destructiveHint` / `idempotentHint`.

pub(crate) mod files;
pub(crate) mod modes;
pub mod state;
pub(crate) mod system;

use std::sync::Arc;

use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock as Content, JsonObject, Tool, ToolAnnotations},
};
use serde_json::{Value, json};

use baton_resilience::BreakerState;

use crate::{gateway::Gateway, upstream::UpstreamState};

pub const STATUS: &str = "status";

/// The built-in tools, namespaced with `separator`.
pub fn tools(separator: &str) -> Vec<Tool> {
    let schema = json!({
        "type": "object",
        "properties": {
            "server": { "type": "string", "description": "Only this server." },
            "restart": { "type": "string", "description": "Try this restarting or quarantined server again now." },
            "stats": { "type": "boolean", "description": "Include per-tool call statistics." }
        },
        "additionalProperties": false
    });
    let Value::Object(schema) = schema else {
        unreachable!("a json! object literal is an object")
    };
    let mut status = Tool::new(
        format!("baton{separator}{STATUS}"),
        "Baton's upstream MCP servers: state (ready, connecting, failed, restarting, quarantined, disabled), transport, protocol version, tool/prompt/resource counts, and the last error with recent stderr lines. `restart` asks a restarting or quarantined server to be tried again now.",
        Arc::new(schema),
    );
    status.annotations = Some(
        ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );
    let mut all = vec![status];
    all.extend(state::tools(separator));
    all.extend(files::tools(separator));
    all.extend(system::tools(separator));
    all.extend(modes::tools(separator));
    all
}

/// Runs a built-in tool; `name` is the tool's name without the namespace, `mode` the
/// caller's mode (already checked against the tool).
pub async fn call(
    gateway: &Gateway,
    name: &str,
    arguments: JsonObject,
    mode: Option<String>,
    scope: &crate::gateway::SessionScope,
    context: &crate::gateway::CallContext,
) -> Result<CallToolResult, ErrorData> {
    if modes::is_tool(name) {
        return Ok(answer(
            modes::call(gateway, name, arguments, scope, context).await,
        ));
    }
    if state::is_tool(name) {
        return Ok(answer(state::call(gateway, name, arguments, mode).await));
    }
    if files::is_tool(name) {
        return Ok(answer(files::call(gateway, name, arguments).await));
    }
    if system::is_tool(name) {
        let Some(gateway) = gateway.handle() else {
            return Ok(answer(Err("Baton is shutting down".into())));
        };
        return Ok(answer(system::call(&gateway, name, arguments, mode).await));
    }
    match name {
        STATUS => {
            if let Some(name) = arguments.get("restart").and_then(Value::as_str) {
                match gateway.upstream(name) {
                    Some(_) => gateway
                        .replicas(name)
                        .iter()
                        .for_each(|replica| replica.request_restart()),
                    None => {
                        return Ok(CallToolResult::error(vec![Content::text(format!(
                            "no server named \"{name}\" is configured"
                        ))]));
                    }
                }
            }
            let only = arguments.get("server").and_then(Value::as_str);
            if let Some(only) = only
                && gateway.upstream(only).is_none()
            {
                return Ok(CallToolResult::error(vec![Content::text(format!(
                    "no server named \"{only}\" is configured"
                ))]));
            }
            let per_tool = arguments
                .get("stats")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let report = status_report(gateway, only, per_tool);
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            let mut result = CallToolResult::success(vec![Content::text(text)]);
            result.structured_content = Some(report);
            Ok(result)
        }
        other => Err(crate::error::GatewayError::UnknownTool(format!(
            "{}{}{other}",
            baton_core::config::BUILTIN_SERVER,
            gateway.config().namespace.separator
        ))
        .into()),
    }
}

/// The status document shared by `baton__status` and `baton servers --json`.
pub fn status_report(gateway: &Gateway, only: Option<&str>, per_tool: bool) -> Value {
    let catalog = gateway.catalog();
    let servers: Vec<Value> = gateway
        .upstreams()
        .iter()
        .filter(|upstream| only.is_none_or(|name| upstream.name() == name))
        .map(|upstream| {
            let state = upstream.state();
            let tools = catalog
                .tool_routes
                .values()
                .filter(|route| route.server == upstream.name())
                .count();
            let own = upstream.catalog();
            let mut entry = json!({
                "name": upstream.label(),
                "state": state.label(),
                "isolation": upstream.config.isolation.as_str(),
                "tools": tools,
                "prompts": own.prompts.len(),
                "resources": own.resources.len(),
                "resource_templates": own.templates.len(),
            });
            let (total, by_name) = upstream.stats();
            let mut stats = stats_json(&total);
            stats["restarts"] = json!(upstream.restarts());
            stats["in_flight"] = json!(upstream.limit.in_flight());
            if per_tool {
                stats["by_name"] = by_name
                    .iter()
                    .map(|(name, summary)| (name.clone(), stats_json(summary)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            entry["stats"] = stats;
            if let Some(breaker) = upstream.breaker_state() {
                entry["breaker"] = breaker_json(breaker);
            }
            let tool_breakers = upstream.tool_breaker_states();
            if !tool_breakers.is_empty() {
                entry["tool_breakers"] = tool_breakers
                    .into_iter()
                    .map(|(tool, state)| (tool, breaker_json(state)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            if let Some(error) = state.error() {
                entry["error"] = json!(error);
                entry["stderr_tail"] = json!(upstream.stderr_tail());
            }
            match state {
                UpstreamState::Ready {
                    protocol,
                    transport,
                } => {
                    entry["protocol"] = json!(protocol);
                    entry["transport"] = json!(transport);
                }
                UpstreamState::Restarting {
                    attempt, next_in, ..
                } => {
                    entry["restart_attempt"] = json!(attempt);
                    entry["next_restart_in_ms"] = json!(next_in.as_millis());
                }
                UpstreamState::Quarantined {
                    crashes, retry_in, ..
                } => {
                    entry["crashes"] = json!(crashes);
                    entry["retry_in_ms"] = json!(retry_in.as_millis());
                }
                UpstreamState::Failed { .. }
                | UpstreamState::Connecting
                | UpstreamState::Disabled => {}
            }
            entry
        })
        .collect();
    let (hits, misses, entries) = gateway.cache.counters();
    json!({
        "servers": servers,
        "conflicts": catalog.conflicts,
        "cache": { "hits": hits, "misses": misses, "entries": entries },
    })
}

fn stats_json(summary: &baton_resilience::StatsSummary) -> Value {
    let round = |ms: Option<f64>| ms.map(|ms| (ms * 1000.0).round() / 1000.0);
    json!({
        "calls": summary.calls,
        "errors": summary.errors,
        "timeouts": summary.timeouts,
        "retries": summary.retries,
        "latency_ms": {
            "ewma": round(summary.ewma_ms),
            "p50": round(summary.p50_ms),
            "p95": round(summary.p95_ms),
            "p99": round(summary.p99_ms),
        },
    })
}

fn breaker_json(state: BreakerState) -> serde_json::Value {
    match state {
        BreakerState::Closed => json!({ "state": "closed" }),
        BreakerState::Open { until, failures } => json!({
            "state": "open",
            "failures": failures,
            "next_probe_in_ms": until
                .saturating_duration_since(std::time::Instant::now())
                .as_millis(),
        }),
        BreakerState::HalfOpen { .. } => json!({ "state": "half-open" }),
    }
}

/// What a tool does to the world, for its annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Reads only.
    Read,
    /// Adds or changes state; `idempotent` when repeating it changes nothing more.
    Write { idempotent: bool },
    /// May overwrite or remove something.
    Destructive { idempotent: bool },
}

/// A tool named `baton<separator><name>` with its schema (a JSON object literal).
pub(crate) fn tool(
    separator: &str,
    name: &str,
    description: &str,
    schema: Value,
    effect: Effect,
) -> Tool {
    let Value::Object(schema) = schema else {
        unreachable!("a json! object literal is an object")
    };
    let mut tool = Tool::new(
        format!("baton{separator}{name}"),
        description.to_owned(),
        Arc::new(schema),
    );
    let (read_only, destructive, idempotent) = match effect {
        Effect::Read => (true, false, true),
        Effect::Write { idempotent } => (false, false, idempotent),
        Effect::Destructive { idempotent } => (false, true, idempotent),
    };
    tool.annotations = Some(
        ToolAnnotations::new()
            .read_only(read_only)
            .destructive(destructive)
            .idempotent(idempotent)
            .open_world(false),
    );
    tool
}

/// A tool's answer: the value as `structuredContent` and as pretty JSON text; an error as
/// an `isError` result with the message.
pub(crate) fn answer(result: Result<Value, String>) -> CallToolResult {
    match result {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            let mut result = CallToolResult::success(vec![Content::text(text)]);
            result.structured_content = Some(value);
            result
        }
        Err(error) => CallToolResult::error(vec![Content::text(error)]),
    }
}
