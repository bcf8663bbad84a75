//! The API's runs: a filtered, paginated list; one run with its steps laid out on its
//! graph; starting a run and the actions on one (cancel, retry, approve or reject).

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Extension, Json,
    extract::{Path, Query, State},
};
use baton_core::workflow::StepKind;
use baton_mcp::downstream::auth::Principal;
use baton_store::{RunQuery, RunRecord, RunStatus, StepRecord, StepStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Dashboard, Viewer, builtin_call, dag};
use crate::sets::{system, workflows};

type Who = Option<Extension<Principal>>;

/// The workflows whose runs the caller sees (`None`: all of them).
pub fn visible_workflows(dashboard: &Dashboard, viewer: &Viewer) -> Option<Vec<String>> {
    viewer.config.access.as_ref()?;
    let engine = dashboard.services.engine().ok()?;
    Some(
        engine
            .workflows()
            .iter()
            .map(|workflow| workflow.name.clone())
            .filter(|name| viewer.sees_workflow(name))
            .collect(),
    )
}

/// A run as the list shows it.
pub fn summary(run: &RunRecord) -> Value {
    json!({
        "id": run.id,
        "workflow": run.workflow,
        "status": run.status.as_str(),
        "origin": run.origin,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "parent_run": run.parent_run,
        "priority": run.priority,
    })
}

#[derive(Debug, Deserialize)]
pub struct RunFilter {
    workflow: Option<String>,
    status: Option<String>,
    origin: Option<String>,
    /// Created at or after: ms since the Unix epoch.
    since: Option<i64>,
    /// The `next` cursor of the previous page.
    before: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/runs?workflow=&status=&origin=&since=&before=&limit=`: newest first; `next`
/// is the cursor of the following page (absent on the last).
pub async fn list(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Query(filter): Query<RunFilter>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let engine = dashboard.services.engine().map_err(ApiError::unavailable)?;
    let status = match filter.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(text.parse::<RunStatus>().map_err(|_| {
            ApiError::bad_request(format!(
                "unknown status \"{text}\": use queued, running, succeeded, failed or cancelled"
            ))
        })?),
    };
    let before = match filter.before.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(cursor) => Some(parse_cursor(cursor).ok_or_else(|| {
            ApiError::bad_request("before: not a cursor from a previous page's `next`")
        })?),
    };
    let mut workflows = visible_workflows(&dashboard, &viewer);
    if let Some(only) = filter.workflow.filter(|w| !w.is_empty()) {
        workflows = Some(match workflows {
            Some(list) => list.into_iter().filter(|name| *name == only).collect(),
            None => vec![only],
        });
    }
    let limit = filter.limit.unwrap_or(50).clamp(1, 500);
    let query = RunQuery {
        workflows,
        status,
        origin: filter.origin.filter(|o| !o.is_empty()),
        since: filter.since,
        before,
        limit,
    };
    let runs = engine
        .store()
        .run_page(&query)
        .await
        .map_err(ApiError::internal)?;
    let next = (runs.len() == limit as usize)
        .then(|| {
            runs.last()
                .map(|run| format!("{}.{}", run.created_at, run.id))
        })
        .flatten();
    Ok(Json(json!({
        "runs": runs.iter().map(summary).collect::<Vec<_>>(),
        "next": next,
    })))
}

fn parse_cursor(cursor: &str) -> Option<(i64, String)> {
    let (at, id) = cursor.split_once('.')?;
    Some((at.parse().ok()?, id.to_owned()))
}

/// The run `id` when the caller sees it.
async fn visible_run(
    dashboard: &Dashboard,
    viewer: &Viewer,
    id: &str,
) -> Result<RunRecord, ApiError> {
    let engine = dashboard.services.engine().map_err(ApiError::unavailable)?;
    let missing = || ApiError::not_found(format!("no run \"{id}\""));
    let run = engine.store().run(id).await.map_err(|_| missing())?;
    if viewer.config.access.is_some() && !viewer.sees_workflow(&run.workflow) {
        return Err(missing());
    }
    Ok(run)
}

/// `GET /api/runs/RUN`: the run, its graph with each node's state, and each step's
/// records (inputs are the run's; outputs, attempts, errors per step).
pub async fn show(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Path(id): Path<String>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let run = visible_run(&dashboard, &viewer, &id).await?;
    let engine = dashboard.services.engine().map_err(ApiError::unavailable)?;
    let store = engine.store();
    let workflow = engine.definition(&run).await.map_err(ApiError::internal)?;
    let records = store.steps(&id).await.map_err(ApiError::internal)?;
    let mut by_step: BTreeMap<&str, Vec<&StepRecord>> = BTreeMap::new();
    for record in &records {
        by_step
            .entry(record.step_id.as_str())
            .or_default()
            .push(record);
    }
    let mut steps = serde_json::Map::new();
    for step in &workflow.steps {
        let own = by_step.remove(step.id.as_str()).unwrap_or_default();
        let mut entry = step_json(&step.kind, &own, run.status);
        if matches!(step.kind, StepKind::Workflow { .. })
            // The engine names a sub-run's step `STEP#ITEM` (-1: not a `for_each` item).
            && let Ok(Some(child)) = store.child_run(&id, &format!("{}#-1", step.id)).await
        {
            entry["child_run"] = json!(child);
        }
        if entry["state"] == "failed" || own.iter().any(|r| r.attempts > 1) {
            let failures = store
                .failed_attempts(&id, &step.id, -1)
                .await
                .unwrap_or_default();
            entry["failed_attempts"] = failures
                .into_iter()
                .map(|(attempt, error)| json!({ "attempt": attempt, "error": error }))
                .collect();
        }
        if let StepKind::Approval { prompt, .. } = &step.kind {
            entry["prompt"] = json!(prompt);
            if let Ok(Some(decision)) = store.approval(&id, &step.id).await {
                entry["decision"] = json!({
                    "approved": decision.approved,
                    "by": decision.by,
                    "comment": decision.comment,
                    "at": decision.at,
                });
            }
        }
        steps.insert(step.id.clone(), entry);
    }
    let mut body = summary(&run);
    body["inputs"] = run.inputs.clone();
    body["outputs"] = run.outputs.clone().unwrap_or(Value::Null);
    body["lease_owner"] = json!(run.lease_owner);
    body["graph"] = dag::layout(&workflow);
    body["steps"] = Value::Object(steps);
    Ok(Json(body))
}

/// One step's state for the graph: `pending`, `running`, `retrying`, `sleeping`,
/// `approval` (waiting for a decision), `waiting`, `succeeded`, `failed`, `skipped` or
/// `cancelled` (unfinished when its run was cancelled); with a `for_each` step's items
/// counted by status.
fn step_json(kind: &StepKind, records: &[&StepRecord], run: RunStatus) -> Value {
    let whole = records.iter().find(|r| r.item < 0);
    let items: Vec<&&StepRecord> = records.iter().filter(|r| r.item >= 0).collect();
    let status = whole.map(|r| r.status).or_else(|| {
        (!items.is_empty()).then(|| {
            if items.iter().any(|r| r.status == StepStatus::Failed) {
                StepStatus::Failed
            } else {
                StepStatus::Running
            }
        })
    });
    let attempts = whole.map_or(0, |r| r.attempts);
    let state = match status {
        None if run == RunStatus::Cancelled => "cancelled",
        None => "pending",
        Some(StepStatus::Running) if attempts > 1 => "retrying",
        Some(StepStatus::Running | StepStatus::Waiting) if run == RunStatus::Cancelled => {
            "cancelled"
        }
        Some(StepStatus::Running) => "running",
        Some(StepStatus::Waiting) => match kind {
            StepKind::Sleep { .. } => "sleeping",
            StepKind::Approval { .. } => "approval",
            _ => "waiting",
        },
        Some(StepStatus::Succeeded) => "succeeded",
        Some(StepStatus::Failed) => "failed",
        Some(StepStatus::Skipped) => "skipped",
    };
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for item in &items {
        *counts.entry(item.status.as_str()).or_default() += 1;
    }
    json!({
        "state": state,
        "attempts": attempts,
        "output": whole.and_then(|r| r.output.clone()),
        "error": whole.and_then(|r| r.error.clone()),
        "started_at": whole.and_then(|r| r.started_at),
        "finished_at": whole.and_then(|r| r.finished_at),
        "wake_at": whole.and_then(|r| r.wake_at),
        "items": (!items.is_empty()).then(|| json!({ "total": items.len(), "by_status": counts })),
    })
}

#[derive(Debug, Deserialize)]
pub struct StartRun {
    workflow: String,
    #[serde(default)]
    inputs: serde_json::Map<String, Value>,
}

/// `POST /api/runs` with `{"workflow", "inputs"}`: `baton__run_workflow` (without waiting)
/// as the caller; answers the run id.
pub async fn start(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Json(body): Json<StartRun>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let arguments = json!({ "workflow": body.workflow, "inputs": body.inputs, "wait": false });
    builtin_call(
        &dashboard,
        &viewer,
        workflows::RUN_WORKFLOW,
        arguments,
        false,
    )
    .await
}

/// `POST /api/runs/RUN/cancel|retry|approve|reject` (approve and reject take
/// `{"step", "comment"}`): the built-in tool that does it, as the caller.
pub async fn act(
    State(dashboard): State<Arc<Dashboard>>,
    who: Who,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> ApiResult {
    let viewer = Viewer::new(who, &dashboard.gateway);
    visible_run(&dashboard, &viewer, &id).await?;
    let body = body.map(|Json(body)| body).unwrap_or_default();
    let (tool, arguments) = match action.as_str() {
        "cancel" => (workflows::CANCEL_RUN, json!({ "run": id })),
        "retry" => (
            system::ERROR_RECOVERY,
            json!({ "action": "retry_run", "target": id }),
        ),
        "approve" | "reject" => {
            let step = body["step"]
                .as_str()
                .ok_or_else(|| ApiError::bad_request("step: which approval step to decide"))?;
            let mut arguments = json!({
                "run": id,
                "step": step,
                "approve": action == "approve",
                "by": viewer.principal.as_ref().map_or("dashboard", |p| p.name.as_str()),
            });
            if let Some(comment) = body["comment"].as_str().filter(|c| !c.is_empty()) {
                arguments["comment"] = json!(comment);
            }
            (workflows::APPROVE, arguments)
        }
        other => {
            return Err(ApiError::not_found(format!(
                "no run action \"{other}\" (cancel, retry, approve, reject)"
            )));
        }
    };
    builtin_call(&dashboard, &viewer, tool, arguments, false).await
}
