//! `baton-workflow-bench`: durable step throughput, dispatch latency, several workers and
//! take-over time of Baton's workflow engine, on SQLite and on PostgreSQL in the same run.
//!
//!     baton-workflow-bench [--steps 5000] [--chain 1000] [--store sqlite,postgres]
//!                          [--runs 16] [--run-steps 2000] [--max-runs 4] [--trials 20]
//!                          [--leases 30,5]
//!
//! SQLite is a file in a temporary folder (WAL, as `baton` uses it); PostgreSQL a fresh
//! database created through `BATON_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped at the end.
//!
//! 1. One run at a time (one tokio worker thread): workflows of no-op tool steps (an
//!    in-process tool that answers at once, so only the engine and the store are measured)
//!    and of `set:` steps (no call at all), the baseline of the same run.
//!    - wide: `--steps` independent steps, all ready at once — steps/s;
//!    - chain: `--chain` steps each needing the one before — dispatch latency from a step's
//!      completion (`StepFinished`) to the next step's start (`StepStarted`), p50/p95, and
//!      steps/s of a strictly sequential run.
//! 2. Several workers (one engine with its own connection pool per worker, one tokio thread
//!    per worker, at most `--max-runs` runs each): `--runs` wide runs of `--run-steps` tool
//!    steps, left in the store and claimed by the workers' dispatchers; total steps/s with
//!    one and with two workers.
//! 3. Take-over (`--trials` runs at once per lease in `--leases`, seconds): each run is held
//!    by a worker that dies at a different point of its renewal cycle; another worker
//!    (default `workers.poll` 2 s) starts the run's step — the time from the death to that
//!    start, p50/max.

#![forbid(unsafe_code)]

use std::{
    path::Path,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use baton_core::workflow::{Workflow, WorkflowContext, compile_workflow};
use baton_engine::{Engine, RunEvent, WorkerSettings, baton_store::Store};
use baton_store::testing::TestDb;
use tokio_util::sync::CancellationToken;

#[path = "../noop.rs"]
mod noop;

use noop::Noop;

fn compile(text: &str) -> Workflow {
    match compile_workflow(
        Path::new("bench.yaml"),
        text,
        WorkflowContext {
            servers: None,
            separator: "__",
            env_allow: &[],
            modes: None,
        },
    ) {
        Ok(workflow) => workflow,
        Err(errors) => panic!("{errors}"),
    }
}

fn wide(name: &str, steps: usize, kind: &str) -> String {
    let mut text = format!("name: {name}\nsteps:\n");
    for i in 0..steps {
        text.push_str(&format!("  - {{ id: s{i}, {kind} }}\n"));
    }
    text
}

fn chain(name: &str, steps: usize, kind: &str) -> String {
    let mut text = format!("name: {name}\nsteps:\n  - {{ id: s0, {kind} }}\n");
    for i in 1..steps {
        text.push_str(&format!(
            "  - {{ id: s{i}, needs: [s{}], {kind} }}\n",
            i - 1
        ));
    }
    text
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

const TOOL: &str = "tool: t__noop, args: { n: 1 }";
const SET: &str = "set: { n: 1 }";

struct Figures {
    steps_per_second: f64,
    dispatch_p50_ms: f64,
    dispatch_p95_ms: f64,
}

async fn measure(engine: &Arc<Engine>, name: &str, steps: usize) -> Figures {
    let mut events = engine.subscribe();
    let run = engine
        .start(name, &Default::default(), "bench")
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let started = Instant::now();
    let collector = tokio::spawn(async move {
        let mut finished: Vec<(String, Instant)> = Vec::new();
        let mut begun: Vec<(String, Instant)> = Vec::new();
        while let Ok(event) = events.recv().await {
            match event {
                RunEvent::StepStarted { step, .. } => begun.push((step, Instant::now())),
                RunEvent::StepFinished { step, .. } => finished.push((step, Instant::now())),
                RunEvent::Finished { .. } => break,
                _ => {}
            }
        }
        (begun, finished)
    });
    let record = engine
        .execute(&run)
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let elapsed = started.elapsed();
    assert_eq!(record.status.as_str(), "succeeded", "{:?}", record.error);
    let (begun, finished) = collector.await.unwrap_or_default();
    // Dispatch: step s{i} finished → step s{i+1} started (meaningful for the chain).
    let start_of: std::collections::HashMap<&str, Instant> =
        begun.iter().map(|(s, t)| (s.as_str(), *t)).collect();
    let mut gaps: Vec<f64> = finished
        .iter()
        .filter_map(|(step, done)| {
            let next = format!(
                "s{}",
                step.trim_start_matches('s').parse::<usize>().ok()? + 1
            );
            let begin = start_of.get(next.as_str())?;
            Some(begin.saturating_duration_since(*done).as_secs_f64() * 1000.0)
        })
        .collect();
    gaps.sort_by(|a, b| a.total_cmp(b));
    Figures {
        steps_per_second: steps as f64 / elapsed.as_secs_f64(),
        dispatch_p50_ms: percentile(&gaps, 0.50),
        dispatch_p95_ms: percentile(&gaps, 0.95),
    }
}

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where a backend's data lives for the whole run (the PostgreSQL database is dropped
/// with it).
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(TestDb),
}

impl Place {
    async fn new(backend: &str) -> Result<Place, String> {
        match backend {
            "sqlite" => tempfile::tempdir()
                .map(Place::Sqlite)
                .map_err(|e| e.to_string()),
            "postgres" => Ok(Place::Postgres(TestDb::new().await)),
            other => Err(format!("unknown store {other}: sqlite or postgres")),
        }
    }

    /// Another store (its own connection pool) on this place's data.
    async fn store(&self) -> Store {
        let opened = match self {
            Place::Sqlite(dir) => Store::open(&dir.path().join("bench.db"), 256 * 1024).await,
            Place::Postgres(db) => Store::connect_postgres(db.url(), 256 * 1024).await,
        };
        opened.unwrap_or_else(|error| panic!("{error}"))
    }
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("{error}"))
}

/// One run at a time, one tokio thread.
fn single_runs(backend: &str, place: &Place, steps: usize, chain_steps: usize) {
    runtime(1).block_on(async {
        let workflows = vec![
            compile(&wide("wide_tool", steps, TOOL)),
            compile(&wide("wide_set", steps, SET)),
            compile(&chain("chain_tool", chain_steps, TOOL)),
            compile(&chain("chain_set", chain_steps, SET)),
        ];
        let engine = Engine::new(place.store().await, Arc::new(Noop), workflows, &[]);
        // Warm-up: the database, the pool, the code paths.
        let _ = measure(&engine, "chain_set", chain_steps).await;
        for (name, count) in [
            ("wide_tool", steps),
            ("wide_set", steps),
            ("chain_tool", chain_steps),
            ("chain_set", chain_steps),
        ] {
            let figures = measure(&engine, name, count).await;
            let latency = |value: f64| {
                if name.starts_with("chain") {
                    format!("{value:.3}")
                } else {
                    "-".to_owned()
                }
            };
            println!(
                "| {backend} | {name} | {count} | {:.0} | {} | {} |",
                figures.steps_per_second,
                latency(figures.dispatch_p50_ms),
                latency(figures.dispatch_p95_ms)
            );
        }
    });
}

fn settings(poll: Duration, lease: Duration, max_runs: Option<u32>) -> WorkerSettings {
    WorkerSettings {
        lease,
        max_runs,
        poll,
    }
}

/// `runs` wide runs claimed by `workers` dispatchers of `max_runs` places each: total
/// steps/s.
fn several_workers(
    place: &Place,
    workers: usize,
    max_runs: u32,
    runs: usize,
    run_steps: usize,
) -> f64 {
    runtime(workers).block_on(async {
        let workflow = compile(&wide("wide", run_steps, TOOL));
        let mut engines = Vec::new();
        for _ in 0..workers {
            engines.push(Engine::with_settings(
                place.store().await,
                Arc::new(Noop),
                vec![workflow.clone()],
                &[],
                settings(
                    Duration::from_millis(200),
                    Duration::from_secs(30),
                    Some(max_runs),
                ),
            ));
        }
        let mut ids = Vec::new();
        for _ in 0..runs {
            let id = engines[0]
                .start("wide", &Default::default(), "bench")
                .await
                .unwrap_or_else(|error| panic!("{error}"));
            ids.push(id);
        }
        let stop = CancellationToken::new();
        let started = Instant::now();
        for id in &ids {
            engines[0]
                .store()
                .release_owned(id, engines[0].owner())
                .await
                .unwrap_or_else(|error| panic!("{error}"));
        }
        for engine in &engines {
            engine.dispatch(stop.clone());
        }
        for id in &ids {
            let record = engines[0]
                .await_run(id)
                .await
                .unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(record.status.as_str(), "succeeded", "{:?}", record.error);
        }
        let elapsed = started.elapsed();
        stop.cancel();
        (runs * run_steps) as f64 / elapsed.as_secs_f64()
    })
}

/// Runs held by a worker that died at `trials` points of its renewal cycle: the time
/// from each death to another worker starting the run's step (ms, sorted).
fn take_over(place: &Place, lease: Duration, trials: usize) -> Vec<f64> {
    runtime(1).block_on(async {
        let workflow = compile(&chain("one", 1, TOOL));
        let survivor = Engine::with_settings(
            place.store().await,
            Arc::new(Noop),
            vec![workflow],
            &[],
            settings(Duration::from_secs(2), lease, None),
        );
        // The dead worker renewed every min(2 s, lease/3), as Baton does; it died a
        // fraction i/trials of that period after its last renewal.
        let renew_every = Duration::from_secs(2).min(lease / 3);
        let mut deaths = std::collections::HashMap::new();
        let base = Instant::now();
        let mut events = survivor.subscribe();
        for i in 0..trials {
            let id = survivor
                .start("one", &Default::default(), "bench")
                .await
                .unwrap_or_else(|error| panic!("{error}"));
            survivor
                .store()
                .release_owned(&id, survivor.owner())
                .await
                .unwrap_or_else(|error| panic!("{error}"));
            let claimed = Instant::now();
            survivor
                .store()
                .claim(&id, &format!("other-machine:1:dead{i}"), lease)
                .await
                .unwrap_or_else(|error| panic!("{error}"))
                .unwrap_or_else(|| panic!("run {id} was not free"));
            deaths.insert(id, claimed + renew_every.mul_f64(i as f64 / trials as f64));
        }
        let stop = CancellationToken::new();
        survivor.dispatch(stop.clone());
        let mut times = Vec::new();
        while times.len() < trials {
            match tokio::time::timeout(lease * 2 + Duration::from_secs(30), events.recv()).await {
                Ok(Ok(RunEvent::StepStarted { run, .. })) => {
                    if let Some(death) = deaths.remove(&run) {
                        let now = Instant::now();
                        times.push(now.saturating_duration_since(death).as_secs_f64() * 1000.0);
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => panic!("take-over stalled after {:?}", base.elapsed()),
            }
        }
        stop.cancel();
        times.sort_by(|a, b| a.total_cmp(b));
        times
    })
}

fn main() -> ExitCode {
    let steps = arg("--steps", 5000usize);
    let chain_steps = arg("--chain", 1000usize);
    let runs = arg("--runs", 16usize);
    let max_runs = arg("--max-runs", 4u32);
    let run_steps = arg("--run-steps", 2000usize);
    let trials = arg("--trials", 20usize);
    let stores: String = arg("--store", "sqlite,postgres".to_owned());
    let leases: String = arg("--leases", "30,5".to_owned());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());
    let mut places = Vec::new();
    for backend in stores.split(',') {
        let place = match runtime(1).block_on(Place::new(backend)) {
            Ok(place) => place,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        places.push((backend.to_owned(), place));
    }
    println!("\n## One run at a time\n");
    println!("| store | workflow | steps | steps/s | dispatch p50 ms | dispatch p95 ms |");
    println!("|---|---|---:|---:|---:|---:|");
    for (backend, place) in &places {
        single_runs(backend, place, steps, chain_steps);
    }
    println!(
        "\n## Several workers (max_runs {max_runs} each): {runs} wide runs of {run_steps} tool steps\n"
    );
    println!("| store | 1 worker steps/s | 2 workers steps/s | ratio |");
    println!("|---|---:|---:|---:|");
    for (backend, place) in &places {
        let one = several_workers(place, 1, max_runs, runs, run_steps);
        let two = several_workers(place, 2, max_runs, runs, run_steps);
        println!("| {backend} | {one:.0} | {two:.0} | {:.2} |", two / one);
    }
    println!("\n## Take-over of a dead worker's run ({trials} runs, default poll 2 s)\n");
    println!("| store | lease s | p50 ms | max ms |");
    println!("|---|---:|---:|---:|");
    for (backend, place) in &places {
        for lease in leases.split(',').filter_map(|s| s.parse::<u64>().ok()) {
            let times = take_over(place, Duration::from_secs(lease), trials);
            println!(
                "| {backend} | {lease} | {:.0} | {:.0} |",
                percentile(&times, 0.5),
                times.last().copied().unwrap_or(f64::NAN)
            );
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nload average after: {}", load.trim());
    ExitCode::SUCCESS
}
