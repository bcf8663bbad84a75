//! Derived events (issue 17, `events.derive`): the fault upstream slowed down mid-test gives
//! one `server_degraded` event, whose trigger runs the seed's `optimize_performance`
//! workflow once; fast again → `server_recovered`; a burst of timeouts →
//! `error_rate_exceeded`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    common::*,
    schedules::{events, runs, wait_until},
};

fn server_level(kind: &str, config: &std::path::Path) -> Vec<Value> {
    of(kind, config, "fault")
}

/// The server-level events of `kind` for `server` (tools' own events left out).
fn of(kind: &str, config: &std::path::Path, server: &str) -> Vec<Value> {
    events(config, kind)
        .into_iter()
        .filter(|event| event["data"]["server"] == server && event["data"]["tool"].is_null())
        .collect()
}

#[test]
fn a_slowdown_and_an_error_burst_derive_events_that_triggers_use() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n  burst:\n    {}\n    resilience:\n      tools:\n        hang: {{ timeout: 100ms, retry: never }}\n\
             events:\n  derive:\n    every: 100ms\n    latency: {{ factor: 4, for: 1s, min_calls: 20 }}\n    errors: {{ rate: 0.5, window: 30s, min_calls: 10 }}\n\
             workflows:\n  definitions:\n    optimize_performance:\n      inputs:\n        event: {{ type: object }}\n      steps:\n        - id: note\n          set: {{ server: \"{{{{ inputs.event.data.server }}}}\", p95: \"{{{{ inputs.event.data.p95_ms }}}}\" }}\n\
             triggers:\n  on-degraded:\n    on: server_degraded\n    match: {{ server: fault }}\n    workflow: optimize_performance\n    cooldown: 1h\n",
            fault_server(&[]),
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let url = baton.mcp_url();
    tokio_run(async {
        let (client, _) = connect_http(&url).await;
        let delay = |ms: u64| {
            let client = &client;
            async move {
                call(client, "fault__delay", json!({ "ms": ms })).await;
            }
        };
        // A baseline of fast calls, then slow ones until the slowdown is reported. The slow
        // calls' delay is at least 150 ms and 5 times the slowest baseline call as the client
        // saw it (Baton's own timing of a call is shorter): on a host busy with the rest of
        // the suite, a 2-ms call may take tens of ms, and 150 ms would not be 4 × its p95.
        let mut slowest = Duration::ZERO;
        for _ in 0..40 {
            let started = Instant::now();
            delay(2).await;
            slowest = slowest.max(started.elapsed());
        }
        let slow_ms = (slowest.as_millis() as u64 * 5).clamp(150, 1_000);
        let deadline = Instant::now() + Duration::from_secs(60);
        while server_level("server_degraded", &config).is_empty() {
            assert!(
                Instant::now() < deadline,
                "no server_degraded (slow calls of {slow_ms} ms, slowest baseline call {slowest:?}): {}",
                baton.logs()
            );
            delay(slow_ms).await;
        }
        // Fast again until the slow calls leave the p95 and it stays back for `for`.
        let deadline = Instant::now() + Duration::from_secs(60);
        while server_level("server_recovered", &config).is_empty() {
            assert!(
                Instant::now() < deadline,
                "no server_recovered: {}",
                baton.logs()
            );
            for _ in 0..50 {
                delay(1).await;
            }
        }
        // A burst of timeouts, on another server (its window holds only them).
        let calls = (0..12).map(|_| {
            let client = &client;
            async move {
                let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("burst__hang");
                params.arguments = json!({}).as_object().cloned();
                let _ = client.peer().call_tool(params).await;
            }
        });
        futures::future::join_all(calls).await;
    });
    wait_until(Duration::from_secs(10), "error_rate_exceeded", || {
        !of("error_rate_exceeded", &config, "burst").is_empty()
    });
    let exceeded = of("error_rate_exceeded", &config, "burst");
    assert_eq!(exceeded.len(), 1, "{exceeded:?}");
    assert!(
        exceeded[0]["data"]["errors"].as_u64().unwrap() >= 10,
        "{exceeded:?}"
    );
    let degraded = server_level("server_degraded", &config);
    assert_eq!(degraded.len(), 1, "one slowdown, one event: {degraded:?}");
    let data = &degraded[0]["data"];
    assert!(
        data["p95_ms"].as_f64().unwrap() > 4.0 * data["baseline_ms"].as_f64().unwrap(),
        "{data}"
    );
    assert_eq!(server_level("server_recovered", &config).len(), 1);
    // The trigger ran the recovery workflow once (its cooldown holds the tool-level
    // events of the same slowdown back).
    let fired = events(&config, "trigger_fired");
    assert_eq!(fired.len(), 1, "{fired:?}");
    let run = fired[0]["data"]["run"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(10), "the recovery run", || {
        runs(&config)
            .iter()
            .any(|r| r["run"] == run && r["status"] == "succeeded")
    });
    let record = runs(&config).into_iter().find(|r| r["run"] == run).unwrap();
    assert_eq!(record["workflow"], "optimize_performance");
    assert_eq!(record["outputs"]["server"], "fault", "{record}");
}
