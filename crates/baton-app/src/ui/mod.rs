//! The dashboard (`/ui`) and the JSON API under `/api/` it reads (usable by scripts too;
//! docs/API.md).
//!
//! - The pages are one shell (HTML, script and style embedded in the binary, [`assets`])
//!   that holds no data: it is public behind the Host/Origin guard, and asks the API for
//!   everything. Signing in (`/ui/login`) opens a browser session (`baton_mcp::downstream::
//!   browser`) when `serve.auth` is on.
//! - The API ([`api`], [`runs`]) is behind `serve.auth` like `/mcp`. A principal sees the
//!   servers that have a tool, prompt or resource its `access:` rules allow, the tools it
//!   may call, the runs of workflows it may run; the schedules, events and agent-loop pages
//!   need the built-in tool that reads the same data (`baton__get_schedule_status`,
//!   `baton__list_events`, `baton__get_time_tracking`…). Every action is the built-in tool
//!   that does it, called as the principal ([`baton_mcp::Gateway::call_as`]): the same
//!   check, metrics and audit record as over MCP.
//! - `/api/stream` ([`stream`]) is one server-sent-event stream of the gateway's, the
//!   engine's and the event bus's broadcasts, filtered by the same view.

pub mod api;
pub mod assets;
pub mod dag;
pub mod history;
pub mod runs;
pub mod stream;

use std::sync::Arc;

use axum::{
    Json, Router,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use baton_core::Config;
use baton_mcp::{Gateway, downstream::auth::Principal};
use serde_json::{Value, json};

use crate::Services;

/// What the API handlers share.
pub struct Dashboard {
    pub gateway: Arc<Gateway>,
    pub services: Arc<Services>,
    pub history: Arc<history::History>,
}

/// The dashboard's routes: the public shell and assets, and the API (to be put behind
/// `serve.auth`).
pub struct Routes {
    pub public: Router,
    pub api: Router,
}

/// Builds the dashboard for `gateway` (starts sampling the servers' history until
/// `shutdown`).
pub fn routes(
    gateway: Arc<Gateway>,
    services: Arc<Services>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Routes {
    let history = history::History::start(gateway.clone(), shutdown);
    let dashboard = Arc::new(Dashboard {
        gateway,
        services,
        history,
    });
    let api = Router::new()
        .route("/api/overview", get(api::overview))
        .route("/api/servers", get(api::servers))
        .route("/api/servers/{name}", get(api::server))
        .route("/api/servers/{name}/{action}", post(api::server_action))
        .route("/api/tools", get(api::tools))
        .route("/api/tools/{name}/call", post(api::call_tool))
        .route("/api/workflows", get(api::workflows))
        .route("/api/workflows/{name}", get(api::workflow))
        .route("/api/runs", get(runs::list).post(runs::start))
        .route("/api/runs/{run}", get(runs::show))
        .route("/api/runs/{run}/{action}", post(runs::act))
        .route("/api/schedules", get(api::schedules))
        .route("/api/schedules/{name}/{action}", post(api::schedule_action))
        .route("/api/events", get(api::events))
        .route("/api/state", get(api::state))
        .route("/api/stream", get(stream::stream))
        .fallback(|| async { ApiError::not_found("no such API route (see docs/API.md)") })
        .with_state(dashboard);
    Routes {
        public: assets::router(),
        api,
    }
}

/// What the caller may see.
pub struct Viewer {
    pub principal: Option<Principal>,
    pub config: Arc<Config>,
}

impl Viewer {
    pub fn new(principal: Option<axum::Extension<Principal>>, gateway: &Gateway) -> Viewer {
        Viewer {
            principal: principal.map(|axum::Extension(who)| who),
            config: gateway.config(),
        }
    }

    /// Whether the caller may use `name` (a tool, prompt or resource) under `access:`.
    pub fn may_use(&self, name: &str) -> bool {
        let Some(access) = &self.config.access else {
            return true;
        };
        match &self.principal {
            Some(who) => access.allows(&who.name, &who.roles, &who.scopes, name),
            None => self.config.serve.auth.is_none(),
        }
    }

    /// Whether the caller sees server `name`: a rule allows its whole namespace
    /// (`NAME__*`, even while it has no tools listed), or something of it is in its view.
    pub fn sees_server(&self, gateway: &Gateway, name: &str) -> bool {
        if self.config.access.is_none() {
            return true;
        }
        if self.may_use(&format!("{name}{}*", self.config.namespace.separator)) {
            return true;
        }
        let catalog = gateway.catalog();
        catalog
            .tool_routes
            .iter()
            .chain(catalog.prompt_routes.iter())
            .any(|(exposed, route)| route.server == name && self.may_use(exposed))
            || catalog
                .resource_routes
                .iter()
                .any(|(uri, server)| server == name && self.may_use(uri))
    }

    /// Whether the caller may see and run workflow `name` (its tool `workflow__NAME`).
    pub fn sees_workflow(&self, name: &str) -> bool {
        self.may_use(&self.workflow_tool(name))
    }

    pub fn workflow_tool(&self, name: &str) -> String {
        format!(
            "{}{}{name}",
            baton_core::config::WORKFLOW_SERVER,
            self.config.namespace.separator
        )
    }

    /// Baton's own tool `name` as exposed (`baton__NAME`).
    pub fn builtin(&self, name: &str) -> String {
        format!(
            "{}{}{name}",
            baton_core::config::BUILTIN_SERVER,
            self.config.namespace.separator
        )
    }

    /// `Ok` when the caller may use Baton's own tool `name`; otherwise a 404 that does not
    /// say whether the page exists.
    pub fn require_builtin(&self, name: &str) -> Result<String, ApiError> {
        let exposed = self.builtin(name);
        if self.may_use(&exposed) {
            Ok(exposed)
        } else {
            Err(ApiError::not_found("nothing here for you"))
        }
    }
}

/// An API error: its status and a JSON body `{"error": …}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, message.into())
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, message.into())
    }

    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

pub type ApiResult = Result<Json<Value>, ApiError>;

/// A tool's answer as the API returns it: `{ok, content, structuredContent, duration_ms}`,
/// or the error.
pub fn tool_answer(
    result: Result<rmcp::model::CallToolResponse, rmcp::ErrorData>,
    took: std::time::Duration,
) -> ApiResult {
    let duration_ms = (took.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    match result {
        Ok(rmcp::model::CallToolResponse::Complete(done)) => {
            let mut body = serde_json::to_value(&done).map_err(ApiError::internal)?;
            body["ok"] = json!(done.is_error != Some(true));
            body["duration_ms"] = json!(duration_ms);
            Ok(Json(body))
        }
        Ok(_) => Ok(Json(json!({
            "ok": false,
            "duration_ms": duration_ms,
            "error": "the tool asked for input or started a task, which the console does not handle",
        }))),
        Err(error) => {
            let status = if error.message.starts_with("unknown tool") {
                StatusCode::NOT_FOUND
            } else if error.code == rmcp::model::ErrorCode::INVALID_PARAMS {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::BAD_GATEWAY
            };
            Err(ApiError(status, error.message.to_string()))
        }
    }
}

/// The structured answer of one of Baton's own tools, or its error as a 400: an action
/// (`read: false`, audited) or a page's read.
pub async fn builtin_call(
    dashboard: &Dashboard,
    viewer: &Viewer,
    name: &str,
    arguments: Value,
    read: bool,
) -> ApiResult {
    let exposed = viewer.require_builtin(name)?;
    let arguments = match arguments {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let started = std::time::Instant::now();
    let principal = viewer.principal.clone();
    let result = if read {
        dashboard
            .gateway
            .read_as(principal, &exposed, arguments)
            .await
    } else {
        dashboard
            .gateway
            .call_as(principal, &exposed, arguments)
            .await
    };
    let Json(answer) = tool_answer(result, started.elapsed())?;
    if answer["ok"] == json!(false) {
        let text = answer["content"]
            .as_array()
            .and_then(|blocks| blocks.first())
            .and_then(|block| block["text"].as_str())
            .unwrap_or("the action failed")
            .to_owned();
        return Err(ApiError::bad_request(text));
    }
    Ok(Json(
        answer
            .get("structuredContent")
            .cloned()
            .unwrap_or_else(|| json!({ "done": true })),
    ))
}
