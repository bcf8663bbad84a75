//! The 2025-11-25 task methods served to a legacy client — the official TypeScript SDK 1.x
//! (`@modelcontextprotocol/sdk` 1.32.2, its experimental tasks API), over stdio,
//! streamable HTTP and legacy SSE: the `tasks` capability and each tool's `execution.taskSupport`,
//! `params.task` answered with a task, `tasks/get`, `tasks/list`, `tasks/result` (with the
//! task's input asked on it), `tasks/cancel`, `notifications/tasks/status`, progress under
//! the client's token; and a task that outlives a Baton restart, found by its owner's next
//! client.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;
use crate::tasks::ANA;

const BO: &str = "bo-key-0123456789abcdef01";

fn sdk_dir() -> std::path::PathBuf {
    let dir = repo_root().join(".peers/tssdk/node_modules/@modelcontextprotocol/sdk");
    assert!(
        dir.join("package.json").exists(),
        "the TypeScript SDK is missing at {}: run scripts/install-peers.sh",
        dir.display()
    );
    dir
}

/// Runs the TypeScript client with `options` (its target and scenario); its JSON report.
fn ts_client(options: Value) -> Value {
    let mut options = options;
    options["sdk"] = json!(sdk_dir());
    let output = Command::new(peer("node"))
        .arg(repo_root().join("tests/clients/ts_tasks.mjs"))
        .arg(options.to_string())
        .output()
        .expect("run the TypeScript client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "TypeScript client {options} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("the TypeScript client printed no JSON: {stdout}"))
}

fn config(dir: &TestDir) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n\
             \x20   task_support: {{ trigger-elicitation-request: optional, trigger-long-running-operation: optional }}\n\
             serve:\n  auth:\n    api_keys:\n      ana: \"{ANA}\"\n      bo: \"{BO}\"\n\
             tasks:\n  poll_interval: 200ms\n\
             workflows:\n  definitions:\n    slow:\n      inputs:\n        word: {{ type: string }}\n\
             \x20     steps:\n        - {{ id: wait, sleep: 1s }}\n        - {{ id: say, set: {{ said: \"{{{{ inputs.word }}}}\" }} }}\n\
             \x20     outputs:\n        said: \"{{{{ steps.say.output.said }}}}\"\n\
             \x20   long:\n      steps:\n        - {{ id: wait, sleep: 10m }}\n\
             \x20   durable:\n      inputs:\n        word: {{ type: string }}\n\
             \x20     steps:\n        - {{ id: wait, sleep: 5s }}\n        - {{ id: say, set: {{ said: \"{{{{ inputs.word }}}}\" }} }}\n\
             \x20     outputs:\n        said: \"{{{{ steps.say.output.said }}}}\"\n",
            peer("mcp-server-everything").display()
        ),
    )
}

/// The whole life of legacy tasks, as the SDK's client sees it.
fn assert_flow(report: &Value) {
    let capabilities = &report["capabilities"];
    assert!(
        capabilities["requests"]["tools"]["call"].is_object()
            && capabilities["list"].is_object()
            && capabilities["cancel"].is_object(),
        "initialize advertises capabilities.tasks: {report}"
    );
    let execution = &report["execution"];
    assert_eq!(execution["workflow__slow"], "optional", "{execution}");
    assert_eq!(
        execution["everything__trigger-elicitation-request"], "optional",
        "{execution}"
    );
    assert_eq!(execution["everything__echo"], Value::Null, "{execution}");

    // callToolStream: created, polled, then tasks/result gives the workflow's answer.
    let done = &report["done"];
    let seen: Vec<&str> = done["seen"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(seen.first(), Some(&"taskCreated"), "{done}");
    assert_eq!(seen.last(), Some(&"result"), "{done}");
    assert!(seen.contains(&"status:completed"), "{done}");
    let text = done["result"]["content"].to_string();
    assert!(text.contains("hello"), "the workflow's answer: {done}");
    assert!(done["result"].get("resultType").is_none(), "{done}");
    assert_eq!(
        done["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], done["taskId"],
        "{done}"
    );
    let got = &report["got"];
    assert_eq!(got["status"], "completed", "{got}");
    assert_eq!(got["pollInterval"], 200, "{got}");
    assert!(got["ttl"].is_u64(), "{got}");

    // A task created with ttl 60000, listed, cancelled; cancelled twice is -32602.
    let long = &report["long"];
    assert_eq!(long["status"], "working", "{long}");
    assert_eq!(long["ttl"], 60000, "the ttl asked is kept: {long}");
    let listed = report["listed"].as_array().unwrap();
    assert!(
        listed.contains(&long["taskId"]) && listed.contains(&done["taskId"]),
        "tasks/list shows the caller's tasks: {report}"
    );
    assert_eq!(
        listed.first(),
        Some(&long["taskId"]),
        "newest first: {listed:?}"
    );
    assert_eq!(report["cancelled"]["status"], "cancelled", "{report}");
    assert_eq!(report["after"]["status"], "cancelled", "{report}");
    assert_eq!(report["cancelAgain"]["code"], -32602, "{report}");
    assert!(
        report["resultOfCancelled"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cancelled"),
        "{report}"
    );
    // A tool that is not a task tool, and a task that does not exist.
    assert_eq!(report["notATask"]["code"], -32601, "{report}");
    assert!(
        report["notATask"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("everything__echo"),
        "{report}"
    );
    assert_eq!(report["unknown"]["code"], -32602, "{report}");

    // Status notifications: the first task's end was announced.
    let statuses = report["statuses"].as_array().unwrap();
    assert!(
        statuses
            .iter()
            .any(|s| s["taskId"] == done["taskId"] && s["status"] == "completed"),
        "notifications/tasks/status: {report}"
    );
}

fn flow_options() -> Value {
    json!({
        "scenario": "flow",
        "tool": "workflow__slow", "arguments": {"word": "hello"},
        "long_tool": "workflow__long", "long_arguments": {},
        "plain_tool": "everything__echo", "plain_arguments": {"message": "hi"},
    })
}

#[test]
fn the_typescript_sdk_runs_legacy_tasks_over_stdio() {
    let dir = TestDir::new();
    let config = config(&dir);
    let mut options = flow_options();
    options["command"] = json!(baton_bin());
    options["args"] = json!(["serve", "--config", config]);
    assert_flow(&ts_client(options));
}

#[test]
fn the_typescript_sdk_runs_legacy_tasks_over_http_and_sse_and_answers_their_input() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let url = baton.mcp_url();
    let mut options = flow_options();
    options["url"] = json!(url);
    options["key"] = json!(ANA);
    assert_flow(&ts_client(options));
    // The same over legacy HTTP+SSE.
    let mut options = flow_options();
    options["url"] = json!(format!("{}/sse", baton.base));
    options["key"] = json!(ANA);
    options["sse"] = json!(true);
    assert_flow(&ts_client(options));

    // server-everything asks for input during the task; the SDK calls tasks/result on
    // input_required, Baton puts the request to it there, and the answer reaches the tool.
    let report = ts_client(json!({
        "scenario": "input", "url": url, "key": ANA,
        "tool": "everything__trigger-elicitation-request", "arguments": {},
        "answer": {"name": "Ada Lovelace"},
    }));
    let elicitations = report["elicitations"].as_array().unwrap();
    assert_eq!(elicitations.len(), 1, "{report}");
    assert_eq!(
        elicitations[0]["message"], "Please provide inputs for the following fields:",
        "{report}"
    );
    let done = &report["done"];
    assert!(
        done["seen"]
            .as_array()
            .unwrap()
            .contains(&json!("status:input_required")),
        "{report}"
    );
    let text = done["result"]["content"].to_string();
    assert!(
        text.contains("User provided the requested information") && text.contains("Ada Lovelace"),
        "the server got the answer: {report}"
    );
}

#[test]
fn a_legacy_tasks_progress_reaches_its_client_under_its_own_token() {
    let dir = TestDir::new();
    let config = config(&dir);
    let report = ts_client(json!({
        "scenario": "progress", "command": baton_bin(), "args": ["serve", "--config", config],
        "tool": "everything__trigger-long-running-operation",
        "arguments": {"duration": 1, "steps": 3},
    }));
    let done = &report["done"];
    assert_eq!(done["seen"][0], "taskCreated", "a task: {report}");
    assert!(
        done["result"]["content"]
            .to_string()
            .contains("Long running operation completed"),
        "{report}"
    );
    assert!(
        done["result"].get("resultType").is_none(),
        "a 2025-11-25 result: {report}"
    );
    // The SDK calls onprogress only for the token it put on the tools/call, and only until
    // it saw the task end (so the last step's notification may come too late for it).
    let progress: Vec<u64> = report["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["total"], 3, "{report}");
            p["progress"].as_u64().unwrap()
        })
        .collect();
    assert!(
        progress.len() >= 2 && progress.windows(2).all(|w| w[0] < w[1]) && progress[0] == 1,
        "the server's progress, step by step: {report}"
    );
}

#[test]
fn a_legacy_task_outlives_a_restart_and_its_owner_gets_the_result() {
    let dir = TestDir::new();
    let config = config(&dir);
    let mut baton = BatonHttp::start(&config);
    let created = ts_client(json!({
        "scenario": "create", "url": baton.mcp_url(), "key": ANA,
        "tool": "workflow__durable", "arguments": {"word": "durable"},
    }));
    let task = created["task"]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(created["task"]["ttl"], 600000, "{created}");
    assert!(
        baton
            .terminate(std::time::Duration::from_secs(20))
            .success()
    );

    let baton = BatonHttp::start(&config);
    let report = ts_client(json!({
        "scenario": "result", "url": baton.mcp_url(), "key": ANA, "task": task,
    }));
    let text = report["result"]["content"].to_string();
    assert!(text.contains("durable"), "{report}");
    assert_eq!(report["got"]["taskId"], json!(task), "{report}");
    assert_eq!(
        report["got"]["status"], "working",
        "the run (a 5 s sleep) was still going across the restart: {report}"
    );

    // Another principal neither finds nor lists it.
    let foreign = ts_client(json!({
        "scenario": "peek", "url": baton.mcp_url(), "key": BO, "task": task,
    }));
    assert_eq!(foreign["get"]["code"], -32602, "{foreign}");
    assert_eq!(foreign["listed"], json!([]), "{foreign}");
}
