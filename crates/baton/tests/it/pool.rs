//! An autoscaling pool (`replicas: {min, max, target_in_flight, scale_in_after}`): a slow
//! stdio upstream under concurrent load grows from 1 to 3 replicas and shrinks back to 1
//! when idle; every call succeeds meanwhile, and each change is a `pool_scaled` event.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

fn replicas(status: &Value) -> Vec<String> {
    let mut names: Vec<String> = status
        .as_object()
        .unwrap()
        .keys()
        .filter(|name| name.starts_with("fault"))
        .cloned()
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_grows_under_load_and_shrinks_when_idle() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n    replicas: {{ min: 1, max: 3, target_in_flight: 2, scale_in_after: 2s }}\n",
            fault_server(&["--call-delay", "300"])
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    assert_eq!(replicas(&status(&client).await), ["fault#1"]);
    // Waves of 12 concurrent calls until the pool is at its max.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut calls = 0;
    loop {
        let wave: Vec<_> = (0..12)
            .map(|n| {
                let peer = client.peer().clone();
                tokio::spawn(async move {
                    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new(
                        "fault__echo".to_owned(),
                    );
                    params.arguments = json!({"message": format!("call {n}")}).as_object().cloned();
                    peer.call_tool(params).await
                })
            })
            .collect();
        for call in wave {
            let result = call
                .await
                .unwrap()
                .expect("no call fails while the pool scales");
            assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
            calls += 1;
        }
        let now = replicas(&status(&client).await);
        if now == ["fault#1", "fault#2", "fault#3"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pool never reached 3 replicas: {now:?}"
        );
    }
    assert!(calls >= 12);
    // Idle: back to one replica after scale_in_after.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = replicas(&status(&client).await);
        if now.len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the pool never shrank: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // It still answers.
    let after = call(&client, "fault__echo", json!({"message": "after"})).await;
    assert_ne!(after.is_error, Some(true), "{}", text_of(&after));
    // Each change was an event.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output = run_baton(&[
            "events",
            "--type",
            "pool_scaled",
            "--json",
            "--config",
            config.to_str().unwrap(),
        ]);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let outs = text.matches("\"out\"").count();
        let ins = text.matches("\"in\"").count();
        if outs >= 2 && ins >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "pool_scaled events: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
