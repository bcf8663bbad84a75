//! Workflows from the command line: `baton validate` checks them with the config (every
//! error, with positions), `baton graph` draws them.

use std::time::{Duration, Instant};

use crate::common::*;

fn project(dir: &TestDir, workflow: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    dir.write("workflows/report.yaml", workflow);
    dir.write(
        "baton.yaml",
        "servers:\n  git:\n    command: mcp-server-git\n  fs:\n    command: mcp-server-filesystem\n",
    )
}

const REPORT: &str = r#"
name: report
description: Status and log of a repository
inputs:
  repo: { type: string }
steps:
  - id: status
    tool: git__git_status
    args: { repo_path: "{{ inputs.repo }}" }
  - id: log
    tool: git__git_log
    args: { repo_path: "{{ inputs.repo }}" }
  - id: save
    tool: fs__write_file
    args:
      path: "{{ inputs.repo }}/REPORT.md"
      content: "{{ steps.status.output }}\n{{ steps.log.output }}"
"#;

#[test]
fn validate_checks_the_workflows_folder_and_graph_draws_it() {
    let dir = TestDir::new();
    let config = project(&dir, REPORT);
    let config = config.to_str().unwrap();
    let output = run_baton(&["validate", config]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("2 servers, 1 workflow"), "{stdout}");

    let output = run_baton(&["--config", config, "graph", "report"]);
    let mermaid = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(mermaid.starts_with("flowchart TD"), "{mermaid}");
    assert!(mermaid.contains("status --> save"), "{mermaid}");
    assert!(mermaid.contains("log --> save"), "{mermaid}");

    let output = run_baton(&["--config", config, "graph", "report", "--format", "dot"]);
    let dot = String::from_utf8_lossy(&output.stdout);
    assert!(dot.contains("\"log\" -> \"save\";"), "{dot}");

    let output = run_baton(&["--config", config, "graph", "nothing"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no workflow \"nothing\" (known: report"),
        "{stderr}"
    );
}

#[test]
fn a_broken_workflow_file_fails_validation_with_every_error() {
    let dir = TestDir::new();
    let config = project(
        &dir,
        "name: report\nsteps:\n  - id: a\n    tool: nowhere__x\n  - id: b\n    needs: [a, missing]\n    set: { v: \"{{ steps.zz.output }}\" }\n",
    );
    let output = run_baton(&["validate", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("report.yaml:4:11: steps[0].tool: no server \"nowhere\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("report.yaml:6:16: steps[1].needs: unknown step \"missing\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("template reads unknown step \"zz\""),
        "{stderr}"
    );

    // One workflow file can be checked on its own, against the config.
    let file = dir.path().join("workflows/report.yaml");
    let output = run_baton(&[
        "--config",
        config.to_str().unwrap(),
        "validate",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown step \"missing\""));
}

fn everything_project(dir: &TestDir, workflow: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    dir.write("workflows/flow.yaml", workflow);
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n",
            peer("mcp-server-everything").display()
        ),
    )
}

const HELLO: &str = r#"
name: hello
inputs:
  who: { type: string }
  times: { type: integer, default: 2 }
outputs:
  text: "{{ steps.join.output.text }}"
steps:
  - id: one
    tool: everything__echo
    args: { message: "hello {{ inputs.who }}" }
  - id: many
    for_each: "{{ range(inputs.times) | list }}"
    tool: everything__echo
    args: { message: "n{{ item }}" }
  - id: join
    set: { text: "{{ steps.one.output }} {{ steps.many.output | join(',') }}" }
"#;

#[test]
fn baton_run_executes_a_workflow_against_a_real_server() {
    let dir = TestDir::new();
    let config = everything_project(&dir, HELLO);
    let config = config.to_str().unwrap();
    let output = run_baton(&[
        "--config", config, "run", "hello", "--input", "who=ana", "--input", "times=3", "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(
        run["outputs"]["text"],
        "Echo: hello ana Echo: n0,Echo: n1,Echo: n2"
    );
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert!(
        steps
            .iter()
            .all(|s| s["attempts"] == 1 && s["duration_ms"].is_i64()),
        "{run}"
    );
    assert!(
        dir.path().join(".baton/baton.db").exists(),
        "the store is next to baton.yaml"
    );

    let id = run["run"].as_str().unwrap();
    let output = run_baton(&["--config", config, "runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(runs[0]["run"], id);
    let output = run_baton(&["--config", config, "run", "show", id]);
    let shown = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("succeeded") && shown.contains("many"),
        "{shown}"
    );

    // A bad input is refused before anything runs.
    let output = run_baton(&["--config", config, "run", "hello", "--input", "times=x"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--input times: \"x\" is not a valid integer"),
        "{stderr}"
    );
    assert!(stderr.contains("input \"who\" is required"), "{stderr}");
}

#[test]
fn a_failing_step_fails_the_run_with_exit_code_1() {
    let dir = TestDir::new();
    let config = everything_project(
        &dir,
        "name: broken\nsteps:\n  - { id: call, tool: everything__no_such_tool, args: {} }\n  - { id: later, needs: [call], set: { x: 1 } }\n",
    );
    let output = run_baton(&["--config", config.to_str().unwrap(), "run", "broken"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("run ") && stderr.contains("failed"),
        "{stderr}"
    );
    assert!(stderr.contains("step \"call\" failed"), "{stderr}");
    assert!(stderr.contains("no_such_tool"), "{stderr}");
}

/// Workflows are MCP tools: listed with their input schema, run with progress
/// notifications, and their runs visible through the built-in tools.
#[tokio::test(flavor = "multi_thread")]
async fn workflows_are_mcp_tools_with_progress() {
    let dir = TestDir::new();
    let config = everything_project(&dir, HELLO);
    let baton = BatonHttp::start(&config);
    let (client, mut notes) = connect_http(&baton.mcp_url()).await;
    let tools = client.peer().list_all_tools().await.unwrap();
    let tool = tools
        .iter()
        .find(|t| t.name == "workflow__hello")
        .expect("workflow__hello is listed");
    assert_eq!(tool.input_schema["required"], serde_json::json!(["who"]));
    for name in [
        "baton__run_workflow",
        "baton__get_run",
        "baton__list_runs",
        "baton__cancel_run",
        "baton__approve",
    ] {
        assert!(tools.iter().any(|t| t.name == name), "{name} is listed");
    }
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("workflow__hello");
    params.arguments = serde_json::json!({"who": "mcp"}).as_object().cloned();
    params.meta = Some(
        baton_mcp::rmcp::model::RequestMetaObject::with_progress_token(
            baton_mcp::rmcp::model::ProgressToken(baton_mcp::rmcp::model::NumberOrString::String(
                "wf".into(),
            )),
        ),
    );
    let result = client.peer().call_tool(params).await.unwrap();
    let structured = result.structured_content.clone().unwrap();
    assert_eq!(structured["status"], "succeeded", "{structured}");
    assert_eq!(
        structured["outputs"]["text"],
        "Echo: hello mcp Echo: n0,Echo: n1"
    );
    // (rmcp's client puts its own progress token on the request.)
    let progress = |seen: &[String]| seen.iter().filter(|n| n.starts_with("progress:")).count();
    let seen = collect_until(&mut notes, Duration::from_secs(5), |seen| {
        progress(seen) >= 3
    })
    .await;
    assert!(
        progress(&seen) >= 3,
        "one progress notification per step: {seen:?}"
    );
    let runs = call(&client, "baton__list_runs", serde_json::json!({})).await;
    let runs = runs.structured_content.unwrap();
    assert_eq!(runs["runs"][0]["run"], structured["run"]);
    let shown = call(
        &client,
        "baton__get_run",
        serde_json::json!({"run": structured["run"]}),
    )
    .await;
    assert_eq!(
        shown.structured_content.unwrap()["steps"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// SIGKILL Baton in the middle of a run, at different points; resumed (by `baton resume`,
/// and by `baton serve` at start), the run completes and every step that had completed
/// ran exactly once; the step in flight ran again with the same idempotency key.
#[test]
fn a_run_survives_sigkill_without_repeating_completed_steps() {
    let backends = each_backend();
    let cases = [(1usize, false), (3, true), (4, false)];
    for ((kill_after, resume_with_serve), (store, _)) in cases
        .into_iter()
        .flat_map(|case| backends.iter().map(move |backend| (case, backend)))
    {
        let dir = TestDir::new();
        let (config, journal) = slow_project_on(&dir, 5, 400, store);
        let config = config.to_str().unwrap();
        let mut baton = std::process::Command::new(baton_bin())
            .args(["--config", config, "run", "slow", "--json"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until `kill_after` steps have started and the next one is in flight.
        let started = Instant::now();
        while journal_lines(&journal).len() <= kill_after {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the run never got going"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        baton.kill().unwrap();
        baton.wait().unwrap();
        let before = journal_lines(&journal);

        let runs = run_baton(&["--config", config, "runs", "--json"]);
        let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
        let id = runs[0]["run"].as_str().unwrap().to_owned();
        assert_eq!(runs[0]["status"], "running", "killed mid-run: {runs}");
        let shown = run_baton(&["--config", config, "run", "show", &id, "--json"]);
        let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        let completed: Vec<String> = shown["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["status"] == "succeeded")
            .map(|s| s["step"].as_str().unwrap().to_owned())
            .collect();

        if resume_with_serve {
            let _serve = BatonHttp::start(std::path::Path::new(config));
            let started = Instant::now();
            loop {
                let runs = run_baton(&["--config", config, "runs", "--json"]);
                let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
                if runs[0]["status"] == "succeeded" {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "serve did not finish the run: {runs}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        } else {
            let output = run_baton(&["--config", config, "resume", &id, "--json"]);
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let run: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(run["status"], "succeeded", "{run}");
        }

        let after = journal_lines(&journal);
        let keys: Vec<&str> = after
            .iter()
            .map(|line| line.split('\t').nth(1).unwrap())
            .collect();
        for step in ["s1", "s2", "s3", "s4", "s5"] {
            let key = format!("{id}/{step}/-1");
            let count = keys.iter().filter(|k| **k == key).count();
            if completed.iter().any(|c| c == step) {
                assert_eq!(
                    count, 1,
                    "{step} completed before the kill and ran again: {after:?}"
                );
            } else {
                assert!(count >= 1, "{step} never ran: {after:?}");
            }
        }
        // The step in flight at the kill was attempted again with the same key.
        let in_flight = before
            .last()
            .unwrap()
            .split('\t')
            .nth(1)
            .unwrap()
            .to_owned();
        assert_eq!(
            keys.iter().filter(|k| **k == in_flight).count(),
            2,
            "kill after {kill_after}: {after:?}"
        );
    }
}

/// A project whose workflow `slow` is a chain of `steps` calls of `fault__delay` (`ms` each)
/// on the fault upstream, which journals every call: (baton.yaml, journal).
fn slow_project(dir: &TestDir, steps: usize, ms: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    slow_project_on(dir, steps, ms, "")
}

/// [`slow_project`] with `store` (a `store:` section, or nothing for SQLite).
fn slow_project_on(
    dir: &TestDir,
    steps: usize,
    ms: u64,
    store: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let journal = dir.path().join("journal.tsv");
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    let mut workflow =
        format!("name: slow\nsteps:\n  - {{ id: s1, tool: fault__delay, args: {{ ms: {ms} }} }}\n");
    for i in 2..=steps {
        workflow.push_str(&format!(
            "  - {{ id: s{i}, needs: [s{}], tool: fault__delay, args: {{ ms: {ms} }} }}\n",
            i - 1
        ));
    }
    dir.write("workflows/slow.yaml", &workflow);
    let config = dir.write(
        "baton.yaml",
        &format!(
            "{store}servers:\n  fault:\n    {}\n",
            fault_server(&["--journal", journal.to_str().unwrap()])
        ),
    );
    (config, journal)
}

fn journal_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("delay\t"))
        .map(str::to_owned)
        .collect()
}

/// The examples run for real: the built-in one with no server, the reference-servers one
/// on a fresh git repository (report written through the filesystem server, remembered in
/// the memory server), and the seed's phase example with parallel branches.
#[test]
fn the_example_workflows_run_for_real() {
    let dir = TestDir::new();
    let repo = git_repo(dir.path());
    let out = dir.path().join("report.md");
    let memory = dir.path().join("memory.jsonl");
    let run = |args: &[&str]| {
        std::process::Command::new(baton_bin())
            .args(["--config", "examples/orchestration/baton.yaml"])
            .args(args)
            .current_dir(repo_root())
            .env("BATON_FILES_ROOT", dir.path())
            .env("BATON_MEMORY_FILE", &memory)
            .env("BATON_STORE", dir.path().join("state/baton.db"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let health = run(&["run", "health", "--json"]);
    assert!(
        dir.path().join("state/baton.db").exists(),
        "the store goes where store.path says"
    );
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );

    let report = run(&[
        "run",
        "repo-report",
        "--input",
        &format!("repo={}", repo.display()),
        "--input",
        &format!("out={}", out.display()),
        "--json",
    ]);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("## Recent commits") && text.contains("Commit:"),
        "{text}"
    );
    let remembered = std::fs::read_to_string(&memory).unwrap();
    assert!(remembered.contains("repo-report"), "{remembered}");

    let notes = format!("notes={}", dir.path().display());
    let decision = run(&["run", "technology-decision", "--input", &notes, "--json"]);
    assert!(
        decision.status.success(),
        "{}",
        String::from_utf8_lossy(&decision.stderr)
    );
    let run_json: serde_json::Value = serde_json::from_slice(&decision.stdout).unwrap();
    assert_eq!(
        run_json["steps"].as_array().unwrap().len(),
        12,
        "{run_json}"
    );
    for branch in ["technical_capabilities", "market_trends", "risk_assessment"] {
        let note = std::fs::read_to_string(dir.path().join(format!("{branch}.md"))).unwrap();
        assert!(
            note.contains("Topic: a database for the event store"),
            "{note}"
        );
    }
    let remembered = std::fs::read_to_string(&memory).unwrap();
    for entity in [
        "Data synthesis",
        "Implementation planning",
        "Sensitivity analysis",
    ] {
        assert!(
            remembered.contains(entity),
            "{entity} missing: {remembered}"
        );
    }

    // The seed's phases of mode tasks, delegated: server-everything's echo stands in for
    // the agent, so each answer is the prompt it received — the mode's role, the task, and
    // the answers of the phase it builds on.
    let plan = run(&["run", "full-stack-development", "--json"]);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 18, "{plan}");
    let answer = |step: &str| {
        steps.iter().find(|s| s["step"] == step).unwrap()["output"]["output"]
            .as_str()
            .unwrap_or_else(|| panic!("no answer for {step}: {plan}"))
            .to_owned()
    };
    let design = answer("design_phase_1");
    assert!(design.contains("You design systems"), "{design}");
    assert!(
        design.contains("Task:\nSystem architecture design"),
        "{design}"
    );
    // The research phase runs in order: its last task's answer is the design's context.
    assert!(design.contains("## research_phase_3"), "{design}");
    assert!(design.contains("Performance benchmarking"), "{design}");
    // The run's outputs are the last task's answer, whole (`--json` shortens long step
    // outputs): its context holds the chain back to the research phase, and a parallel
    // phase's three answers where the phase after it builds on them.
    let last = plan["outputs"]["output"].as_str().unwrap_or_default();
    assert!(last.contains("Task:\nResource optimization"), "{last}");
    for earlier in [
        "## review_phase_3",
        "## testing_phase_1",
        "## implementation_phase_1",
        "## implementation_phase_2",
        "## implementation_phase_3",
        "## design_phase_3",
        "## research_phase_3",
    ] {
        assert!(last.contains(earlier), "{earlier} missing from the context");
    }
}

/// A host that approves every approval step it is asked about (MCP elicitation).
#[derive(Clone)]
struct ApprovingHost;

impl baton_mcp::rmcp::ClientHandler for ApprovingHost {
    fn get_info(&self) -> baton_mcp::rmcp::model::ClientConfig {
        let mut capabilities = baton_mcp::rmcp::model::ClientCapabilities::default();
        capabilities.elicitation = Some(Default::default());
        baton_mcp::rmcp::model::ClientConfig::new(
            capabilities,
            baton_mcp::rmcp::model::Implementation::new("approving-host", "0"),
        )
    }

    async fn create_elicitation(
        &self,
        request: baton_mcp::rmcp::model::ElicitRequestParams,
        _context: baton_mcp::rmcp::service::RequestContext<baton_mcp::rmcp::RoleClient>,
    ) -> Result<baton_mcp::rmcp::model::ElicitResult, baton_mcp::rmcp::ErrorData> {
        let message = elicitation_message(request);
        assert!(message.contains("Deploy?"), "{message}");
        Ok(accepted(
            serde_json::json!({"approve": true, "comment": "lgtm"}),
        ))
    }
}

/// An approval step of a run started over MCP is put to the client as an elicitation
/// request; its answer is recorded (who, comment) and the run goes on.
#[tokio::test(flavor = "multi_thread")]
async fn approvals_are_asked_of_the_client_that_started_the_run() {
    use baton_mcp::rmcp::ServiceExt;
    let dir = TestDir::new();
    let config = everything_project(
        &dir,
        "name: gated\nsteps:\n  - { id: gate, approval: { prompt: \"Deploy?\" } }\n  - { id: after, needs: [gate], set: { by: \"{{ steps.gate.output.by }}\", comment: \"{{ steps.gate.output.comment }}\" } }\n",
    );
    let baton = BatonHttp::start(&config);
    let client = ApprovingHost
        .serve(baton_mcp::rmcp::transport::StreamableHttpClientTransport::from_uri(baton.mcp_url()))
        .await
        .expect("connect");
    let params = baton_mcp::rmcp::model::CallToolRequestParams::new("workflow__gated");
    let result = tokio::time::timeout(Duration::from_secs(30), client.peer().call_tool(params))
        .await
        .expect("the run finished")
        .expect("tools/call");
    let structured = result.structured_content.unwrap();
    assert_eq!(structured["status"], "succeeded", "{structured}");
    assert_eq!(
        structured["outputs"],
        serde_json::json!({"by": "approving-host", "comment": "lgtm"})
    );
}

/// `baton approve` and `baton cancel` from another process reach a run that waits.
#[test]
fn approve_and_cancel_from_another_process() {
    let dir = TestDir::new();
    let config = everything_project(
        &dir,
        "name: gated\nsteps:\n  - { id: gate, approval: { prompt: \"Deploy?\" } }\n  - { id: after, needs: [gate], set: { by: \"{{ steps.gate.output.by }}\" } }\n",
    );
    let config = config.to_str().unwrap();
    let start = || {
        std::process::Command::new(baton_bin())
            .args(["--config", config, "run", "gated", "--json"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let waiting_run = |skip: &[String]| -> String {
        let started = Instant::now();
        loop {
            let runs = run_baton(&["--config", config, "runs", "--json"]);
            let runs: serde_json::Value =
                serde_json::from_slice(&runs.stdout).unwrap_or(serde_json::Value::Null);
            if let Some(run) = runs.as_array().and_then(|runs| {
                runs.iter().find(|r| {
                    r["status"] == "running" && !skip.iter().any(|s| r["run"] == s.as_str())
                })
            }) {
                let id = run["run"].as_str().unwrap().to_owned();
                let shown = run_baton(&["--config", config, "run", "show", &id, "--json"]);
                let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
                if shown["steps"][0]["status"] == "waiting" {
                    return id;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no waiting run"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    let child = start();
    let id = waiting_run(&[]);
    let approved = run_baton(&["--config", config, "approve", &id, "gate", "--by", "ana"]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(run["outputs"], serde_json::json!({"by": "ana"}));

    let child = start();
    let second = waiting_run(&[id]);
    let cancelled = run_baton(&["--config", config, "cancel", &second]);
    assert!(
        cancelled.status.success(),
        "{}",
        String::from_utf8_lossy(&cancelled.stderr)
    );
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "a cancelled run is not a success"
    );
    let shown = run_baton(&["--config", config, "run", "show", &second, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["status"], "cancelled");
}

/// Ctrl-C leaves a resumable run and says how to resume it; `baton resume` finishes it.
#[test]
fn ctrl_c_leaves_a_resumable_run() {
    let dir = TestDir::new();
    let (config, journal) = slow_project(&dir, 3, 300);
    let config = config.to_str().unwrap();
    let baton = std::process::Command::new(baton_bin())
        .args(["--config", config, "run", "slow"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while journal_lines(&journal).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &baton.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = baton.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let id = stderr
        .split("interrupted: run ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in: {stderr}"))
        .to_owned();
    assert!(stderr.contains(&format!("baton resume {id}")), "{stderr}");
    let resumed = run_baton(&["--config", config, "resume", &id, "--json"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
}

/// `baton validate --connect` checks each tool a step calls against the live catalog.
#[test]
fn validate_connect_finds_tools_no_server_lists() {
    let dir = TestDir::new();
    let config = everything_project(
        &dir,
        "name: typo\nsteps:\n  - { id: a, tool: everything__echo, args: { message: hi } }\n  - { id: b, tool: everything__ecko, args: { message: hi } }\n",
    );
    let output = run_baton(&["validate", "--connect", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("workflow \"typo\" step \"b\" calls unknown tool \"everything__ecko\""),
        "{stderr}"
    );
    assert!(!stderr.contains("step \"a\""), "{stderr}");
}

/// `baton retry` runs a failed run again from its failed step: the steps that succeeded
/// keep their results and do not run again.
#[test]
fn baton_retry_continues_from_the_failed_step() {
    let dir = TestDir::new();
    let (config, journal) = slow_project(&dir, 1, 1);
    let flag = dir.path().join("ready.flag");
    dir.write(
        "workflows/gate.yaml",
        &format!(
            "name: gate\nsteps:\n  - {{ id: first, tool: fault__delay, args: {{ ms: 1 }} }}\n  - {{ id: check, needs: [first], tool: fault__needs_file, args: {{ path: \"{}\" }} }}\n",
            flag.display()
        ),
    );
    let config = config.to_str().unwrap();
    let failed = run_baton(&["--config", config, "run", "gate", "--json"]);
    assert_eq!(failed.status.code(), Some(1));
    let run: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(run["status"], "failed", "{run}");
    let id = run["run"].as_str().unwrap().to_owned();

    std::fs::write(&flag, "ok").unwrap();
    let retried = run_baton(&["--config", config, "retry", &id, "--json"]);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&retried.stdout).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["outputs"], "found");
    assert_eq!(
        journal_lines(&journal).len(),
        1,
        "the step that had succeeded did not run again"
    );
}
