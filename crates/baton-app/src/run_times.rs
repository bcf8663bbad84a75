//! Workflow runs, their steps and scheduled runs record their time in time tracking by
//! themselves (`baton serve`): one entry per finished run and one per finished step,
//! keyed by run id (`RUN` and `RUN/STEP`), so a run resumed or retried updates its entries.
//! A delegated task records itself; sub-runs are counted by their parent's step.

use std::{collections::HashMap, sync::Arc};

use baton_builtins::timing::{Priority, RecordRun, Source, record_run};
use baton_engine::{Engine, RunEvent};
use baton_mcp::Gateway;
use baton_store::{RunStatus, StepStatus, Store, now_ms};

/// What an entry needs to know about its run.
#[derive(Clone)]
struct About {
    workflow: String,
    origin: String,
    scheduled: bool,
    /// Delegations and sub-runs are not recorded here.
    skip: bool,
}

async fn about(store: &Store, run: &str) -> Option<About> {
    let record = store.run(run).await.ok()?;
    let origin = record.origin.unwrap_or_default();
    Some(About {
        scheduled: origin.starts_with("schedule "),
        skip: origin.starts_with("delegate_task") || record.parent_run.is_some(),
        workflow: record.workflow,
        origin,
    })
}

fn entry(
    run_id: String,
    about: &About,
    task: String,
    start_ms: i64,
    end_ms: i64,
    result: String,
) -> RecordRun {
    RecordRun {
        task_id: run_id.clone(),
        run_id,
        mode: if about.scheduled {
            "schedule"
        } else {
            "workflow"
        }
        .to_owned(),
        task,
        priority: if about.scheduled {
            Priority::Schedule
        } else {
            Priority::Todo
        },
        source: if about.scheduled {
            Source::Schedule
        } else {
            Source::Workflow
        },
        start_ms,
        end_ms,
        result,
    }
}

/// Records the engine's finished runs and steps for as long as `gateway` lives.
pub fn record(engine: &Arc<Engine>, gateway: &Arc<Gateway>) {
    let mut events = engine.subscribe();
    let store = engine.store().clone();
    let weak = Arc::downgrade(gateway);
    tokio::spawn(async move {
        let mut runs: HashMap<String, About> = HashMap::new();
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            if weak.upgrade().is_none() {
                return;
            }
            let run = event.run().to_owned();
            if !runs.contains_key(&run) {
                match about(&store, &run).await {
                    Some(found) => {
                        runs.insert(run.clone(), found);
                    }
                    None => continue,
                }
            }
            let Some(info) = runs.get(&run).cloned() else {
                continue;
            };
            let recorded = match event {
                RunEvent::StepFinished {
                    step,
                    status: status @ (StepStatus::Succeeded | StepStatus::Failed),
                    millis,
                    ..
                } if !info.skip => {
                    let end = now_ms();
                    let result = if status == StepStatus::Succeeded {
                        "completed"
                    } else {
                        "failed"
                    };
                    Some(entry(
                        format!("{run}/{step}"),
                        &info,
                        format!("{} step {step}", info.workflow),
                        end - millis as i64,
                        end,
                        result.to_owned(),
                    ))
                }
                RunEvent::Finished { status, .. } => {
                    runs.remove(&run);
                    if info.skip {
                        continue;
                    }
                    let record = store.run(&run).await.ok();
                    let start = record
                        .as_ref()
                        .map(|r| r.started_at.unwrap_or(r.created_at))
                        .unwrap_or_else(now_ms);
                    let end = record.and_then(|r| r.finished_at).unwrap_or_else(now_ms);
                    Some(entry(
                        run.clone(),
                        &info,
                        format!("{} ({})", info.workflow, info.origin),
                        start,
                        end,
                        match status {
                            RunStatus::Succeeded => "completed".to_owned(),
                            other => other.as_str().to_owned(),
                        },
                    ))
                }
                _ => None,
            };
            if let Some(entry) = recorded
                && let Err(error) = record_run(&store, entry).await
            {
                tracing::warn!(run, %error, "could not record the time of a run or step");
            }
        }
    });
}
