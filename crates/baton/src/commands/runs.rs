//! `baton run`, `baton run show`, `baton runs`, `baton cancel`, `baton retry`,
//! `baton resume`, `baton approve`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use baton_app::sets::workflows::{place_in_queue, preview, run_json};
use baton_core::{
    config::Config,
    workflow::{StepKind, Workflow},
};
use baton_engine::{
    Engine, RunEvent,
    baton_store::{RunRecord, RunStatus, Store},
};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::cli::{ApproveArgs, RetryArgs, RunArgs, RunIdArgs, RunsArgs};

pub async fn run(config_flag: Option<PathBuf>, args: RunArgs) -> ExitCode {
    if args.workflow == "show" {
        let Some(run) = args.run else {
            eprintln!("error: `baton run show` needs a run id (see `baton runs`)");
            return ExitCode::from(2);
        };
        return show(config_flag, &run, args.json).await;
    }
    let workflow = match super::graph::find(config_flag.clone(), &args.workflow) {
        Ok(workflow) => workflow,
        Err(code) => return code,
    };
    let mut config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if config.workflow(&workflow.name).is_none() {
        config.workflows.definitions.push(workflow.clone());
    }
    let inputs = match parse_inputs(&workflow, &args.inputs) {
        Ok(inputs) => inputs,
        Err(problems) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let Some((engine, app)) = start(&config, &workflow).await else {
        return ExitCode::FAILURE;
    };
    let id = match engine
        .start_with(&workflow.name, &inputs, "cli", args.priority)
        .await
    {
        Ok(id) => id,
        Err(error) => {
            eprintln!("error: {error}");
            app.stop().await;
            return ExitCode::from(2);
        }
    };
    let code = follow(&engine, &id, &workflow, args.json).await;
    app.stop().await;
    code
}

/// `NAME=VALUE` pairs as the workflow's typed inputs.
pub(super) fn parse_inputs(
    workflow: &Workflow,
    given: &[String],
) -> Result<serde_json::Map<String, Value>, Vec<String>> {
    let mut inputs = serde_json::Map::new();
    let mut problems = Vec::new();
    for pair in given {
        let Some((name, value)) = pair.split_once('=') else {
            problems.push(format!("--input {pair}: write NAME=VALUE"));
            continue;
        };
        match workflow.inputs.get(name) {
            Some(input) => match input.kind.from_text(value) {
                Ok(value) => {
                    inputs.insert(name.to_owned(), value);
                }
                Err(error) => problems.push(format!("--input {name}: {error}")),
            },
            None => problems.push(format!(
                "--input {name}: workflow \"{}\" has no such input (inputs: {})",
                workflow.name,
                workflow
                    .inputs
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    if let Err(mut more) = workflow.resolve_inputs(&inputs) {
        problems.append(&mut more);
    }
    if problems.is_empty() {
        Ok(inputs)
    } else {
        Err(problems)
    }
}

/// The servers `workflow` (and the workflows it runs) call, and only those, connected;
/// then the store and the engine.
pub(super) async fn start(
    config: &Config,
    workflow: &Workflow,
) -> Option<(Arc<Engine>, baton_app::App)> {
    let mut needed = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut queue = vec![workflow.clone()];
    while let Some(current) = queue.pop() {
        if !seen.insert(current.name.clone()) {
            continue;
        }
        for step in current
            .steps
            .iter()
            .flat_map(|s| std::iter::once(s).chain(s.fallback.as_deref()))
        {
            match &step.kind {
                StepKind::Tool { tool, args, .. } => {
                    if let Some((server, _)) = tool.split_once(&config.namespace.separator) {
                        needed.insert(server.to_owned());
                    }
                    // A task delegated to a mode needs the server of the mode's agent tool
                    // (every mode's, when the mode is a template).
                    if tool.ends_with("delegate_task") {
                        let named = args["mode"].as_str().and_then(|slug| config.mode(slug));
                        let modes: Vec<_> = match named {
                            Some(mode) => vec![mode],
                            None => config.modes.iter().collect(),
                        };
                        for mode in modes {
                            if let baton_core::modes::Executor::Mcp { tool, .. } = &mode.executor
                                && let Some(server) = config.server_named_by(tool)
                            {
                                needed.insert(server.to_owned());
                            }
                        }
                    }
                }
                StepKind::Workflow { name, .. } => {
                    if let Some(sub) = config.workflow(name) {
                        queue.push(sub.clone());
                    }
                }
                _ => {}
            }
        }
    }
    let mut trimmed = config.clone();
    trimmed
        .servers
        .retain(|server| needed.contains(&server.name));
    let app = super::start_settled(trimmed).await;
    match app.engine() {
        Ok(engine) => Some((engine.clone(), app)),
        Err(error) => {
            eprintln!("error: {error}");
            app.stop().await;
            None
        }
    }
}

/// Executes run `id` here with a live display (or quietly with `json`), until it ends or
/// Ctrl-C leaves it resumable.
pub(super) async fn follow(
    engine: &Arc<Engine>,
    id: &str,
    workflow: &Workflow,
    json: bool,
) -> ExitCode {
    let display = (!json).then(|| Display::new(workflow.steps.len()));
    let mut events = engine.subscribe();
    // Boxed (so Unpin); dropping it stops the run here (its step tasks end with it). A run
    // whose concurrency key (or this process's `max_concurrent`) has no room waits queued.
    let mut execution = {
        let (engine, id) = (engine.clone(), id.to_owned());
        Box::pin(async move { engine.execute_anywhere(&id).await })
    };
    let result = loop {
        tokio::select! {
            result = &mut execution => break result,
            event = events.recv() => {
                if let (Ok(event), Some(display)) = (event, &display)
                    && event.run() == id
                {
                    display.show(&event);
                }
            }
            _ = tokio::signal::ctrl_c() => {
                drop(execution);
                let _ = engine.store().release_owned(id, engine.owner()).await;
                if let Some(display) = &display {
                    display.clear();
                }
                eprintln!(
                    "interrupted: run {id} is saved; continue it with `baton resume {id}` (`baton serve` also resumes it), or drop it with `baton cancel {id}`"
                );
                return ExitCode::from(130);
            }
        }
    };
    if let Some(display) = &display {
        display.clear();
    }
    let record = match result {
        Ok(record) => record,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let steps = engine.store().steps(id).await.unwrap_or_default();
    print_run(&record, &steps, json);
    match record.status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// One spinner per running step, and a bar of finished steps with the elapsed time.
struct Display {
    bars: MultiProgress,
    overall: ProgressBar,
    running: std::sync::Mutex<BTreeMap<String, ProgressBar>>,
    started: Instant,
}

impl Display {
    fn new(steps: usize) -> Display {
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = bars.add(ProgressBar::new(steps as u64));
        overall.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Display {
            bars,
            overall,
            running: std::sync::Mutex::new(BTreeMap::new()),
            started: Instant::now(),
        }
    }

    fn show(&self, event: &RunEvent) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            RunEvent::Started { run, workflow, .. } => {
                self.overall.set_message(format!("{workflow} · run {run}"));
            }
            RunEvent::StepStarted { step, attempt, .. } => {
                let bar = running.entry(step.clone()).or_insert_with(|| {
                    let bar = self.bars.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {msg} {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(if *attempt > 1 {
                    format!("{step} (attempt {attempt})")
                } else {
                    step.clone()
                });
            }
            RunEvent::ApprovalNeeded { .. } => {}
            RunEvent::Waiting { step, reason, .. } => {
                if let Some(bar) = running.get(step) {
                    bar.set_message(format!("{step}: {reason}"));
                } else {
                    let _ = self.bars.println(format!("  {step}: {reason}"));
                }
            }
            RunEvent::StepFinished {
                step,
                status,
                millis,
                error,
                ..
            } => {
                if let Some(bar) = running.remove(step) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
                self.overall.inc(1);
                let line = match error {
                    Some(error) => format!("  {step} {} in {millis} ms: {error}", status.as_str()),
                    None => format!("  {step} {} in {millis} ms", status.as_str()),
                };
                let _ = self.bars.println(line);
            }
            RunEvent::Finished { status, .. } => {
                self.overall.set_message(format!(
                    "{} after {:.1?}",
                    status.as_str(),
                    self.started.elapsed()
                ));
            }
        }
    }

    fn clear(&self) {
        for (_, bar) in std::mem::take(&mut *self.running.lock().unwrap_or_else(|p| p.into_inner()))
        {
            bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
        let _ = self.bars.clear();
    }
}

/// The run as JSON (with `json`), or its summary table on stderr and outputs on stdout.
fn print_run(record: &RunRecord, steps: &[baton_engine::baton_store::StepRecord], json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&run_json(record, Some(steps))).unwrap_or_default()
        );
        return;
    }
    print_summary(record, steps);
    if let Some(outputs) = &record.outputs {
        println!(
            "{}",
            serde_json::to_string_pretty(outputs).unwrap_or_default()
        );
    }
}

fn print_summary(record: &RunRecord, steps: &[baton_engine::baton_store::StepRecord]) {
    let duration = record
        .finished_at
        .zip(record.started_at)
        .map(|(end, start)| format!(" in {} ms", end - start))
        .unwrap_or_default();
    eprintln!(
        "run {} of {}: {}{duration}{}",
        record.id,
        record.workflow,
        record.status.as_str(),
        record
            .error
            .as_ref()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default()
    );
    if steps.iter().any(|s| s.item == -1) {
        eprintln!(
            "  {:24} {:10} {:>8} {:>10}  OUTPUT / ERROR",
            "STEP", "STATUS", "ATTEMPTS", "MS"
        );
    }
    for step in steps.iter().filter(|s| s.item == -1) {
        let millis = step
            .finished_at
            .zip(step.started_at)
            .map(|(end, start)| (end - start).to_string())
            .unwrap_or_else(|| "-".to_owned());
        let detail = match (&step.error, &step.output) {
            (Some(error), _) => error.clone(),
            (None, Some(output)) => truncate(&preview(output).to_string(), 80),
            (None, None) => String::new(),
        };
        eprintln!(
            "  {:24} {:10} {:>8} {:>10}  {detail}",
            step.step_id,
            step.status.as_str(),
            step.attempts,
            millis
        );
    }
}

fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let cut: String = text.chars().take(limit).collect();
    format!("{cut}…")
}

pub(super) async fn open_store(config_flag: Option<PathBuf>) -> Result<Store, ExitCode> {
    let config = super::load_config(config_flag.as_deref())?;
    if config.store.url.is_none() && !config.store.path.exists() {
        eprintln!(
            "error: no store at {} yet: no workflow has run with this configuration",
            config.store.path.display()
        );
        return Err(ExitCode::from(2));
    }
    super::store_of(&config).await
}

pub(super) async fn show(config_flag: Option<PathBuf>, run: &str, json: bool) -> ExitCode {
    let store = match open_store(config_flag).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let (record, steps) = match (store.run(run).await, store.steps(run).await) {
        (Ok(record), Ok(steps)) => (record, steps),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    print_run(&record, &steps, json);
    ExitCode::SUCCESS
}

pub async fn list(config_flag: Option<PathBuf>, args: RunsArgs) -> ExitCode {
    let store = match open_store(config_flag).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let runs = match store.runs(args.limit, args.workflow.as_deref()).await {
        Ok(runs) => runs,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut all: Vec<Value> = runs.iter().map(|r| run_json(r, None)).collect();
    place_in_queue(&store, &mut all).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!(
        "{:16} {:24} {:11} {:>10}  {:28} {:16} ERROR",
        "RUN", "WORKFLOW", "STATUS", "MS", "WORKER", "ORIGIN"
    );
    for (run, value) in runs.iter().zip(&all) {
        // A queued run shows its place: `queued #1` starts next.
        let status = match value["queue_position"].as_u64() {
            Some(position) => format!("queued #{position}"),
            None => run.status.as_str().to_owned(),
        };
        let millis = run
            .finished_at
            .zip(run.started_at)
            .map(|(end, start)| (end - start).to_string())
            .unwrap_or_else(|| "-".to_owned());
        // The worker executing an unfinished run ("-": waiting for one).
        let worker = match (&run.lease_owner, run.status.is_finished()) {
            (Some(owner), false) => owner.as_str(),
            _ => "-",
        };
        // Where it came from: `cli`, `mcp`, `schedule:NAME`, `task:PRINCIPAL` (an MCP task)…
        println!(
            "{:16} {:24} {:11} {:>10}  {:28} {:16} {}",
            run.id,
            run.workflow,
            status,
            millis,
            worker,
            run.origin.as_deref().unwrap_or("-"),
            truncate(run.error.as_deref().unwrap_or(""), 60)
        );
    }
    ExitCode::SUCCESS
}

pub async fn cancel(config_flag: Option<PathBuf>, args: RunIdArgs) -> ExitCode {
    let store = match open_store(config_flag).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    match store.cancel(&args.run).await {
        Ok(true) => {
            println!("run {} cancelled", args.run);
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("run {} had already finished", args.run);
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

pub async fn approve(config_flag: Option<PathBuf>, args: ApproveArgs) -> ExitCode {
    let store = match open_store(config_flag).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let by = args
        .by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".to_owned());
    match store
        .decide(
            &args.run,
            &args.step,
            !args.reject,
            &by,
            args.comment.as_deref(),
        )
        .await
    {
        Ok(true) => {
            println!(
                "run {} step {}: {} by {by}",
                args.run,
                args.step,
                if args.reject { "rejected" } else { "approved" }
            );
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!("run {} step {} was already decided", args.run, args.step);
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Loads the run's pinned definition and executes it here.
async fn continue_run(
    config_flag: Option<PathBuf>,
    run: &str,
    json: bool,
    from: Option<Option<String>>,
) -> ExitCode {
    let config = match super::load_config(config_flag.as_deref()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let store = match super::store_of(&config).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let record = match store.run(run).await {
        Ok(record) => record,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // The engine resolves the pinned definition; servers come from the current config.
    let probe = Engine::new(store, Arc::new(NoTools), Vec::new(), &[]);
    let workflow = match probe.definition(&record).await {
        Ok(workflow) => (*workflow).clone(),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let Some((engine, app)) = start(&config, &workflow).await else {
        return ExitCode::FAILURE;
    };
    if let Some(from) = from {
        if !record.status.is_finished() {
            eprintln!(
                "error: run {run} is {}: only a finished run is retried (`baton resume {run}` continues it)",
                record.status.as_str()
            );
            app.stop().await;
            return ExitCode::from(2);
        }
        match engine.reopen(run, from.as_deref()).await {
            Ok(steps) => eprintln!("run {run}: running again from {}", steps.join(", ")),
            Err(error) => {
                eprintln!("error: {error}");
                app.stop().await;
                return ExitCode::from(2);
            }
        }
    } else if record.status.is_finished() {
        eprintln!(
            "run {run} is already {} (`baton retry {run}` runs it again)",
            record.status.as_str()
        );
        app.stop().await;
        return ExitCode::from(2);
    }
    let code = follow(&engine, run, &workflow, json).await;
    app.stop().await;
    code
}

pub async fn retry(config_flag: Option<PathBuf>, args: RetryArgs) -> ExitCode {
    continue_run(config_flag, &args.run, args.json, Some(args.from)).await
}

pub async fn resume(config_flag: Option<PathBuf>, args: RunIdArgs) -> ExitCode {
    continue_run(config_flag, &args.run, args.json, None).await
}

/// A tool caller for reading definitions only.
struct NoTools;

impl baton_engine::ToolCaller for NoTools {
    fn call<'a>(
        &'a self,
        tool: &'a str,
        _args: Value,
        _options: baton_engine::CallOptions,
    ) -> futures::future::BoxFuture<'a, Result<baton_engine::ToolOutput, baton_engine::ToolFailure>>
    {
        Box::pin(async move {
            Err(baton_engine::ToolFailure::Permanent(format!(
                "{tool}: no tools here"
            )))
        })
    }
}
