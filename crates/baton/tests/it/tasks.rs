//! MCP tasks (the `io.modelcontextprotocol/tasks` extension) kept by the durable engine:
//! a workflow called as a task keeps running while its client is gone and Baton restarts,
//! and only its owner finds it; an upstream tool runs as a task too, and `tasks/cancel`
//! stops it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

pub(crate) const ANA: &str = "ana-key-0123456789abcdef";
const BO: &str = "bo-key-0123456789abcdef01";

/// A streamable HTTP session (2025-11-25 handshake) that declared the tasks extension,
/// with `key` as its bearer credential.
pub(crate) struct Session {
    http: reqwest::Client,
    url: String,
    key: String,
    id: String,
    next: u64,
}

impl Session {
    pub(crate) async fn open(url: &str, key: &str, tasks: bool) -> Session {
        let http = reqwest::Client::new();
        let capabilities = if tasks {
            json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})
        } else {
            json!({})
        };
        let response = http
            .post(url)
            .bearer_auth(key)
            .header("Accept", "application/json, text/event-stream")
            .json(
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": capabilities,
                "clientInfo": {"name": "tasks-test", "version": "1"}}}),
            )
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "initialize: {}",
            response.status()
        );
        let id = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let mut session = Session {
            http,
            url: url.to_owned(),
            key: key.to_owned(),
            id,
            next: 1,
        };
        session
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        session
    }

    async fn post(&mut self, body: Value) -> String {
        self.http
            .post(&self.url)
            .bearer_auth(&self.key)
            .header("Accept", "application/json, text/event-stream")
            .header("Mcp-Session-Id", &self.id)
            .header("MCP-Protocol-Version", "2025-11-25")
            .json(&body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The JSON-RPC answer (`result` or `error`) to `method` with `params`.
    pub(crate) async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let body = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        answer(&body, id).unwrap_or_else(|| panic!("no answer to {method} in {body}"))
    }
}

/// The message with `id` in a JSON or SSE body.
fn answer(body: &str, id: u64) -> Option<Value> {
    let candidates = std::iter::once(body.trim()).chain(
        body.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim),
    );
    candidates
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .find(|message| message["id"] == id)
}

/// Polls `tasks/get` (bounded) until the task is in a terminal status.
pub(crate) async fn until_terminal(session: &mut Session, task: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = session.request("tasks/get", json!({"taskId": task})).await;
        let status = got["result"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if ["completed", "failed", "cancelled"].contains(&status.as_str()) {
            return got["result"].clone();
        }
        assert!(status == "working", "unexpected tasks/get answer: {got}");
        assert!(
            Instant::now() < deadline,
            "task {task} did not finish: {got}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn config(dir: &TestDir) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n    task_support: optional\n\
             serve:\n  auth:\n    api_keys:\n      ana: \"{ANA}\"\n      bo: \"{BO}\"\n\
             tasks:\n  poll_interval: 200ms\n\
             workflows:\n  definitions:\n    slow:\n      inputs:\n        word: {{ type: string }}\n\
             \x20     steps:\n        - {{ id: wait, sleep: 4s }}\n        - {{ id: say, set: {{ said: \"{{{{ inputs.word }}}}\" }} }}\n\
             \x20     outputs:\n        said: \"{{{{ steps.say.output.said }}}}\"\n",
            peer("mcp-server-everything").display()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_task_survives_its_client_leaving_and_a_restart_and_only_its_owner_sees_it() {
    let dir = TestDir::new();
    let config = config(&dir);
    let mut baton = BatonHttp::start(&config);

    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let created = ana
        .request(
            "tools/call",
            json!({"name": "workflow__slow", "arguments": {"word": "durable"}}),
        )
        .await;
    let created = &created["result"];
    assert_eq!(
        created["resultType"], "task",
        "a declaring client gets a task: {created}"
    );
    let task = created["taskId"].as_str().expect("taskId").to_owned();
    assert_eq!(created["status"], "working");
    assert_eq!(created["pollIntervalMs"], 200);
    assert!(
        created["ttlMs"].as_u64().is_some_and(|ttl| ttl > 0),
        "{created}"
    );
    // Found at once (durably created before the answer).
    let got = ana.request("tasks/get", json!({"taskId": task})).await;
    assert_eq!(got["result"]["status"], "working", "{got}");
    // The client leaves, Baton stops while the run sleeps.
    drop(ana);
    let status = baton.terminate(Duration::from_secs(20));
    assert!(status.success(), "baton exits cleanly: {status}");

    let baton = BatonHttp::start(&config);
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    let result = &done["result"];
    assert_ne!(result["isError"], true, "{result}");
    assert_eq!(
        result["structuredContent"]["outputs"]["said"], "durable",
        "{result}"
    );
    assert_eq!(
        result["structuredContent"]["status"], "succeeded",
        "{result}"
    );

    // Another principal cannot see it: the same answer as for an unknown id.
    let mut bo = Session::open(&baton.mcp_url(), BO, true).await;
    let foreign = bo.request("tasks/get", json!({"taskId": task})).await;
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
    let cancel = bo.request("tasks/cancel", json!({"taskId": task})).await;
    assert_eq!(cancel["error"]["code"], -32602, "{cancel}");
    let unknown = ana.request("tasks/get", json!({"taskId": "nope"})).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");

    // A client that did not declare the extension gets the ordinary synchronous answer;
    // being a 2025-11-25 client, it gets that revision's task methods (docs/TASKS.md).
    let mut plain = Session::open(&baton.mcp_url(), ANA, false).await;
    let sync = plain
        .request(
            "tools/call",
            json!({"name": "workflow__slow", "arguments": {"word": "now"}}),
        )
        .await;
    assert_eq!(
        sync["result"]["structuredContent"]["outputs"]["said"], "now",
        "{sync}"
    );
    assert!(sync["result"].get("taskId").is_none(), "{sync}");
    let legacy = plain.request("tasks/get", json!({"taskId": task})).await;
    assert_eq!(legacy["result"]["status"], "completed", "{legacy}");
    assert!(
        legacy["result"]["ttl"].is_u64(),
        "2025-11-25 shape: {legacy}"
    );
    assert!(legacy["result"].get("ttlMs").is_none(), "{legacy}");
    assert!(legacy["result"].get("result").is_none(), "{legacy}");

    // `baton runs` shows where the run came from.
    let runs = run_baton(&["runs", "--config", config.to_str().unwrap()]);
    let listed = String::from_utf8_lossy(&runs.stdout);
    assert!(
        listed.contains("task:ana"),
        "baton runs shows the task's origin:\n{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_tool_runs_as_a_task_and_cancel_stops_it() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;

    let created = ana
        .request(
            "tools/call",
            json!({"name": "everything__echo", "arguments": {"message": "hi"}}),
        )
        .await;
    let task = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "Echo: hi",
        "the tool's whole answer: {done}"
    );
    assert!(
        done["result"]
            .get("_meta")
            .is_none_or(|meta| meta.get("io.modelcontextprotocol/related-task").is_none())
    );

    // A long operation (server-everything's, 60 s in steps) is cancelled while it runs.
    let created = ana
        .request(
            "tools/call",
            json!({"name": "everything__trigger-long-running-operation", "arguments": {"duration": 60, "steps": 60}}),
        )
        .await;
    let task = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    // Cancelled while it runs (the run's status is the task's status message).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = ana.request("tasks/get", json!({"taskId": task})).await;
        if got["result"]["statusMessage"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "the call never started: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ack = ana.request("tasks/cancel", json!({"taskId": task})).await;
    assert_eq!(
        ack["result"]["resultType"], "complete",
        "an empty ack: {ack}"
    );
    assert!(ack["result"].get("status").is_none(), "{ack}");
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(
        done["status"], "cancelled",
        "not completed: the 60 s operation was stopped: {done}"
    );
    // Idempotent on a finished task.
    let again = ana.request("tasks/cancel", json!({"taskId": task})).await;
    assert_eq!(again["result"]["resultType"], "complete", "{again}");
}
