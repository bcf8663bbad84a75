//! Structured logs (issue 15): `--log-format json`, `BATON_LOG_FORMAT` and `logging.format`
//! make every stderr line of `baton serve --http` one JSON object, checked with jq (installed
//! by scripts/install-peers.sh); a bad format is a config error with its position.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::json;

use crate::common::*;

/// Asserts that `line` is a JSON object with a timestamp, level and target, by jq.
fn assert_json_line(line: &str) {
    let mut jq = Command::new("jq")
        .args(["-e", "has(\"timestamp\") and has(\"level\") and has(\"target\") and (.fields | type == \"object\")"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("jq is missing: run scripts/install-peers.sh (it installs jq)");
    jq.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    let output = jq.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "not a JSON log line with timestamp, level, target and fields: {line:?} ({})",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Serves with `config` and `extra` arguments, makes a few calls (one that fails), stops,
/// and checks every stderr line.
async fn every_line_is_json(config: &std::path::Path, extra: &[&str]) {
    let mut baton = BatonHttp::start_with(config, extra);
    let (client, _notes) = connect_http(&baton.mcp_url()).await;
    call(&client, "fault__echo", json!({"message": "hi"})).await;
    let failed = call(&client, "fault__fail", json!({"message": "no"})).await;
    assert_eq!(failed.is_error, Some(true));
    client.cancel().await.ok();
    assert!(baton.terminate(Duration::from_secs(20)).success());
    let lines = baton.stderr.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("baton: listening on")),
        "{lines:?}"
    );
    assert!(lines.len() >= 3, "too few log lines to check: {lines:?}");
    for line in &lines {
        assert_json_line(line);
    }
}

fn fault_config(dir: &TestDir, extra: &str) -> std::path::PathBuf {
    dir.write(
        "baton.yaml",
        &format!("{extra}servers:\n  fault:\n    {}\n", fault_server(&[])),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn log_format_json_makes_every_stderr_line_a_json_object() {
    let dir = TestDir::new();
    let config = fault_config(&dir, "");
    every_line_is_json(&config, &["--log-format", "json"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_format_json_in_the_file_does_the_same() {
    let dir = TestDir::new();
    let config = fault_config(&dir, "logging:\n  format: json\n");
    every_line_is_json(&config, &[]).await;
}

#[test]
fn a_bad_logging_format_is_a_config_error_with_its_position() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "logging:\n  format: xml\n");
    let output = run_baton(&["validate", config.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "baton.yaml:2:11: logging.format: \"xml\" is not a log format: write text or json"
        ),
        "{text}"
    );
}
