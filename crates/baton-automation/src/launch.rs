//! Starting a schedule's or trigger's target as a durable run of the engine: a workflow
//! with its inputs, or a one-step run of a tool call (a mode task is a call of
//! `baton__delegate_task`), executed in the background.

use std::sync::Arc;

use baton_core::{schedule::Target, workflow::Workflow};
use baton_engine::Engine;
use serde_json::{Map, Value};

/// Creates the run (pinned, so a crash after this resumes it) and executes it in the
/// background. `name` is the schedule or trigger (`schedule:NAME` is the definition of
/// a tool target), `origin` what `baton runs` shows as its origin, `event` the event
/// that started a trigger (given to a workflow that declares an `event` input), `priority`
/// the run's place in the queue (`None`: the workflow's own).
#[allow(clippy::too_many_arguments)] // each is one fact about the launch, named at the call
pub async fn launch(
    engine: &Arc<Engine>,
    target: &Target,
    kind: &str,
    name: &str,
    origin: &str,
    separator: &str,
    event: Option<Value>,
    priority: Option<i64>,
) -> Result<String, String> {
    let id = match target {
        Target::Workflow {
            name: workflow,
            inputs,
        } => {
            let mut inputs = inputs.clone();
            if let Some(event) = event
                && engine
                    .workflow(workflow)
                    .is_some_and(|definition| definition.inputs.contains_key("event"))
            {
                inputs.insert("event".to_owned(), event);
            }
            engine.start_with(workflow, &inputs, origin, priority).await
        }
        Target::Tool { tool, args } => {
            let definition = Workflow::single_call(
                &format!("{kind}:{name}"),
                &format!("{kind} {name}: {tool}"),
                tool,
                Value::Object(args.clone()),
            );
            engine
                .start_definition(&definition, &Map::new(), origin, priority)
                .await
        }
        Target::Mode { mode, task } => {
            let definition = Workflow::single_call(
                &format!("{kind}:{name}"),
                &format!("{kind} {name}: a task for mode {mode}"),
                &format!("baton{separator}delegate_task"),
                serde_json::json!({ "mode": mode, "instructions": task }),
            );
            engine
                .start_definition(&definition, &Map::new(), origin, priority)
                .await
        }
    }
    .map_err(|error| error.to_string())?;
    // Here when this worker has room, else by whichever worker has.
    engine.submit(&id);
    Ok(id)
}
