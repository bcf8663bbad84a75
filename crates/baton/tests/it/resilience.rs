//! Time budgets: progress notifications extend a call's budget up to a hard cap.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn progress_extends_the_budget_up_to_the_hard_cap() {
    let dir = TestDir::new();
    let everything = peer("mcp-server-everything");
    let config = dir.write(
        "baton.yaml",
        &format!(
            r#"
resilience:
  timeout: 1s
servers:
  patient:
    command: {everything}
  capped:
    command: {everything}
    resilience:
      tools:
        trigger-long-running-operation: {{ timeout: 1s, max_timeout: 2s }}
"#,
            everything = everything.display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let long = json!({"duration": 3, "steps": 6}); // progress every 0.5 s for 3 s

    // 3 s of work under a 1 s budget: each progress notification resets it.
    let result = call(
        &client,
        "patient__trigger-long-running-operation",
        long.clone(),
    )
    .await;
    assert!(
        text_of(&result).to_lowercase().contains("completed"),
        "{}",
        text_of(&result)
    );

    // The same work under a 2 s hard cap fails at the cap, naming the server.
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new(
        "capped__trigger-long-running-operation",
    );
    params.arguments = long.as_object().cloned();
    let started = Instant::now();
    let error = client
        .peer()
        .call_tool(params)
        .await
        .expect_err("the hard cap must stop it");
    let took = started.elapsed();
    assert!(
        error
            .to_string()
            .contains("server \"capped\" did not answer within 2s"),
        "{error}"
    );
    assert!(
        took < Duration::from_secs(3),
        "failed at the cap, not after the work: {took:?}"
    );

    // The server is still usable.
    let echo = call(&client, "capped__echo", json!({"message": "after"})).await;
    assert_eq!(text_of(&echo), "Echo: after");
}
