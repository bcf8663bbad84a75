//! Baton's own tools, as tool sets registered with the gateway like any server's catalog
//! ([`baton_mcp::ToolSet`]): [`StatusSet`] (`baton__status`), [`state`] (time, memory,
//! TODO), [`files`] (the project sandbox), [`system`] (status, validation, recovery,
//! sync), [`modes`] (capabilities, switch, delegation), [`workflows`] (workflows as tools,
//! run management) and [`automation`] (schedules and events). Each tool has a precise input
//! schema, answers with `structuredContent` plus the same JSON as text, and carries
//! `readOnlyHint` / `destructiveHint` / `idempotentHint`.

pub mod automation;
pub mod files;
pub mod modes;
pub mod state;
pub mod system;
pub mod workflows;

use std::sync::Arc;

use baton_core::{config::BUILTIN_SERVER, modes::ToolGroup};
use baton_mcp::{
    Gateway, ToolContext, ToolSet,
    toolset::{self, answer},
    upstream::UpstreamState,
};
use futures::future::BoxFuture;
use rmcp::{
    ErrorData,
    model::{CallToolResult, ContentBlock as Content, JsonObject, Tool},
};
use serde_json::{Value, json};

use baton_resilience::BreakerState;

pub use baton_mcp::toolset::Effect;

use crate::Services;

pub const STATUS: &str = "status";

/// Every tool set, in catalog order (`baton__status` first).
pub fn all(services: &Arc<Services>) -> Vec<Arc<dyn ToolSet>> {
    vec![
        Arc::new(StatusSet),
        Arc::new(state::StateSet(services.clone())),
        Arc::new(files::FilesSet),
        Arc::new(system::SystemSet(services.clone())),
        Arc::new(modes::ModesSet(services.clone())),
        Arc::new(workflows::WorkflowSet(services.clone())),
        Arc::new(workflows::RunsSet(services.clone())),
        Arc::new(automation::AutomationSet(services.clone())),
    ]
}

/// A tool named `baton<separator><name>`.
pub(crate) fn tool(
    separator: &str,
    name: &str,
    description: &str,
    schema: Value,
    effect: Effect,
) -> Tool {
    toolset::tool(BUILTIN_SERVER, separator, name, description, schema, effect)
}

/// Wraps a set's answer as the boxed future [`ToolSet::call`] returns.
pub(crate) fn boxed<'a>(
    future: impl std::future::Future<Output = Result<Value, String>> + Send + 'a,
) -> BoxFuture<'a, Result<CallToolResult, ErrorData>> {
    Box::pin(async move { Ok(answer(future.await)) })
}

/// `baton__status`: the upstream servers' state.
#[derive(Debug)]
pub struct StatusSet;

impl ToolSet for StatusSet {
    fn tools(&self, separator: &str) -> Vec<Tool> {
        let schema = json!({
            "type": "object",
            "properties": {
                "server": { "type": "string", "description": "Only this server." },
                "restart": { "type": "string", "description": "Try this restarting or quarantined server again now." },
                "stats": { "type": "boolean", "description": "Include per-tool call statistics." }
            },
            "additionalProperties": false
        });
        vec![tool(
            separator,
            STATUS,
            "Baton's upstream MCP servers: state (ready, connecting, failed, restarting, quarantined, disabled), transport, protocol version, tool/prompt/resource counts, and the last error with recent stderr lines. `restart` asks a restarting or quarantined server to be tried again now.",
            schema,
            Effect::Write { idempotent: true },
        )]
    }

    fn group(&self, _name: &str) -> Option<ToolGroup> {
        Some(ToolGroup::Read)
    }

    fn call<'a>(
        &'a self,
        _name: &'a str,
        arguments: JsonObject,
        context: ToolContext<'a>,
    ) -> BoxFuture<'a, Result<CallToolResult, ErrorData>> {
        Box::pin(async move { Ok(status(context.gateway, &arguments)) })
    }
}

fn status(gateway: &Gateway, arguments: &JsonObject) -> CallToolResult {
    if let Some(name) = arguments.get("restart").and_then(Value::as_str) {
        match gateway.upstream(name) {
            Some(_) => gateway
                .replicas(name)
                .iter()
                .for_each(|replica| replica.request_restart()),
            None => {
                return CallToolResult::error(vec![Content::text(format!(
                    "no server named \"{name}\" is configured"
                ))]);
            }
        }
    }
    let only = arguments.get("server").and_then(Value::as_str);
    if let Some(only) = only
        && gateway.upstream(only).is_none()
    {
        return CallToolResult::error(vec![Content::text(format!(
            "no server named \"{only}\" is configured"
        ))]);
    }
    let per_tool = arguments
        .get("stats")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    answer(Ok(status_report(gateway, only, per_tool)))
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
            stats["session_recoveries"] = json!(upstream.session_recoveries());
            stats["in_flight"] = json!(upstream.in_flight());
            stats["queued"] = json!(upstream.queued());
            if per_tool {
                stats["by_name"] = by_name
                    .iter()
                    .map(|(name, summary)| (name.clone(), stats_json(summary)))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            entry["stats"] = stats;
            // `timeout: auto` tools: the budget in force, and whether it is learned yet.
            let auto: serde_json::Map<String, Value> = gateway
                .auto_timeouts(upstream.name())
                .into_iter()
                .map(|(tool, budget, learned)| {
                    (
                        tool,
                        json!({ "timeout_ms": budget.as_millis() as u64, "learned": learned }),
                    )
                })
                .collect();
            if !auto.is_empty() {
                entry["auto_timeouts"] = Value::Object(auto);
            }
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
                UpstreamState::NeedsLogin { .. } => {
                    entry["login"] = json!(format!(
                        "baton auth login {}",
                        entry["name"].as_str().unwrap_or_default()
                    ));
                }
                UpstreamState::Failed { .. }
                | UpstreamState::Connecting
                | UpstreamState::Disabled => {}
            }
            entry
        })
        .collect();
    let (hits, misses, entries) = gateway.cache_counters();
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
