//! One step: its condition, its `for_each` items (in parallel up to `concurrency`), each
//! item's attempts with retries, timeout and fallback, and what each kind of step does.

use std::{sync::Arc, time::Duration};

use baton_core::{
    config::parse_duration,
    workflow::{Step, StepKind, StepRetry, template},
};
use baton_store::{Finish, StepStatus, now_ms};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

use crate::{
    EngineError, RunEvent,
    exec::{Done, RunContext},
};

/// How long an approval waits between looks at the store (decisions from other processes).
const APPROVAL_POLL: Duration = Duration::from_secs(1);

pub(crate) async fn run_step(
    context: &Arc<RunContext>,
    step: &Step,
    base: Value,
) -> Result<Done, EngineError> {
    let began = std::time::Instant::now();
    let env = template::environment();
    let mut data = base;
    for (key, value) in &step.locals {
        data[key] = value.clone();
    }
    if let Some(condition) = &step.condition {
        let value = template::evaluate(&env, condition, &minijinja::Value::from_serialize(&data));
        let go = match value {
            Ok(value) => template::truthy(&value),
            Err(error) => {
                return commit(context, step, began, -1, Err(format!("if: {error}")), 0).await;
            }
        };
        if !go {
            let attempt = context
                .engine
                .store
                .begin_attempt(&context.run, &context.lease, &step.id, -1)
                .await?;
            context
                .engine
                .store
                .finish_attempt(
                    &context.run,
                    &context.lease,
                    &step.id,
                    -1,
                    attempt,
                    Finish::Skipped,
                )
                .await?;
            context.engine.emit(RunEvent::StepFinished {
                run: context.run.clone(),
                step: step.id.clone(),
                status: StepStatus::Skipped,
                millis: 0,
                error: None,
            });
            return Ok(Done {
                status: StepStatus::Skipped,
                output: Value::Null,
                error: None,
            });
        }
    }
    let Some(for_each) = &step.for_each else {
        return attempts(context, step, began, -1, &data).await;
    };
    // The step as a whole is recorded too (item -1): its start, end and collected output.
    let whole = context
        .engine
        .store
        .begin_attempt(&context.run, &context.lease, &step.id, -1)
        .await?;
    let items = match &for_each.items {
        Value::String(expression) => {
            template::evaluate(&env, expression, &minijinja::Value::from_serialize(&data))
        }
        other => template::render(&env, other, &minijinja::Value::from_serialize(&data)),
    };
    let items = match items {
        Ok(Value::Array(items)) => items,
        Ok(other) => {
            return commit(
                context,
                step,
                began,
                -1,
                Err(format!("for_each: expected a list, got {other}")),
                whole,
            )
            .await;
        }
        Err(error) => {
            return commit(
                context,
                step,
                began,
                -1,
                Err(format!("for_each: {error}")),
                whole,
            )
            .await;
        }
    };
    let results: Vec<Result<Done, EngineError>> = stream::iter(items.into_iter().enumerate())
        .map(|(index, item)| {
            let mut data = data.clone();
            data["item"] = item;
            data["index"] = json!(index);
            async move { attempts(context, step, began, index as i64, &data).await }
        })
        .buffered(for_each.concurrency.max(1) as usize)
        .collect()
        .await;
    let mut outputs = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (index, result) in results.into_iter().enumerate() {
        let done = result?;
        if done.status == StepStatus::Failed {
            errors.push(format!(
                "item {index}: {}",
                done.error.clone().unwrap_or_default()
            ));
        }
        outputs.push(done.output);
    }
    let outcome = if errors.is_empty() {
        Ok(Value::Array(outputs))
    } else {
        Err(errors.join("; "))
    };
    commit(context, step, began, -1, outcome, whole).await
}

/// Runs one item (or the step) with its retry policy, then its fallback; commits the
/// result of each attempt.
async fn attempts(
    context: &Arc<RunContext>,
    step: &Step,
    began: std::time::Instant,
    item: i64,
    data: &Value,
) -> Result<Done, EngineError> {
    if let Some(previous) = context.previous.get(&(step.id.clone(), item))
        && previous.status == StepStatus::Succeeded
    {
        // Done before a restart: never again.
        return Ok(Done {
            status: StepStatus::Succeeded,
            output: previous.output.clone().unwrap_or(Value::Null),
            error: None,
        });
    }
    let policy = step.retry.unwrap_or(StepRetry {
        max_attempts: 1,
        ..StepRetry::default()
    });
    // An attempt cut short by a crash (still running or waiting in the store) does not
    // count: the step is attempted again (at least once).
    let interrupted = context
        .previous
        .get(&(step.id.clone(), item))
        .is_some_and(|r| matches!(r.status, StepStatus::Running | StepStatus::Waiting));
    let limit = policy.max_attempts + u32::from(interrupted);
    let mut last_error;
    loop {
        if context.cancel.is_cancelled() {
            return Err(EngineError::Cancelled(context.run.clone()));
        }
        let attempt = context
            .engine
            .store
            .begin_attempt(&context.run, &context.lease, &step.id, item)
            .await?;
        if attempt > limit {
            // A restart found the attempts used up (the last one was cut short).
            let error = format!(
                "no attempts left after a restart (max_attempts {})",
                policy.max_attempts
            );
            if step.fallback.is_none() {
                return commit(context, step, began, item, Err(error), attempt).await;
            }
            commit(context, step, began, item, Err(error.clone()), attempt).await?;
            last_error = error;
            break;
        }
        context.engine.emit(RunEvent::StepStarted {
            run: context.run.clone(),
            step: step.id.clone(),
            attempt,
        });
        let key = format!("{}/{}/{}", context.run, step.id, item);
        let failed = match attempt_once(context, step, item, data, &key).await? {
            Ok(output) => return commit(context, step, began, item, Ok(output), attempt).await,
            Err(failed) => failed,
        };
        last_error = failed.message.clone();
        if attempt < limit && failed.retryable {
            commit(context, step, began, item, Err(failed.message), attempt).await?;
            let delay = backoff(&policy, attempt);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = context.cancel.cancelled() => {}
            }
            continue;
        }
        if step.fallback.is_some() {
            commit(context, step, began, item, Err(failed.message), attempt).await?;
            break;
        }
        let plural = if attempt == 1 { "" } else { "s" };
        let error = if failed.retryable {
            format!("{} (after {attempt} attempt{plural})", failed.message)
        } else {
            format!(
                "{} (after {attempt} attempt{plural}; a permanent error is not retried)",
                failed.message
            )
        };
        return commit(context, step, began, item, Err(error), attempt).await;
    }
    let Some(fallback) = &step.fallback else {
        return Ok(Done {
            status: StepStatus::Failed,
            output: Value::Null,
            error: Some(last_error),
        });
    };
    tracing::info!(run = %context.run, step = %step.id, "running the step's fallback");
    let attempt = context
        .engine
        .store
        .begin_attempt(&context.run, &context.lease, &step.id, item)
        .await?;
    let key = format!("{}/{}/{}/fallback", context.run, step.id, item);
    let outcome = act(context, step, &fallback.kind, item, data, &key).await?;
    let outcome = outcome.map_err(|failed| format!("{last_error}; fallback: {}", failed.message));
    commit(context, step, began, item, outcome, attempt).await
}

/// A failed attempt: why, and whether another attempt may succeed.
pub(crate) struct Failed {
    pub message: String,
    pub retryable: bool,
}

impl Failed {
    fn retryable(message: String) -> Failed {
        Failed {
            message,
            retryable: true,
        }
    }

    fn permanent(message: String) -> Failed {
        Failed {
            message,
            retryable: false,
        }
    }
}

/// One attempt of the step's kind, within the step's `timeout` (a timed-out attempt may be
/// retried).
async fn attempt_once(
    context: &Arc<RunContext>,
    step: &Step,
    item: i64,
    data: &Value,
    key: &str,
) -> Result<Result<Value, Failed>, EngineError> {
    let Some(limit) = step.timeout else {
        return act(context, step, &step.kind, item, data, key).await;
    };
    match tokio::time::timeout(limit, act(context, step, &step.kind, item, data, key)).await {
        Ok(outcome) => outcome,
        Err(_) => Ok(Err(Failed::retryable(format!("timed out after {limit:?}")))),
    }
}

/// Delay before attempt `attempt + 1`: `initial × multiplier^(attempt-1)`, capped, with
/// up to ±50 % jitter.
pub(crate) fn backoff(policy: &StepRetry, attempt: u32) -> Duration {
    let base =
        policy.initial.as_secs_f64() * policy.multiplier.powi(attempt.saturating_sub(1) as i32);
    let capped = base.min(policy.max.as_secs_f64());
    let factor = if policy.jitter {
        0.5 + (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0
    } else {
        1.0
    };
    Duration::from_secs_f64((capped * factor).min(policy.max.as_secs_f64()))
}

/// Commits a result (item -1: the step's own record) and announces it.
async fn commit(
    context: &Arc<RunContext>,
    step: &Step,
    began: std::time::Instant,
    item: i64,
    outcome: Result<Value, String>,
    attempt: u32,
) -> Result<Done, EngineError> {
    let store = &context.engine.store;
    let attempt = if attempt == 0 {
        store
            .begin_attempt(&context.run, &context.lease, &step.id, item)
            .await?
    } else {
        attempt
    };
    let (finish, done) = match outcome {
        Ok(output) => (
            Finish::Succeeded(output.clone()),
            Done {
                status: StepStatus::Succeeded,
                output,
                error: None,
            },
        ),
        Err(error) => (
            Finish::Failed(error.clone()),
            Done {
                status: StepStatus::Failed,
                output: Value::Null,
                error: Some(error),
            },
        ),
    };
    store
        .finish_attempt(
            &context.run,
            &context.lease,
            &step.id,
            item,
            attempt,
            finish,
        )
        .await?;
    if item == -1 {
        let millis = began.elapsed().as_millis() as u64;
        context.engine.emit(RunEvent::StepFinished {
            run: context.run.clone(),
            step: step.id.clone(),
            status: done.status,
            millis,
            error: done.error.clone(),
        });
    }
    Ok(done)
}

/// What a step of `kind` does, once. `Err(EngineError)` stops the run (store trouble,
/// fencing, cancellation); `Ok(Err(failed))` is the attempt failing.
async fn act(
    context: &Arc<RunContext>,
    step: &Step,
    kind: &StepKind,
    item: i64,
    data: &Value,
    key: &str,
) -> Result<Result<Value, Failed>, EngineError> {
    if let StepKind::Tool { tool, args, whole } = kind {
        // The engine retries the step itself only with a `retry:` policy (not its fallback).
        let step_retries = std::ptr::eq(kind, &step.kind) && step.retry.is_some();
        let call = ToolStep {
            tool,
            args,
            step_retries,
            whole: *whole,
        };
        return call_tool(context, call, data, key).await;
    }
    act_other(context, step, kind, item, data)
        .await
        .map(|outcome| outcome.map_err(Failed::retryable))
}

/// A tool step's call: the tool's own error answer may be retried, a permanent failure
/// (unknown tool, invalid arguments) is not, a cancelled call stops the run here.
/// A tool step's call as written.
struct ToolStep<'a> {
    tool: &'a str,
    args: &'a Value,
    step_retries: bool,
    whole: bool,
}

async fn call_tool(
    context: &Arc<RunContext>,
    call: ToolStep<'_>,
    data: &Value,
    key: &str,
) -> Result<Result<Value, Failed>, EngineError> {
    let ToolStep {
        tool,
        args,
        step_retries,
        whole,
    } = call;
    let env = template::environment();
    let args = match template::render(&env, args, &minijinja::Value::from_serialize(data)) {
        Ok(args) => args,
        Err(error) => return Ok(Err(Failed::permanent(format!("args: {error}")))),
    };
    let options = crate::CallOptions {
        idempotency_key: key.to_owned(),
        cancel: context.cancel.child_token(),
        step_retries,
        whole,
    };
    Ok(match context.engine.tools.call(tool, args, options).await {
        Ok(output) if output.is_error && !whole => Err(Failed::retryable(format!(
            "tool {tool} answered with an error: {}",
            match &output.value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }
        ))),
        Ok(output) => Ok(output.value),
        Err(crate::ToolFailure::Transient(message)) => Err(Failed::retryable(message)),
        Err(crate::ToolFailure::Permanent(message)) => Err(Failed::permanent(message)),
        Err(crate::ToolFailure::Cancelled) => {
            return Err(EngineError::Cancelled(context.run.clone()));
        }
    })
}

/// The other kinds: set, durable sleep, approval, sub-workflow.
async fn act_other(
    context: &Arc<RunContext>,
    step: &Step,
    kind: &StepKind,
    item: i64,
    data: &Value,
) -> Result<Result<Value, String>, EngineError> {
    let env = template::environment();
    let values = minijinja::Value::from_serialize(data);
    let text = |template_text: &str, what: &str| match template::render(
        &env,
        &Value::String(template_text.to_owned()),
        &values,
    ) {
        Ok(Value::String(text)) => Ok(text),
        Ok(other) => Ok(other.to_string()),
        Err(error) => Err(format!("{what}: {error}")),
    };
    match kind {
        StepKind::Tool { .. } => Ok(Err("a tool step is called by call_tool".to_owned())),
        StepKind::Set { values: set } => {
            Ok(template::render(&env, set, &values).map_err(|error| format!("set: {error}")))
        }
        StepKind::Sleep { duration } => match text(duration, "sleep") {
            Ok(text) => sleep(context, step, item, &text).await,
            Err(error) => Ok(Err(error)),
        },
        StepKind::Approval { prompt, timeout } => match text(prompt, "approval prompt") {
            Ok(prompt) => approval(context, step, item, prompt, *timeout).await,
            Err(error) => Ok(Err(error)),
        },
        StepKind::Workflow { name, inputs } => match template::render(&env, inputs, &values) {
            Ok(Value::Object(inputs)) => sub_workflow(context, step, item, name, &inputs).await,
            Ok(other) => Ok(Err(format!("inputs: expected an object, got {other}"))),
            Err(error) => Ok(Err(format!("inputs: {error}"))),
        },
    }
}

/// A durable sleep: the wake-up time is stored the first time, so a restart keeps it.
async fn sleep(
    context: &Arc<RunContext>,
    step: &Step,
    item: i64,
    text: &str,
) -> Result<Result<Value, String>, EngineError> {
    let Some(length) = parse_duration(text) else {
        return Ok(Err(format!("sleep: \"{text}\" is not a duration")));
    };
    let wake_at = context
        .previous
        .get(&(step.id.clone(), item))
        .and_then(|r| r.wake_at)
        .unwrap_or_else(|| now_ms() + length.as_millis() as i64);
    context
        .engine
        .store
        .wait_step(&context.run, &context.lease, &step.id, item, Some(wake_at))
        .await?;
    context.engine.emit(RunEvent::Waiting {
        run: context.run.clone(),
        step: step.id.clone(),
        reason: format!("sleeping {text}"),
    });
    let left = Duration::from_millis((wake_at - now_ms()).max(0) as u64);
    tokio::select! {
        _ = tokio::time::sleep(left) => Ok(Ok(json!({ "slept_ms": length.as_millis() as u64 }))),
        // Cancelled or Baton stopping: nothing is written, the sleep stays in the store
        // (with its wake-up time) for whoever executes the run next.
        _ = context.cancel.cancelled() => Err(EngineError::Cancelled(context.run.clone())),
    }
}

/// Waits for a decision (from this process or another: the store is looked at every
/// [`APPROVAL_POLL`]) until the approval's timeout.
async fn approval(
    context: &Arc<RunContext>,
    step: &Step,
    item: i64,
    prompt: String,
    timeout: Option<Duration>,
) -> Result<Result<Value, String>, EngineError> {
    context
        .engine
        .store
        .wait_step(&context.run, &context.lease, &step.id, item, None)
        .await?;
    context.engine.emit(RunEvent::Waiting {
        run: context.run.clone(),
        step: step.id.clone(),
        reason: format!(
            "{prompt} — approve with `baton approve {} {}` (or --reject)",
            context.run, step.id
        ),
    });
    context.engine.emit(RunEvent::ApprovalNeeded {
        run: context.run.clone(),
        step: step.id.clone(),
        prompt,
    });
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        if let Some(decision) = context
            .engine
            .store
            .approval(&context.run, &step.id)
            .await?
        {
            let answer = json!({
                "approved": decision.approved,
                "by": decision.by,
                "comment": decision.comment,
                "at": decision.at,
            });
            return Ok(if decision.approved {
                Ok(answer)
            } else {
                Err(format!(
                    "rejected by {}{}",
                    decision.by,
                    decision
                        .comment
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                ))
            });
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Ok(Err("no decision before the approval's timeout".to_owned()));
        }
        tokio::select! {
            _ = context.engine.decided.notified() => {}
            _ = tokio::time::sleep(APPROVAL_POLL) => {}
            // As for a sleep: the approval still waits when the run is executed next.
            _ = context.cancel.cancelled() => return Err(EngineError::Cancelled(context.run.clone())),
        }
    }
}

/// A sub-workflow as a child run (found again after a restart), executed to its end.
async fn sub_workflow(
    context: &Arc<RunContext>,
    step: &Step,
    item: i64,
    name: &str,
    inputs: &serde_json::Map<String, Value>,
) -> Result<Result<Value, String>, EngineError> {
    let engine = &context.engine;
    let child_step = format!("{}#{item}", step.id);
    let child = match engine.store.child_run(&context.run, &child_step).await? {
        Some(child) => child,
        None => match engine
            .start_child(
                name,
                inputs,
                "workflow",
                Some((context.run.clone(), child_step)),
            )
            .await
        {
            Ok(child) => child,
            Err(error) => return Ok(Err(error.to_string())),
        },
    };
    let record = engine.execute(&child).await?;
    Ok(match record.status {
        baton_store::RunStatus::Succeeded => Ok(record.outputs.unwrap_or(Value::Null)),
        status => Err(format!(
            "sub-run {child} of workflow {name} {}: {}",
            status.as_str(),
            record.error.unwrap_or_default()
        )),
    })
}
