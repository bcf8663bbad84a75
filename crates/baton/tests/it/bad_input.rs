//! Bad input never takes Baton down: each case gets a clear error and the other servers
//! keep serving.

use serde_json::{Value, json};

use crate::common::*;

fn everything_plus(extra: &str) -> String {
    format!(
        "servers:\n  everything:\n    command: {}\n{extra}",
        peer("mcp-server-everything").display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_upstreams_fail_alone_with_clear_errors() {
    let dir = TestDir::new();
    let refused = free_port();
    let config = dir.write(
        "baton.yaml",
        &everything_plus(&format!(
            r#"  missing:
    command: /nonexistent/bin/mcp-server
  refused:
    url: http://127.0.0.1:{refused}/mcp
  dies:
    command: sh
    args: ["-c", "read line; echo dying-during-initialize >&2; exit 3"]
"#
        )),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let mut status_now = status(&client).await;
    assert_eq!(status_now["everything"]["state"], "ready");
    // Every server is retried with backoff (restarted, or reconnected to), so between its
    // down states (with the error) a broken server shows a new attempt ("connecting"):
    // each one is taken as it was seen down, polling for a bounded time.
    let down = |server: &Value| {
        let state = server["state"].as_str().unwrap_or_default();
        ["failed", "restarting", "quarantined"].contains(&state)
    };
    let mut seen = std::collections::BTreeMap::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        for name in ["missing", "refused", "dies"] {
            if down(&status_now[name]) {
                seen.entry(name).or_insert_with(|| status_now[name].clone());
            }
        }
        if seen.len() == 3 || std::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status_now = status(&client).await;
    }
    let server = |name: &str| seen.get(name).unwrap_or(&status_now[name]).clone();
    let error = |name: &str| {
        server(name)["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(down(&server("missing")), "{}", server("missing"));
    assert!(
        error("missing").contains("cannot start `/nonexistent/bin/mcp-server`"),
        "{}",
        error("missing")
    );
    assert!(down(&server("refused")), "{}", server("refused"));
    assert!(
        error("refused").contains(&format!("127.0.0.1:{refused}")),
        "{}",
        error("refused")
    );
    assert!(down(&server("dies")), "{}", server("dies"));
    assert!(
        error("dies").contains("handshake") && error("dies").contains("dying-during-initialize"),
        "the error should say the handshake failed and show stderr: {}",
        error("dies")
    );

    // The healthy server keeps working.
    let echo = call(
        &client,
        "everything__echo",
        json!({"message": "still here"}),
    )
    .await;
    assert_eq!(text_of(&echo), "Echo: still here");

    // A tool of a server that is down: the error names the server and why.
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("missing__anything");
    params.arguments = Some(Default::default());
    let error = client
        .peer()
        .call_tool(params)
        .await
        .expect_err("a down server must fail");
    assert!(
        error
            .to_string()
            .contains("server \"missing\" is unavailable: cannot start"),
        "{error}"
    );
    // A tool no server has: the error names the tool.
    let params = baton_mcp::rmcp::model::CallToolRequestParams::new("nobody__anything");
    let error = client
        .peer()
        .call_tool(params)
        .await
        .expect_err("unknown tool must fail");
    assert!(
        error
            .to_string()
            .contains("unknown tool \"nobody__anything\""),
        "{error}"
    );
}

fn post(url: &str, body: impl Into<reqwest::Body>, headers: &[(&str, &str)]) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("POST");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    })
}

fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
    })
    .to_string()
}

#[test]
fn malformed_oversized_and_foreign_requests_are_refused_clearly() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "serve:\n  max_body_bytes: 4096\n");
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();

    let (status, body) = post(&url, "{not json", &[]);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("-32700") || body.to_lowercase().contains("parse"),
        "{body}"
    );

    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(10_000)
    );
    let (status, body) = post(&url, big, &[]);
    assert_eq!(status, 413, "{body}");

    let (status, body) = post(&url, initialize_body(), &[("host", "evil.example:8931")]);
    assert_eq!(status, 403, "a foreign Host must be refused: {body}");
    let (status, body) = post(
        &url,
        initialize_body(),
        &[("origin", "http://evil.example")],
    );
    assert_eq!(status, 403, "a foreign Origin must be refused: {body}");

    // The same protections on the legacy SSE endpoint.
    let message_url = format!("{}/message?sessionId=nope", baton.base);
    let (status, body) = post(&message_url, initialize_body(), &[("host", "evil.example")]);
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(&message_url, initialize_body(), &[]);
    assert_eq!(status, 404, "unknown SSE session: {body}");
    assert!(body.contains("unknown SSE session"), "{body}");

    // After all that, a normal client still gets served.
    let (status, body) = post(&url, initialize_body(), &[]);
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_methods_get_method_not_found() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "");
    let baton = BatonHttp::start(&config);
    let client = reqwest::Client::new();
    let response = client
        .post(baton.mcp_url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(initialize_body())
        .send()
        .await
        .unwrap();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a legacy session id");
    let _ = response.text().await;
    let response = client
        .post(baton.mcp_url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/frobnicate", "params": {}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let data = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .find(|data| data.starts_with('{'))
        .unwrap_or(text.as_str());
    let reply: Value =
        serde_json::from_str(data).unwrap_or_else(|_| panic!("not JSON-RPC: {text}"));
    assert_eq!(reply["error"]["code"], -32601, "{reply}");

    // Ending the session: 200 (the Python SDK warns on rmcp's 202), then it is gone.
    let ended = client
        .delete(baton.mcp_url())
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status().as_u16(), 200);
    let after = client
        .post(baton.mcp_url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(after.status().as_u16(), 404, "the session is gone");
}

/// A server that dies in the middle of a call: the call fails promptly naming it, its state
/// says so, and the other servers keep serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_crashing_mid_call_fails_alone() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n  counter:\n    {counter}\n",
            peer("mcp-server-everything").display(),
            counter = counter_server()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let crash = baton_mcp::rmcp::model::CallToolRequestParams::new("counter__crash");
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.peer().call_tool(crash),
    )
    .await
    .expect("a call to a crashed server must not hang");
    let error = outcome.expect_err("the call must fail");
    assert!(
        error.to_string().contains("counter"),
        "the error should name the server: {error}"
    );

    let echo = call(
        &client,
        "everything__echo",
        json!({"message": "unaffected"}),
    )
    .await;
    assert_eq!(text_of(&echo), "Echo: unaffected");
    // The crash is noticed and reported (the restart itself is tested in resilience.rs).
    let mut noticed = false;
    for _ in 0..50 {
        if baton.wait_for_log("upstream went away") {
            noticed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(noticed, "the crash was not logged: {}", baton.logs());
}
