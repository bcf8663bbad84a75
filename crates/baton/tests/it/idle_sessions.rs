//! `serve.sessions.idle_timeout`: a streamable HTTP session with no request for that long is
//! closed (its place freed, `baton_sessions_open` back down), and a request on it gets 404,
//! so the client initializes again.

use std::time::{Duration, Instant};

use crate::common::*;

const ACCEPT: &str = "application/json, text/event-stream";

fn sessions_open(metrics: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with("baton_sessions_open{transport=\"streamable_http\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_is_closed_after_idle_timeout() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "serve:\n  sessions:\n    idle_timeout: 1s\n");
    let baton = BatonHttp::start(&config);
    let http = reqwest::Client::new();
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "idle", "version": "1"}}
    });
    let opened = http
        .post(baton.mcp_url())
        .header("Accept", ACCEPT)
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert!(opened.status().is_success(), "{opened:?}");
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = opened.text().await;
    let initialized = http
        .post(baton.mcp_url())
        .header("Accept", ACCEPT)
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert!(initialized.status().is_success(), "{initialized:?}");
    let metrics = || async {
        reqwest::get(format!("{}/metrics", baton.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(sessions_open(&metrics().await), Some(1.0));
    // Left alone, the session closes after about a second (looked at, never touched).
    let deadline = Instant::now() + Duration::from_secs(20);
    while sessions_open(&metrics().await) != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "the idle session was never closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let late = http
        .post(baton.mcp_url())
        .header("Accept", ACCEPT)
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-11-25")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 404, "a request on a closed session gets 404");
}

/// `serve.sessions.per_client`: one client address holds at most that many sessions; the
/// next `initialize` gets 429 naming the setting, and closing one makes room again.
#[tokio::test(flavor = "multi_thread")]
async fn one_client_address_holds_at_most_per_client_sessions() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "serve:\n  sessions:\n    per_client: 2\n");
    let baton = BatonHttp::start(&config);
    let http = reqwest::Client::new();
    let open = || async {
        let initialize = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "cap", "version": "1"}}
        });
        let response = http
            .post(baton.mcp_url())
            .header("Accept", ACCEPT)
            .json(&initialize)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let session = response
            .headers()
            .get("mcp-session-id")
            .map(|id| id.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        (status, session, body)
    };
    let (first, kept, _) = open().await;
    let (second, _, _) = open().await;
    assert!(first.is_success() && second.is_success());
    let (third, none, body) = open().await;
    assert_eq!(third, 429, "{body}");
    assert!(none.is_none());
    assert!(body.contains("serve.sessions.per_client"), "{body}");
    // Closing one makes room.
    let closed = http
        .delete(baton.mcp_url())
        .header("Mcp-Session-Id", kept.unwrap())
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{closed:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = open().await;
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
    let http = reqwest::Client::new();
    let open = || async {
        let initialize = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "half", "version": "1"}}
        });
        let response = http
            .post(baton.mcp_url())
            .header("Accept", ACCEPT)
            .json(&initialize)
            .send()
            .await
            .unwrap();
        let id = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let _ = response.text().await;
        id
    };
    let post = |id: String, body: serde_json::Value| {
        let http = http.clone();
        let url = baton.mcp_url();
        async move {
            http.post(url)
                .header("Accept", ACCEPT)
                .header("Mcp-Session-Id", id)
                .header("MCP-Protocol-Version", "2025-11-25")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let half = open().await;
    let whole = open().await;
    let done = post(
        whole.clone(),
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert!(done.status().is_success(), "{done:?}");
    let metrics = || async {
        reqwest::get(format!("{}/metrics", baton.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(sessions_open(&metrics().await), Some(2.0));
    let deadline = Instant::now() + Duration::from_secs(20);
    while sessions_open(&metrics().await) != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "the half-open session was never closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(post(half, list.clone()).await.status(), 404);
    let kept = post(whole, list).await;
    assert!(
        kept.status().is_success(),
        "the initialized session stays: {kept:?}"
    );
}
