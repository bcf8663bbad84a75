//! Sessions that are left alone: `serve.sessions.idle_timeout` closes an idle streamable
//! HTTP session (its place freed, `baton_sessions_open` back down, a request on it gets
//! 404, so the client initializes again), `serve.sessions.init_timeout` closes one whose
//! client never finished its handshake, and `serve.sessions.per_client` caps what one
//! client address holds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const ACCEPT: &str = "application/json, text/event-stream";

/// An `initialize` without a session: (status, the new session's id, the body).
async fn initialize(
    http: &reqwest::Client,
    url: &str,
) -> (reqwest::StatusCode, Option<String>, String) {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "left", "version": "1"}}
    });
    let response = http
        .post(url)
        .header("Accept", ACCEPT)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|id| id.to_str().unwrap().to_owned());
    (status, session, response.text().await.unwrap())
}

/// `body` posted on session `id`.
async fn post(http: &reqwest::Client, url: &str, id: &str, body: Value) -> reqwest::Response {
    http.post(url)
        .header("Accept", ACCEPT)
        .header("Mcp-Session-Id", id)
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `baton_sessions_open` for streamable HTTP, from `/metrics`.
async fn sessions_open(baton: &BatonHttp) -> Option<f64> {
    let metrics = reqwest::get(format!("{}/metrics", baton.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find(|line| line.starts_with("baton_sessions_open{transport=\"streamable_http\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Waits (bounded) until `open` sessions are counted; the sessions are looked at, never touched.
async fn wait_for_open(baton: &BatonHttp, open: f64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sessions_open(baton).await != Some(open) {
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
    let (status, session, _) = initialize(&http, &url).await;
    assert!(status.is_success());
    let session = session.unwrap();
    let done = post(&http, &url, &session, initialized()).await;
    assert!(done.status().is_success(), "{done:?}");
    assert_eq!(sessions_open(&baton).await, Some(1.0));
    wait_for_open(&baton, 0.0, "the idle session was never closed").await;
    let late = post(&http, &url, &session, tools_list()).await;
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
    let (first, kept, _) = initialize(&http, &url).await;
    let (second, _, _) = initialize(&http, &url).await;
    assert!(first.is_success() && second.is_success());
    let (third, none, body) = initialize(&http, &url).await;
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
        let (status, _, body) = initialize(&http, &url).await;
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
    let half = initialize(&http, &url).await.1.unwrap();
    let whole = initialize(&http, &url).await.1.unwrap();
    let done = post(&http, &url, &whole, initialized()).await;
    assert!(done.status().is_success(), "{done:?}");
    assert_eq!(sessions_open(&baton).await, Some(2.0));
    wait_for_open(&baton, 1.0, "the half-open session was never closed").await;
    assert_eq!(post(&http, &url, &half, tools_list()).await.status(), 404);
    let kept = post(&http, &url, &whole, tools_list()).await;
    assert!(
        kept.status().is_success(),
        "the initialized session stays: {kept:?}"
    );
}
