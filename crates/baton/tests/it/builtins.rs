//! The built-in tools for agent loops through a real MCP client (the Python SDK) against
//! `baton serve`, and the file formats they import and export, against the sample files.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// A project folder with the sample TODO.md and .roomodes, a .gitignore'd folder and a
/// symlink out of the project; a baton.yaml with server-everything, the sample modes plus
/// one delegating to everything's `echo`, and one validation command.
fn project(dir: &TestDir) -> std::path::PathBuf {
    let fixtures = repo_root().join("tests/fixtures/roo");
    for file in ["TODO.md", ".roomodes"] {
        std::fs::copy(fixtures.join(file), dir.path().join(file)).unwrap();
    }
    dir.write(".gitignore", "ignored/\n");
    std::fs::create_dir(dir.path().join("ignored")).unwrap();
    dir.write("ignored/secret.txt", "Streamable HTTP\n");
    std::os::unix::fs::symlink("/etc", dir.path().join("outside")).unwrap();
    dir.write(
        "baton.yaml",
        &format!(
            r#"servers:
  everything:
    command: {}
modes:
  import: .roomodes
  definitions:
    echoer:
      name: Echoer
      role_definition: You echo what you are told.
      groups: [read]
      executor: {{ tool: everything__echo, prompt_argument: message }}
validation:
  commands:
    hello: {{ run: "echo hi; echo err >&2; exit 3", timeout: 10s }}
memory:
  memories:
    tiny: {{ max_lines: 12 }}
"#,
            peer("mcp-server-everything").display()
        ),
    )
}

#[test]
fn every_builtin_tool_through_the_python_sdk() {
    let dir = TestDir::new();
    let config = project(&dir);
    let baton = BatonHttp::start(&config);
    let output = Command::new(peer("python"))
        .arg(repo_root().join("tests/clients/builtin_tools.py"))
        .args(["--url", &baton.mcp_url()])
        .output()
        .expect("run the Python client");
    assert!(
        output.status.success(),
        "the Python client's checks failed:\n{}\n{}\nbaton:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        baton.logs()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no summary: {stdout}"));
    assert_eq!(summary["race_entries"], 90, "{summary}");
    // Delegations are runs like any other.
    let runs = run_baton(&["runs", "--json", "--config", config.to_str().unwrap()]);
    let runs: Value = serde_json::from_slice(&runs.stdout).unwrap();
    for key in ["echo_run", "sampling_run"] {
        let run = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["run"] == summary[key])
            .unwrap_or_else(|| panic!("{key} not in baton runs: {runs}"));
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(
            run["origin"]
                .as_str()
                .unwrap()
                .starts_with("delegate_task to mode")
        );
    }
    // Nothing was written outside the project.
    assert!(!dir.path().parent().unwrap().join("x.txt").exists());
}

#[test]
fn timing_and_memory_files_round_trip_through_the_cli() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "");
    let cfg = config.to_str().unwrap();
    let fixtures = repo_root().join("tests/fixtures/roo");

    let tsv = fixtures.join("task_timing.tsv");
    let imported = run_baton(&["timing", "import", tsv.to_str().unwrap(), "--config", cfg]);
    assert!(imported.status.success(), "{imported:?}");
    let report: Value = serde_json::from_slice(&imported.stdout).unwrap();
    assert_eq!(report["imported"], 2, "{report}");
    let again = run_baton(&["timing", "import", tsv.to_str().unwrap(), "--config", cfg]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (again["imported"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    let exported = run_baton(&["timing", "export", "--config", cfg]);
    let rows = |text: &str| {
        let mut rows: Vec<String> = text.lines().map(|l| l.trim_end().to_owned()).collect();
        rows.sort();
        rows
    };
    assert_eq!(
        rows(&String::from_utf8_lossy(&exported.stdout)),
        rows(&std::fs::read_to_string(&tsv).unwrap()),
        "task_timing.tsv round trip"
    );

    let markdown = fixtures.join("persistent-memory.md");
    let imported = run_baton(&[
        "memory",
        "import",
        markdown.to_str().unwrap(),
        "--config",
        cfg,
    ]);
    assert!(imported.status.success(), "{imported:?}");
    let out = dir.path().join("exported.md");
    let exported = run_baton(&[
        "memory",
        "export",
        "-o",
        out.to_str().unwrap(),
        "--config",
        cfg,
    ]);
    assert!(exported.status.success(), "{exported:?}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim_end(),
        std::fs::read_to_string(&markdown).unwrap().trim_end(),
        "persistent memory round trip"
    );

    let bad = dir.write("bad.tsv", "timestamp\tmode\n2025-11-01T04:50:00Z\n");
    let refused = run_baton(&["timing", "import", bad.to_str().unwrap(), "--config", cfg]);
    assert_ne!(refused.status.code(), Some(0), "{refused:?}");
}

#[test]
fn a_schedule_runs_a_mode_task_end_to_end() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            r#"servers:
  everything:
    command: {}
modes:
  definitions:
    echoer:
      role_definition: You echo what you are told.
      groups: [read]
      executor: {{ tool: everything__echo, prompt_argument: message }}
schedules:
  loop:
    every: 1s
    mode: echoer
    task: Review open work
"#,
            peer("mcp-server-everything").display()
        ),
    );
    let cfg = config.to_str().unwrap();
    let _baton = BatonHttp::start(&config);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let delegated = loop {
        let runs = run_baton(&["runs", "--json", "--config", cfg]);
        let runs: Value = serde_json::from_slice(&runs.stdout).unwrap_or(Value::Null);
        let found = runs.as_array().into_iter().flatten().find(|run| {
            run["origin"]
                .as_str()
                .is_some_and(|o| o.starts_with("delegate_task to mode echoer"))
                && run["status"] == "succeeded"
        });
        if let Some(run) = found {
            break run.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delegated run: {runs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let output = delegated["outputs"].to_string();
    assert!(
        output.contains("You echo what you are told.") && output.contains("Review open work"),
        "{delegated}"
    );
    let listed = run_baton(&["schedule", "list", "--json", "--config", cfg]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["schedules"][0]["target"], "mode echoer");
    // Scheduled runs and delegations record their time by themselves.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let timing = run_baton(&["timing", "show", "--json", "--config", cfg]);
        let timing: Value = serde_json::from_slice(&timing.stdout).unwrap_or(Value::Null);
        let sources: Vec<&str> = timing["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["source"].as_str())
            .collect();
        if sources.contains(&"schedule") && sources.contains(&"delegation") {
            let entry = timing["entries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["source"] == "schedule")
                .unwrap();
            assert_eq!(entry["priority"], "schedule", "{entry}");
            assert!(entry["duration_ms"].is_number(), "{entry}");
            // Steps too: the scheduled run's one step, `call`.
            let steps: Vec<&Value> = timing["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| {
                    e["task_id"]
                        .as_str()
                        .is_some_and(|id| id.ends_with("/call"))
                })
                .collect();
            if steps.is_empty() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no step entries: {timing}"
                );
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
            assert_eq!(steps[0]["source"], "schedule", "{timing}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no timing entries: {timing}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
