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

fn counter_config(dir: &TestDir, extra: &str) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  counter:\n    {counter}\n    resilience:\n      restart: {{ initial_delay: 100ms, max_delay: 400ms }}\n{extra}",
            counter = counter_server()
        ),
    )
}

/// Polls `baton__status` until `server` is in `state` (bounded), returning its entry.
async fn wait_for_state(client: &Client, server: &str, state: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..150 {
        last = status(client).await[server].clone();
        if last["state"] == state {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{server} never reached {state}: {last}");
}

/// A stdio server killed with SIGKILL is restarted with backoff and serves again.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_stdio_server_is_restarted() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&counter_config(&dir, ""));
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let first = text_of(&call(&client, "counter__bump", json!({})).await);
    let pid: i32 = first.split_whitespace().nth(1).unwrap().parse().unwrap();
    let kill = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    wait_for_state(&client, "counter", "ready").await;
    let mut reply = String::new();
    for _ in 0..100 {
        let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("counter__bump");
        params.arguments = Some(Default::default());
        if let Ok(result) = client.peer().call_tool(params).await {
            reply = text_of(&result);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut parts = reply.split_whitespace();
    assert_eq!(
        parts.next(),
        Some("1"),
        "a fresh process counts from 1: {reply:?}"
    );
    assert_ne!(
        parts.next(),
        Some(pid.to_string().as_str()),
        "a new process: {reply:?}"
    );
    assert!(
        baton.wait_for_log("restarting upstream"),
        "{}",
        baton.logs()
    );
}

/// A server that keeps crashing is quarantined with its last stderr lines, and a restart
/// request tries it again at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_server_is_quarantined_until_asked() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            r#"servers:
  everything:
    command: {}
  flaky:
    command: sh
    args: ["-c", "echo flaky-startup-failure >&2; exit 7"]
    resilience:
      restart: {{ initial_delay: 50ms, max_delay: 200ms, max_crashes: 3, quarantine_retry: 1h }}
"#,
            peer("mcp-server-everything").display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let quarantined = wait_for_state(&client, "flaky", "quarantined").await;
    assert_eq!(quarantined["crashes"], 3, "{quarantined}");
    let tail = quarantined["stderr_tail"].to_string();
    assert!(tail.contains("flaky-startup-failure"), "{quarantined}");

    // Its tools fail fast with the reason; the healthy server is unaffected.
    let params = baton_mcp::rmcp::model::CallToolRequestParams::new("flaky__anything");
    let error = client
        .peer()
        .call_tool(params)
        .await
        .expect_err("flaky is down");
    assert!(
        error.to_string().contains("quarantined after 3 crashes"),
        "{error}"
    );
    let echo = call(&client, "everything__echo", json!({"message": "fine"})).await;
    assert_eq!(text_of(&echo), "Echo: fine");

    // Asking for a restart tries again now instead of in an hour.
    call(&client, "baton__status", json!({"restart": "flaky"})).await;
    let mut seen_retry = false;
    for _ in 0..100 {
        let state = status(&client).await["flaky"].clone();
        if state["state"] == "restarting" || state["crashes"].as_u64().is_some_and(|c| c == 1) {
            seen_retry = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen_retry || baton.wait_for_log("restart requested"),
        "{}",
        baton.logs()
    );
    assert!(baton.wait_for_log("restart requested"), "{}", baton.logs());
}

/// A transport failure is retried, after the restart, for a tool annotated idempotent; the
/// same failure is not retried for a tool without such a hint.
#[tokio::test(flavor = "multi_thread")]
async fn only_tools_safe_to_repeat_are_retried() {
    let dir = TestDir::new();
    let config = counter_config(
        &dir,
        "      retry: { attempts: 6, initial_delay: 300ms, max_delay: 1s }\n",
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;

    let marker = dir.path().join("idempotent.marker");
    let result = call(
        &client,
        "counter__crash_once_idempotent",
        json!({"marker": marker.display().to_string()}),
    )
    .await;
    assert!(
        text_of(&result).starts_with("survived"),
        "{}",
        text_of(&result)
    );
    assert!(baton.wait_for_log("retrying a request"), "{}", baton.logs());

    wait_for_state(&client, "counter", "ready").await;
    let marker = dir.path().join("unsafe.marker");
    let mut params =
        baton_mcp::rmcp::model::CallToolRequestParams::new("counter__crash_once_unsafe");
    params.arguments = json!({"marker": marker.display().to_string()})
        .as_object()
        .cloned();
    let error = client
        .peer()
        .call_tool(params)
        .await
        .expect_err("no retry for an unsafe tool");
    assert!(error.to_string().contains("counter"), "{error}");
    assert!(marker.exists(), "it ran once");
}

/// Failures open a server's circuit: its calls then fail at once with the reason, while
/// other servers are untouched; `baton__status` shows the breaker.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_failures_open_the_circuit() {
    let dir = TestDir::new();
    let everything = peer("mcp-server-everything");
    let config = dir.write(
        "baton.yaml",
        &format!(
            r#"servers:
  shaky:
    command: {everything}
    resilience:
      breaker: {{ failures: 2, open_for: 1h }}
      tools:
        trigger-long-running-operation: {{ timeout: 200ms, max_timeout: 300ms }}
  steady:
    command: {everything}
"#,
            everything = everything.display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let slow = || {
        let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new(
            "shaky__trigger-long-running-operation",
        );
        params.arguments = json!({"duration": 5, "steps": 1}).as_object().cloned();
        params
    };
    for _ in 0..2 {
        let error = client
            .peer()
            .call_tool(slow())
            .await
            .expect_err("times out");
        assert!(
            error.to_string().contains("did not answer within"),
            "{error}"
        );
    }
    // Open: even a quick tool of that server fails at once, with the reason.
    let started = Instant::now();
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("shaky__echo");
    params.arguments = json!({"message": "x"}).as_object().cloned();
    let error = client
        .peer()
        .call_tool(params)
        .await
        .expect_err("circuit open");
    assert!(
        error
            .to_string()
            .contains("circuit open after 2 failures; next probe in"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(2), "fails fast");
    let echo = call(&client, "steady__echo", json!({"message": "ok"})).await;
    assert_eq!(text_of(&echo), "Echo: ok");
    let status = status(&client).await;
    assert_eq!(
        status["shaky"]["breaker"]["state"], "open",
        "{}",
        status["shaky"]
    );
    assert_eq!(status["steady"]["breaker"]["state"], "closed");
    assert!(baton.wait_for_log("circuit opened"), "{}", baton.logs());
}

/// A tool whose server fails answers through its configured fallback, same arguments.
#[tokio::test(flavor = "multi_thread")]
async fn a_fallback_answers_when_the_primary_fails() {
    let dir = TestDir::new();
    let counter = counter_server();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  primary:\n    {counter}\n    resilience:\n      tools:\n        crash_once_unsafe: {{ fallback: [backup__crash_once_unsafe] }}\n  backup:\n    {counter}\n"
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let marker = dir.path().join("fallback.marker");
    // The primary crashes mid-call (and creates the marker); the backup then survives.
    let result = call(
        &client,
        "primary__crash_once_unsafe",
        json!({"marker": marker.display().to_string()}),
    )
    .await;
    assert!(
        text_of(&result).starts_with("survived"),
        "{}",
        text_of(&result)
    );
    assert!(
        baton.wait_for_log("answered by a fallback"),
        "{}",
        baton.logs()
    );
}

/// `degrade: hide`: a down server's tools leave tools/list (clients are told) and come back
/// when it recovers.
#[tokio::test(flavor = "multi_thread")]
async fn hidden_while_down_and_back_when_recovered() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  counter:\n    {counter}\n    resilience:\n      degrade: hide\n      restart: {{ initial_delay: 2s, max_delay: 2s }}\n",
            counter = counter_server()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, mut notifications) = connect_http(&baton.mcp_url()).await;
    assert!(
        tool_names(&client)
            .await
            .contains(&"counter__bump".to_owned())
    );
    let reply = text_of(&call(&client, "counter__bump", json!({})).await);
    let pid = reply.split_whitespace().nth(1).unwrap().to_owned();
    std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();

    let changed = collect_until(&mut notifications, Duration::from_secs(10), |seen| {
        seen.iter().any(|n| n == "tools/list_changed")
    })
    .await;
    assert!(
        changed.iter().any(|n| n == "tools/list_changed"),
        "{changed:?}"
    );
    let mut hidden = false;
    for _ in 0..40 {
        if !tool_names(&client)
            .await
            .contains(&"counter__bump".to_owned())
        {
            hidden = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hidden, "counter's tools should be hidden while it is down");
    wait_for_state(&client, "counter", "ready").await;
    assert!(
        tool_names(&client)
            .await
            .contains(&"counter__bump".to_owned()),
        "back after recovery"
    );
}

/// Live statistics of a running Baton, read with `baton servers --url … --stats`.
#[tokio::test(flavor = "multi_thread")]
async fn live_statistics_of_a_running_baton() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let (client, _) = connect_http(&baton.mcp_url()).await;
    for i in 0..3 {
        call(
            &client,
            "everything__echo",
            json!({"message": format!("{i}")}),
        )
        .await;
    }
    let url = baton.mcp_url();
    let output = tokio::task::spawn_blocking(move || {
        run_baton(&["servers", "--url", &url, "--stats", "--json"])
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let everything = &report["servers"][0];
    assert_eq!(everything["name"], "everything");
    assert_eq!(
        everything["stats"]["by_name"]["echo"]["calls"], 3,
        "{everything}"
    );
    assert_eq!(everything["stats"]["errors"], 0);
    assert!(
        everything["stats"]["latency_ms"]["p99"].as_f64().is_some(),
        "{everything}"
    );

    let table = tokio::task::spawn_blocking({
        let url = baton.mcp_url();
        move || run_baton(&["servers", "--url", &url, "--stats"])
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("calls 3") && text.contains("breaker closed"),
        "{text}"
    );
}

/// Beyond its concurrency limit and queue, a server's calls are refused at once.
#[tokio::test(flavor = "multi_thread")]
async fn an_overloaded_server_refuses_fast() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n    resilience:\n      concurrency: {{ max: 1, queue: 0 }}\n",
            peer("mcp-server-everything").display()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let long = {
        let peer = client.peer().clone();
        tokio::spawn(async move {
            let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new(
                "everything__trigger-long-running-operation",
            );
            params.arguments = json!({"duration": 2, "steps": 2}).as_object().cloned();
            peer.call_tool(params).await
        })
    };
    let mut busy = false;
    for _ in 0..100 {
        if status(&client).await["everything"]["stats"]["in_flight"] == 1 {
            busy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(busy, "the long call never started");
    let mut params = baton_mcp::rmcp::model::CallToolRequestParams::new("everything__echo");
    params.arguments = json!({"message": "x"}).as_object().cloned();
    let error = client
        .peer()
        .call_tool(params)
        .await
        .expect_err("overloaded");
    assert!(
        error
            .to_string()
            .contains("server \"everything\" is overloaded"),
        "{error}"
    );
    long.await.unwrap().expect("the long call completes");
    let echo = call(&client, "everything__echo", json!({"message": "later"})).await;
    assert_eq!(text_of(&echo), "Echo: later");
}

/// Read-only tools with a cache time are answered from the cache for equal arguments.
#[tokio::test(flavor = "multi_thread")]
async fn read_only_results_are_cached() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&counter_config(&dir, "      cache: 1h\n"));
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let peek = |arguments: serde_json::Value| {
        let client = &client;
        async move { text_of(&call(client, "counter__peek", arguments).await) }
    };
    assert_eq!(peek(json!({"key": "a"})).await, "a 1");
    assert_eq!(
        peek(json!({"key": "a"})).await,
        "a 1",
        "served from the cache"
    );
    assert_eq!(
        peek(json!({"key": "b"})).await,
        "b 2",
        "other arguments run the tool"
    );
    // `bump` is not read-only: never cached.
    let first = text_of(&call(&client, "counter__bump", json!({})).await);
    let second = text_of(&call(&client, "counter__bump", json!({})).await);
    assert_ne!(first, second);
    let text = text_of(&call(&client, "baton__status", json!({})).await);
    let full: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(full["cache"]["hits"], 1, "{}", full["cache"]);
}

/// With one server hung on many calls, calls to another keep their latency (a relative
/// bound against the same calls measured just before, in the same run).
#[tokio::test(flavor = "multi_thread")]
async fn a_hung_server_does_not_slow_the_others() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n  counter:\n    {counter}\n",
            peer("mcp-server-everything").display(),
            counter = counter_server()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    async fn median_echo(client: &Client) -> Duration {
        let mut samples = Vec::new();
        for i in 0..30 {
            let started = Instant::now();
            call(
                client,
                "everything__echo",
                json!({"message": format!("{i}")}),
            )
            .await;
            samples.push(started.elapsed());
        }
        samples.sort();
        samples[samples.len() / 2]
    }
    let before = median_echo(&client).await;
    let mut hung = Vec::new();
    for _ in 0..16 {
        let peer = client.peer().clone();
        hung.push(tokio::spawn(async move {
            let params = baton_mcp::rmcp::model::CallToolRequestParams::new("counter__hang");
            peer.call_tool(params).await
        }));
    }
    // All 16 are in flight at the hung server before measuring again.
    let mut in_flight = 0;
    for _ in 0..100 {
        in_flight = status(&client).await["counter"]["stats"]["in_flight"]
            .as_u64()
            .unwrap_or(0);
        if in_flight == 16 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(in_flight, 16);
    let during = median_echo(&client).await;
    assert!(
        during <= before * 3 + Duration::from_millis(5),
        "echo median went from {before:?} to {during:?} while another server hung"
    );
    for call in hung {
        call.abort();
    }
}

/// A tool result with `isError: true` is the server's answer: never retried, even for a
/// read-only tool with retries configured.
#[tokio::test(flavor = "multi_thread")]
async fn tool_errors_are_answers_not_retried() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&counter_config(
        &dir,
        "      retry: { attempts: 4, initial_delay: 50ms }\n",
    ));
    let (client, _) = connect_http(&baton.mcp_url()).await;
    for _ in 0..2 {
        let result = call(&client, "counter__fail", json!({})).await;
        assert_eq!(result.is_error, Some(true), "{}", text_of(&result));
    }
    let count = text_of(&call(&client, "counter__failure_count", json!({})).await);
    assert_eq!(count, "2", "each call ran the tool once");
    let stats = status(&client).await["counter"]["stats"].clone();
    assert_eq!(stats["retries"], 0, "{stats}");
    assert_eq!(
        stats["errors"], 0,
        "tool errors are answers, not server failures: {stats}"
    );
}

/// `replicas: 3` runs three processes; calls spread over them, and a replica that dies is
/// left out while it restarts.
#[tokio::test(flavor = "multi_thread")]
async fn calls_spread_over_replicas_and_avoid_a_dead_one() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  counter:\n    {counter}\n    replicas: 3\n    resilience:\n      restart: {{ initial_delay: 5s, max_delay: 5s }}\n",
            counter = counter_server()
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let initial = status(&client).await;
    for name in ["counter#1", "counter#2", "counter#3"] {
        assert_eq!(initial[name]["state"], "ready", "{initial}");
    }
    let pid_of = |reply: String| reply.split_whitespace().nth(1).unwrap().to_owned();
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..12 {
        pids.insert(pid_of(text_of(
            &call(&client, "counter__bump", json!({})).await,
        )));
    }
    assert!(
        pids.len() >= 2,
        "calls should spread over the replicas: {pids:?}"
    );

    let victim = pids.iter().next().unwrap().clone();
    std::process::Command::new("kill")
        .args(["-9", &victim])
        .status()
        .unwrap();
    let mut noticed = false;
    for _ in 0..100 {
        let now = status(&client).await;
        if ["counter#1", "counter#2", "counter#3"]
            .iter()
            .any(|name| now[*name]["state"] != "ready")
        {
            noticed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(noticed, "the dead replica was not noticed");
    for _ in 0..9 {
        let pid = pid_of(text_of(&call(&client, "counter__bump", json!({})).await));
        assert_ne!(pid, victim, "a call went to the dead replica");
    }
}

/// `urls:` makes a pool of remote replicas, one per URL; calls are spread over them (each
/// replica answers with its own id, so the test sees which server answered).
#[tokio::test(flavor = "multi_thread")]
async fn calls_spread_over_remote_replicas() {
    let dir = TestDir::new();
    let (_first, first_port) = fault_http(&["--id", "first"]);
    let (_second, second_port) = fault_http(&["--id", "second"]);
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  remote:\n    urls: [\"http://127.0.0.1:{first_port}/mcp\", \"http://127.0.0.1:{second_port}/mcp\"]\n    transport: streamable-http\n"
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let mut answered = std::collections::BTreeMap::new();
    for _ in 0..20 {
        let reply = text_of(&call(&client, "remote__whoami", json!({})).await);
        let id = reply
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        *answered.entry(id).or_insert(0) += 1;
    }
    assert_eq!(
        answered.keys().map(String::as_str).collect::<Vec<_>>(),
        ["first", "second"],
        "both servers answered: {answered:?}"
    );
    let status = status(&client).await;
    for name in ["remote#1", "remote#2"] {
        assert_eq!(status[name]["state"], "ready", "{status}");
        let calls = status[name]["stats"]["calls"].as_u64().unwrap_or(0);
        assert!(calls > 0, "{name} got no calls: {status}");
    }
}
