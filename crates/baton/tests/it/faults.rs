//! Resilience against the fault-injecting upstream (crates/baton-testkit): a server that
//! exits at startup, crashes mid-call, hangs, answers errors, forgets HTTP sessions, and
//! per-tool breakers, retries of tool errors and session pinning in replica pools.

use std::time::{Duration, Instant};

use baton_mcp::rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::common::*;

async fn call_err(client: &Client, tool: &str, arguments: Value) -> String {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = arguments.as_object().cloned();
    match client.peer().call_tool(params).await {
        Ok(result) => panic!("{tool} should have failed, got {result:?}"),
        Err(error) => error.to_string(),
    }
}

/// Polls `baton__status` until `server`'s entry satisfies `done` (bounded).
async fn wait_status(client: &Client, server: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        last = status(client).await[server].clone();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{server} never reached the expected state: {last}");
}

/// A server that exits at startup is quarantined with its exit status and stderr; the
/// other server serves throughout.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_exiting_at_startup_is_quarantined_with_its_exit_status() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  broken:\n    {}\n    resilience:\n      restart: {{ initial_delay: 50ms, max_delay: 100ms, max_crashes: 2, quarantine_retry: 1h }}\n  healthy:\n    {}\n",
            fault_server(&["--exit-at-startup", "7"]),
            fault_server(&[]),
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let broken = wait_status(&client, "broken", |s| s["state"] == "quarantined").await;
    let text = broken.to_string();
    assert!(text.contains("exit status: 7"), "{broken}");
    assert!(text.contains("exiting at startup with 7"), "{broken}");
    let echo = call(&client, "healthy__echo", json!({"message": "fine"})).await;
    assert_eq!(text_of(&echo), "fine");
}

/// A call in flight when its stdio server dies fails at once naming the server (not at
/// the time budget); the server is restarted and its exit status is reported meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_call_fails_promptly_and_the_server_comes_back() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "resilience:\n  timeout: 60s\nservers:\n  fault:\n    {}\n    resilience:\n      restart: {{ initial_delay: 300ms, max_delay: 300ms }}\n",
            fault_server(&[]),
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let started = Instant::now();
    let error = call_err(&client, "fault__crash", json!({"code": 5})).await;
    let took = started.elapsed();
    assert!(error.contains("server \"fault\""), "{error}");
    assert!(took < Duration::from_secs(10), "failed after {took:?}");
    let down = wait_status(&client, "fault", |s| s["state"] != "ready").await;
    assert!(down.to_string().contains("exit status: 5"), "{down}");
    wait_status(&client, "fault", |s| s["state"] == "ready").await;
    let echo = call(&client, "fault__echo", json!({"message": "back"})).await;
    assert_eq!(text_of(&echo), "back");
}

/// A hung call ends at its budget with an error naming the server, and the upstream is
/// told to cancel it; JSON-RPC errors from the server pass through and are not retried.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_call_times_out_and_is_cancelled_upstream() {
    hung_call_times_out_and_is_cancelled_upstream(&[]).await;
}

/// The same with a server of the revisions before 2026-07-28 (requests to both are written
/// beside rmcp's client loop, `lines::direct`): the cancellation names the request the
/// server got, the server's error is the caller's, and the session goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_call_to_a_legacy_server_times_out_and_is_cancelled_upstream() {
    hung_call_times_out_and_is_cancelled_upstream(&["--legacy"]).await;
}

async fn hung_call_times_out_and_is_cancelled_upstream(server_args: &[&str]) {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n    resilience:\n      retry: {{ attempts: 3, initial_delay: 10ms }}\n      tools:\n        hang: {{ timeout: 300ms, max_timeout: 300ms }}\n        rpc_error: {{ retry: always }}\n",
            fault_server(server_args),
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let error = call_err(&client, "fault__hang", json!({})).await;
    assert!(
        error.contains("server \"fault\" did not answer within 300ms"),
        "{error}"
    );
    assert!(
        baton.wait_for_log("hang: cancelled by the client"),
        "{}",
        baton.logs()
    );

    let error = call_err(&client, "fault__rpc_error", json!({})).await;
    assert!(error.contains("error on command"), "{error}");
    let calls = call(&client, "fault__calls", json!({"tool": "rpc_error"})).await;
    assert_eq!(text_of(&calls), "1", "the server's own error is an answer");
    let echo = call(&client, "fault__echo", json!({"message": "still here"})).await;
    assert_eq!(text_of(&echo), "still here");
}

/// `retry_on_error: true` retries `isError` results; without it they are answers. When
/// the retries run out, the last tool error is the answer.
#[tokio::test(flavor = "multi_thread")]
async fn tool_errors_are_retried_only_where_configured() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n    resilience:\n      retry: {{ attempts: 3, initial_delay: 10ms }}\n      tools:\n        flaky: {{ retry_on_error: true }}\n  plain:\n    {}\n    resilience:\n      retry: {{ attempts: 3, initial_delay: 10ms }}\n",
            fault_server(&[]),
            fault_server(&[]),
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;

    let healed = call(&client, "fault__flaky", json!({"key": "a", "failures": 2})).await;
    assert_eq!(text_of(&healed), "ok after 3");
    assert_ne!(healed.is_error, Some(true));

    let exhausted = call(&client, "fault__flaky", json!({"key": "b", "failures": 5})).await;
    assert_eq!(exhausted.is_error, Some(true));
    assert_eq!(
        text_of(&exhausted),
        "failure 3",
        "three attempts, the last one answers"
    );

    let answered = call(&client, "plain__flaky", json!({"key": "c", "failures": 2})).await;
    assert_eq!(answered.is_error, Some(true));
    assert_eq!(
        text_of(&answered),
        "failure 1",
        "not retried without retry_on_error"
    );
}

/// A per-tool breaker opens for that tool only: the tool fails fast with the issue's
/// message while the server's other tools (and its own breaker) are unaffected.
#[tokio::test(flavor = "multi_thread")]
async fn a_tool_breaker_opens_for_that_tool_only() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n    resilience:\n      tools:\n        delay:\n          timeout: 200ms\n          max_timeout: 200ms\n          retry: never\n          breaker: {{ failures: 2, open_for: 30s }}\n",
            fault_server(&[]),
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, mut _notes) = connect_http(&baton.mcp_url()).await;
    for _ in 0..2 {
        let error = call_err(&client, "fault__delay", json!({"ms": 2000})).await;
        assert!(error.contains("did not answer within 200ms"), "{error}");
    }
    let started = Instant::now();
    let error = call_err(&client, "fault__delay", json!({"ms": 1})).await;
    assert!(
        error.contains(
            "tool \"delay\" of server \"fault\" is unavailable: circuit open after 2 failures"
        ),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_millis(150), "fails fast");
    let echo = call(
        &client,
        "fault__echo",
        json!({"message": "other tools work"}),
    )
    .await;
    assert_eq!(text_of(&echo), "other tools work");
    let entry = status(&client).await["fault"].clone();
    assert_eq!(entry["breaker"]["state"], "closed", "{entry}");
    assert_eq!(entry["tool_breakers"]["delay"]["state"], "open", "{entry}");
    assert!(baton.wait_for_log("circuit opened"), "{}", baton.logs());
}

/// An HTTP session the server forgot (404 on its id) is re-initialized and the request
/// sent again, without the client noticing.
#[tokio::test(flavor = "multi_thread")]
async fn an_expired_http_session_is_reinitialized_transparently() {
    let dir = TestDir::new();
    let (_server, port) = fault_http(&["--legacy"]);
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  remote:\n    url: http://127.0.0.1:{port}/mcp\n    transport: streamable-http\n"
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let before = text_of(&call(&client, "remote__initializations", json!({})).await);
    assert_eq!(
        text_of(&call(&client, "remote__bump", json!({})).await),
        "1 fault"
    );
    assert_eq!(
        text_of(&call(&client, "remote__bump", json!({})).await),
        "2 fault"
    );
    call(&client, "remote__expire_sessions", json!({})).await;
    // The next call meets a 404, and succeeds on a new session.
    let after = call(&client, "remote__bump", json!({})).await;
    assert_eq!(text_of(&after), "1 fault", "a new session counts from 1");
    let count = text_of(&call(&client, "remote__initializations", json!({})).await);
    let (before, count): (u64, u64) = (before.parse().unwrap(), count.parse().unwrap());
    assert_eq!(count, before + 1, "one re-initialization");
    assert_eq!(status(&client).await["remote"]["state"], "ready");
}

/// With `isolation: per_client` over a pool of remote replicas, a client's session stays
/// on the replica that holds it, and its calls count on that replica.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_session_stays_on_its_replica() {
    let dir = TestDir::new();
    let (_a, port_a) = fault_http(&["--legacy", "--id", "a"]);
    let (_b, port_b) = fault_http(&["--legacy", "--id", "b"]);
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  pool:\n    urls: [\"http://127.0.0.1:{port_a}/mcp\", \"http://127.0.0.1:{port_b}/mcp\"]\n    transport: streamable-http\n    isolation: per_client\n"
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let first = text_of(&call(&client, "pool__bump", json!({})).await);
    let owner = first.split_whitespace().nth(1).unwrap().to_owned();
    for count in 2..=10 {
        let reply = text_of(&call(&client, "pool__bump", json!({})).await);
        assert_eq!(reply, format!("{count} {owner}"), "the session moved");
    }
    let (owner_label, other_label) = if owner == "a" {
        ("pool#1", "pool#2")
    } else {
        ("pool#2", "pool#1")
    };
    let report = status(&client).await;
    assert_eq!(report[owner_label]["stats"]["calls"], 10, "{report}");
    assert_eq!(report[other_label]["stats"]["calls"], 0, "{report}");
}

/// Power of two choices over peak-EWMA latency: once a replica has answered slowly, calls
/// go to the fast one.
#[tokio::test(flavor = "multi_thread")]
async fn calls_avoid_a_slow_replica() {
    let dir = TestDir::new();
    let (_fast, fast_port) = fault_http(&["--id", "fast"]);
    let (_slow, slow_port) = fault_http(&["--id", "slow", "--call-delay", "150"]);
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  pool:\n    urls: [\"http://127.0.0.1:{fast_port}/mcp\", \"http://127.0.0.1:{slow_port}/mcp\"]\n    transport: streamable-http\n"
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let mut slow = 0;
    for _ in 0..30 {
        let reply = text_of(&call(&client, "pool__whoami", json!({})).await);
        if reply.starts_with("slow ") {
            slow += 1;
        }
    }
    // Each replica is tried while nothing is known of it; after one slow answer the
    // slow replica's estimate stays far above the fast one's for the whole test.
    assert!(slow <= 2, "{slow} of 30 calls went to the slow replica");
}

/// When the primary's circuit is open, its `fallback:` answers at once with the same
/// arguments.
#[tokio::test(flavor = "multi_thread")]
async fn a_fallback_answers_while_the_primary_circuit_is_open() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  primary:\n    {}\n    resilience:\n      breaker: {{ failures: 2, open_for: 60s }}\n      tools:\n        hang: {{ timeout: 200ms, max_timeout: 200ms, retry: never }}\n        whoami: {{ fallback: [backup__whoami] }}\n  backup:\n    {}\n",
            fault_server(&["--id", "primary"]),
            fault_server(&["--id", "backup"]),
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let first = text_of(&call(&client, "primary__whoami", json!({})).await);
    assert!(first.starts_with("primary "), "{first}");
    for _ in 0..2 {
        call_err(&client, "primary__hang", json!({})).await;
    }
    let entry = status(&client).await["primary"].clone();
    assert_eq!(entry["breaker"]["state"], "open", "{entry}");
    let answer = text_of(&call(&client, "primary__whoami", json!({})).await);
    assert!(answer.starts_with("backup "), "{answer}");
    assert!(
        baton.wait_for_log("answered by a fallback"),
        "{}",
        baton.logs()
    );
}

/// `concurrency.per_replica` limits each replica, `max` the whole server: with two
/// replicas of one slot each, two slow calls run at once (one per replica) and a third is
/// refused with a clear error.
#[tokio::test(flavor = "multi_thread")]
async fn concurrency_is_limited_per_server_and_per_replica() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  pool:\n    {}\n    replicas: 2\n    resilience:\n      concurrency: {{ max: 4, queue: 0, per_replica: 1 }}\n      tools:\n        delay: {{ retry: never }}\n",
            fault_server(&[]),
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let slow = |client: &Client| {
        let peer = client.peer().clone();
        tokio::spawn(async move {
            let mut params = CallToolRequestParams::new("pool__delay");
            params.arguments = json!({"ms": 2000}).as_object().cloned();
            peer.call_tool(params).await
        })
    };
    let (one, two) = (slow(&client), slow(&client));
    let mut both = false;
    for _ in 0..100 {
        let report = status(&client).await;
        if report["pool#1"]["stats"]["in_flight"] == 1
            && report["pool#2"]["stats"]["in_flight"] == 1
        {
            both = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(both, "the two calls should run on one replica each");
    let error = call_err(&client, "pool__delay", json!({"ms": 1})).await;
    assert!(error.contains("server \"pool\" is overloaded"), "{error}");
    for call in [one, two] {
        let result = call.await.unwrap().expect("the slow calls complete");
        assert_eq!(text_of(&result), "slept 2000");
    }
}
