//! Input during a task: a Baton task whose upstream tool asks for input (a 2026-07-28
//! `input_required` result, from the Python SDK's server; or a 2025-11-25 server's
//! `elicitation/create` request, from server-everything) shows `input_required` with the
//! requests on `tasks/get`, takes the answers by `tasks/update` (all at once or one at a
//! time), keeps waiting across a Baton restart, and only its owner may answer it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::tasks::{ANA, Session, until_terminal};

const BO: &str = "bo-key-0123456789abcdef01";

fn config(dir: &TestDir) -> std::path::PathBuf {
    let fixture = repo_root().join("scripts/conformance-fixture.py");
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  tasks:\n    command: {}\n    args: [{}, --only, tasks]\n\
             \x20   namespace: false\n    task_support: {{ confirm_delete: optional, multi_input: optional }}\n\
             \x20 everything:\n    command: {}\n    task_support: optional\n\
             serve:\n  auth:\n    api_keys:\n      ana: \"{ANA}\"\n      bo: \"{BO}\"\n\
             tasks:\n  poll_interval: 200ms\n",
            peer("python").display(),
            fixture.display(),
            peer("mcp-server-everything").display(),
        ),
    )
}

/// Polls `tasks/get` (bounded) until the task waits for `keys` requests; returns the task.
async fn until_input(session: &mut Session, task: &str, keys: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = session.request("tasks/get", json!({"taskId": task})).await;
        let result = &got["result"];
        let waiting = result["inputRequests"]
            .as_object()
            .map_or(0, |map| map.len());
        if result["status"] == "input_required" && waiting == keys {
            return result.clone();
        }
        assert!(
            ["working", "input_required"].contains(&result["status"].as_str().unwrap_or("")),
            "the task should wait for input: {got}"
        );
        assert!(Instant::now() < deadline, "no input asked for: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_task(session: &mut Session, tool: &str, arguments: Value) -> String {
    let created = session
        .request("tools/call", json!({"name": tool, "arguments": arguments}))
        .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    created["result"]["taskId"].as_str().unwrap().to_owned()
}

/// The one request a waiting task shows, and its key.
fn only_request(waiting: &Value) -> (String, Value) {
    let requests = waiting["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{waiting}");
    let (key, request) = requests.iter().next().unwrap();
    (key.clone(), request.clone())
}

fn accept(field: &str, value: Value) -> Value {
    json!({"action": "accept", "content": {field: value}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_waits_for_input_across_a_restart_and_only_its_owner_answers() {
    let dir = TestDir::new();
    let config = config(&dir);
    let mut baton = BatonHttp::start(&config);
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let task = start_task(&mut ana, "confirm_delete", json!({"path": "/srv/old"})).await;

    let waiting = until_input(&mut ana, &task, 1).await;
    let (key, request) = only_request(&waiting);
    assert_eq!(request["method"], "elicitation/create", "{waiting}");
    assert_eq!(
        request["params"]["message"], "Delete /srv/old?",
        "the upstream's own request: {waiting}"
    );
    assert!(waiting.get("result").is_none(), "{waiting}");

    // Another principal can neither see nor answer it.
    let mut bo = Session::open(&baton.mcp_url(), BO, true).await;
    let foreign = bo
        .request(
            "tasks/update",
            json!({"taskId": task, "inputResponses": {key.clone(): accept("confirm", json!(true))}}),
        )
        .await;
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");

    // Baton stops while the task waits; started again, the task waits for the same input.
    drop(ana);
    let status = baton.terminate(Duration::from_secs(20));
    assert!(status.success(), "baton exits cleanly: {status}");
    let baton = BatonHttp::start(&config);
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let again = until_input(&mut ana, &task, 1).await;
    assert!(
        again["inputRequests"].get(&key).is_some(),
        "the same key after the restart: {again}"
    );

    let ack = ana
        .request(
            "tasks/update",
            json!({"taskId": task, "inputResponses": {
                key.clone(): accept("confirm", json!(true)),
                "not-asked": accept("confirm", json!(false)),
            }}),
        )
        .await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    assert!(ack["result"].get("status").is_none(), "an empty ack: {ack}");
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "deleted /srv/old",
        "the upstream got the answer: {done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_requests_at_once_are_answered_one_at_a_time() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let task = start_task(&mut ana, "multi_input", json!({})).await;

    let waiting = until_input(&mut ana, &task, 2).await;
    let keys: Vec<String> = waiting["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let first = keys.iter().find(|key| key.ends_with("first")).unwrap();
    let second = keys.iter().find(|key| key.ends_with("second")).unwrap();
    let ack = ana
        .request(
            "tasks/update",
            json!({"taskId": task, "inputResponses": {first.clone(): accept("name", json!("Ada"))}}),
        )
        .await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let partial = ana.request("tasks/get", json!({"taskId": task})).await;
    let partial = &partial["result"];
    assert_eq!(partial["status"], "input_required", "{partial}");
    let left: Vec<&String> = partial["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(left, [second], "only the unanswered key: {partial}");

    ana.request(
        "tasks/update",
        json!({"taskId": task, "inputResponses": {second.clone(): accept("name", json!("Grace"))}}),
    )
    .await;
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "got Ada and Grace",
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_waiting_for_input_is_cancelled() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let task = start_task(&mut ana, "confirm_delete", json!({"path": "/srv/keep"})).await;
    until_input(&mut ana, &task, 1).await;
    let ack = ana.request("tasks/cancel", json!({"taskId": task})).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let got = ana.request("tasks/get", json!({"taskId": task})).await;
        if got["result"]["status"] != "input_required" {
            break until_terminal(&mut ana, &task).await;
        }
        assert!(
            Instant::now() < deadline,
            "still waiting after cancel: {got}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "cancelled", "{done}");
    assert!(done.get("inputRequests").is_none(), "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_servers_elicitation_request_waits_for_the_tasks_client() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let task = start_task(
        &mut ana,
        "everything__trigger-elicitation-request",
        json!({}),
    )
    .await;

    let waiting = until_input(&mut ana, &task, 1).await;
    let (key, request) = only_request(&waiting);
    assert_eq!(request["method"], "elicitation/create", "{waiting}");
    assert_eq!(
        request["params"]["message"], "Please provide inputs for the following fields:",
        "server-everything's own request, relayed from its connection: {waiting}"
    );
    ana.request(
        "tasks/update",
        json!({"taskId": task, "inputResponses": {key: accept("name", json!("Ada Lovelace"))}}),
    )
    .await;
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    let text = done["result"]["content"].to_string();
    assert!(
        text.contains("User provided the requested information") && text.contains("Ada Lovelace"),
        "the server got the answer: {done}"
    );
}
