//! Traces (issue 15): with `telemetry.otlp`, a tool call is a SERVER span whose parent is
//! the client's `_meta.traceparent`; each attempt to the server is a CLIENT span under it
//! (a retried call shows its attempts as siblings), and the server receives the CLIENT
//! span's context in `_meta.traceparent`. Spans go to a real OTLP/HTTP receiver built on the
//! official `opentelemetry-proto` messages (`tests/clients/otlp_receiver.py`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

fn receiver() -> (Proc, String) {
    python_listener("otlp_receiver.py", "the OTLP receiver")
}

async fn spans(receiver: &str) -> Vec<Value> {
    reqwest::get(format!("{receiver}/spans"))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_is_one_trace_from_the_client_through_baton_to_the_server() {
    let (_receiver, receiver_url) = receiver();
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n    resilience:\n      retry: {{ attempts: 3, initial_delay: 10ms }}\n      tools:\n        flaky: {{ retry_on_error: true }}\ntelemetry:\n  service_name: baton-under-test\n  otlp:\n    endpoint: {receiver_url}\n    protocol: http/protobuf\n",
            fault_server(&[])
        ),
    );
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    dir.write(
        "workflows/pair.yaml",
        "name: pair\nsteps:\n  - id: first\n    tool: fault__echo\n    args: { message: one }\n  - id: second\n    needs: [first]\n    tool: fault__echo\n    args: { message: two }\n",
    );
    let mut baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;

    // A call carrying the client's trace context.
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__meta");
    params.arguments = json!({}).as_object().cloned();
    let mut meta = baton_mcp::rmcp::model::RequestMetaObject::default();
    meta.0.0.insert(
        "traceparent".into(),
        json!(format!("00-{TRACE_ID}-{PARENT_ID}-01")),
    );
    params.meta = Some(meta);
    let answer = client.peer().call_tool(params).await.expect("fault__meta");
    let seen: Value = serde_json::from_str(&text_of(&answer)).expect("the server's _meta");
    let upstream_parent = seen["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("no traceparent reached the server: {seen}"));
    let parts: Vec<&str> = upstream_parent.split('-').collect();
    assert_eq!(parts[1], TRACE_ID, "the server is in the client's trace");
    assert_ne!(
        parts[2], PARENT_ID,
        "the server's parent is Baton's CLIENT span"
    );

    // A call retried once: two attempts.
    let flaky = call(&client, "fault__flaky", json!({"key": "t1", "failures": 1})).await;
    assert!(
        text_of(&flaky).contains("ok after 2"),
        "{}",
        text_of(&flaky)
    );
    // A workflow run: one span, its steps children, each step's call under its step.
    let ran = call(&client, "workflow__pair", json!({})).await;
    assert_ne!(ran.is_error, Some(true), "{}", text_of(&ran));
    client.cancel().await.ok();
    // Spans are exported in batches; a clean stop sends the rest.
    assert!(baton.terminate(Duration::from_secs(20)).success());

    let deadline = Instant::now() + Duration::from_secs(15);
    let all = loop {
        let all = spans(&receiver_url).await;
        if all.iter().filter(|s| s["kind"] == "CLIENT").count() >= 5 || Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let summary: Vec<String> = all
        .iter()
        .map(|s| {
            format!(
                "{} {} trace={} span={} parent={}",
                s["kind"], s["name"], s["trace_id"], s["span_id"], s["parent_span_id"]
            )
        })
        .collect();
    let named = |name: &str| -> Vec<&Value> { all.iter().filter(|s| s["name"] == name).collect() };
    let server = named("tools/call fault__meta");
    assert_eq!(server.len(), 1, "{summary:#?}");
    let server = server[0];
    assert_eq!(server["kind"], "SERVER");
    assert_eq!(server["trace_id"], TRACE_ID);
    assert_eq!(server["parent_span_id"], PARENT_ID);
    assert_eq!(server["service"], "baton-under-test");
    let attributes = &server["attributes"];
    assert_eq!(attributes["mcp.method.name"], "tools/call");
    assert_eq!(attributes["gen_ai.tool.name"], "fault__meta");
    assert_eq!(attributes["network.transport"], "tcp");
    assert!(
        attributes["jsonrpc.request.id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{attributes}"
    );
    assert!(
        attributes["mcp.session.id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{attributes}"
    );
    assert!(
        attributes["mcp.protocol.version"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{attributes}"
    );
    // Its CLIENT span is the server's parent.
    let client_spans: Vec<&Value> = all
        .iter()
        .filter(|s| s["kind"] == "CLIENT" && s["parent_span_id"] == server["span_id"])
        .collect();
    assert_eq!(client_spans.len(), 1, "{summary:#?}");
    assert_eq!(client_spans[0]["name"], "tools/call meta");
    assert_eq!(client_spans[0]["trace_id"], TRACE_ID);
    assert_eq!(client_spans[0]["span_id"], parts[2]);

    // The retried call: one SERVER span (a new trace), two CLIENT siblings, the first failed.
    let retried = named("tools/call fault__flaky");
    assert_eq!(retried.len(), 1, "{summary:#?}");
    let attempts: Vec<&Value> = all
        .iter()
        .filter(|s| s["kind"] == "CLIENT" && s["parent_span_id"] == retried[0]["span_id"])
        .collect();
    assert_eq!(attempts.len(), 2, "{summary:#?}");
    assert!(
        attempts
            .iter()
            .all(|s| s["trace_id"] == retried[0]["trace_id"])
    );
    assert!(
        attempts
            .iter()
            .any(|s| s["attributes"]["error.type"] == "tool_error"),
        "{attempts:#?}"
    );
    assert_ne!(retried[0]["trace_id"], TRACE_ID);
    // The log line written inside the retried call carries its trace id.
    let flaky_trace = retried[0]["trace_id"].as_str().unwrap();
    let logs = baton.logs();
    assert!(
        logs.lines()
            .any(|line| line.contains("retrying a request") && line.contains(flaky_trace)),
        "{logs}"
    );

    let run = named("workflow pair");
    assert_eq!(run.len(), 1, "{summary:#?}");
    for step in ["step first", "step second"] {
        let found = named(step);
        assert_eq!(found.len(), 1, "{step}: {summary:#?}");
        assert_eq!(found[0]["parent_span_id"], run[0]["span_id"], "{step}");
        assert_eq!(found[0]["trace_id"], run[0]["trace_id"], "{step}");
        let calls: Vec<&Value> = all
            .iter()
            .filter(|s| s["kind"] == "CLIENT" && s["parent_span_id"] == found[0]["span_id"])
            .collect();
        assert_eq!(calls.len(), 1, "{step}: {summary:#?}");
        assert_eq!(calls[0]["name"], "tools/call echo");
    }
}

/// A run resumed by another `baton serve` (after a stop in the middle of a durable sleep)
/// is a new trace whose run span links to the first execution's trace.
#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_run_links_to_its_first_trace() {
    let (_receiver, receiver_url) = receiver();
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "telemetry:\n  otlp:\n    endpoint: {receiver_url}\n    protocol: http/protobuf\n\
             workflows:\n  definitions:\n    nap:\n      steps:\n        - id: first\n          set: {{ a: 1 }}\n        - id: pause\n          needs: [first]\n          sleep: 3s\n        - id: last\n          needs: [pause]\n          set: {{ b: 2 }}\n"
        ),
    );
    let mut first = BatonHttp::start(&config);
    let http = reqwest::Client::new();
    let started: Value = http
        .post(format!("{}/api/runs", first.base))
        .json(&json!({"workflow": "nap"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = started["run"].as_str().expect("a run id").to_owned();
    let state = |base: String, run: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/api/runs/{run}"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while state(first.base.clone(), run.clone()).await["steps"]["pause"]["state"] != "sleeping" {
        assert!(Instant::now() < deadline, "the run never slept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A clean stop in the middle of the sleep: the run is left for the next Baton.
    assert!(first.terminate(Duration::from_secs(20)).success());
    let second = BatonHttp::start(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while state(second.base.clone(), run.clone()).await["status"] != "succeeded" {
        assert!(
            Instant::now() < deadline,
            "the run was not resumed: {}",
            second.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The second execution's run span links to the first execution's trace, which holds
    // the step finished before the stop. (The first run span itself ends as the process
    // stops, and may miss the exporter's last flush.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let (resumed, earlier_step) = loop {
        let all = spans(&receiver_url).await;
        let resumed = all
            .iter()
            .find(|span| span["name"] == "workflow nap" && !span["links"][0].is_null())
            .cloned();
        let earlier_step = all
            .iter()
            .find(|span| span["name"] == "step first")
            .cloned();
        if let (Some(resumed), Some(earlier_step)) = (resumed, earlier_step) {
            break (resumed, earlier_step);
        }
        assert!(Instant::now() < deadline, "spans: {all:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(resumed["attributes"]["baton.run.id"], json!(run));
    assert_ne!(resumed["trace_id"], earlier_step["trace_id"], "a new trace");
    assert_eq!(
        resumed["links"][0]["trace_id"], earlier_step["trace_id"],
        "{resumed}\n{earlier_step}"
    );
    // The resumed execution's own steps are in its trace.
    let all = spans(&receiver_url).await;
    assert!(
        all.iter()
            .any(|span| span["name"] == "step last" && span["trace_id"] == resumed["trace_id"]),
        "{all:?}"
    );
}

/// What the server receives in `_meta` for a call carrying `entries` in its own `_meta`.
async fn meta_seen(client: &Client, entries: &[(&str, String)]) -> Value {
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__meta");
    params.arguments = json!({}).as_object().cloned();
    let mut meta = baton_mcp::rmcp::model::RequestMetaObject::default();
    for (key, value) in entries {
        meta.0.0.insert((*key).to_owned(), json!(value));
    }
    params.meta = Some(meta);
    let answer = client.peer().call_tool(params).await.expect("fault__meta");
    serde_json::from_str(&text_of(&answer)).expect("the server's _meta")
}

/// At `sample_ratio: 0.0` Baton starts no trace of its own, follows a client's sampled
/// parent (the server gets Baton's CLIENT span as parent), and passes an unsampled client's
/// trace context upstream as it came; only the sampled call's spans are exported.
#[tokio::test(flavor = "multi_thread")]
async fn at_ratio_zero_a_sampled_parent_is_followed_and_an_unsampled_one_passes_through() {
    let (_receiver, receiver_url) = receiver();
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\ntelemetry:\n  sample_ratio: 0.0\n  otlp:\n    endpoint: {receiver_url}\n",
            fault_server(&[])
        ),
    );
    let mut baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;

    let seen = meta_seen(
        &client,
        &[("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))],
    )
    .await;
    let upstream = seen["traceparent"].as_str().unwrap_or_default().to_owned();
    let parts: Vec<&str> = upstream.split('-').collect();
    assert_eq!(parts.len(), 4, "{seen}");
    assert_eq!(parts[1], TRACE_ID, "{seen}");
    assert_ne!(parts[2], PARENT_ID, "under Baton's CLIENT span: {seen}");

    let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00".to_owned();
    let seen = meta_seen(
        &client,
        &[
            ("traceparent", unsampled.clone()),
            ("tracestate", "vendor=value".to_owned()),
        ],
    )
    .await;
    assert_eq!(seen["traceparent"], unsampled.as_str(), "{seen}");
    assert_eq!(seen["tracestate"], "vendor=value", "{seen}");

    let seen = meta_seen(&client, &[]).await;
    assert!(
        seen.get("traceparent").is_none(),
        "no trace started: {seen}"
    );
    client.cancel().await.ok();
    assert!(baton.terminate(Duration::from_secs(20)).success());

    let deadline = Instant::now() + Duration::from_secs(15);
    let all = loop {
        let all = spans(&receiver_url).await;
        if all.len() >= 2 || Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        all.len(),
        2,
        "the sampled call's SERVER and CLIENT spans: {all:?}"
    );
    assert!(
        all.iter().all(|span| span["trace_id"] == TRACE_ID),
        "{all:?}"
    );
}
