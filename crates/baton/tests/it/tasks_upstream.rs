//! Baton as a task *requestor*: server-everything's `simulate-research-query` runs only as
//! a (2025-11-25) task, so Baton calls it as an upstream task and polls it — a client
//! without the tasks extension gets the report synchronously, one with it gets a Baton task
//! whose result is the report, and cancelling that task cancels the upstream task.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::tasks::{ANA, Session, until_terminal};

const TOOL: &str = "everything__simulate-research-query";
/// What Baton logs when the upstream made a task of the call (with `task=<upstream id>`).
const CREATED: &str = "the upstream runs the call as a task";
/// What Baton logs with the upstream's answer to `tasks/cancel`.
const CANCELLED: &str = "cancelled the upstream task";

/// server-everything with `simulate-research-query` marked as the upstream's task tool
/// (`upstream: false`: as Baton was before, calling it synchronously).
fn config(dir: &TestDir, upstream: bool) -> std::path::PathBuf {
    let marked = if upstream {
        "    upstream_task_support: { simulate-research-query: required }\n"
    } else {
        ""
    };
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n    task_support: optional\n{marked}\
             serve:\n  auth:\n    api_keys:\n      ana: \"{ANA}\"\n\
             tasks:\n  poll_interval: 200ms\n",
            peer("mcp-server-everything").display()
        ),
    )
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The upstream task id Baton logged for the call, once it did (bounded wait).
fn upstream_task_id(baton: &BatonHttp) -> String {
    upstream_task_of(baton, "everything")
}

/// The id of the task Baton logged `server` made of the call (bounded wait).
fn upstream_task_of(baton: &BatonHttp, server: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = baton.logs();
        let found = logs
            .lines()
            .filter(|line| {
                line.contains(CREATED)
                    && line.contains(&format!("server={server} "))
                    && line.contains("simulate-research-query")
            })
            .find_map(|line| line.split("task=").nth(1))
            .and_then(|rest| rest.split_whitespace().next());
        if let Some(id) = found {
            return id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "Baton never made an upstream task of the call:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_the_upstream_runs_only_as_a_task_answers_a_synchronous_client() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir, true));
    let mut plain = Session::open(&baton.mcp_url(), ANA, false).await;
    let started = Instant::now();
    let answer = plain
        .request(
            "tools/call",
            json!({"name": TOOL, "arguments": {"topic": "durable gateways"}}),
        )
        .await;
    let result = &answer["result"];
    assert!(
        text(result).starts_with("# Research Report: durable gateways"),
        "the report, synchronously: {answer}"
    );
    assert_ne!(result["isError"], true, "{answer}");
    assert!(result.get("taskId").is_none(), "{answer}");
    assert!(
        result
            .get("_meta")
            .is_none_or(|meta| meta.get("io.modelcontextprotocol/related-task").is_none()),
        "the upstream's task is not the client's: {answer}"
    );
    // Four stages of a second each: the answer came from polling the upstream task.
    assert!(started.elapsed() >= Duration::from_secs(3), "{answer}");
    let id = upstream_task_id(&baton);
    assert!(!id.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_upstream_task_support_the_required_task_tool_is_refused_upstream() {
    // What Baton did before it was a requestor: a plain call, which the server refuses.
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir, false));
    let mut plain = Session::open(&baton.mcp_url(), ANA, false).await;
    let answer = plain
        .request(
            "tools/call",
            json!({"name": TOOL, "arguments": {"topic": "x"}}),
        )
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(
        text(&answer["result"]).contains("requires task augmentation"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baton_task_runs_the_upstream_task_and_gets_its_report() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir, true));
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let created = ana
        .request(
            "tools/call",
            json!({"name": TOOL, "arguments": {"topic": "polling"}}),
        )
        .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let task = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        text(&done["result"]).starts_with("# Research Report: polling"),
        "the upstream task's report: {done}"
    );
    assert_ne!(done["result"]["isError"], true, "{done}");
    upstream_task_id(&baton);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_baton_task_cancels_the_upstream_task() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir, true));
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let created = ana
        .request(
            "tools/call",
            json!({"name": TOOL, "arguments": {"topic": "cancelled"}}),
        )
        .await;
    let task = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    // Cancelled while the upstream task works (four seconds in all).
    let upstream = upstream_task_id(&baton);
    let ack = ana.request("tasks/cancel", json!({"taskId": task})).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "cancelled", "{done}");

    assert_cancelled_upstream(&baton, "everything", &upstream, "cancelled");
}

/// The upstream answered Baton's `tasks/cancel` for task `upstream` with `status`
/// (a bounded wait for the log line carrying that answer).
fn assert_cancelled_upstream(baton: &BatonHttp, server: &str, upstream: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = baton.logs();
        let line = logs
            .lines()
            .find(|line| line.contains(CANCELLED) && line.contains(&format!("task={upstream}")));
        if let Some(line) = line {
            assert!(
                line.contains(&format!("status={status}"))
                    && line.contains(&format!("server={server} ")),
                "the upstream's answer: {line}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Baton never cancelled upstream task {upstream}:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_task_outlives_the_idle_timeout_and_ends_with_the_total_one() {
    // `long`: idle 1.5 s, total 10 min — the 4 s job, silent but polled, completes.
    // `short`: the same, but a total of 2.5 s — the job is cancelled upstream at the limit.
    let dir = TestDir::new();
    let everything = peer("mcp-server-everything");
    let server = |name: &str, limits: &str| {
        format!(
            "  {name}:\n    command: {}\n    upstream_task_support: {{ simulate-research-query: required }}\n    resilience: {{ {limits} }}\n",
            everything.display()
        )
    };
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n{}{}serve:\n  auth:\n    api_keys:\n      ana: \"{ANA}\"\n",
            server("long", "timeout: 1500ms"),
            server("short", "timeout: 1500ms, max_timeout: 2500ms"),
        ),
    );
    let baton = BatonHttp::start(&config);
    let mut plain = Session::open(&baton.mcp_url(), ANA, false).await;
    let answer = plain
        .request(
            "tools/call",
            json!({"name": "long__simulate-research-query", "arguments": {"topic": "patience"}}),
        )
        .await;
    assert!(
        text(&answer["result"]).starts_with("# Research Report: patience"),
        "the idle timeout bounds each poll, not the task: {answer}"
    );

    let started = Instant::now();
    let answer = plain
        .request(
            "tools/call",
            json!({"name": "short__simulate-research-query", "arguments": {"topic": "haste"}}),
        )
        .await;
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("server \"short\"") && message.contains("did not answer within 2.5s"),
        "the total timeout ends the task: {answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(4), "{answer}");
    let upstream = upstream_task_of(&baton, "short");
    assert_cancelled_upstream(&baton, "short", &upstream, "cancelled");
}

/// A 2025-11-25 host that answers the research tool's clarification question.
#[derive(Clone)]
struct ClarifyingHost;

impl baton_mcp::rmcp::ClientHandler for ClarifyingHost {
    fn get_info(&self) -> baton_mcp::rmcp::model::ClientConfig {
        let mut capabilities = baton_mcp::rmcp::model::ClientCapabilities::default();
        capabilities.elicitation = Some(Default::default());
        let mut config = baton_mcp::rmcp::model::ClientConfig::new(
            capabilities,
            baton_mcp::rmcp::model::Implementation::new("clarifying-host", "0"),
        );
        config.protocol_version = baton_mcp::rmcp::model::ProtocolVersion::LATEST_WITH_INITIALIZE;
        config
    }

    async fn create_elicitation(
        &self,
        request: baton_mcp::rmcp::model::ElicitRequestParams,
        _context: baton_mcp::rmcp::service::RequestContext<baton_mcp::rmcp::RoleClient>,
    ) -> Result<baton_mcp::rmcp::model::ElicitResult, baton_mcp::rmcp::ErrorData> {
        let message = elicitation_message(request);
        assert!(message.contains("multiple interpretations"), "{message}");
        Ok(accepted(json!({"interpretation": "historical"})))
    }
}

/// An upstream task that needs input (`input_required`): Baton fetches `tasks/result`, on
/// which the server sends its elicitation; the relay puts it to the caller, whose answer
/// shapes the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_task_asking_for_input_gets_it_from_the_caller() {
    use baton_mcp::rmcp::ServiceExt;
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n    upstream_task_support: {{ simulate-research-query: required }}\n",
            peer("mcp-server-everything").display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let client = ClarifyingHost
        .serve(baton_mcp::rmcp::transport::StreamableHttpClientTransport::from_uri(baton.mcp_url()))
        .await
        .expect("connect");
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new(TOOL);
    params.arguments = json!({"topic": "tides", "ambiguous": true})
        .as_object()
        .cloned();
    let result = tokio::time::timeout(Duration::from_secs(60), client.peer().call_tool(params))
        .await
        .expect("the call finished")
        .expect("tools/call");
    let report = result
        .content
        .first()
        .and_then(|block| block.as_text())
        .map(|text| text.text.clone())
        .unwrap_or_default();
    assert!(
        report.starts_with("# Research Report: tides (historical)"),
        "the caller's clarification reached the upstream task: {report}"
    );
    upstream_task_id(&baton);
}

/// A 2026-07-28 upstream (the fault upstream's `task_job`, a task only when the request
/// declares the extension): Baton declares it for a tool marked in `upstream_task_support`,
/// polls `tasks/get` to the inline result, and `tasks/cancel` reaches the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_upstream_task_is_polled_and_cancelled() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  jobs:\n    {}\n    task_support: optional\n    upstream_task_support: {{ task_job: optional }}\n\
             \x20 plain:\n    {}\n\
             serve:\n  auth:\n    api_keys:\n      ana: \"{ANA}\"\n\
             tasks:\n  poll_interval: 200ms\n",
            fault_server(&["--id", "jobs"]),
            fault_server(&["--id", "plain"]),
        ),
    );
    let baton = BatonHttp::start(&config);
    let mut plain = Session::open(&baton.mcp_url(), ANA, false).await;
    let answer = plain
        .request(
            "tools/call",
            json!({"name": "jobs__task_job", "arguments": {"ms": 700}}),
        )
        .await;
    assert_eq!(
        text(&answer["result"]),
        "slept 700 as a task",
        "Baton declared the extension and polled the task: {answer}"
    );
    // An unmarked tool is called as before: no extension, the answer inline.
    let answer = plain
        .request(
            "tools/call",
            json!({"name": "plain__task_job", "arguments": {"ms": 10}}),
        )
        .await;
    assert_eq!(text(&answer["result"]), "slept 10 inline", "{answer}");

    // A Baton task over a long upstream task, cancelled: the server hears of it.
    let mut ana = Session::open(&baton.mcp_url(), ANA, true).await;
    let created = ana
        .request(
            "tools/call",
            json!({"name": "jobs__task_job", "arguments": {"ms": 60000}}),
        )
        .await;
    let task = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let upstream = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let logs = baton.logs();
            let found = logs
                .lines()
                .filter(|line| line.contains(CREATED) && line.contains("tool=task_job"))
                .filter_map(|line| line.split("task=").nth(1))
                .filter_map(|rest| rest.split_whitespace().next())
                .find(|id| *id != "job-1")
                .map(str::to_owned);
            if let Some(id) = found {
                break id;
            }
            assert!(Instant::now() < deadline, "no upstream task:\n{logs}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let ack = ana.request("tasks/cancel", json!({"taskId": task})).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let done = until_terminal(&mut ana, &task).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    // The server's own word (its stderr, in Baton's log), then Baton's.
    let said = format!("task_job: task {upstream} cancelled");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !baton.logs().contains(&said) {
        assert!(
            Instant::now() < deadline,
            "the upstream never cancelled {upstream}:\n{}",
            baton.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Baton logs it once the server's answer to `tasks/cancel` is in, which may come after
    // the server's own line.
    assert_cancelled_upstream(&baton, "jobs", &upstream, "acknowledged");
}
