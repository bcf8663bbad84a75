//! `/metrics` (issue 15): a real Prometheus server scrapes Baton and its HTTP API returns
//! the exact call counts per outcome; the scrape-time numbers agree with `baton__status`;
//! with `serve.auth`, `/metrics` on the MCP address needs credentials and `serve.metrics`
//! serves it alone on its own address.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::common::*;

/// A Prometheus server scraping `target` (HOST:PORT, path /metrics) every second.
fn prometheus(dir: &TestDir, target: &str, bearer: Option<&str>) -> (Proc, String) {
    let binary = which("prometheus").expect(
        "the prometheus server is missing: scripts/install-peers.sh installs it (apt-get install prometheus)",
    );
    let auth = bearer
        .map(|token| format!("    authorization:\n      credentials: \"{token}\"\n"))
        .unwrap_or_default();
    let config = dir.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: baton\n    scrape_interval: 1s\n{auth}    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    );
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    wait_for_port(port, Duration::from_secs(30));
    (Proc { child }, format!("http://127.0.0.1:{port}"))
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// `query`'s instant vector from Prometheus: label set → value.
async fn query(prometheus: &str, query: &str) -> Vec<(Value, f64)> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let answer: Value = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query?query={encoded}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| {
            let value: f64 = series["value"][1].as_str().unwrap().parse().unwrap();
            (series["metric"].clone(), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_the_exact_call_counts_per_outcome() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n    resilience:\n      tools:\n        hang: {{ timeout: 300ms, max_timeout: 300ms, retry: never }}\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    for i in 0..3 {
        call(&client, "fault__echo", json!({"message": format!("m{i}")})).await;
    }
    for _ in 0..2 {
        let failed = call(&client, "fault__fail", json!({"message": "no"})).await;
        assert_eq!(failed.is_error, Some(true));
    }
    let mut hang = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__hang");
    hang.arguments = json!({}).as_object().cloned();
    assert!(
        client.peer().call_tool(hang).await.is_err(),
        "the hang times out"
    );

    let target = baton.base.trim_start_matches("http://").to_owned();
    let (_prometheus, prom) = prometheus(&dir, &target, None);
    let expected = [("ok", 3.0), ("tool_error", 2.0), ("timeout", 1.0)];
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let series = query(&prom, "baton_tool_calls_total{server=\"fault\"}").await;
        let by_outcome: Vec<(String, String, f64)> = series
            .iter()
            .map(|(labels, value)| {
                (
                    labels["tool"].as_str().unwrap_or_default().to_owned(),
                    labels["outcome"].as_str().unwrap_or_default().to_owned(),
                    *value,
                )
            })
            .collect();
        if by_outcome.len() >= 3 || Instant::now() > deadline {
            break by_outcome;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for (outcome, count) in expected {
        let tool = match outcome {
            "ok" => "echo",
            "tool_error" => "fail",
            _ => "hang",
        };
        assert!(
            found.contains(&(tool.to_owned(), outcome.to_owned(), count)),
            "{outcome}: {found:?}"
        );
    }
    // Up, and the duration histogram has buckets.
    let up = query(&prom, "baton_upstream_up{server=\"fault\"}").await;
    assert_eq!(up.first().map(|s| s.1), Some(1.0), "{up:?}");
    let buckets = query(
        &prom,
        "baton_tool_call_duration_seconds_bucket{tool=\"echo\",le=\"+Inf\"}",
    )
    .await;
    assert_eq!(buckets.first().map(|s| s.1), Some(3.0), "{buckets:?}");

    // The scrape-time numbers are the status tool's.
    let status = status(&client).await;
    let attempts = status["fault"]["stats"]["calls"].as_f64().unwrap();
    let text = reqwest::get(format!("{}/metrics", baton.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(&format!(
            "baton_upstream_attempts_total{{server=\"fault\"}} {attempts}"
        )),
        "{attempts}: {text}"
    );
    for name in [
        "baton_build_info",
        "baton_process_resident_memory_bytes",
        "baton_process_open_fds",
        "baton_sessions_open{transport=\"streamable_http\"} 1",
        "baton_http_responses_total{status=\"200\"}",
        "baton_requests_total{method=\"tools/call\",transport=\"streamable_http\"}",
        "baton_upstream_state{server=\"fault\",state=\"ready\"} 1",
    ] {
        assert!(text.contains(name), "{name} missing: {text}");
    }
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_auth_metrics_need_credentials_unless_on_their_own_address() {
    let dir = TestDir::new();
    let port = free_port();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\nserve:\n  metrics: 127.0.0.1:{port}\n  auth:\n    api_keys:\n      ops: \"ops-key-0123456789abcdef\"\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let refused = reqwest::get(format!("{}/metrics", baton.base))
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let allowed = reqwest::Client::new()
        .get(format!("{}/metrics", baton.base))
        .bearer_auth("ops-key-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status().as_u16(), 200);
    assert!(
        allowed
            .text()
            .await
            .unwrap()
            .contains("baton_auth_refusals_total{reason=\"missing\"} 1")
    );
    // serve.metrics: no credentials, /metrics only; a real Prometheus scrapes it.
    let own = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(own.status().as_u16(), 200);
    let mcp = reqwest::get(format!("http://127.0.0.1:{port}/mcp"))
        .await
        .unwrap();
    assert_eq!(mcp.status().as_u16(), 404);
    let (_prometheus, prom) = prometheus(&dir, &format!("127.0.0.1:{port}"), None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = query(&prom, "up{job=\"baton\"}").await;
        if up.first().map(|s| s.1) == Some(1.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never scraped serve.metrics: {up:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The scrape's value of `metric` with these labels (exact text), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// Calls queued under a `concurrency:` limit, a fallback answering for a timed-out tool,
/// and a step waiting for approval show in `/metrics` (and the queue in the status tool).
#[tokio::test(flavor = "multi_thread")]
async fn queued_calls_fallbacks_and_waiting_steps_are_counted() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n    resilience:\n      concurrency: {{ max: 1, queue: 8 }}\n      tools:\n        hang: {{ timeout: 200ms, retry: never, fallback: [fault__echo] }}\n\
             workflows:\n  definitions:\n    gated:\n      steps:\n        - id: ask\n          approval: {{ prompt: \"ok?\" }}\n",
            fault_server(&[])
        ),
    );
    let baton = BatonHttp::start(&config);
    let (client, _) = connect_http(&baton.mcp_url()).await;
    let scrape = || async {
        reqwest::get(format!("{}/metrics", baton.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // One slow call holds the only place; two more wait for it.
    let slow = futures::future::join_all(
        (0..3).map(|_| call(&client, "fault__delay", json!({"ms": 1500}))),
    );
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = scrape().await;
            if sample(&text, "baton_upstream_queued{server=\"fault\"}") == Some(2.0) {
                break;
            }
            assert!(Instant::now() < deadline, "no queued calls seen:\n{text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let status = status(&client).await;
        assert_eq!(status["fault"]["stats"]["queued"], 2, "{status}");
    };
    tokio::join!(slow, watch);

    let answered = call(
        &client,
        "fault__hang",
        json!({"message": "from the fallback"}),
    )
    .await;
    assert!(text_of(&answered).contains("from the fallback"));
    let text = scrape().await;
    assert_eq!(
        sample(
            &text,
            "baton_tool_call_fallbacks_total{tool=\"fault__hang\",fallback=\"fault__echo\"}"
        ),
        Some(1.0),
        "{text}"
    );

    call(
        &client,
        "baton__run_workflow",
        json!({"workflow": "gated", "wait": false}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape().await;
        if sample(&text, "baton_steps_waiting") == Some(1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no waiting step:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = scrape().await;
    assert_eq!(
        sample(&text, "baton_run_takeovers_total"),
        Some(0.0),
        "{text}"
    );
}
