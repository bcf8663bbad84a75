//! No hang on the call path (issue 12): Baton serves at once while its servers connect; a
//! server hung in its handshake holds no list and no call to another server; a server slower
//! than rmcp's discover probe still starts.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_server_hung_in_its_handshake_holds_no_call_to_another_server() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  hung:\n    command: python3\n    args: [\"-c\", \"import time; time.sleep(120)\"]\n  fault:\n    command: {}\n",
            fault_upstream().display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http_now(&baton.mcp_url()).await;
    assert!(
        baton.wait_for_log("upstream ready server=fault"),
        "{}",
        baton.logs()
    );
    let started = Instant::now();
    let echoed = call(&client, "fault__echo", json!({"message": "through"})).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "fault__echo took {:?} while hung was connecting",
        started.elapsed()
    );
    assert_eq!(text_of(&echoed), "through");
    assert!(
        !baton.logs().contains("upstream ready server=hung"),
        "{}",
        baton.logs()
    );
    client.cancel().await.ok();
}

/// The issue's configuration: server-everything, a server that never answers `initialize`,
/// and one that is ready only after 3 s.
fn hung_config(dir: &TestDir) -> std::path::PathBuf {
    let everything = peer("mcp-server-everything");
    dir.write(
        "baton.yaml",
        &format!(
            "servers:
  everything:
    command: {everything}
  hung:
    command: python3
    args: [\"-c\", \"import time; time.sleep(3600)\"]
    resilience: {{ connect_timeout: 4s }}
  late:
    command: sh
    args: [\"-c\", \"sleep 3; exec {everything}\"]
    resilience: {{ connect_wait: 20s }}
",
            everything = everything.display()
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_at_once_and_the_catalog_grows_as_servers_come_up() {
    let dir = TestDir::new();
    let config = hung_config(&dir);
    let baton = BatonHttp::start(&config);
    let listening = Instant::now();
    let (client, mut notifications) = connect_http_now(&baton.mcp_url()).await;

    let tools = tool_names(&client).await;
    assert!(
        listening.elapsed() < Duration::from_secs(2),
        "tools/list answered {:?} after serve listened",
        listening.elapsed()
    );
    assert!(tools.contains(&"baton__status".to_owned()), "{tools:?}");
    assert!(!tools.iter().any(|t| t.starts_with("late__")), "{tools:?}");
    let echoed = call(&client, "everything__echo", json!({"message": "first"})).await;
    assert!(
        listening.elapsed() < Duration::from_secs(2),
        "everything__echo answered {:?} after serve listened",
        listening.elapsed()
    );
    assert!(text_of(&echoed).contains("first"), "{}", text_of(&echoed));

    // The hung server is connecting now; its handshake fails after `connect_timeout`.
    let report = status(&client).await;
    assert_eq!(report["hung"]["state"], "connecting", "{report}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let report = status(&client).await;
        let error = report["hung"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if error.contains("handshake") {
            assert!(
                ["failed", "restarting", "connecting"]
                    .contains(&report["hung"]["state"].as_str().unwrap_or_default()),
                "{report}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "hung never failed: {report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The late server joins the catalog and the client is told.
    let seen = collect_until(&mut notifications, Duration::from_secs(30), |seen| {
        seen.iter().any(|n| n == "tools/list_changed")
    })
    .await;
    assert!(seen.iter().any(|n| n == "tools/list_changed"), "{seen:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tool_names(&client).await.contains(&"late__echo".to_owned()) {
        assert!(Instant::now() < deadline, "late__echo never listed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let echoed = call(&client, "late__echo", json!({"message": "late"})).await;
    assert!(text_of(&echoed).contains("late"), "{}", text_of(&echoed));
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_to_a_connecting_server_waits_for_it_then_fails_with_its_state() {
    let dir = TestDir::new();
    let config = hung_config(&dir);
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http_now(&baton.mcp_url()).await;

    // `late` is up within its connect_wait (20 s: its Node server starts slowly on a busy
    // machine) of this call: it waits, then goes.
    let started = Instant::now();
    let echoed = call(&client, "late__echo", json!({"message": "waited"})).await;
    assert!(text_of(&echoed).contains("waited"), "{}", text_of(&echoed));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    // `hung` never comes up: the call fails with its state once the wait is over.
    let started = Instant::now();
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("hung__anything");
    params.arguments = Some(serde_json::Map::new());
    let outcome = client.peer().call_tool(params).await;
    let elapsed = started.elapsed();
    let message = match outcome {
        Err(error) => error.to_string(),
        Ok(result) => text_of(&result),
    };
    assert!(message.contains("hung"), "{message}");
    assert!(
        message.contains("connect_wait") || message.contains("handshake"),
        "{message}"
    );
    assert!(elapsed < Duration::from_secs(7), "{elapsed:?}");
    client.cancel().await.ok();
}

#[test]
fn a_one_shot_call_waits_only_for_the_server_it_needs() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n  hung:\n    command: python3\n    args: [\"-c\", \"import time; time.sleep(3600)\"]\n",
            peer("mcp-server-everything").display()
        ),
    );
    let started = Instant::now();
    let output = run_baton(&[
        "call",
        "everything__echo",
        "--args",
        r#"{"message": "one-shot"}"#,
        "--config",
        config.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("one-shot"), "{stdout}");
    // The hung server's handshake timeout is 60 s; the call does not wait for it.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A stdio server that closes its stdout but keeps running: the call in flight fails at
/// once (not after its 60 s budget) naming the server, the process is stopped, and the
/// server comes back as a new process.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_closes_stdout_but_keeps_running_fails_its_call_at_once() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  counter:\n    {}\n    resilience:\n      timeout: 60s\n      restart: {{ initial_delay: 200ms }}\n",
            counter_server()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let first = text_of(&call(&client, "counter__bump", json!({})).await);
    let pid: u32 = first.split(' ').nth(1).unwrap().parse().unwrap();

    let started = Instant::now();
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("counter__close_stdout");
    params.arguments = Some(serde_json::Map::new());
    let outcome = client.peer().call_tool(params).await;
    let elapsed = started.elapsed();
    let message = match outcome {
        Err(error) => error.to_string(),
        Ok(result) => {
            assert_eq!(result.is_error, Some(true), "{result:?}");
            text_of(&result)
        }
    };
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}: {message}");
    assert!(message.contains("counter"), "{message}");

    // The old process (alive, silent) was stopped; a new one answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("counter__bump");
        params.arguments = Some(serde_json::Map::new());
        if let Ok(result) = client.peer().call_tool(params).await
            && result.is_error != Some(true)
        {
            let again = text_of(&result);
            let new_pid: u32 = again.split(' ').nth(1).unwrap().parse().unwrap();
            assert_ne!(new_pid, pid, "{again}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never came back\n{}",
            baton.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the silent process {pid} is still running"
    );
    client.cancel().await.ok();
}

/// Waits (at most `limit`) for server `slow` to be ready; fails if it was ever marked failed.
async fn ready_without_a_failed_start(baton: &BatonHttp, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !baton.logs().contains("upstream ready server=slow") {
        let logs = baton.logs();
        assert!(
            !logs.contains("upstream failed to start server=slow"),
            "{logs}"
        );
        assert!(Instant::now() < deadline, "slow never became ready: {logs}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A server that takes longer than rmcp's ten-second `server/discover` probe to answer its
/// first message (an `npx` download, a cold interpreter) is started all the same: rmcp falls
/// back to `initialize`, and the server's late answer to the probe (server-everything, a
/// 2025-11-25 server, refuses the method) no longer fails the handshake as the answer to
/// `initialize`. The first start succeeds, with no restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_slower_than_the_discover_probe_starts_at_the_first_try() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  slow:\n    command: sh\n    args: [\"-c\", \"sleep 11; exec {}\"]\n",
            peer("mcp-server-everything").display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http_now(&baton.mcp_url()).await;
    ready_without_a_failed_start(&baton, Duration::from_secs(40)).await;
    assert!(
        !baton.logs().contains("restarting upstream server=slow"),
        "{}",
        baton.logs()
    );
    let echoed = call(&client, "slow__echo", json!({"message": "late"})).await;
    assert!(text_of(&echoed).contains("late"), "{echoed:?}");
    client.cancel().await.ok();
}

/// The same for a 2026-07-28 server (the Python SDK's): having answered the probe late, it
/// serves 2026-07-28 and refuses `initialize`; Baton then starts it again and asks with
/// `server/discover` alone, and it is ready with that revision, never marked failed.
#[tokio::test(flavor = "multi_thread")]
async fn a_modern_server_slower_than_the_discover_probe_is_started_with_discover() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  slow:\n    command: sh\n    args: [\"-c\", \"sleep 11; exec {} {}\"]\n",
            peer("python").display(),
            repo_root()
                .join("tests/clients/counter_server.py")
                .display()
        ),
    );
    let baton = BatonHttp::start(&config);
    ready_without_a_failed_start(&baton, Duration::from_secs(60)).await;
    let logs = baton.logs();
    assert!(
        logs.contains("connecting with server/discover") && logs.contains("\"2026-07-28\""),
        "{logs}"
    );
}
