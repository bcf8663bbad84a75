//! Run-time management of schedules, shared by `baton schedule …` (which works on the
//! store directly, with or without a running `baton serve`) and `baton__manage_schedules`.

use baton_core::{
    Config,
    schedule::{ScheduleSpec, check_target},
};
use baton_store::{ORIGIN_CONFIG, Store, now_ms};
use serde_json::{Value, json};

use crate::status::schedule_json;

/// Checks `spec` (fields, and a target that exists in `config`) and adds it as a
/// run-time schedule; its first slot is the first one after now.
pub async fn add(
    store: &Store,
    config: &Config,
    name: &str,
    spec: &ScheduleSpec,
) -> Result<Value, String> {
    let schedule = spec.compile(name).map_err(|problems| {
        problems
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    check_target(&schedule.target, config, false).map_err(|error| {
        let field = match schedule.target {
            baton_core::schedule::Target::Workflow { .. } => "workflow",
            baton_core::schedule::Target::Tool { .. } => "tool",
            baton_core::schedule::Target::Mode { .. } => "mode",
        };
        format!("{field}: {error}")
    })?;
    let value = serde_json::to_value(spec).map_err(|error| error.to_string())?;
    let added = store
        .add_schedule(name, &value, spec.paused.unwrap_or(false), now_ms())
        .await
        .map_err(|error| error.to_string())?;
    if !added {
        return Err(format!(
            "a schedule named \"{name}\" exists: delete it first or choose another name"
        ));
    }
    status(store, name).await
}

/// One schedule's status, with its most recent slots (fired, buffered, skipped or missed,
/// each with its run or reason).
pub async fn status(store: &Store, name: &str) -> Result<Value, String> {
    let Some(row) = store
        .schedule(name)
        .await
        .map_err(|error| error.to_string())?
    else {
        return Err(no_schedule(name));
    };
    let mut value = schedule_json(&row, chrono::Utc::now());
    let slots = store
        .slots(name, 20)
        .await
        .map_err(|error| error.to_string())?;
    value["recent_slots"] = Value::Array(
        slots
            .into_iter()
            .map(|slot| {
                json!({
                    "slot": crate::firing::rfc3339(slot.slot),
                    "state": slot.state,
                    "run": slot.run,
                    "reason": slot.reason,
                })
            })
            .collect(),
    );
    Ok(value)
}

/// Every schedule's status.
pub async fn list(store: &Store) -> Result<Vec<Value>, String> {
    let now = chrono::Utc::now();
    Ok(store
        .schedules()
        .await
        .map_err(|error| error.to_string())?
        .iter()
        .map(|row| schedule_json(row, now))
        .collect())
}

pub fn no_schedule(name: &str) -> String {
    format!("no schedule \"{name}\" (see `baton schedule list`)")
}

/// Pauses (`true`) or resumes a schedule. Slots that pass while it is paused are not
/// caught up when it resumes.
pub async fn set_paused(store: &Store, name: &str, paused: bool) -> Result<Value, String> {
    let reason = paused.then_some("paused by request");
    let found = store
        .set_paused(name, paused, reason, now_ms())
        .await
        .map_err(|error| error.to_string())?;
    if !found {
        return Err(no_schedule(name));
    }
    status(store, name).await
}

/// Deletes a run-time schedule (one declared in baton.yaml is removed there).
pub async fn delete(store: &Store, name: &str) -> Result<Value, String> {
    let row = store
        .schedule(name)
        .await
        .map_err(|error| error.to_string())?
        .ok_or_else(|| no_schedule(name))?;
    if row.origin == ORIGIN_CONFIG {
        return Err(format!(
            "schedule \"{name}\" is declared in baton.yaml: remove it there (or pause it)"
        ));
    }
    store
        .delete_schedule(name)
        .await
        .map_err(|error| error.to_string())?;
    Ok(json!({ "deleted": name }))
}
