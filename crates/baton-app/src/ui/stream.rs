//! `GET /api/stream`: one server-sent-event stream of what changes, for live pages and
//! scripts. Event types: `server` (a server's health changed), `run` (a run or one of its
//! steps moved on), `event` (an event recorded on the bus: schedules, triggers, webhooks…).
//! Each `data:` is one JSON object. The caller sees the servers and runs it may see; the
//! bus's events only with `baton__list_events`. A slow reader that falls behind gets a
//! `lagged` event and carries on from the newest.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Extension,
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use baton_engine::RunEvent;
use baton_mcp::{GatewayEvent, downstream::auth::Principal};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{Dashboard, Viewer};
use crate::sets::automation;

/// `GET /api/stream`.
pub async fn stream(
    State(dashboard): State<Arc<Dashboard>>,
    who: Option<Extension<Principal>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let viewer = Viewer::new(who, &dashboard.gateway);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Event>(256);
    let mut servers = dashboard.gateway.subscribe_events();
    let mut runs = dashboard.services.engine.as_ref().map(|e| e.subscribe());
    let sees_events = viewer.may_use(&viewer.builtin(automation::LIST_EVENTS));
    let mut bus = dashboard
        .services
        .bus
        .as_ref()
        .filter(|_| sees_events)
        .map(|bus| bus.subscribe());
    let viewer = Arc::new(viewer);
    tokio::spawn(async move {
        // Ends when the client leaves (the channel closes) or every source is gone.
        let _ = sender
            .send(Event::default().event("hello").data("{}"))
            .await;
        loop {
            let event = tokio::select! {
                got = servers.recv() => match got {
                    Ok(event) => server_event(&dashboard, &viewer, &event),
                    Err(RecvError::Lagged(n)) => Some(lagged(n)),
                    Err(RecvError::Closed) => return,
                },
                got = recv(&mut runs) => match got {
                    Ok(event) => run_event(&dashboard, &viewer, &event).await,
                    Err(RecvError::Lagged(n)) => Some(lagged(n)),
                    Err(RecvError::Closed) => { runs = None; None }
                },
                got = recv(&mut bus) => match got {
                    Ok(event) => Some(Event::default().event("event").data(event.to_json().to_string())),
                    Err(RecvError::Lagged(n)) => Some(lagged(n)),
                    Err(RecvError::Closed) => { bus = None; None }
                },
                _ = sender.closed() => return,
            };
            if let Some(event) = event
                && sender.send(event).await.is_err()
            {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn recv<T: Clone>(
    receiver: &mut Option<tokio::sync::broadcast::Receiver<T>>,
) -> Result<T, RecvError> {
    match receiver {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn lagged(missed: u64) -> Event {
    Event::default()
        .event("lagged")
        .data(json!({ "missed": missed }).to_string())
}

fn server_event(dashboard: &Dashboard, viewer: &Viewer, event: &GatewayEvent) -> Option<Event> {
    let (server, data) = match event {
        GatewayEvent::ServerUp { server } => (server, json!({ "change": "up" })),
        GatewayEvent::ServerDown { server, error } => {
            (server, json!({ "change": "down", "error": error }))
        }
        GatewayEvent::Restarting { server, attempt } => (
            server,
            json!({ "change": "restarting", "attempt": attempt }),
        ),
        GatewayEvent::Quarantined { server, crashes } => (
            server,
            json!({ "change": "quarantined", "crashes": crashes }),
        ),
        GatewayEvent::SessionRecovered { server } => {
            (server, json!({ "change": "session_recovered" }))
        }
        GatewayEvent::PoolScaled {
            server, replicas, ..
        } => (
            server,
            json!({ "change": "pool_scaled", "replicas": replicas }),
        ),
        GatewayEvent::BreakerOpened { server, tool, .. } => {
            (server, json!({ "change": "breaker_opened", "tool": tool }))
        }
        GatewayEvent::BreakerHalfOpen { server, tool } => (
            server,
            json!({ "change": "breaker_half_open", "tool": tool }),
        ),
        GatewayEvent::BreakerClosed { server, tool } => {
            (server, json!({ "change": "breaker_closed", "tool": tool }))
        }
    };
    let name = server.split('#').next().unwrap_or(server);
    if !viewer.sees_server(&dashboard.gateway, name) {
        return None;
    }
    let mut data = data;
    data["server"] = json!(server);
    Some(Event::default().event("server").data(data.to_string()))
}

async fn run_event(dashboard: &Dashboard, viewer: &Viewer, event: &RunEvent) -> Option<Event> {
    if viewer.config.access.is_some() {
        let engine = dashboard.services.engine().ok()?;
        let run = engine.store().run(event.run()).await.ok()?;
        if !viewer.sees_workflow(&run.workflow) {
            return None;
        }
    }
    let data: Value = match event {
        RunEvent::Started {
            run,
            workflow,
            steps,
        } => json!({ "change": "started", "run": run, "workflow": workflow, "steps": steps }),
        RunEvent::StepStarted { run, step, attempt } => {
            json!({ "change": "step_started", "run": run, "step": step, "attempt": attempt })
        }
        RunEvent::StepFinished {
            run,
            step,
            status,
            millis,
            error,
        } => json!({
            "change": "step_finished", "run": run, "step": step,
            "status": status.as_str(), "millis": millis, "error": error,
        }),
        RunEvent::Waiting { run, step, reason } => {
            json!({ "change": "waiting", "run": run, "step": step, "reason": reason })
        }
        RunEvent::ApprovalNeeded { run, step, prompt } => {
            json!({ "change": "approval_needed", "run": run, "step": step, "prompt": prompt })
        }
        RunEvent::Finished { run, status, error } => json!({
            "change": "finished", "run": run, "status": status.as_str(), "error": error,
        }),
    };
    Some(Event::default().event("run").data(data.to_string()))
}
