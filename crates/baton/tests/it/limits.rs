//! Message sizes (issue 12): a large answer passes through whole; one over
//! `max_message_bytes` fails its call at once with an error naming the server, the size and
//! the setting — never a silent drop and a timeout.

use std::time::{Duration, Instant};

use baton_mcp::rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};

use crate::common::*;

const SIZE: usize = 10_000_000;

async fn big_client(url: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned())
        .max_json_response_size(128 << 20)
        .max_sse_event_size(128 << 20);
    let (handler, _) = recording_client();
    let client = handler
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connect");
    wait_connected(&client).await;
    client
}

fn big_call() -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new("counter__big_text");
    params.arguments = serde_json::json!({"size": SIZE}).as_object().cloned();
    params
}

#[tokio::test(flavor = "multi_thread")]
async fn a_10_mb_answer_passes_through_whole() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!("servers:\n  counter:\n    {}\n", counter_server()),
    );
    let baton = BatonHttp::start(&config);
    let client = big_client(&baton.mcp_url()).await;
    let result = client.peer().call_tool(big_call()).await.expect("big_text");
    let text = text_of(&result);
    assert_eq!(text.len(), SIZE);
    let expected = ("0123456789".repeat(SIZE / 10 + 1))[..SIZE].to_owned();
    assert!(text == expected, "the text was changed on the way");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_over_max_message_bytes_fails_at_once_naming_the_limit() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  counter:\n    {}\n    max_message_bytes: 8MiB\n",
            counter_server()
        ),
    );
    let baton = BatonHttp::start(&config);
    let client = big_client(&baton.mcp_url()).await;
    let started = Instant::now();
    let outcome = client.peer().call_tool(big_call()).await;
    let elapsed = started.elapsed();
    let message = match outcome {
        Err(error) => error.to_string(),
        Ok(result) => text_of(&result),
    };
    assert!(message.contains("counter"), "{message}");
    assert!(message.contains("max_message_bytes"), "{message}");
    assert!(message.contains("8388608"), "{message}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}: {message}");
    // The server's session is intact: a small call still works.
    let mut small = CallToolRequestParams::new("counter__big_text");
    small.arguments = serde_json::json!({"size": 20}).as_object().cloned();
    let result = client.peer().call_tool(small).await.expect("small call");
    assert_eq!(text_of(&result), "01234567890123456789");
    client.cancel().await.ok();
}

/// server-everything on `port` in `mode` (a restart keeps the address).
fn everything_on(mode: &str, port: u16) -> Proc {
    let child = std::process::Command::new(peer("mcp-server-everything"))
        .arg(mode)
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start server-everything");
    wait_for_port(port, Duration::from_secs(30));
    Proc { child }
}

async fn survives_a_restart(mode: &str, url_path: &str) {
    let port = free_port();
    let upstream = everything_on(mode, port);
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!("servers:\n  remote:\n    url: http://127.0.0.1:{port}{url_path}\n"),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let first = call(
        &client,
        "remote__echo",
        serde_json::json!({"message": "before"}),
    )
    .await;
    assert!(text_of(&first).contains("before"), "{}", text_of(&first));

    drop(upstream);
    let _upstream = everything_on(mode, port);
    let started = Instant::now();
    let second = call(
        &client,
        "remote__echo",
        serde_json::json!({"message": "after"}),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(text_of(&second).contains("after"), "{}", text_of(&second));
    assert!(
        elapsed < Duration::from_secs(2),
        "{elapsed:?}\n{}",
        baton.logs()
    );
    let report = status(&client).await;
    assert!(
        report["remote"]["stats"]["session_recoveries"].as_u64() >= Some(1),
        "{report}"
    );
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_streamable_http_server_is_reconnected_within_the_call() {
    survives_a_restart("streamableHttp", "/mcp").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_legacy_sse_server_is_reconnected_within_the_call() {
    survives_a_restart("sse", "/sse").await;
}

/// A legacy session re-initialized after a restart subscribes again to the resources
/// clients watch: the client keeps getting their updates from the new server process.
#[tokio::test(flavor = "multi_thread")]
#[allow(deprecated)] // resources/subscribe is legacy-only, and a legacy session is what is recovered
async fn subscriptions_are_renewed_on_a_recovered_session() {
    let port = free_port();
    let upstream = everything_on("streamableHttp", port);
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!("servers:\n  remote:\n    url: http://127.0.0.1:{port}/mcp\n"),
    );
    let baton = BatonHttp::start(&config);
    let (client, mut notifications) = connect_http(&baton.mcp_url()).await;
    let uri = "demo://resource/static/document/architecture.md";
    let resources = client.list_all_resources().await.expect("resources");
    assert!(resources.iter().any(|r| r.uri == uri), "{resources:?}");
    client
        .subscribe(baton_mcp::rmcp::model::SubscribeRequestParams::new(uri))
        .await
        .expect("subscribe");

    drop(upstream);
    let _upstream = everything_on("streamableHttp", port);
    // The first call after the restart recovers the session; this tool makes the new
    // server process send updates of the resources its session subscribed to.
    call(
        &client,
        "remote__toggle-subscriber-updates",
        serde_json::json!({}),
    )
    .await;
    let wanted = format!("updated:{uri}");
    let received = tokio::time::timeout(Duration::from_secs(12), async {
        while let Some(note) = notifications.recv().await {
            if note == wanted {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        received,
        Ok(true),
        "no update of {uri} after the session was recovered\n{}",
        baton.logs()
    );
    assert!(baton.wait_for_log("subscribed again to the resources clients watch"));
    client.cancel().await.ok();
}

/// A client that stops reading: its 10 MB answers stay unread in its connections, while
/// another client's calls (to another server) are answered as usual and Baton's memory
/// stays bounded.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_holds_no_one_else() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  counter:\n    {}\n  fault:\n    {}\n",
            counter_server(),
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value, session: Option<String>| {
        let mut request = http
            .post(&url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .json(&body);
        if let Some(session) = session {
            request = request
                .header("Mcp-Session-Id", session)
                .header("Mcp-Protocol-Version", "2025-11-25");
        }
        request.send()
    };
    let init = post(
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "stops-reading", "version": "0"}}}),
        None,
    )
    .await
    .expect("initialize");
    let session = init
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a session");
    drop(init.bytes().await);
    post(
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(session.clone()),
    )
    .await
    .expect("initialized");
    // Four 10 MB answers whose bodies are never read (the responses are kept open).
    let mut unread = Vec::new();
    for id in 0..4 {
        let response = post(
            serde_json::json!({"jsonrpc": "2.0", "id": 10 + id, "method": "tools/call",
                "params": {"name": "counter__big_text", "arguments": {"size": SIZE}}}),
            Some(session.clone()),
        )
        .await
        .expect("the call is accepted");
        unread.push(response);
    }
    let (client, _) = connect_http(&url).await;
    // Every big answer came back from the server and was handed to its unread connection.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counter = &status(&client).await["counter"]["stats"];
        if counter["calls"].as_u64() >= Some(4) && counter["in_flight"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the big answers never came: {counter}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for round in 0..5 {
        let started = Instant::now();
        let echoed = call(
            &client,
            "fault__echo",
            serde_json::json!({"message": "here"}),
        )
        .await;
        assert!(text_of(&echoed).contains("here"), "{}", text_of(&echoed));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "call {round} took {:?} beside a client that stopped reading",
            started.elapsed()
        );
    }
    let pid = baton.proc.child.id();
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    // Four unread 20 MB answers (text and its structured copy) are held at most once each.
    assert!(rss_kb < 400 * 1024, "Baton holds {rss_kb} kB");
    drop(unread);
    client.cancel().await.ok();
}

/// The same limit on a streamable HTTP upstream (another Baton serving the counter over
/// HTTP): the oversized answer fails the call at once, naming the server and the setting.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_answer_from_an_http_upstream_fails_at_once_naming_the_limit() {
    let dir = TestDir::new();
    let inner = dir.write(
        "inner.yaml",
        &format!("servers:\n  counter:\n    {}\n", counter_server()),
    );
    let upstream = BatonHttp::start(&inner);
    let outer = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  remote:\n    url: {}\n    max_message_bytes: 8MiB\n",
            upstream.mcp_url()
        ),
    );
    let baton = BatonHttp::start(&outer);
    let client = big_client(&baton.mcp_url()).await;
    // The inner Baton lists the counter's tools once its Python server is up; the outer
    // follows its list_changed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tool_names(&client)
        .await
        .iter()
        .any(|name| name == "remote__counter__big_text")
    {
        assert!(
            Instant::now() < deadline,
            "the counter's tools never appeared\n--- inner Baton:\n{}\n--- outer Baton:\n{}",
            upstream.logs(),
            baton.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut params = CallToolRequestParams::new("remote__counter__big_text");
    params.arguments = serde_json::json!({"size": SIZE}).as_object().cloned();
    let started = Instant::now();
    let outcome = client.peer().call_tool(params).await;
    let elapsed = started.elapsed();
    let message = match outcome {
        Err(error) => error.to_string(),
        Ok(result) => {
            assert_eq!(result.is_error, Some(true), "{result:?}");
            text_of(&result)
        }
    };
    assert!(message.contains("remote"), "{message}");
    assert!(message.contains("max_message_bytes"), "{message}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}: {message}");
    // The session goes on: a small answer comes through.
    let mut small = CallToolRequestParams::new("remote__counter__big_text");
    small.arguments = serde_json::json!({"size": 20}).as_object().cloned();
    let result = client.peer().call_tool(small).await.expect("small call");
    assert_eq!(text_of(&result), "01234567890123456789");
    let report = status(&client).await;
    assert_eq!(report["remote"]["stats"]["restarts"], 0, "{report}");
    client.cancel().await.ok();
}
