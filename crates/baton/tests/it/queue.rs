//! The run queue through the interfaces a user has: `workflows.max_concurrent` and a
//! workflow's `concurrency:` in baton.yaml, `baton__run_workflow` with `priority`, queued
//! runs with their position in `baton runs` and the status tools; real server-everything
//! does the steps' work.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

fn queue_project(dir: &TestDir) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!(
            r#"servers:
  everything:
    command: {}
workflows:
  max_concurrent: 1
  definitions:
    gate:
      steps:
        - {{ id: wait, approval: {{ prompt: "go?" }} }}
    work:
      inputs:
        n: {{ type: integer }}
      steps:
        - {{ id: say, tool: everything__echo, args: {{ message: "n{{{{ inputs.n }}}}" }} }}
"#,
            peer("mcp-server-everything").display()
        ),
    )
}

async fn structured(client: &Client, tool: &str, arguments: Value) -> Value {
    let result = call(client, tool, arguments).await;
    assert_ne!(result.is_error, Some(true), "{tool}: {}", text_of(&result));
    result.structured_content.expect("structured content")
}

#[tokio::test(flavor = "multi_thread")]
async fn max_concurrent_queues_runs_by_priority_with_their_positions() {
    let dir = TestDir::new();
    let config = queue_project(&dir);
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let gate = structured(
        &client,
        "baton__run_workflow",
        json!({"workflow": "gate", "wait": false}),
    )
    .await;
    assert_eq!(gate["status"], "running", "{gate}");
    let gate = gate["run"].as_str().unwrap().to_owned();
    let mut queued = Vec::new();
    for (n, priority) in [(1, 1), (2, 7), (3, 3)] {
        let started = structured(
            &client,
            "baton__run_workflow",
            json!({"workflow": "work", "inputs": {"n": n}, "wait": false, "priority": priority}),
        )
        .await;
        assert_eq!(
            started["status"], "queued",
            "the one place is taken: {started}"
        );
        queued.push((priority, started["run"].as_str().unwrap().to_owned()));
    }
    let id_of = |priority: i64| {
        queued
            .iter()
            .find(|(p, _)| *p == priority)
            .unwrap()
            .1
            .clone()
    };
    // The CLI (another process, reading the store) shows the queue's order.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let listed = loop {
        let output = run_baton(&["runs", "--json", "--config", config.to_str().unwrap()]);
        assert!(output.status.success(), "{output:?}");
        let runs: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        let positions: Vec<Option<u64>> = [7, 3, 1]
            .iter()
            .map(|p| {
                let id = id_of(*p);
                runs.iter()
                    .find(|r| r["run"] == id.as_str())
                    .and_then(|r| r["queue_position"].as_u64())
            })
            .collect();
        if positions == [Some(1), Some(2), Some(3)] {
            break runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queue positions never settled: {positions:?} {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for run in listed.iter().filter(|r| r["workflow"] == "work") {
        assert_eq!(run["status"], "queued", "{run}");
        assert_eq!(
            run["started_at"],
            Value::Null,
            "not started while queued: {run}"
        );
    }
    let table = run_baton(&["runs", "--config", config.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let line = table
        .lines()
        .find(|line| line.starts_with(&id_of(7)))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains("queued #1"), "{table}");
    let shown = structured(&client, "baton__get_run", json!({"run": id_of(1)})).await;
    assert_eq!(shown["queue_position"], 3, "{shown}");
    assert_eq!(shown["priority"], 1, "{shown}");
    let status = structured(&client, "baton__get_system_status", json!({})).await;
    assert_eq!(status["store"]["queued"], 3, "{status}");
    assert_eq!(status["store"]["max_concurrent"], 1, "{status}");
    // The gate opens: the queue drains one run at a time, by priority.
    structured(
        &client,
        "baton__approve",
        json!({"run": gate, "step": "wait"}),
    )
    .await;
    let mut records = Vec::new();
    for priority in [7, 3, 1] {
        let record = loop {
            let shown =
                structured(&client, "baton__get_run", json!({"run": id_of(priority)})).await;
            if shown["status"] != "queued" && shown["status"] != "running" {
                break shown;
            }
            assert!(
                std::time::Instant::now() < deadline + Duration::from_secs(40),
                "{shown}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(record["status"], "succeeded", "{record}");
        records.push(record);
    }
    let span = |r: &Value| {
        (
            r["started_at"].as_i64().unwrap(),
            r["finished_at"].as_i64().unwrap(),
        )
    };
    for pair in records.windows(2) {
        let ((_, first_end), (second_start, _)) = (span(&pair[0]), span(&pair[1]));
        assert!(
            first_end <= second_start,
            "one place: a run started before the one before it in the queue ended: {records:#?}"
        );
    }
    let echoed: Vec<String> = records.iter().map(|r| r["outputs"].to_string()).collect();
    assert!(echoed[0].contains("n2"), "{echoed:?}");
}

#[test]
fn validate_names_bad_queue_settings_with_their_lines() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        "workflows:\n  max_concurrent: 0\n  definitions:\n    w:\n      inputs:\n        repo: { type: string }\n      concurrency: { limit: 0 }\n      steps:\n        - { id: a, set: { x: 1 } }\n    v:\n      concurrency: { key: \"{{ steps.a.output }}\" }\n      steps:\n        - { id: a, set: { x: 1 } }\n",
    );
    let output = run_baton(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("baton.yaml:2") && stderr.contains("workflows.max_concurrent"),
        "{stderr}"
    );
    assert!(
        stderr.contains("baton.yaml:7") && stderr.contains("concurrency.limit"),
        "{stderr}"
    );
    assert!(
        stderr.contains("baton.yaml:11") && stderr.contains("can read inputs.NAME and env.NAME"),
        "{stderr}"
    );
}

/// A run's priority comes from `baton run --priority` and from a schedule's `priority`
/// (`baton schedule add --priority`), and is recorded with the run.
#[test]
fn priorities_from_the_cli_and_a_schedule_are_recorded() {
    let dir = TestDir::new();
    let config = queue_project(&dir);
    let cfg = config.to_str().unwrap();
    let ran = run_baton(&[
        "run",
        "work",
        "--input",
        "n=1",
        "--priority",
        "4",
        "--json",
        "--config",
        cfg,
    ]);
    assert!(ran.status.success(), "{ran:?}");
    let added = run_baton(&[
        "schedule",
        "add",
        "hourly",
        "--workflow",
        "work",
        "--input",
        "n=2",
        "--every",
        "1h",
        "--priority",
        "-2",
        "--config",
        cfg,
    ]);
    assert!(added.status.success(), "{added:?}");
    let triggered = run_baton(&["schedule", "trigger", "hourly", "--config", cfg]);
    assert!(triggered.status.success(), "{triggered:?}");
    let output = run_baton(&["runs", "--json", "--config", cfg]);
    let runs: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let priority_of = |origin: &str| {
        runs.iter()
            .find(|r| r["origin"].as_str().is_some_and(|o| o.starts_with(origin)))
            .unwrap_or_else(|| panic!("no run from {origin}: {runs:#?}"))["priority"]
            .clone()
    };
    assert_eq!(priority_of("cli"), 4, "{runs:#?}");
    assert_eq!(priority_of("schedule hourly"), -2, "{runs:#?}");
}
