//! `baton schedule list|add|pause|resume|delete|trigger|import`. They work on the store
//! directly: a running `baton serve` sees the change within a second.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use baton_automation::{EventBus, Firing, Outcome, manage, scheduler::reconcile_declared};
use baton_core::{
    Config,
    schedule::{ScheduleSpec, Target, roo},
    workflow::Workflow,
};
use baton_engine::RunEvent;
use baton_store::Store;
use serde_json::{Value, json};

use crate::cli::{ScheduleAddArgs, ScheduleCommand};

pub async fn run(config_flag: Option<PathBuf>, command: ScheduleCommand) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let store = match super::store_of(&config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    // baton.yaml's schedules are listed (and manageable) before `baton serve` ever ran.
    reconcile_declared(&store, &config.schedules, baton_store::now_ms()).await;
    let result = match command {
        ScheduleCommand::List { json } => return list(&store, json).await,
        ScheduleCommand::Add(args) => {
            let json = args.json;
            match spec_of(&config, &args) {
                Ok(spec) => manage::add(&store, &config, &args.name, &spec)
                    .await
                    .map(|value| (value, json)),
                Err(error) => Err(error),
            }
        }
        ScheduleCommand::Pause { name } => manage::set_paused(&store, &name, true)
            .await
            .map(|value| (value, false)),
        ScheduleCommand::Resume { name } => manage::set_paused(&store, &name, false)
            .await
            .map(|value| (value, false)),
        ScheduleCommand::Delete { name } => manage::delete(&store, &name)
            .await
            .map(|value| (value, false)),
        ScheduleCommand::Trigger { name, json } => {
            return trigger(config_flag, &config, &store, &name, json).await;
        }
        ScheduleCommand::Import {
            file,
            timezone,
            dry_run,
            json,
        } => return import(&config, &store, &file, timezone, dry_run, json).await,
    };
    match result {
        Ok((value, true)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Ok((value, false)) => {
            print_one(&value);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn spec_of(config: &Config, args: &ScheduleAddArgs) -> Result<ScheduleSpec, String> {
    let inputs = match &args.workflow {
        Some(name) if !args.inputs.is_empty() => {
            let workflow = config
                .workflow(name)
                .ok_or_else(|| format!("workflow: unknown workflow \"{name}\""))?;
            Some(super::runs::parse_inputs(workflow, &args.inputs).map_err(|p| p.join("; "))?)
        }
        _ if !args.inputs.is_empty() => return Err("--input goes with --workflow".into()),
        _ => None,
    };
    let tool_args = match &args.args {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Some(map),
            _ => return Err(format!("--args: \"{text}\" is not a JSON object")),
        },
        None => None,
    };
    Ok(ScheduleSpec {
        every: args.every.clone(),
        cron: args.cron.clone(),
        at: args.at.clone(),
        timezone: args.timezone.clone(),
        days: args.days.clone(),
        start: args.start.clone(),
        until: args.until.clone(),
        jitter: args.jitter.clone(),
        workflow: args.workflow.clone(),
        inputs,
        tool: args.tool.clone(),
        args: tool_args,
        mode: args.mode.clone(),
        task: args.task.clone(),
        overlap: args.overlap.clone(),
        catch_up: args.catch_up.clone(),
        catch_up_window: args.catch_up_window.clone(),
        pause_on_failure: args.pause_on_failure.then_some(true),
        paused: args.paused.then_some(true),
        description: None,
        priority: args.priority,
    })
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

fn print_one(value: &Value) {
    if let Some(deleted) = value.get("deleted") {
        println!("deleted schedule {}", deleted.as_str().unwrap_or_default());
        return;
    }
    println!(
        "{}: {} → {} (overlap {}, catch-up {}){}",
        text(value, "name"),
        text(value, "timing"),
        text(value, "target"),
        text(value, "overlap"),
        text(value, "catch_up"),
        if value["paused"] == true {
            " — paused"
        } else {
            ""
        }
    );
    println!("  next fire: {}", text(value, "next_fire"));
}

async fn list(store: &Store, as_json: bool) -> ExitCode {
    let list = match manage::list(store).await {
        Ok(list) => list,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "schedules": list })).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if list.is_empty() {
        println!(
            "no schedules (declare them under schedules: in baton.yaml, or `baton schedule add`)"
        );
        return ExitCode::SUCCESS;
    }
    // Columns as wide as their longest value.
    let width = |key: &str, title: &str| {
        list.iter()
            .map(|value| text(value, key).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(title.len())
    };
    let (name_w, timing_w, target_w) = (
        width("name", "NAME"),
        width("timing", "TIMING"),
        width("target", "TARGET"),
    );
    println!(
        "{:<name_w$}  {:<timing_w$}  {:<target_w$}  {:<7}  {:<19}  {:<19}  {:<9}  {:>7}  {:>6}",
        "NAME",
        "TIMING",
        "TARGET",
        "STATE",
        "LAST FIRE",
        "NEXT FIRE",
        "RESULT",
        "SKIPPED",
        "MISSED"
    );
    for value in &list {
        let state = if value["paused"] == true {
            "paused"
        } else if value["invalid"].is_string() {
            "invalid"
        } else {
            "active"
        };
        let short = |key: &str| {
            let text = text(value, key);
            text.get(..19).map(str::to_owned).unwrap_or(text)
        };
        println!(
            "{:<name_w$}  {:<timing_w$}  {:<target_w$}  {:<7}  {:<19}  {:<19}  {:<9}  {:>7}  {:>6}",
            text(value, "name"),
            text(value, "timing"),
            text(value, "target"),
            state,
            short("last_slot"),
            short("next_fire"),
            text(value, "last_result"),
            text(value, "skipped"),
            text(value, "missed"),
        );
        if let Some(reason) = value["pause_reason"].as_str() {
            println!("    {reason}");
        }
        if let Some(error) = value["last_error"].as_str() {
            println!("    last error: {error}");
        }
        if let Some(problem) = value["invalid"].as_str() {
            println!("    invalid: {problem}");
        }
    }
    ExitCode::SUCCESS
}

/// Runs the schedule's target here, now, through its overlap policy, and waits for it.
async fn trigger(
    config_flag: Option<PathBuf>,
    config: &Config,
    store: &Store,
    name: &str,
    as_json: bool,
) -> ExitCode {
    let row = match store.schedule(name).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            eprintln!("error: {}", manage::no_schedule(name));
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let schedule = match serde_json::from_value::<ScheduleSpec>(row.spec)
        .map_err(|error| error.to_string())
        .and_then(|spec| {
            spec.compile(name)
                .map_err(|_| format!("schedule \"{name}\" is invalid (see `baton schedule list`)"))
        }) {
        Ok(schedule) => schedule,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let separator = config.namespace.separator.clone();
    // What the run calls decides which servers to connect.
    let shape = match &schedule.target {
        Target::Workflow { name: workflow, .. } => match config.workflow(workflow) {
            Some(workflow) => workflow.clone(),
            None => {
                eprintln!("error: schedule \"{name}\": unknown workflow \"{workflow}\"");
                return ExitCode::from(2);
            }
        },
        Target::Tool { tool, args } => {
            Workflow::single_call(name, "", tool, Value::Object(args.clone()))
        }
        Target::Mode { .. } => Workflow::single_call(
            name,
            "",
            &format!("baton{separator}delegate_task"),
            json!({}),
        ),
    };
    let Some((engine, app)) = super::runs::start(config, &shape).await else {
        return ExitCode::FAILURE;
    };
    let firing = Firing {
        store: store.clone(),
        engine: engine.clone(),
        bus: EventBus::new(Some(store.clone())),
        owner: engine.owner().to_owned(),
        separator,
        clock: baton_automation::Clock::system(),
    };
    let mut events = engine.subscribe();
    let schedule = Arc::new(schedule);
    let outcome = firing.trigger_now(&schedule).await;
    let code = match outcome {
        Ok(Outcome::Fired { run }) => {
            if !as_json {
                println!("schedule {name}: run {run} started");
            }
            loop {
                match events.recv().await {
                    Ok(RunEvent::Finished {
                        run: done,
                        status,
                        error,
                    }) if done == run => {
                        firing
                            .finished(&run, status, error.as_deref(), |_| Some(schedule.clone()))
                            .await;
                        break;
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
            super::runs::show(config_flag, &run, as_json).await
        }
        Ok(Outcome::Buffered) => {
            println!(
                "schedule {name}: an earlier run is still going; this one waits for it (overlap)"
            );
            ExitCode::SUCCESS
        }
        Ok(Outcome::Skipped { reason }) => {
            println!("schedule {name}: skipped: {reason}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    };
    app.stop().await;
    code
}

/// Imports a Roo Code `schedules.json`: each schedule mapped field by field, the fields
/// Baton cannot map reported.
async fn import(
    config: &Config,
    store: &Store,
    file: &std::path::Path,
    timezone: Option<String>,
    dry_run: bool,
    as_json: bool,
) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", file.display());
            return ExitCode::from(2);
        }
    };
    let imported = match roo::import(&text) {
        Ok(imported) => imported,
        Err(error) => {
            eprintln!("error: {}: {error}", file.display());
            return ExitCode::from(2);
        }
    };
    let mut report = Vec::new();
    let mut failed = false;
    for schedule in &imported {
        let Some((name, mut spec)) = schedule.spec() else {
            report.push(json!({
                "roo_name": schedule.name,
                "imported": false,
                "error": "not a time schedule: nothing says when it runs",
                "not_mapped": schedule.not_mapped,
            }));
            continue;
        };
        spec.timezone = timezone.clone();
        let outcome = if dry_run {
            spec.compile(&name)
                .map(|_| json!("would be added"))
                .map_err(|problems| format!("{problems:?}"))
        } else {
            manage::add(store, config, &name, &spec).await
        };
        failed |= outcome.is_err();
        report.push(json!({
            "roo_name": schedule.name,
            "name": name,
            "imported": outcome.is_ok() && !dry_run,
            "error": outcome.err(),
            "spec": spec,
            "not_mapped": schedule.not_mapped,
        }));
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "schedules": report })).unwrap_or_default()
        );
    } else {
        for entry in &report {
            let name = entry["name"].as_str().unwrap_or("-");
            let state = match (&entry["error"], dry_run) {
                (Value::String(error), _) => format!("NOT imported: {error}"),
                (_, true) => "would be imported".to_owned(),
                _ => "imported".to_owned(),
            };
            println!(
                "{} → {name}: {state}",
                entry["roo_name"].as_str().unwrap_or("-")
            );
            if let Some(spec) = entry.get("spec") {
                println!("    {}", serde_json::to_string(spec).unwrap_or_default());
            }
            for field in entry["not_mapped"].as_array().into_iter().flatten() {
                println!("    not mapped: {}", field.as_str().unwrap_or_default());
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
