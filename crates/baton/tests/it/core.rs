//! The application core: one catalog for one-shot commands and `serve`, the schedule tools
//! on a fresh configuration, every upstream request through the one `forward` path (a hung
//! `completion/complete` times out), typed tool errors (one retry layer), and a graceful
//! shutdown that releases run leases and stops upstream process groups.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use baton_mcp::rmcp::model::{ArgumentInfo, CompleteRequestParams, PromptReference, Reference};
use serde_json::{Value, json};

use crate::common::*;

fn cli_tool_names(config: &std::path::Path) -> BTreeSet<String> {
    let output = run_baton(&["tools", "--json", "--config", config.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let tools: Vec<Value> = serde_json::from_slice(&output.stdout).expect("tools --json");
    tools
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect()
}

fn structured(result: &baton_mcp::rmcp::model::CallToolResult) -> Value {
    result
        .structured_content
        .clone()
        .unwrap_or_else(|| serde_json::from_str(&text_of(result)).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_and_serve_list_the_same_catalog_with_the_schedule_tools() {
    let dir = TestDir::new();
    let empty = dir.write("empty.yaml", "servers: {}\n");
    let busy = dir.write(
        "busy.yaml",
        &format!(
            "servers:\n  fault:\n    command: {}\n\
             workflows:\n  definitions:\n    hello:\n      steps:\n        - {{ id: s, set: {{ x: 1 }} }}\n",
            fault_upstream().display()
        ),
    );
    for config in [&empty, &busy] {
        let listed = cli_tool_names(config);
        let baton = BatonHttp::start(config);
        let (client, _) = connect_http(&baton.mcp_url()).await;
        let served: BTreeSet<String> = tool_names(&client).await.into_iter().collect();
        assert_eq!(listed, served, "{}", config.display());
        for name in ["baton__get_schedule_status", "baton__manage_schedules"] {
            assert!(served.contains(name), "{name} in {served:?}");
        }
        client.cancel().await.ok();
    }
    assert!(cli_tool_names(&busy).contains("workflow__hello"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_created_over_mcp_on_a_fresh_config_fires() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "servers: {}\n");
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let added = call(
        &client,
        "baton__manage_schedules",
        json!({"action": "add", "name": "tick", "schedule": {"every": "1s", "tool": "baton__status"}}),
    )
    .await;
    assert_ne!(added.is_error, Some(true), "{}", text_of(&added));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = structured(&call(&client, "baton__list_runs", json!({})).await);
        let fired = runs["runs"].as_array().into_iter().flatten().any(|run| {
            run["origin"]
                .as_str()
                .is_some_and(|origin| origin.starts_with("schedule tick"))
                && run["status"] == "succeeded"
        });
        if fired {
            break;
        }
        assert!(Instant::now() < deadline, "never fired: {runs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_completion_answers_a_timeout_naming_the_server() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  slow:\n    command: {}\n    resilience: {{ timeout: 1s, max_timeout: 2s, retry: {{ attempts: 1 }} }}\n",
            fault_upstream().display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let prompts = client
        .peer()
        .list_all_prompts()
        .await
        .expect("prompts/list");
    let greet = prompts
        .iter()
        .find(|prompt| prompt.name.ends_with("greet"))
        .unwrap_or_else(|| panic!("no greet prompt in {prompts:?}"));
    let params = CompleteRequestParams::new(
        Reference::Prompt(PromptReference::new(greet.name.clone())),
        ArgumentInfo::new("name", "a"),
    );
    let started = Instant::now();
    let error = client
        .peer()
        .complete(params)
        .await
        .expect_err("a hung completion must fail");
    let elapsed = started.elapsed();
    let message = error.to_string();
    assert!(
        message.contains("server \"slow\" did not answer within"),
        "{message}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    // The upstream was told to stop (notifications/cancelled).
    assert!(
        baton.wait_for_log("complete: cancelled by the client"),
        "{}",
        baton.logs()
    );
    client.cancel().await.ok();
}

/// Lines of the fault server's journal for `tool`.
fn journal_calls(journal: &std::path::Path, tool: &str) -> usize {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.split('\t').next() == Some(tool))
        .count()
}

fn run_json(config: &std::path::Path, workflow: &str) -> Value {
    let output = run_baton(&[
        "run",
        workflow,
        "--json",
        "--config",
        config.to_str().unwrap(),
    ]);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("baton run {workflow} --json: {output:?}"))
}

#[test]
fn a_permanent_error_is_not_retried_and_a_transient_one_by_one_layer_only() {
    let dir = TestDir::new();
    let journal = dir.path().join("journal.tsv");
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    command: {}\n    args: [--journal, {}]\n    resilience: {{ timeout: 300ms, max_timeout: 5s, retry: {{ attempts: 3, initial_delay: 10ms }} }}\n\
             workflows:\n  definitions:\n\
             \x20   typo:\n      steps:\n        - {{ id: s, tool: fault__ecko, retry: {{ max_attempts: 4, initial: 10ms }} }}\n\
             \x20   own:\n      steps:\n        - {{ id: s, tool: fault__delay, args: {{ ms: 5000 }}, retry: {{ max_attempts: 2, initial: 10ms }} }}\n\
             \x20   gateway:\n      steps:\n        - {{ id: s, tool: fault__delay, args: {{ ms: 5000 }} }}\n",
            fault_upstream().display(),
            journal.display()
        ),
    );
    let typo = run_json(&config, "typo");
    assert_eq!(typo["status"], "failed", "{typo}");
    let error = typo["error"].as_str().unwrap();
    assert!(
        error.contains("unknown tool \"fault__ecko\"")
            && error.contains("(after 1 attempt; a permanent error is not retried)"),
        "{error}"
    );
    assert_eq!(typo["steps"][0]["attempts"], 1, "{typo}");

    // The step's own policy retries (2 attempts); the gateway makes one call per attempt.
    let own = run_json(&config, "own");
    assert_eq!(own["status"], "failed", "{own}");
    assert_eq!(own["steps"][0]["attempts"], 2, "{own}");
    assert_eq!(journal_calls(&journal, "delay"), 2, "not 2 x 3");

    // No step policy: the gateway's retry (3 attempts of a read-only tool) is the one layer.
    let gateway = run_json(&config, "gateway");
    assert_eq!(gateway["status"], "failed", "{gateway}");
    assert_eq!(gateway["steps"][0]["attempts"], 1, "{gateway}");
    assert_eq!(journal_calls(&journal, "delay"), 2 + 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_runs_releasing_leases_and_stops_upstream_process_groups() {
    let dir = TestDir::new();
    let journal = dir.path().join("journal.tsv");
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    command: {}\n    args: [--journal, {}]\n\
             workflows:\n  definitions:\n    long:\n      steps:\n        - {{ id: wait, tool: fault__hang }}\n",
            fault_upstream().display(),
            journal.display()
        ),
    );
    let mut baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let whoami = text_of(&call(&client, "fault__whoami", json!({})).await);
    let upstream_pid: i32 = whoami.split_whitespace().nth(1).unwrap().parse().unwrap();
    let started = structured(
        &call(
            &client,
            "baton__run_workflow",
            json!({"workflow": "long", "wait": false}),
        )
        .await,
    );
    let run = started["run"].as_str().expect("run id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while journal_calls(&journal, "hang") == 0 {
        assert!(Instant::now() < deadline, "the step never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = structured(&call(&client, "baton__get_run", json!({"run": run})).await);
    assert!(held["held_by"].is_string(), "{held}");
    client.cancel().await.ok();

    let stopping = Instant::now();
    let status = baton.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}: {}", baton.logs());
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "{:?}",
        stopping.elapsed()
    );
    // The upstream's process group is gone.
    let gone = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{upstream_pid}")).exists() {
        assert!(Instant::now() < gone, "upstream {upstream_pid} still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The run is unfinished and nobody holds it: the next Baton resumes it at once.
    let output = run_baton(&[
        "run",
        "show",
        &run,
        "--json",
        "--config",
        config.to_str().unwrap(),
    ]);
    let shown: Value = serde_json::from_slice(&output.stdout).expect("run show --json");
    assert_eq!(shown["status"], "running", "{shown}");
    assert_eq!(shown["held_by"], Value::Null, "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_call_in_flight_finish() {
    let dir = TestDir::new();
    let journal = dir.path().join("journal.tsv");
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    command: {}\n    args: [--journal, {}]\n",
            fault_upstream().display(),
            journal.display()
        ),
    );
    let mut baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let peer = client.peer().clone();
    let call = tokio::spawn(async move {
        let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__delay");
        params.arguments = json!({"ms": 1500}).as_object().cloned();
        peer.call_tool(params).await
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while journal_calls(&journal, "delay") == 0 {
        assert!(
            Instant::now() < deadline,
            "the call never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = tokio::task::spawn_blocking(move || {
        let status = baton.terminate(Duration::from_secs(30));
        (status, baton.logs())
    });
    let answer = tokio::time::timeout(Duration::from_secs(30), call)
        .await
        .expect("the call in flight is answered within 30 s")
        .unwrap()
        .expect("the call in flight is answered");
    assert_eq!(text_of(&answer), "slept 1500");
    let (status, logs) = stopped.await.unwrap();
    assert!(status.success(), "{status:?}: {logs}");
}
