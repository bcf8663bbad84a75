//! `baton doctor`: a missing command, an unreachable URL, an unwritable store and a taken
//! port are each found with a fix, and the exit status is 1; a healthy config exits 0.

use serde_json::Value;

use crate::common::*;

fn doctor(config: &std::path::Path) -> (Option<i32>, Value) {
    let output = run_baton(&["doctor", "--json", "--config", config.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

fn row<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["check"] == check)
        .unwrap_or_else(|| panic!("no check {check}: {report:#}"))
}

#[test]
fn doctor_finds_what_would_fail_with_a_fix_for_each() {
    let dir = TestDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "serve:\n  http: {address}\nservers:\n  everything:\n    command: {}\n  ghost:\n    command: no-such-binary-for-baton\n  remote:\n    url: http://127.0.0.1:9/mcp\nstore:\n  path: /proc/baton-doctor/baton.db\n",
            peer("mcp-server-everything").display()
        ),
    );
    let (code, report) = doctor(&config);
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["ok"], false);
    let ghost = row(&report, "server ghost: command");
    assert_eq!(ghost["status"], "FAIL", "{ghost}");
    assert!(
        ghost["fix"].as_str().unwrap().contains("full path"),
        "{ghost}"
    );
    let remote = row(&report, "server remote");
    assert_eq!(remote["status"], "FAIL", "{remote}");
    assert!(
        remote["detail"].as_str().unwrap().contains("127.0.0.1:9"),
        "{remote}"
    );
    assert!(
        remote["fix"].as_str().unwrap().contains("reachable"),
        "{remote}"
    );
    let store = row(&report, "store");
    assert_eq!(store["status"], "FAIL", "{store}");
    assert!(
        store["fix"].as_str().unwrap().contains("store.path"),
        "{store}"
    );
    let port = row(&report, &format!("serve --http {address}"));
    assert_eq!(port["status"], "FAIL", "{port}");
    assert!(
        port["fix"].as_str().unwrap().contains("serve.http"),
        "{port}"
    );
    let everything = row(&report, "server everything");
    assert_eq!(everything["status"], "ok", "{everything}");
    assert!(
        everything["detail"].as_str().unwrap().contains("protocol"),
        "{everything}"
    );
    drop(taken);
}

#[test]
fn doctor_passes_a_healthy_config() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "serve:\n  http: 127.0.0.1:{}\nservers:\n  everything:\n    command: {}\n",
            free_port(),
            peer("mcp-server-everything").display()
        ),
    );
    let (code, report) = doctor(&config);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(row(&report, "store")["status"], "ok", "{report:#}");
    assert_eq!(row(&report, "clock")["status"], "ok");
}
