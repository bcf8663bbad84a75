//! `baton-workflow-bench`: durable step throughput and dispatch latency of Baton's workflow
//! engine on its SQLite store (a file in a temporary folder, WAL, as `baton` uses it).
//!
//!     baton-workflow-bench [--steps 2000] [--width 64] [--chain 500]
//!
//! Two workflows of no-op tool steps (an in-process tool that answers at once, so only the
//! engine and the store are measured):
//! - wide: `--steps` independent steps, all ready at once — steps/s;
//! - chain: `--chain` steps each needing the one before — dispatch latency from a step's
//!   completion (its `StepFinished` event) to the next step's start (`StepStarted`), p50/p95,
//!   and steps/s of a strictly sequential run.
//!
//! Each figure is also measured with `set:` steps (no tool call at all) as the baseline of
//! the same run.

#![forbid(unsafe_code)]

use std::{path::Path, process::ExitCode, sync::Arc, time::Instant};

use baton_core::workflow::{Workflow, WorkflowContext, compile_workflow};
use baton_engine::{Engine, RunEvent, baton_store::Store};

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

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let steps = arg("--steps", 2000);
    let chain_steps = arg("--chain", 500);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let store = match Store::open(&dir.path().join("bench.db"), 256 * 1024).await {
            Ok(store) => store,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        };
        let tool = "tool: t__noop, args: { n: 1 }";
        let set = "set: { n: 1 }";
        let workflows = vec![
            compile(&wide("wide_tool", steps, tool)),
            compile(&wide("wide_set", steps, set)),
            compile(&chain("chain_tool", chain_steps, tool)),
            compile(&chain("chain_set", chain_steps, set)),
        ];
        let engine = Engine::new(store, Arc::new(Noop), workflows, &[]);
        // Warm-up: the database file, the pool, the code paths.
        let _ = measure(&engine, "chain_set", chain_steps).await;
        println!("| workflow | steps | steps/s | dispatch p50 ms | dispatch p95 ms |");
        println!("|---|---:|---:|---:|---:|");
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
                "| {name} | {count} | {:.0} | {} | {} |",
                figures.steps_per_second,
                latency(figures.dispatch_p50_ms),
                latency(figures.dispatch_p95_ms)
            );
        }
        ExitCode::SUCCESS
    })
}
