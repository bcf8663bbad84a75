//! `timeout: auto`: a tool's budget follows its own latency (p99 × factor, at least `min`),
//! starting from the configured timeout until enough calls were seen; the budget in force
//! is shown in `baton__status`, a call slower than it is cut off at it, and what was learned
//! is kept in the store: a restarted Baton starts from it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

fn auto_budget(status: &Value) -> (u64, bool) {
    let budget = &status["fault"]["auto_timeouts"]["delay"];
    (
        budget["timeout_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("{status:#}")),
        budget["learned"].as_bool().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_auto_timeout_follows_the_tools_latency() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "resilience:\n  timeout: 60s\nservers:\n  fault:\n    {}\n    resilience:\n      auto_timeout: {{ factor: 3, min: 200ms, min_calls: 10 }}\n      tools:\n        delay: {{ timeout: auto }}\n",
            fault_server(&[])
        ),
    );
    let (client, _) = connect_stdio(&config).await;
    // Not enough calls yet: the configured timeout.
    assert_eq!(auto_budget(&status(&client).await), (60_000, false));
    for _ in 0..12 {
        let result = call(&client, "fault__delay", json!({"ms": 60})).await;
        assert_ne!(result.is_error, Some(true), "{}", text_of(&result));
    }
    let (budget, learned) = auto_budget(&status(&client).await);
    assert!(learned, "the budget is learned after 12 calls");
    assert!(
        (200..2_000).contains(&budget),
        "p99 (~60 ms) × 3, at least 200 ms: {budget} ms"
    );
    // A call far slower than the tool usually is: cut off at the learned budget, not 60 s.
    let started = Instant::now();
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__delay".to_owned());
    params.arguments = json!({"ms": 8_000}).as_object().cloned();
    let outcome = client.peer().call_tool(params).await;
    let elapsed = started.elapsed();
    let said = match outcome {
        Ok(result) => {
            assert_eq!(result.is_error, Some(true), "{}", text_of(&result));
            text_of(&result)
        }
        Err(error) => error.to_string(),
    };
    assert!(
        said.contains("timed out") || said.contains("timeout"),
        "{said}"
    );
    assert!(
        elapsed < Duration::from_secs(6),
        "cut off at the learned budget ({budget} ms), took {elapsed:?}"
    );

    // Baton stops (and saves what it learned); a new one starts from it, before any call.
    client.cancel().await.unwrap();
    let store = baton_store::Store::open(&dir.path().join(".baton/baton.db"), 1024)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let saved = loop {
        let rows = store.learned().await.unwrap();
        if let Some(row) = rows
            .into_iter()
            .find(|r| r.server == "fault" && r.name == "delay")
        {
            break row;
        }
        assert!(Instant::now() < deadline, "the statistics were never saved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(saved.calls >= 12, "{saved:?}");
    assert!(!saved.samples_ms.is_empty() && saved.samples_ms.len() <= baton_store::MAX_SAMPLES);
    let (client, _) = connect_stdio(&config).await;
    let (again, learned) = auto_budget(&status(&client).await);
    assert!(
        learned,
        "the restarted Baton starts from the saved statistics"
    );
    assert!((200..2_000).contains(&again), "{again} ms");
    let _ = client.cancel().await;
}
