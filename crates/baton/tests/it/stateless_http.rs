//! A plain stateless 2026-07-28 `tools/call` over streamable HTTP takes Baton's direct path
//! (beside rmcp, no service built for the request): its answer is the one SSE event rmcp
//! sends, the same result and the same error as rmcp's path gives; progress reaches each
//! call's own stream under the client's token, also when two clients chose the same token;
//! a client that leaves mid-call cancels the call upstream; and `serve.auth` and `access:`
//! rules hold on it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// How a test call is sent.
#[derive(Clone, Copy)]
enum Via {
    /// Plain: the direct path takes it.
    Plain,
    /// With a log level in `_meta`: it goes through rmcp.
    Rmcp,
    /// Plain, with this progress token.
    Progress(&'static str),
}

fn meta(via: Via) -> Value {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "stateless-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    match via {
        Via::Plain => {}
        Via::Rmcp => meta["io.modelcontextprotocol/logLevel"] = json!("error"),
        Via::Progress(token) => meta["progressToken"] = json!(token),
    }
    meta
}

/// A stateless call of `tool`.
fn post(
    http: &reqwest::Client,
    url: &str,
    id: u64,
    tool: &str,
    arguments: Value,
    via: Via,
) -> reqwest::RequestBuilder {
    let body = json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": meta(via)}
    });
    http.post(url)
        .header("Accept", MCP_ACCEPT)
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", tool)
        .json(&body)
}

/// (status, content type, whether the body came with a length, the messages).
async fn answer(request: reqwest::RequestBuilder) -> (u16, String, bool, Vec<Value>) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let sized = response.headers().contains_key("content-length");
    let body = response.text().await.unwrap();
    (status, kind, sized, mcp_messages(&body))
}

fn config(dir: &TestDir) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!("servers:\n  fault:\n    {}\n", fault_server(&[])),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_stateless_call_is_answered_directly_as_rmcp_would() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let url = baton.mcp_url();
    let http = reqwest::Client::new();
    let echo = json!({"message": "hello"});
    let (status, kind, sized, direct) = answer(post(
        &http,
        &url,
        1,
        "fault__echo",
        echo.clone(),
        Via::Plain,
    ))
    .await;
    assert_eq!((status, kind.as_str()), (200, "text/event-stream"));
    // rmcp streams its answer in chunks; the direct path sends it whole, with a length.
    assert!(sized, "the plain call did not take the direct path");
    let (status, kind, sized, through_rmcp) =
        answer(post(&http, &url, 2, "fault__echo", echo, Via::Rmcp)).await;
    assert_eq!((status, kind.as_str()), (200, "text/event-stream"));
    assert!(!sized, "a call with a log level must go through rmcp");
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert_eq!(direct[0]["id"], 1);
    assert_eq!(
        direct[0]["result"]["content"][0]["text"], "hello",
        "{direct:?}"
    );
    assert_eq!(direct[0]["result"], through_rmcp[0]["result"]);

    // An unknown tool: the same error on both paths.
    let (status, _, sized, direct) =
        answer(post(&http, &url, 3, "fault__nope", json!({}), Via::Plain)).await;
    let (_, _, _, through_rmcp) =
        answer(post(&http, &url, 4, "fault__nope", json!({}), Via::Rmcp)).await;
    assert_eq!(status, 200);
    assert!(sized);
    assert_eq!(direct[0]["error"], through_rmcp[0]["error"], "{direct:?}");
    assert!(
        direct[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fault__nope")
    );

    // A header that contradicts the body goes to rmcp, which refuses it.
    let mismatched = post(
        &http,
        &url,
        5,
        "fault__echo",
        json!({"message": "x"}),
        Via::Plain,
    )
    .header("Mcp-Name", "fault__other");
    let (status, _, _, refused) = answer(mismatched).await;
    assert_eq!(status, 400, "{refused:?}");
    assert_eq!(refused[0]["error"]["code"], -32020, "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_that_leaves_mid_call_cancels_it_upstream() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&config(&dir));
    let url = baton.mcp_url();
    let http = reqwest::Client::new();
    let call = post(
        &http,
        &url,
        1,
        "fault__delay",
        json!({"ms": 30000}),
        Via::Plain,
    )
    .timeout(Duration::from_millis(1500));
    let left = call.send().await;
    assert!(left.is_err(), "the 30 s call answered: {left:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !baton
        .logs()
        .contains("the client cancelled a request; cancelled upstream too")
    {
        assert!(
            Instant::now() < deadline,
            "the call was not cancelled upstream:\n{}",
            baton.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Baton goes on serving.
    let (status, _, _, messages) = answer(post(
        &http,
        &url,
        2,
        "fault__echo",
        json!({"message": "after"}),
        Via::Plain,
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(messages[0]["result"]["content"][0]["text"], "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_with_the_same_progress_token_each_get_their_own_progress() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let url = baton.mcp_url();
    let http = reqwest::Client::new();
    let operation = "everything__trigger-long-running-operation";
    // Both clients chose the token "p"; their operations differ in their number of steps.
    let operation_of = |steps: u32| {
        let arguments = json!({"duration": 2, "steps": steps});
        post(&http, &url, 1, operation, arguments, Via::Progress("p"))
    };
    let (four, two) = (operation_of(4), operation_of(2));
    let (four, two) = tokio::join!(answer(four), answer(two));
    for ((status, kind, sized, messages), steps) in [(four, 4.0), (two, 2.0)] {
        assert_eq!((status, kind.as_str()), (200, "text/event-stream"));
        assert!(!sized, "progress first: the answer is streamed");
        let (answer, progress) = messages.split_last().expect("messages");
        assert_eq!(answer["id"], 1, "{messages:?}");
        assert!(
            answer["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|text| text.contains("completed")),
            "{messages:?}"
        );
        assert!(
            !progress.is_empty(),
            "no progress reached the client: {messages:?}"
        );
        for message in progress {
            assert_eq!(message["method"], "notifications/progress", "{messages:?}");
            assert_eq!(message["params"]["progressToken"], "p", "{messages:?}");
            assert_eq!(
                message["params"]["total"].as_f64(),
                Some(steps),
                "another call's progress: {messages:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_path_keeps_serve_auth_and_access_rules() {
    const EVE: &str = "eve-key-0123456789abcdef";
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  auth:\n    api_keys:\n      eve: \"{EVE}\"\naccess:\n  - who: [eve]\n    allow: [\"fault__echo\"]\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();
    let http = reqwest::Client::new();
    let echo = || {
        post(
            &http,
            &url,
            1,
            "fault__echo",
            json!({"message": "hi"}),
            Via::Plain,
        )
    };
    // No credential: refused before any path.
    let response = echo().send().await.unwrap();
    assert_eq!(response.status(), 401);
    // Eve may call what her rule allows, on the direct path.
    let (status, _, sized, messages) = answer(echo().bearer_auth(EVE)).await;
    assert_eq!(status, 200);
    assert!(sized, "not the direct path");
    assert_eq!(
        messages[0]["result"]["content"][0]["text"], "hi",
        "{messages:?}"
    );
    // And nothing else: the same answer as for a tool that does not exist.
    let delay = post(&http, &url, 2, "fault__delay", json!({"ms": 1}), Via::Plain);
    let (status, _, sized, denied) = answer(delay.bearer_auth(EVE)).await;
    let missing = post(&http, &url, 3, "fault__nope", json!({}), Via::Plain);
    let (_, _, _, unknown) = answer(missing.bearer_auth(EVE)).await;
    assert_eq!(status, 200);
    assert!(sized, "not the direct path");
    assert!(
        denied[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fault__delay"),
        "{denied:?}"
    );
    assert_eq!(
        denied[0]["error"]["code"], unknown[0]["error"]["code"],
        "{denied:?}"
    );
}
