//! The command line: validate, tools, call, servers.

use serde_json::Value;

use crate::common::*;

#[test]
fn every_example_validates() {
    let examples = repo_root().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let mut path = entry.unwrap().path();
        if path.is_dir() {
            // A folder of examples has its own baton.yaml (examples/orchestration/).
            path = path.join("baton.yaml");
        }
        let output = std::process::Command::new(baton_bin())
            .arg("validate")
            .arg(&path)
            .env("DOCS_TOKEN", "example-token")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{} does not validate:\n{}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 3, "expected the example files, found {checked}");
}

#[test]
fn validate_reports_every_error_with_positions_and_fails() {
    let dir = TestDir::new();
    let file = dir.write(
        "bad.yaml",
        "servers:\n  a:\n    command: x\n    url: http://h/mcp\n  b:\n    url: \"${BATON_TEST_UNSET_VAR}\"\n  c:\n    command: y\n    isolation: sometimes\n",
    );
    let output = run_baton(&["validate", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 configuration errors"), "{stderr}");
    assert!(stderr.contains("bad.yaml:4:10: servers.a"), "{stderr}");
    assert!(
        stderr.contains(
            "bad.yaml:6:10: servers.b.url: environment variable BATON_TEST_UNSET_VAR is not set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad.yaml:9:16: servers.c.isolation"),
        "{stderr}"
    );
}

#[test]
fn call_prints_results_and_exits_non_zero_on_tool_errors() {
    let dir = TestDir::new();
    let config = everything_config(&dir);
    let config = config.to_str().unwrap();
    let ok = run_baton(&[
        "--config",
        config,
        "call",
        "everything__echo",
        "--args",
        r#"{"message":"cli"}"#,
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "Echo: cli");

    // A tool result with isError: true.
    let tool_error = run_baton(&[
        "--config",
        config,
        "call",
        "baton__status",
        "--args",
        r#"{"server":"nope"}"#,
    ]);
    assert_eq!(tool_error.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&tool_error.stdout).contains("no server named \"nope\""));

    let unknown = run_baton(&["--config", config, "call", "everything__nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown tool \"everything__nope\""));

    let bad_args = run_baton(&[
        "--config",
        config,
        "call",
        "everything__echo",
        "--args",
        "[1]",
    ]);
    assert_eq!(bad_args.status.code(), Some(2));
}

#[test]
fn tools_and_servers_describe_the_catalog() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n    tools:\n      allow: [\"echo\", \"get-*\"]\n      deny: [\"get-env\"]\n    rename:\n      echo: say\n",
            peer("mcp-server-everything").display()
        ),
    );
    let config = config.to_str().unwrap();
    let output = run_baton(&[
        "--config",
        config,
        "tools",
        "--server",
        "everything",
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tools: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"everything__say"),
        "renamed echo: {names:?}"
    );
    assert!(names.contains(&"everything__get-sum"), "{names:?}");
    assert!(!names.contains(&"everything__get-env"), "denied: {names:?}");
    assert!(
        !names.iter().any(|n| n.contains("trigger")),
        "not allowed: {names:?}"
    );
    let say = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "everything__say")
        .unwrap();
    assert_eq!(say["original_name"], "echo");

    let output = run_baton(&["--config", config, "servers", "--json"]);
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["servers"][0]["name"], "everything");
    assert_eq!(status["servers"][0]["state"], "ready");

    // Without any configuration, the built-in server still answers.
    let empty = TestDir::new();
    let output = std::process::Command::new(baton_bin())
        .args(["call", "baton__status"])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"servers\": []"));
}

#[test]
fn claude_desktop_files_are_accepted_as_is() {
    let dir = TestDir::new();
    let config = dir.write(
        "claude_desktop_config.json",
        &format!(
            r#"{{"mcpServers": {{"everything": {{"command": "{}", "args": [], "env": {{"LOG_LEVEL": "warn"}}}}}}}}"#,
            peer("mcp-server-everything").display()
        ),
    );
    let output = run_baton(&[
        "--config",
        config.to_str().unwrap(),
        "call",
        "everything__echo",
        "--args",
        r#"{"message":"json"}"#,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "Echo: json");
}
