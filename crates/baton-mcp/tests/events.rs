//! The in-process health event stream, driven by a server that always exits at start-up
//! (`sh -c 'exit 1'`: no MCP peer needed).

use std::{path::Path, time::Duration};

use baton_mcp::{Gateway, GatewayEvent};

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_server_reports_down_restarting_and_quarantined() {
    let config = baton_core::config::parse(
        Path::new("events.yaml"),
        r#"
servers:
  flaky:
    command: sh
    args: ["-c", "exit 1"]
    resilience:
      restart: { initial_delay: 20ms, max_delay: 40ms, max_crashes: 2, quarantine_retry: 1h }
"#,
        &|_| None,
    )
    .expect("valid config");
    let gateway = Gateway::start(config, Vec::new());
    let mut events = gateway.subscribe_events();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen
        .iter()
        .any(|event| matches!(event, GatewayEvent::Quarantined { .. }))
    {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) => seen.push(event),
            _ => break,
        }
    }
    assert!(
        seen.iter().any(
            |event| matches!(event, GatewayEvent::ServerDown { server, .. } if server == "flaky")
        ),
        "{seen:?}"
    );
    assert!(
        seen.contains(&GatewayEvent::Restarting {
            server: "flaky".into(),
            attempt: 1
        }),
        "{seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&GatewayEvent::Quarantined {
            server: "flaky".into(),
            crashes: 2
        }),
        "{seen:?}"
    );
    gateway.shutdown().await;
}
