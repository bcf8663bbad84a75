//! The audit trail (issue 14): every tool call, prompt get and resource read of an
//! authenticated client — allowed, failed or refused — is recorded with its principal,
//! outcome, duration and a hash of its arguments, on SQLite and PostgreSQL; `baton audit`
//! filters them; no key or argument value appears in a record or a log line.

use serde_json::{Value, json};

use crate::auth::{ALICE_KEY, client_with};
use crate::common::*;

const BOB_KEY: &str = "bob-key-0123456789abcdefgh";
const SECRET: &str = "TOPSECRET-arg-4711";

fn audit(config: &std::path::Path, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["--config", config.to_str().unwrap(), "audit", "--json"];
    args.extend_from_slice(filters);
    let out = run_baton(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "baton audit: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(SECRET) && !stdout.contains(ALICE_KEY) && !stdout.contains(BOB_KEY));
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[test]
fn calls_allowed_failed_and_refused_are_audited_on_both_backends() {
    for (store, _pg) in each_backend() {
        tokio_run(audited_on(&store));
    }
}

async fn audited_on(store: &str) {
    {
        let dir = TestDir::new();
        let config = dir.write(
            "baton.yaml",
            &format!(
                "{store}servers:\n  fault:\n    {}\nserve:\n  auth:\n    api_keys:\n      alice: \"{ALICE_KEY}\"\n      bob: \"{BOB_KEY}\"\naccess:\n  - who: [alice]\n    allow: [\"*\"]\n  - who: [bob]\n    allow: [fault__echo]\n",
                fault_server(&[])
            ),
        );
        let mut baton = BatonHttp::start(&config);
        let url = baton.mcp_url();
        let alice = client_with(&url, ALICE_KEY).await;
        let echoed = call(&alice, "fault__echo", json!({"message": SECRET})).await;
        assert!(text_of(&echoed).contains(SECRET));
        let failed = call(&alice, "fault__fail", json!({"message": "no"})).await;
        assert_eq!(failed.is_error, Some(true));
        let bob = client_with(&url, BOB_KEY).await;
        let mut refused = baton_mcp::rmcp::model::CallToolRequestParams::new("fault__fail");
        refused.arguments = json!({"message": SECRET}).as_object().cloned();
        assert!(bob.peer().call_tool(refused).await.is_err());
        call(&bob, "fault__echo", json!({"message": "hi", "n": 1})).await;
        alice.cancel().await.ok();
        bob.cancel().await.ok();
        // Records are written in batches; a clean stop writes what is queued.
        assert!(
            baton
                .terminate(std::time::Duration::from_secs(20))
                .success()
        );

        let all = audit(&config, &[]);
        let summary: Vec<(String, String, String)> = all
            .iter()
            .map(|r| {
                (
                    r["principal"].as_str().unwrap_or("-").to_owned(),
                    r["name"].as_str().unwrap().to_owned(),
                    r["outcome"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expect =
            |who: &str, name: &str, outcome: &str| (who.into(), name.into(), outcome.into());
        assert_eq!(
            summary,
            [
                expect("bob", "fault__echo", "ok"),
                expect("bob", "fault__fail", "denied"),
                expect("alice", "fault__fail", "tool_error"),
                expect("alice", "fault__echo", "ok"),
            ],
            "{store}"
        );
        for record in &all {
            assert_eq!(record["kind"], "tool");
            let hash = record["arguments_sha256"].as_str().unwrap();
            assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(record["duration_ms"].as_i64().unwrap() >= 0);
        }
        // The same arguments, the same hash; different arguments, another.
        assert_ne!(all[0]["arguments_sha256"], all[3]["arguments_sha256"]);

        // Filters: principal, name glob, time, limit.
        assert_eq!(audit(&config, &["--principal", "bob"]).len(), 2);
        let fails = audit(&config, &["--tool", "fault__f*"]);
        assert_eq!(fails.len(), 2);
        assert!(fails.iter().all(|r| r["name"] == "fault__fail"));
        assert_eq!(audit(&config, &["--since", "1h"]).len(), 4);
        assert_eq!(
            audit(&config, &["--since", "2999-01-01T00:00:00Z"]).len(),
            0
        );
        assert_eq!(audit(&config, &["--limit", "1"]).len(), 1);

        // The table form, and a bad --since named.
        let table = run_baton(&["--config", config.to_str().unwrap(), "audit"]);
        let text = String::from_utf8_lossy(&table.stdout);
        assert!(
            text.contains("PRINCIPAL") && text.contains("denied"),
            "{text}"
        );
        let bad = run_baton(&[
            "--config",
            config.to_str().unwrap(),
            "audit",
            "--since",
            "soonish",
        ]);
        assert_eq!(bad.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bad.stderr).contains("\"soonish\""));

        let logs = baton.logs();
        for secret in [SECRET, ALICE_KEY, BOB_KEY] {
            assert!(!logs.contains(secret), "a secret was logged");
        }
    }
}

/// Without `serve.auth` nothing is recorded unless `audit.enabled` says so; then stdio
/// clients' calls are recorded without a principal.
#[tokio::test(flavor = "multi_thread")]
async fn audit_is_on_with_auth_and_on_demand_without() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!("servers:\n  fault:\n    {}\n", fault_server(&[])),
    );
    let (client, _) = connect_stdio(&config).await;
    call(&client, "fault__echo", json!({"message": "quiet"})).await;
    client.cancel().await.ok();
    assert!(audit(&config, &[]).is_empty());

    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\naudit:\n  enabled: true\n  keep_for: 7d\n",
            fault_server(&[])
        ),
    );
    let (client, _) = connect_stdio(&config).await;
    call(&client, "fault__echo", json!({"message": "recorded"})).await;
    client.cancel().await.ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let records = loop {
        let records = audit(&config, &["--tool", "fault__*"]);
        if !records.is_empty() || std::time::Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["principal"], Value::Null);
    assert_eq!(records[0]["outcome"], "ok");
}
