//! Several `baton serve` workers on one real PostgreSQL: runs started through MCP are
//! executed once each and spread over the workers; a killed or frozen worker's run is
//! finished by another and its late writes are refused; a schedule fires each slot once
//! while workers die and come back; `baton store copy` moves a SQLite store over.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::common::*;

/// A project on `pg` whose workflow `quick` is two short journaled calls and `slow` a
/// chain of `slow_steps` calls of `slow_ms` each: (baton.yaml, journal).
fn project(
    dir: &TestDir,
    pg: &Pg,
    workers: &str,
    slow_steps: usize,
    slow_ms: u64,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let journal = dir.path().join("journal.tsv");
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    dir.write(
        "workflows/quick.yaml",
        "name: quick\nsteps:\n  - { id: a, tool: fault__delay, args: { ms: 20 } }\n  - { id: b, needs: [a], tool: fault__delay, args: { ms: 20 } }\n",
    );
    let mut slow = format!(
        "name: slow\nsteps:\n  - {{ id: s1, tool: fault__delay, args: {{ ms: {slow_ms} }} }}\n"
    );
    for i in 2..=slow_steps {
        slow.push_str(&format!(
            "  - {{ id: s{i}, needs: [s{}], tool: fault__delay, args: {{ ms: {slow_ms} }} }}\n",
            i - 1
        ));
    }
    dir.write("workflows/slow.yaml", &slow);
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nstore:\n  url: \"{}\"\nworkers: {workers}\n",
            fault_server(&["--journal", journal.to_str().unwrap()]),
            pg.url()
        ),
    );
    (config, journal)
}

/// (tool, idempotency key) of every call the fault upstream journaled.
fn journal(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("delay\t"))
        .filter_map(|line| line.split('\t').nth(1).map(str::to_owned))
        .collect()
}

fn count(keys: &[String], key: &str) -> usize {
    keys.iter().filter(|k| *k == key).count()
}

/// Waits (bounded) until `run` has finished; returns its record as `baton run show` gives it.
fn wait_finished(config: &std::path::Path, run: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let output = run_baton(&[
            "--config",
            config.to_str().unwrap(),
            "run",
            "show",
            run,
            "--json",
        ]);
        let shown: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        if ["succeeded", "failed", "cancelled"].contains(&shown["status"].as_str().unwrap_or("")) {
            return shown;
        }
        assert!(
            started.elapsed() < limit,
            "run {run} did not finish within {limit:?}: {shown}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) until every run of `runs` has succeeded, reading `baton runs` (the whole
/// cluster's runs).
fn wait_all_succeeded(config: &std::path::Path, runs: &[String], limit: Duration) {
    let started = Instant::now();
    let wanted: BTreeSet<&str> = runs.iter().map(String::as_str).collect();
    loop {
        let output = run_baton(&[
            "--config",
            config.to_str().unwrap(),
            "runs",
            "--json",
            "--limit",
            "1000",
        ]);
        let listed: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        let listed = listed.as_array().cloned().unwrap_or_default();
        let failed: Vec<&Value> = listed
            .iter()
            .filter(|r| wanted.contains(r["run"].as_str().unwrap_or("")))
            .filter(|r| ["failed", "cancelled"].contains(&r["status"].as_str().unwrap_or("")))
            .collect();
        assert!(failed.is_empty(), "runs did not succeed: {failed:?}");
        let done = listed
            .iter()
            .filter(|r| {
                wanted.contains(r["run"].as_str().unwrap_or("")) && r["status"] == "succeeded"
            })
            .count();
        if done == wanted.len() {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{done} of {} runs succeeded within {limit:?}",
            wanted.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The workers' ids (`host:pid:nonce`) by pid, from `baton workers --json`.
fn worker_ids(config: &std::path::Path) -> BTreeMap<u32, String> {
    let output = run_baton(&["--config", config.to_str().unwrap(), "workers", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let workers: Value = serde_json::from_slice(&output.stdout).unwrap();
    workers
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| {
            let id = w["worker"].as_str()?;
            let pid = id.split(':').nth(1)?.parse().ok()?;
            Some((pid, id.to_owned()))
        })
        .collect()
}

fn start_workers(config: &std::path::Path, n: usize) -> Vec<BatonHttp> {
    let workers: Vec<BatonHttp> = (0..n).map(|_| BatonHttp::start(config)).collect();
    // Every worker has written its first heartbeat.
    let started = Instant::now();
    while worker_ids(config).len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the workers never all appeared in `baton workers`"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    workers
}

#[test]
fn two_workers_execute_200_runs_started_through_mcp_once_each() {
    workers_execute_200_runs_once_each(2);
}

#[test]
fn three_workers_execute_200_runs_started_through_mcp_once_each() {
    workers_execute_200_runs_once_each(3);
}

/// 200 runs started through MCP on the first two of `n` workers (each taking at most 4 at
/// once): every run succeeds, each step calls the upstream once, each run completes once,
/// and more than one worker executed runs.
fn workers_execute_200_runs_once_each(n: usize) {
    let pg = Pg::new();
    let dir = TestDir::new();
    let (config, journal_path) = project(&dir, &pg, "{ max_runs: 4 }", 1, 10);
    let workers = start_workers(&config, n);
    let urls: Vec<String> = workers.iter().map(BatonHttp::mcp_url).collect();
    let runs: Vec<String> = tokio_run(async move {
        let mut clients = Vec::new();
        for url in &urls[..2] {
            clients.push(connect_http(url).await.0);
        }
        let mut runs = Vec::new();
        // 20 at a time: the two workers that get the calls fill up and leave runs to the
        // others.
        for chunk in 0..10 {
            let calls = (0..20).map(|i| {
                call(
                    &clients[(chunk + i) % 2],
                    "baton__run_workflow",
                    json!({"workflow": "quick", "wait": false}),
                )
            });
            for result in futures::future::join_all(calls).await {
                let started: Value = serde_json::from_str(&text_of(&result)).unwrap();
                runs.push(started["run"].as_str().unwrap().to_owned());
            }
        }
        runs
    });
    assert_eq!(runs.iter().collect::<BTreeSet<_>>().len(), 200);
    wait_all_succeeded(&config, &runs, Duration::from_secs(120));
    // Each step of each run called the upstream exactly once.
    let keys = journal(&journal_path);
    assert_eq!(
        keys.len(),
        400,
        "{} calls for 200 runs of 2 steps",
        keys.len()
    );
    for run in &runs {
        for step in ["a", "b"] {
            assert_eq!(count(&keys, &format!("{run}/{step}/-1")), 1, "{run}/{step}");
        }
    }
    // Each run completed once, and the runs were spread over the workers.
    let events = crate::schedules::events(&config, "run_completed");
    let mut by_run: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_worker: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        *by_run
            .entry(event["data"]["run"].as_str().unwrap().to_owned())
            .or_default() += 1;
        *by_worker
            .entry(event["data"]["worker"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(by_run.len(), 200, "{by_run:?}");
    assert!(by_run.values().all(|count| *count == 1), "{by_run:?}");
    assert_eq!(
        by_worker.len(),
        n,
        "not every worker executed runs: {by_worker:?}"
    );
    drop(workers);
}

/// Starts `slow` on the first worker (through MCP, not waiting) and waits until its
/// step `in_flight` is being called: (run id, the holder's worker id).
fn start_slow_on(
    worker: &BatonHttp,
    config: &std::path::Path,
    journal_path: &std::path::Path,
    in_flight: usize,
) -> String {
    let url = worker.mcp_url();
    let run = tokio_run(async move {
        let (client, _) = connect_http(&url).await;
        let result = call(
            &client,
            "baton__run_workflow",
            json!({"workflow": "slow", "wait": false}),
        )
        .await;
        let started: Value = serde_json::from_str(&text_of(&result)).unwrap();
        started["run"].as_str().unwrap().to_owned()
    });
    let started = Instant::now();
    while journal(journal_path).len() < in_flight {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let runs = run_baton(&["--config", config.to_str().unwrap(), "runs", "--json"]);
    let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
    let holder = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == run.as_str())
        .and_then(|r| r["held_by"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        holder.contains(&format!(":{}:", worker.proc.child.id())),
        "the run is held by {holder}, not the worker it was started on"
    );
    run
}

#[test]
fn a_killed_workers_run_is_finished_by_another_within_one_lease() {
    let pg = Pg::new();
    let dir = TestDir::new();
    let (config, journal_path) = project(&dir, &pg, "{ lease: 3s, poll: 500ms }", 5, 400);
    let mut workers = start_workers(&config, 2);
    let run = start_slow_on(&workers[0], &config, &journal_path, 2);
    // Killed right as a step starts, so that step is surely in flight (looking the run up
    // took a while, during which the step seen last may have finished).
    let seen = journal(&journal_path).len();
    let waiting = Instant::now();
    let before = loop {
        let now = journal(&journal_path);
        if now.len() > seen {
            break now;
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(30),
            "no further step started"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let killed = Instant::now();
    workers[0].proc.child.kill().unwrap();
    workers[0].proc.child.wait().unwrap();
    let shown = wait_finished(&config, &run, Duration::from_secs(30));
    // One lease (3 s) plus the steps left (at most 3 × 400 ms) plus a poll.
    assert!(
        killed.elapsed() < Duration::from_secs(3 + 2 + 1),
        "took {:?} to finish after the kill",
        killed.elapsed()
    );
    assert_eq!(shown["status"], "succeeded", "{shown}");
    let after = journal(&journal_path);
    let completed = &before[..before.len() - 1];
    for key in completed {
        assert_eq!(
            count(&after, key),
            1,
            "{key} completed before the kill and ran again"
        );
    }
    // The step in flight ran again, with the same idempotency key.
    let in_flight = before.last().unwrap();
    assert_eq!(count(&after, in_flight), 2, "{after:?}");
    for step in 1..=5 {
        assert!(
            count(&after, &format!("{run}/s{step}/-1")) >= 1,
            "s{step} never ran"
        );
    }
    let survivor = workers[1].proc.child.id();
    let events = crate::schedules::events(&config, "run_completed");
    let finished_by: Vec<&str> = events
        .iter()
        .filter(|e| e["data"]["run"] == run.as_str())
        .filter_map(|e| e["data"]["worker"].as_str())
        .collect();
    assert_eq!(finished_by.len(), 1, "{events:?}");
    assert!(
        finished_by[0].contains(&format!(":{survivor}:")),
        "{finished_by:?}"
    );
}

#[test]
fn a_frozen_workers_late_result_is_refused_by_the_fence() {
    let pg = Pg::new();
    let dir = TestDir::new();
    // s1 takes 3 s: the worker is frozen during it, past its 2 s lease.
    let (config, journal_path) = project(&dir, &pg, "{ lease: 2s, poll: 500ms }", 2, 3000);
    let workers = start_workers(&config, 2);
    let run = start_slow_on(&workers[0], &config, &journal_path, 1);
    let frozen = workers[0].proc.child.id().to_string();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &frozen])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name} {frozen}");
    };
    signal("-STOP");
    let shown = wait_finished(&config, &run, Duration::from_secs(30));
    assert_eq!(shown["status"], "succeeded", "{shown}");
    // The frozen worker wakes up with s1's answer in its pipe and tries to commit it.
    signal("-CONT");
    assert!(
        workers[0].wait_for_log("no longer owns run")
            || workers[0].wait_for_log("lost the run's lease"),
        "the frozen worker did not notice it was fenced: {}",
        workers[0].logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    let again = wait_finished(&config, &run, Duration::from_secs(5));
    // One result per step, the survivor's; the run finished once.
    let steps = again["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{again}");
    assert!(steps.iter().all(|s| s["status"] == "succeeded"), "{again}");
    assert_eq!(
        again["finished_at"], shown["finished_at"],
        "the run was finished twice"
    );
    let events = crate::schedules::events(&config, "run_completed");
    let completions = events
        .iter()
        .filter(|e| e["data"]["run"] == run.as_str())
        .count();
    assert_eq!(completions, 1, "{events:?}");
}

#[test]
fn an_every_second_schedule_fires_each_slot_once_while_workers_die_and_return() {
    let pg = Pg::new();
    let dir = TestDir::new();
    let journal_path = dir.path().join("journal.tsv");
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nstore:\n  url: \"{}\"\nworkers: {{ lease: 2s, poll: 500ms }}\nschedules:\n  tick: {{ every: 1s, tool: fault__delay, args: {{ ms: 10 }}, overlap: allow_all }}\n",
            fault_server(&["--journal", journal_path.to_str().unwrap()]),
            pg.url()
        ),
    );
    let mut workers = start_workers(&config, 3);
    std::thread::sleep(Duration::from_secs(3));
    workers[1].proc.child.kill().unwrap();
    workers[1].proc.child.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    workers[1] = BatonHttp::start(&config);
    std::thread::sleep(Duration::from_secs(4));
    for worker in &mut workers {
        worker.terminate(Duration::from_secs(15));
    }
    let slots = tokio_run({
        let url = pg.url();
        async move {
            let store = baton_store::Store::connect_postgres(&url, 1024)
                .await
                .unwrap();
            store.slots("tick", 1000).await.unwrap()
        }
    });
    let mut times: Vec<i64> = slots.iter().map(|s| s.slot).collect();
    times.sort();
    assert!(
        times.len() >= 7,
        "only {} slots in ~9 s: {slots:?}",
        times.len()
    );
    for pair in times.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1000,
            "a slot was lost between {pair:?}: {slots:?}"
        );
    }
    // Every slot but the newest (the workers were stopping while it fired) started one
    // run, which called the tool (twice only if its worker was killed during the call).
    let newest = *times.last().unwrap();
    let keys = journal(&journal_path);
    for slot in slots.iter().filter(|s| s.slot != newest) {
        assert_eq!(slot.state, "fired", "{slot:?}");
        let run = slot.run.as_deref().unwrap();
        let calls = keys
            .iter()
            .filter(|k| k.starts_with(&format!("{run}/")))
            .count();
        assert!(
            (1..=2).contains(&calls),
            "slot {} (run {run}): {calls} calls",
            slot.slot
        );
    }
}
