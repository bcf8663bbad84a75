//! `/healthz` and `/readyz` (issue 15): readiness follows the required servers and the store,
//! the probes answer without credentials and under any Host, never reach an upstream, and
//! are rate-limited.

use std::time::{Duration, Instant};

use baton_mcp::rmcp::{
    Peer, RoleClient,
    model::{CallToolRequestParams, CallToolResult},
};
use serde_json::{Value, json};

use crate::common::*;

/// A tool call whose failure is an answer too.
async fn call_result(
    peer: &Peer<RoleClient>,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, String> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    params.arguments = arguments.as_object().cloned();
    peer.call_tool(params)
        .await
        .map_err(|error| error.to_string())
}

/// GET `path` with `headers`: (status, JSON body).
async fn probe(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("probe answered");
    let status = response.status().as_u16();
    let body = response.json().await.expect("a JSON body");
    (status, body)
}

/// Polls `/readyz` (and runs `between` after each probe that is not yet `wanted`) until it
/// answers `wanted`, at most `limit`; the last body.
async fn readyz_until<F, Fut>(base: &str, wanted: u16, limit: Duration, mut between: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = probe(base, "/readyz", &[]).await;
        if status == wanted {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz did not answer {wanted} within {limit:?}; last: {status} {body}"
        );
        between().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["name"].as_str().map(str::to_owned))
        .collect()
}

/// The fault upstream over HTTP is killed mid-test: once a call finds it gone (its circuit
/// opens), `/readyz` is 503 naming it; restarted on the same port, it comes back and
/// `/readyz` is 200. A `required: false` server that never starts only shows as degraded.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_follows_a_required_server_down_and_back() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let upstream = fault_http_on(&address, &[]);
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "resilience:\n  restart: {{ initial_delay: 100ms, max_delay: 300ms }}\n  breaker: {{ failures: 2, open_for: 300ms }}\n  retry: {{ attempts: 1 }}\nservers:\n  remote:\n    url: http://{address}/mcp\n  optional:\n    command: /nonexistent/baton-test-server\n    required: false\n"
        ),
    );
    let baton = BatonHttp::start(&config);
    let ready = readyz_until(&baton.base, 200, Duration::from_secs(30), || async {}).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(names(&ready["degraded"]), ["optional"], "{ready}");
    assert!(
        ready["degraded"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("required: false"),
        "{ready}"
    );

    let (client, _notes) = connect_http(&baton.mcp_url()).await;
    let echo = json!({"message": "hi"});
    assert_eq!(
        text_of(&call(&client, "remote__echo", echo.clone()).await),
        "hi"
    );
    drop(upstream);
    let peer = client.peer().clone();
    let calls = || {
        let peer = peer.clone();
        let echo = echo.clone();
        async move {
            let _ = call_result(&peer, "remote__echo", echo).await;
        }
    };
    let down = readyz_until(&baton.base, 503, Duration::from_secs(20), calls).await;
    assert_eq!(down["status"], "not_ready", "{down}");
    assert_eq!(names(&down["not_ready"]), ["remote"], "{down}");
    assert!(!down["not_ready"][0]["reason"].as_str().unwrap().is_empty());

    let _upstream = fault_http_on(&address, &[]);
    let back = readyz_until(&baton.base, 200, Duration::from_secs(20), calls).await;
    assert_eq!(names(&back["not_ready"]), Vec::<String>::new(), "{back}");
    client.cancel().await.ok();
}

/// A stdio server that crashes is 503 while it waits to restart, and 200 once it is back.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_while_a_crashed_stdio_server_restarts() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  flaky:\n    {}\n    resilience:\n      restart: {{ initial_delay: 1s, max_delay: 1s }}\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    readyz_until(&baton.base, 200, Duration::from_secs(30), || async {}).await;
    let (client, _notes) = connect_http(&baton.mcp_url()).await;
    let _ = call_result(client.peer(), "flaky__crash", json!({})).await;
    let down = readyz_until(&baton.base, 503, Duration::from_secs(10), || async {}).await;
    assert_eq!(names(&down["not_ready"]), ["flaky"], "{down}");
    assert_eq!(down["not_ready"][0]["state"], "restarting", "{down}");
    readyz_until(&baton.base, 200, Duration::from_secs(20), || async {}).await;
    client.cancel().await.ok();
}

/// With `serve.auth` on, the probes still answer without credentials and under a foreign
/// Host (load balancers call by IP), while `/mcp` needs a key; their reasons stay generic;
/// and probes never reach an upstream.
#[tokio::test(flavor = "multi_thread")]
async fn probes_answer_without_credentials_and_never_reach_an_upstream() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "serve:\n  auth:\n    api_keys:\n      alice: {}\nservers:\n  fault:\n    {}\n  gone:\n    command: /nonexistent/baton-test-server\n",
            crate::auth::ALICE_KEY,
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let foreign = [("Host", "lb.example:80")];
    let (status, body) = probe(&baton.base, "/healthz", &foreign).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = probe(&baton.base, "/readyz", &foreign).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(names(&body["not_ready"]), ["gone"], "{body}");
    let reason = body["not_ready"][0]["reason"].as_str().unwrap();
    assert!(
        !reason.contains("nonexistent"),
        "a public probe said {reason}"
    );
    let mcp = reqwest::Client::new()
        .post(baton.mcp_url())
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status().as_u16(), 401, "/mcp without a key");

    // Probes read states: the upstream sees no request, whatever their number.
    let client = crate::auth::client_with(&baton.mcp_url(), crate::auth::ALICE_KEY).await;
    let calls_before = crate::common::status(&client).await["fault"]["stats"]["calls"].clone();
    for _ in 0..20 {
        probe(&baton.base, "/readyz", &[]).await;
        probe(&baton.base, "/healthz", &[]).await;
    }
    let fault = &crate::common::status(&client).await["fault"];
    assert_eq!(
        fault["stats"]["calls"], calls_before,
        "probes reached the upstream: {fault}"
    );
    client.cancel().await.ok();
}

/// Over the probes' global limit: 429 with Retry-After; a second later they answer again.
#[tokio::test(flavor = "multi_thread")]
async fn probes_over_the_rate_limit_get_429() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "servers: {}\n");
    let baton = BatonHttp::start(&config);
    let client = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..200 {
        let response = client
            .get(format!("{}/healthz", baton.base))
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("200 probes in a burst were never refused");
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "rate_limited", "{body}");
    readyz_until(&baton.base, 200, Duration::from_secs(5), || async {}).await;
}

/// An idle remote server is pinged (`resilience.ping_every`): `/readyz` turns 503 when it
/// goes away and 200 when it is back, with no call made.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_follows_an_idle_remote_server_through_pings() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let upstream = fault_http_on(&address, &[]);
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "resilience:\n  ping_every: 200ms\n  restart: {{ initial_delay: 100ms, max_delay: 300ms }}\nservers:\n  remote:\n    url: http://{address}/mcp\n"
        ),
    );
    let baton = BatonHttp::start(&config);
    let ready = readyz_until(&baton.base, 200, Duration::from_secs(30), || async {}).await;
    assert_eq!(ready["status"], "ready", "{ready}");

    drop(upstream);
    let down = readyz_until(&baton.base, 503, Duration::from_secs(20), || async {}).await;
    assert_eq!(names(&down["not_ready"]), ["remote"], "{down}");

    let _upstream = fault_http_on(&address, &[]);
    let back = readyz_until(&baton.base, 200, Duration::from_secs(20), || async {}).await;
    assert_eq!(names(&back["not_ready"]), Vec::<String>::new(), "{back}");
}
