//! `baton-schedule-bench`: fire-time jitter of Baton's scheduler with many interval
//! schedules loaded, and memory per schedule.
//!
//!     baton-schedule-bench [--schedules 10000] [--every 60] [--rounds 2]
//!
//! `--schedules` schedules `every: <every>s`, their anchors (`start:`) spread evenly over
//! one interval, each firing a one-step run of an in-process no-op tool on the real SQLite
//! store (WAL, in a temporary folder), exactly as `baton serve` fires them (slot claimed,
//! run created and executed, events recorded).
//!
//! - Baseline, measured first in the same process: the same slot times waited for by
//!   bare tokio timers (one task per schedule), lateness = woken − planned.
//! - Baton: lateness = the moment the slot's run was created (`late_us` of its
//!   `schedule_fired` event) − planned slot, over `--rounds` intervals.
//! - Memory: resident set size after loading the schedules minus before, per schedule.

#![forbid(unsafe_code)]

use std::{process::ExitCode, sync::Arc, time::Duration};

use baton_automation::{EventBus, Firing, Scheduler};
use baton_core::schedule::EventKind;
use baton_engine::{Engine, baton_store::Store};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[path = "../noop.rs"]
mod noop;

use noop::Noop;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn percentiles(mut values: Vec<i64>) -> (f64, f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0, 0.0);
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    (
        at(0.5),
        at(0.9),
        at(0.99),
        *values.last().unwrap_or(&0) as f64 / 1000.0,
    )
}

/// The anchor of schedule `i`: spread evenly over one interval starting at `base` (ms).
fn anchor(base: i64, i: u64, count: u64, every_ms: i64) -> i64 {
    base + (i as i64 * every_ms) / count as i64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let count = arg("--schedules", 10_000);
    let every = arg("--every", 60);
    let rounds = arg("--rounds", 2);
    let every_ms = (every * 1000) as i64;
    let now = Utc::now().timestamp_millis();
    // Slots begin on the next whole second plus a few seconds of set-up time.
    let base = (now / 1000 + 5) * 1000;

    // Baseline: bare tokio timers for one interval.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<i64>();
    for i in 0..count {
        let slot = anchor(base, i, count, every_ms);
        let sender = sender.clone();
        tokio::spawn(async move {
            let wait = slot - Utc::now().timestamp_millis();
            tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;
            let _ = sender.send(Utc::now().timestamp_micros() - slot * 1000);
        });
    }
    drop(sender);
    let mut baseline = Vec::new();
    while let Some(late) = receiver.recv().await {
        baseline.push(late);
    }

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
    let engine = Engine::new(store.clone(), Arc::new(Noop), Vec::new(), &[]);
    let before = rss();
    let start = Utc::now().timestamp_millis();
    let base = (start / 1000 + 10 + count as i64 / 1000) * 1000;
    for i in 0..count {
        let slot = anchor(base, i, count, every_ms);
        let start = Utc
            .timestamp_millis_opt(slot)
            .single()
            .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        let spec = json!({"every": format!("{every}s"), "start": start, "tool": "bench__noop", "overlap": "allow_all"});
        if let Err(error) = store
            .add_schedule(&format!("s{i:05}"), &spec, false, start_ms(start.as_str()))
            .await
        {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    }
    let bus = EventBus::new(Some(store.clone()));
    let mut events = bus.subscribe();
    let firing = Arc::new(Firing {
        store: store.clone(),
        engine: engine.clone(),
        bus,
        owner: engine.owner().to_owned(),
        separator: "__".to_owned(),
        clock: baton_automation::Clock::system(),
    });
    let shutdown = CancellationToken::new();
    let loaded_at = std::time::Instant::now();
    let _scheduler = Scheduler::start(firing, Vec::new(), shutdown.clone()).await;
    let load_time = loaded_at.elapsed();
    let after = rss();
    let until = base + rounds as i64 * every_ms;
    let mut late = Vec::new();
    let expected = count * rounds;
    while (late.len() as u64) < expected {
        let remaining = until + 30_000 - Utc::now().timestamp_millis();
        if remaining <= 0 {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(remaining as u64), events.recv()).await {
            Ok(Ok(event)) if event.kind == EventKind::ScheduleFired => {
                if let Some(us) = event.data.get("late_us").and_then(Value::as_i64) {
                    late.push(us);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(missed))) => {
                eprintln!("warning: missed {missed} events");
            }
            Ok(Err(_)) | Err(_) => break,
        }
    }
    shutdown.cancel();
    let (b50, b90, b99, bmax) = percentiles(baseline);
    let (p50, p90, p99, max) = percentiles(late.clone());
    println!(
        "schedules: {count} × every {every}s, {rounds} round(s); fired {} of {expected}",
        late.len()
    );
    println!(
        "  loading the scheduler: {:.0} ms",
        load_time.as_secs_f64() * 1000.0
    );
    println!(
        "  baseline (bare tokio timers): late p50 {b50:.2} ms, p90 {b90:.2} ms, p99 {b99:.2} ms, max {bmax:.2} ms"
    );
    println!(
        "  Baton scheduler (run created): late p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms"
    );
    println!(
        "  ratio p99 Baton / baseline: {:.1}×",
        if b99 > 0.0 { p99 / b99 } else { 0.0 }
    );
    println!(
        "  memory: RSS {:.1} MiB → {:.1} MiB: {:.2} KiB per schedule",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        (after.saturating_sub(before)) as f64 / 1024.0 / count as f64
    );
    if (late.len() as u64) < expected {
        eprintln!("error: {} slots did not fire", expected - late.len() as u64);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The cursor of a new schedule: just before its first slot.
fn start_ms(start: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(start)
        .map(|time| time.timestamp_millis() - 1)
        .unwrap_or(0)
}
