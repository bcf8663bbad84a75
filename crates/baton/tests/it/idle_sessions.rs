//! Sessions that are left alone: `serve.sessions.idle_timeout` closes an idle streamable
//! HTTP session (its place freed, `baton_sessions_open` back down, a request on it gets
//! 404, so the client initializes again), `serve.sessions.init_timeout` closes one whose
//! client never finished its handshake, and `serve.sessions.per_client` caps what one
//! client address holds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// Waits (bounded) until `open` sessions are counted; the sessions are looked at, never touched.
async fn wait_for_open(baton: &BatonHttp, open: f64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while baton.sessions_open().await != Some(open) {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_is_closed_after_idle_timeout() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "serve:\n  sessions:\n    idle_timeout: 1s\n");
    let baton = BatonHttp::start(&config);
    let (http, url) = (reqwest::Client::new(), baton.mcp_url());
    let (status, session, _) = mcp_initialize(&http, &url).await;
    assert!(status.is_success());
    let session = session.unwrap();
    let done = mcp_post(&http, &url, &session, initialized()).await;
    assert!(done.status().is_success(), "{done:?}");
    assert_eq!(baton.sessions_open().await, Some(1.0));
    wait_for_open(&baton, 0.0, "the idle session was never closed").await;
    let late = mcp_post(&http, &url, &session, tools_list()).await;
    assert_eq!(late.status(), 404, "a request on a closed session gets 404");
}

/// `serve.sessions.per_client`: one client address holds at most that many sessions; the
/// next `initialize` gets 429 naming the setting, and closing one makes room again.
#[tokio::test(flavor = "multi_thread")]
async fn one_client_address_holds_at_most_per_client_sessions() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "serve:\n  sessions:\n    per_client: 2\n");
    let baton = BatonHttp::start(&config);
    let (http, url) = (reqwest::Client::new(), baton.mcp_url());
    let (first, kept, _) = mcp_initialize(&http, &url).await;
    let (second, _, _) = mcp_initialize(&http, &url).await;
    assert!(first.is_success() && second.is_success());
    let (third, none, body) = mcp_initialize(&http, &url).await;
    assert_eq!(third, 429, "{body}");
    assert!(none.is_none());
    assert!(body.contains("serve.sessions.per_client"), "{body}");
    // Closing one makes room.
    let closed = http
        .delete(&url)
        .header("Mcp-Session-Id", kept.unwrap())
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{closed:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = mcp_initialize(&http, &url).await;
        if status.is_success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no room after closing a session: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `serve.sessions.init_timeout`: a session whose client sent `initialize` but never
/// `notifications/initialized` is closed after it; one that finished its handshake stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_that_never_finishes_its_handshake_is_closed() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "serve:\n  sessions:\n    init_timeout: 1s\n");
    let baton = BatonHttp::start(&config);
    let (http, url) = (reqwest::Client::new(), baton.mcp_url());
    let half = mcp_initialize(&http, &url).await.1.unwrap();
    let whole = mcp_initialize(&http, &url).await.1.unwrap();
    let done = mcp_post(&http, &url, &whole, initialized()).await;
    assert!(done.status().is_success(), "{done:?}");
    assert_eq!(baton.sessions_open().await, Some(2.0));
    wait_for_open(&baton, 1.0, "the half-open session was never closed").await;
    assert_eq!(
        mcp_post(&http, &url, &half, tools_list()).await.status(),
        404
    );
    let kept = mcp_post(&http, &url, &whole, tools_list()).await;
    assert!(
        kept.status().is_success(),
        "the initialized session stays: {kept:?}"
    );
}

/// Opens a session: `initialize`, then `notifications/initialized`.
async fn open(http: &reqwest::Client, url: &str) -> String {
    let (status, session, body) = mcp_initialize(http, url).await;
    assert!(status.is_success(), "{status} {body}");
    let session = session.expect("a session id");
    let done = mcp_post(http, url, &session, initialized()).await;
    assert!(done.status().is_success(), "{done:?}");
    session
}

/// Waits (bounded) until `baton_sessions_parked` is `parked`.
async fn wait_for_parked(baton: &BatonHttp, parked: f64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while baton.metric("baton_sessions_parked").await != Some(parked) {
        assert!(Instant::now() < deadline, "{what}\n{}", baton.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An idle session that holds no state is parked (its rmcp worker and service closed,
/// `baton_sessions_parked`), still counts as open, and its next request brings it back as
/// if nothing happened, told of the list changes it missed. A session that called a tool
/// (state may be left in its handler) is not parked.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_is_parked_and_comes_back_told_what_it_missed() {
    let dir = TestDir::new();
    let serve = "serve:\n  sessions:\n    idle_timeout: 5m\n";
    let config = dir.write("baton.yaml", serve);
    let baton = BatonHttp::start(&config);
    let (http, url) = (reqwest::Client::new(), baton.mcp_url());
    // Live throughout (its GET stream is open): it sees when the catalog changes.
    let (observer, mut notes) = connect_http(&url).await;
    let pinned = open(&http, &url).await;
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "baton__status", "arguments": {}}});
    let called = mcp_post(&http, &url, &pinned, call).await;
    assert!(called.status().is_success(), "{called:?}");
    assert!(called.text().await.unwrap().contains("result"));
    let idle = open(&http, &url).await;
    let listed = mcp_post(&http, &url, &idle, tools_list()).await;
    assert!(listed.text().await.unwrap().contains("baton__status"));

    wait_for_parked(&baton, 1.0, "the idle session was never parked").await;
    assert_eq!(
        baton.sessions_open().await,
        Some(3.0),
        "parked is still open"
    );
    // The catalog changes while it is parked.
    let added = format!("{serve}servers:\n  added:\n    {}\n", fault_server(&[]));
    let staged = dir.write("next.yaml", &added);
    std::fs::rename(staged, &config).unwrap();
    let seen = collect_until(&mut notes, Duration::from_secs(30), |seen| {
        seen.iter().any(|note| note == "tools/list_changed")
    })
    .await;
    assert!(seen.iter().any(|n| n == "tools/list_changed"), "{seen:?}");

    // Its GET stream brings it back, and tells it the tool list changed.
    let mut stream = http
        .get(&url)
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &idle)
        .header("MCP-Protocol-Version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !received.contains("notifications/tools/list_changed") {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => received.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no list_changed for the parked session: {other:?} {received}"),
        }
    }
    // Back, and the session that called a tool was never parked.
    wait_for_parked(&baton, 0.0, "a session stayed parked").await;
    let listed = mcp_post(&http, &url, &idle, tools_list()).await;
    assert_eq!(listed.status(), 200);
    assert!(listed.text().await.unwrap().contains("added__echo"));
    let again = mcp_post(&http, &url, &pinned, tools_list()).await;
    assert_eq!(again.status(), 200);
    drop(stream);
    observer.cancel().await.ok();
}
