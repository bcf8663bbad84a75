//! `serve.auth` limits (issue 14): each principal's call budget (streamable HTTP and legacy
//! SSE) and the caps on open sessions, per principal (`serve.auth.limits.sessions`) and for
//! everyone (`serve.sessions.max`). Over a limit: HTTP 429 naming the setting, nothing
//! reaches a server, and the sessions already open keep working.

use futures::StreamExt;
use serde_json::json;

use crate::auth::{ALICE_KEY, client_with};
use crate::common::*;

const BOB_KEY: &str = "bob-key-0123456789abcdefgh";

/// `serve.auth.limits.calls_per_minute`: a burst over the budget gets 429 with
/// `Retry-After`, and the refused calls never reach the server; other principals are not
/// slowed.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_over_the_call_budget_gets_429_and_reaches_no_server() {
    let dir = TestDir::new();
    let journal = dir.path().join("journal.tsv");
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  auth:\n    api_keys:\n      alice: \"{ALICE_KEY}\"\n      eve: \"eve-key-0123456789abcdef\"\n    limits:\n      calls_per_minute: 3\n",
            fault_server(&["--journal", journal.to_str().unwrap()])
        ),
    );
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();
    let alice = client_with(&url, ALICE_KEY).await;
    for i in 0..3 {
        let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__delay");
        params.arguments = json!({"ms": 1, "n": i}).as_object().cloned();
        alice
            .peer()
            .call_tool(params)
            .await
            .expect("within the budget");
    }
    // The fourth, as raw HTTP: 429 with Retry-After.
    let refused = reqwest::Client::new()
        .post(&url)
        .bearer_auth(ALICE_KEY)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": {"name": "fault__delay", "arguments": {"ms": 1}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    let body = refused.text().await.unwrap();
    assert!(body.contains("calls_per_minute"), "{body}");
    // Through the client too, and nothing of it reached the server.
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__delay");
    params.arguments = json!({"ms": 1}).as_object().cloned();
    assert!(alice.peer().call_tool(params).await.is_err());
    let calls = std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("delay\t"))
        .count();
    assert_eq!(calls, 3, "a refused call reached the server");
    // The refused calls are audited as such (audit is on with serve.auth).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = run_baton(&["--config", config.to_str().unwrap(), "audit", "--json"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let limited = text.matches("\"rate_limited\"").count();
        if limited >= 2 {
            assert!(text.contains("\"principal\":\"alice\""), "{text}");
            assert_eq!(text.matches("\"outcome\":\"ok\"").count(), 3, "{text}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no rate_limited record: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Another principal has its own budget.
    let eve = client_with(&url, "eve-key-0123456789abcdef").await;
    let echoed = call(&eve, "fault__echo", json!({"message": "mine"})).await;
    assert!(text_of(&echoed).contains("mine"));
    eve.cancel().await.ok();
    alice.cancel().await.ok();
}

/// POST initialize as `key`: (status, session id, body).
async fn open_session(url: &str, key: &str) -> (u16, Option<String>, String) {
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .header("Accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "caps-test", "version": "0"}}}),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if status == 429 {
        let retry = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(retry.parse::<u64>().is_ok(), "{retry}");
    }
    let body = response.text().await.unwrap();
    (status, session, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_over_a_cap_are_refused_and_the_open_ones_keep_working() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  sessions:\n    max: 3\n  auth:\n    api_keys:\n      alice: \"{ALICE_KEY}\"\n      bob: \"{BOB_KEY}\"\n    limits:\n      sessions: 2\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();

    // Alice: a real client, then a raw session; the third is over her cap.
    let alice = client_with(&url, ALICE_KEY).await;
    let (status, first, body) = open_session(&url, ALICE_KEY).await;
    assert_eq!(status, 200, "{body}");
    let first = first.expect("a session id");
    let (status, _, body) = open_session(&url, ALICE_KEY).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("alice") && body.contains("serve.auth.limits.sessions"),
        "{body}"
    );

    // Bob takes the last place of the global cap; his second session is over it, and so
    // is a legacy SSE stream.
    let bob = client_with(&url, BOB_KEY).await;
    let (status, _, body) = open_session(&url, BOB_KEY).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("serve.sessions.max"), "{body}");
    let sse = reqwest::Client::new()
        .get(format!("{}/sse", baton.base))
        .bearer_auth(BOB_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status().as_u16(), 429);

    // The sessions already open keep working.
    for client in [&alice, &bob] {
        let echoed = call(client, "fault__echo", json!({"message": "still here"})).await;
        assert!(text_of(&echoed).contains("still here"));
    }

    // Closing a session frees its place.
    let closed = reqwest::Client::new()
        .delete(&url)
        .bearer_auth(ALICE_KEY)
        .header("mcp-session-id", &first)
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{}", closed.status());
    let (status, _, body) = open_session(&url, ALICE_KEY).await;
    assert_eq!(status, 200, "the freed place was not given back: {body}");
    assert!(baton.logs().contains("over a session cap was refused"));
    alice.cancel().await.ok();
    bob.cancel().await.ok();
}

/// The call budget holds on the legacy SSE transport too: a tool call posted to
/// `/message` over the budget gets 429 and reaches no server.
#[tokio::test(flavor = "multi_thread")]
async fn the_call_budget_holds_on_legacy_sse() {
    let dir = TestDir::new();
    let journal = dir.path().join("journal.tsv");
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  auth:\n    api_keys:\n      alice: \"{ALICE_KEY}\"\n    limits:\n      calls_per_minute: 2\n",
            fault_server(&["--journal", journal.to_str().unwrap()])
        ),
    );
    let baton = BatonHttp::start(&config);
    let http = reqwest::Client::new();
    let stream = http
        .get(format!("{}/sse", baton.base))
        .bearer_auth(ALICE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut events = stream.bytes_stream();
    let mut seen = String::new();
    let endpoint = loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .expect("the endpoint event")
            .expect("the stream")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(line) = seen.lines().find(|l| l.starts_with("data: /message")) {
            break line.trim_start_matches("data: ").to_owned();
        }
    };
    let post = |message: serde_json::Value| {
        http.post(format!("{}{endpoint}", baton.base))
            .bearer_auth(ALICE_KEY)
            .json(&message)
            .send()
    };
    let started = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "sse-budget", "version": "0"}}}),
    )
    .await
    .unwrap();
    assert!(started.status().is_success());
    let ready = post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await
        .unwrap();
    assert!(ready.status().is_success());
    let mut statuses = Vec::new();
    for id in 2..5 {
        let answer = post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "fault__delay", "arguments": {"ms": 1}}}))
        .await
        .unwrap();
        statuses.push(answer.status().as_u16());
        if answer.status().as_u16() == 429 {
            assert!(answer.headers().contains_key("retry-after"));
            let body = answer.text().await.unwrap();
            assert!(body.contains("calls_per_minute"), "{body}");
        }
    }
    assert_eq!(statuses, [202, 202, 429]);
    // The two accepted calls reach the server (answers arrive on the stream); the refused
    // one never does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let calls = std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("delay\t"))
            .count();
        if calls == 2 {
            break;
        }
        assert!(calls < 2, "a refused call reached the server");
        assert!(
            std::time::Instant::now() < deadline,
            "the accepted calls never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Answers to both arrive on the stream.
    let mut stream_text = seen;
    while !(stream_text.contains("\"id\":2") && stream_text.contains("\"id\":3")) {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), events.next())
            .await
            .expect("the answers to the accepted calls")
            .expect("the stream")
            .unwrap();
        stream_text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!stream_text.contains("\"id\":4"), "{stream_text}");
}
