//! The API's servers, tools, workflows, schedules, events and agent-loop state (runs are in
//! [`super::runs`]).

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Path, Query, State},
};
use baton_core::schedule::TriggerSource;
use baton_mcp::downstream::auth::Principal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Dashboard, Viewer, builtin_call, dag, tool_answer};
use crate::sets::{self, automation, state, system};

type Who = Option<Extension<Principal>>;

/// `GET /api/overview`: the servers, runs in flight, the next schedule fires and the latest
/// events, in one answer (the overview page).
pub async fn overview(State(dashboard): State<Arc<Dashboard>>, who: Who) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let Json(servers) = servers_of(&dashboard, &viewer, None)?;
    let in_flight = match dashboard.services.engine() {
        Ok(engine) => {
            let query = baton_store::RunQuery {
                status: Some(baton_store::RunStatus::Running),
                workflows: super::runs::visible_workflows(&dashboard, &viewer),
                limit: 50,
                ..Default::default()
            };
            let running = engine
                .store()
                .run_page(&query)
                .await
                .map_err(ApiError::internal)?;
            running.iter().map(super::runs::summary).collect()
        }
        Err(_) => Vec::new(),
    };
    let schedules = builtin_call(
        &dashboard,
        &viewer,
        automation::GET_SCHEDULE_STATUS,
        json!({}),
        true,
    )
    .await
    .map(|Json(body)| body["schedules"].clone())
    .unwrap_or(Value::Null);
    let events = builtin_call(
        &dashboard,
        &viewer,
        automation::LIST_EVENTS,
        json!({"limit": 15}),
        true,
    )
    .await
    .map(|Json(body)| body["events"].clone())
    .unwrap_or(Value::Null);
    Ok(Json(json!({
        "principal": viewer.principal.as_ref().map(|p| &p.name),
        "servers": servers["servers"],
        "runs_in_flight": in_flight,
        "schedules": schedules,
        "events": events,
    })))
}

/// `GET /api/servers`: each visible server's state, breaker, replicas, statistics and the
/// last minutes' samples.
pub async fn servers(State(dashboard): State<Arc<Dashboard>>, who: Who) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    servers_of(&dashboard, &viewer, None)
}

fn servers_of(dashboard: &Dashboard, viewer: &Viewer, only: Option<&str>) -> ApiResult {
    let mut report = sets::status_report(&dashboard.gateway, only, true);
    let list = report["servers"].as_array_mut().map(std::mem::take);
    let visible: Vec<Value> = list
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| {
            let label = entry["name"].as_str().unwrap_or_default();
            let name = label.split('#').next().unwrap_or(label);
            viewer.sees_server(&dashboard.gateway, name)
        })
        .map(|mut entry| {
            let label = entry["name"].as_str().unwrap_or_default().to_owned();
            entry["history"] = json!(dashboard.history.of(&label));
            entry
        })
        .collect();
    Ok(Json(json!({ "servers": visible })))
}

/// `GET /api/servers/NAME`: the server (each replica), its tools, prompts and resources.
pub async fn server(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Path(name): Path<String>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    if dashboard.gateway.upstream(&name).is_none() || !viewer.sees_server(&dashboard.gateway, &name)
    {
        return Err(ApiError::not_found(format!("no server named \"{name}\"")));
    }
    let Json(mut body) = servers_of(&dashboard, &viewer, Some(&name))?;
    let catalog = dashboard.gateway.catalog();
    let tools: Vec<Value> = catalog
        .tools
        .iter()
        .filter(|tool| {
            catalog
                .tool_routes
                .get(tool.name.as_ref())
                .is_some_and(|route| route.server == name)
                && viewer.may_use(&tool.name)
        })
        .map(|tool| json!({ "name": tool.name, "description": tool.description, "annotations": tool.annotations }))
        .collect();
    let prompts: Vec<Value> = catalog
        .prompts
        .iter()
        .filter(|prompt| {
            catalog
                .prompt_routes
                .get(prompt.name.as_str())
                .is_some_and(|route| route.server == name)
                && viewer.may_use(&prompt.name)
        })
        .map(|prompt| json!({ "name": prompt.name, "description": prompt.description }))
        .collect();
    let resources: Vec<Value> = catalog
        .resources
        .iter()
        .filter(|resource| {
            catalog.resource_routes.get(resource.uri.as_str()) == Some(&name)
                && viewer.may_use(&resource.uri)
        })
        .map(|resource| json!({ "uri": resource.uri, "name": resource.name }))
        .collect();
    body["name"] = json!(name);
    body["replicas"] = body["servers"].take();
    body["tools"] = json!(tools);
    body["prompts"] = json!(prompts);
    body["resources"] = json!(resources);
    Ok(Json(body))
}

/// `POST /api/servers/NAME/restart|reset_breaker`: `baton__error_recovery` as the caller.
pub async fn server_action(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Path((name, action)): Path<(String, String)>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    if !viewer.sees_server(&dashboard.gateway, &name) {
        return Err(ApiError::not_found(format!("no server named \"{name}\"")));
    }
    let action = match action.as_str() {
        "restart" => "restart_server",
        "reset_breaker" => "reset_breaker",
        other => {
            return Err(ApiError::not_found(format!(
                "no server action \"{other}\" (restart, reset_breaker)"
            )));
        }
    };
    let arguments = json!({ "action": action, "target": name });
    builtin_call(
        &dashboard,
        &viewer,
        system::ERROR_RECOVERY,
        arguments,
        false,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct ToolFilter {
    /// Words that must all appear in the name, title or description (case-insensitive).
    q: Option<String>,
}

/// `GET /api/tools?q=`: the tools the caller may call, with their schemas and annotations.
pub async fn tools(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Query(filter): Query<ToolFilter>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let catalog = dashboard.gateway.catalog();
    let words: Vec<String> = filter
        .q
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let tools: Vec<Value> = catalog
        .tools
        .iter()
        .filter(|tool| viewer.may_use(&tool.name))
        .filter(|tool| {
            let text = format!(
                "{} {} {}",
                tool.name,
                tool.title.as_deref().unwrap_or_default(),
                tool.description.as_deref().unwrap_or_default()
            )
            .to_lowercase();
            words.iter().all(|word| text.contains(word))
        })
        .map(|tool| {
            let server = catalog
                .tool_routes
                .get(tool.name.as_ref())
                .map(|route| route.server.clone());
            let mut entry = serde_json::to_value(tool).unwrap_or_default();
            entry["server"] = json!(server);
            entry
        })
        .collect();
    Ok(Json(json!({ "tools": tools })))
}

/// `POST /api/tools/NAME/call` with `{"arguments": {…}}`: the try-it console. Counted
/// against the caller's call budget like a call over MCP.
pub async fn call_tool(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    auth: Option<Extension<Arc<baton_mcp::downstream::auth::Authenticator>>>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    if let (Some(Extension(auth)), Some(who)) = (auth, &viewer.principal)
        && let Err(wait) = auth.admit_call(&who.name)
    {
        return Err(ApiError(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} is over serve.auth.limits.calls_per_minute; try again in {} s",
                who.name,
                wait.as_secs().max(1)
            ),
        ));
    }
    let arguments = match body.get("arguments") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(ApiError::bad_request("arguments must be a JSON object")),
    };
    let started = std::time::Instant::now();
    let result = dashboard
        .gateway
        .call_as(viewer.principal.clone(), &name, arguments)
        .await;
    tool_answer(result, started.elapsed())
}

/// `GET /api/workflows`: the workflows the caller may run, with their inputs.
pub async fn workflows(State(dashboard): State<Arc<Dashboard>>, who: Who) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let engine = dashboard.services.engine().map_err(ApiError::unavailable)?;
    let list: Vec<Value> = engine
        .workflows()
        .iter()
        .filter(|workflow| viewer.sees_workflow(&workflow.name))
        .map(|workflow| {
            json!({
                "name": workflow.name,
                "description": workflow.description,
                "steps": workflow.steps.len(),
                "inputs": workflow.inputs,
            })
        })
        .collect();
    Ok(Json(json!({ "workflows": list })))
}

/// `GET /api/workflows/NAME`: its inputs, steps and graph layout.
pub async fn workflow(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Path(name): Path<String>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let engine = dashboard.services.engine().map_err(ApiError::unavailable)?;
    let workflow = engine
        .workflow(&name)
        .filter(|_| viewer.sees_workflow(&name))
        .ok_or_else(|| ApiError::not_found(format!("no workflow named \"{name}\"")))?;
    Ok(Json(json!({
        "name": workflow.name,
        "description": workflow.description,
        "source": workflow.source,
        "inputs": workflow.inputs,
        "steps": workflow.steps.iter().map(|step| json!({
            "id": step.id,
            "label": step.kind.label(),
            "needs": step.needs,
            "description": step.description,
        })).collect::<Vec<_>>(),
        "graph": dag::layout(&workflow),
    })))
}

/// `GET /api/schedules`: `baton__get_schedule_status` as the caller, with the configured
/// triggers.
pub async fn schedules(State(dashboard): State<Arc<Dashboard>>, who: Who) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let Json(mut body) = builtin_call(
        &dashboard,
        &viewer,
        automation::GET_SCHEDULE_STATUS,
        json!({}),
        true,
    )
    .await?;
    let triggers: Vec<Value> = viewer
        .config
        .triggers
        .iter()
        .map(|trigger| {
            let on = match &trigger.source {
                TriggerSource::Event { kind, .. } => format!("event {}", kind.as_str()),
                TriggerSource::Webhook(_) => format!("webhook /hooks/{}", trigger.name),
                TriggerSource::Files(_) => "file changes".to_owned(),
            };
            json!({
                "name": trigger.name,
                "on": on,
                "target": trigger.target.label(),
                "disabled": trigger.disabled,
                "cooldown_ms": trigger.cooldown.as_millis(),
            })
        })
        .collect();
    body["triggers"] = json!(triggers);
    Ok(Json(body))
}

/// `POST /api/schedules/NAME/pause|resume|trigger`: `baton__manage_schedules`.
pub async fn schedule_action(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Path((name, action)): Path<(String, String)>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    if !matches!(action.as_str(), "pause" | "resume" | "trigger") {
        return Err(ApiError::not_found(format!(
            "no schedule action \"{action}\" (pause, resume, trigger)"
        )));
    }
    let arguments = json!({ "action": action, "name": name });
    builtin_call(
        &dashboard,
        &viewer,
        automation::MANAGE_SCHEDULES,
        arguments,
        false,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct EventFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/events?type=&after=&limit=`: `baton__list_events` as the caller.
pub async fn events(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Query(filter): Query<EventFilter>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let mut arguments = serde_json::Map::new();
    if let Some(kind) = filter.kind.filter(|kind| !kind.is_empty()) {
        arguments.insert("type".into(), json!(kind));
    }
    if let Some(after) = filter.after {
        arguments.insert("after".into(), json!(after));
    }
    arguments.insert("limit".into(), json!(filter.limit.unwrap_or(100)));
    builtin_call(
        &dashboard,
        &viewer,
        automation::LIST_EVENTS,
        Value::Object(arguments),
        true,
    )
    .await
}

/// `GET /api/state`: the agent loop's time tracking, persistent memory and TODO progress
/// (each part present when the caller may use its tool).
pub async fn state(State(dashboard): State<Arc<Dashboard>>, who: Who) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let mut body = serde_json::Map::new();
    for (key, tool) in [
        ("time", state::GET_TIME_TRACKING),
        ("memory", state::GET_PERSISTENT_MEMORY),
        ("todo", state::GET_TODO_STATUS),
    ] {
        let part = match builtin_call(&dashboard, &viewer, tool, json!({}), true).await {
            Ok(Json(value)) => value,
            Err(ApiError(status, message)) if status == axum::http::StatusCode::NOT_FOUND => {
                let _ = message;
                continue;
            }
            Err(ApiError(_, message)) => json!({ "error": message }),
        };
        body.insert(key.to_owned(), part);
    }
    Ok(Json(Value::Object(body)))
}
