//! Real clients against `baton serve`: the Python SDK (`mcp` 2.3.0) in `auto` and `legacy`
//! modes, and the MCP Inspector CLI, over stdio, streamable HTTP and legacy SSE.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

fn python_client(args: &[&str]) -> Value {
    let output = Command::new(peer("python"))
        .arg(repo_root().join("tests/clients/py_client.py"))
        .args(args)
        .output()
        .expect("run the Python client");
    assert!(
        output.status.success(),
        "Python client {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("Python client printed no JSON: {stdout}"))
}

fn assert_served(report: &Value, protocol: &str) {
    assert_eq!(report["protocol"], protocol, "{report}");
    assert_eq!(report["echo"], "Echo: from python", "{report}");
    assert_eq!(report["echo_is_error"], false);
    assert_eq!(report["status_is_error"], false);
    let tools = report["tools"].as_array().unwrap();
    assert!(tools.iter().any(|t| t == "baton__status"), "{report}");
}

#[test]
fn python_sdk_over_stdio_in_auto_and_legacy_modes() {
    let dir = TestDir::new();
    let config = everything_config(&dir);
    let baton = baton_bin();
    let stdio = [
        "--stdio",
        baton.to_str().unwrap(),
        "serve",
        "--config",
        config.to_str().unwrap(),
    ];
    let auto = python_client(&[&["--mode", "auto"], &stdio[..]].concat());
    assert_served(&auto, "2026-07-28");
    let legacy = python_client(&[&["--mode", "legacy"], &stdio[..]].concat());
    assert_served(&legacy, "2025-11-25");
}

#[test]
fn python_sdk_over_streamable_http_and_sse() {
    let dir = TestDir::new();
    let baton = BatonHttp::start(&everything_config(&dir));
    let url = baton.mcp_url();
    assert_served(
        &python_client(&["--mode", "auto", "--http", &url]),
        "2026-07-28",
    );
    assert_served(
        &python_client(&["--mode", "legacy", "--http", &url]),
        "2025-11-25",
    );
    let sse = format!("{}/sse", baton.base);
    assert_served(
        &python_client(&["--mode", "legacy", "--sse", &sse]),
        "2025-11-25",
    );
}

pub(crate) fn inspector(target: &[&str], method: &[&str]) -> Value {
    let output = Command::new(peer("mcp-inspector"))
        .arg("--cli")
        .args(target)
        .args(method)
        .args(["--format", "json"])
        .output()
        .expect("run the Inspector CLI");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Inspector {target:?} {method:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json_start = stdout
        .find('{')
        .unwrap_or_else(|| panic!("no JSON from the Inspector: {stdout}"));
    serde_json::from_str(&stdout[json_start..])
        .unwrap_or_else(|_| panic!("bad JSON from the Inspector: {stdout}"))
}

fn assert_inspector_works(target: &[&str]) {
    let listed = inspector(target, &["--method", "tools/list"]);
    let tools = listed["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        tools.iter().any(|t| t["name"] == "everything__echo"),
        "{listed}"
    );
    let called = inspector(
        target,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "everything__echo",
            "--tool-arg",
            "message=inspector",
        ],
    );
    assert_eq!(
        called["result"]["content"][0]["text"], "Echo: inspector",
        "{called}"
    );
}

#[test]
fn inspector_cli_over_stdio_http_and_sse() {
    let dir = TestDir::new();
    let config = everything_config(&dir);
    let baton = baton_bin();
    // The Inspector reserves --config for itself and filters the child's environment:
    // the config path goes in with -e.
    let config_env = format!("BATON_CONFIG={}", config.display());
    assert_inspector_works(&["-e", &config_env, baton.to_str().unwrap(), "serve"]);
    let server = BatonHttp::start(&config);
    assert_inspector_works(&[&server.mcp_url()]);
    assert_inspector_works(&[&format!("{}/sse", server.base)]);
}
