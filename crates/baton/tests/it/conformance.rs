//! The official MCP conformance suite against the real binary (`scripts/conformance.sh`, both
//! spec revisions): the number of passing checks must not fall below what was measured when
//! docs/CONFORMANCE.md was written, and every scenario that document marks "pass" must still
//! pass fully. Raise the numbers below when Baton gets better; never lower them to make a
//! regression go away.

use std::{fs, path::Path, process::Command};

use serde_json::Value;

/// Checks that passed, both revisions combined (docs/CONFORMANCE.md, "Totals").
const MIN_PASSED_CHECKS: u64 = 280;

/// The same, per revision, so that a fall is reported where it happened.
const MIN_PASSED_PER_REVISION: [(&str, u64); 2] = [("2025-11-25", 83), ("2026-07-28", 197)];

/// Every scenario docs/CONFORMANCE.md marks "pass": each must still report zero failed checks.
const PASSING_SCENARIOS: [(&str, &[&str]); 2] = [
    (
        "2025-11-25",
        &[
            "server-initialize",
            "logging-set-level",
            "ping",
            "completion-complete",
            "tools-list",
            "tools-call-simple-text",
            "tools-call-image",
            "tools-call-audio",
            "tools-call-embedded-resource",
            "tools-call-mixed-content",
            "tools-call-with-logging",
            "tools-call-error",
            "tools-call-with-progress",
            "tools-call-sampling",
            "tools-call-elicitation",
            "elicitation-sep1034-defaults",
            "server-sse-multiple-streams",
            "elicitation-sep1330-enums",
            "resources-list",
            "resources-read-text",
            "resources-read-binary",
            "resources-templates-read",
            "resources-subscribe",
            "resources-unsubscribe",
            "prompts-list",
            "prompts-get-simple",
            "prompts-get-with-args",
            "prompts-get-embedded-resource",
            "prompts-get-with-image",
            "dns-rebinding-protection",
            "server-session-lifecycle",
            "json-schema-2020-12",
            "server-sse-polling",
        ],
    ),
    (
        "2026-07-28",
        &[
            "server-stateless",
            "completion-complete",
            "tools-list",
            "tools-call-simple-text",
            "tools-call-image",
            "tools-call-audio",
            "tools-call-embedded-resource",
            "tools-call-mixed-content",
            "tools-call-error",
            "tools-call-with-progress",
            "server-sse-multiple-streams",
            "resources-list",
            "resources-read-text",
            "resources-read-binary",
            "resources-templates-read",
            "sep-2164-resource-not-found",
            "prompts-list",
            "prompts-get-simple",
            "prompts-get-with-args",
            "prompts-get-embedded-resource",
            "prompts-get-with-image",
            "dns-rebinding-protection",
            "caching",
            "input-required-result-basic-elicitation",
            "input-required-result-basic-sampling",
            "input-required-result-basic-list-roots",
            "input-required-result-request-state",
            "input-required-result-multiple-input-requests",
            "input-required-result-multi-round",
            "input-required-result-missing-input-response",
            "input-required-result-non-tool-request",
            "input-required-result-result-type",
            "input-required-result-unsupported-methods",
            "input-required-result-tampered-state",
            "input-required-result-capability-check",
            "input-required-result-ignore-extra-params",
            "input-required-result-validate-input",
            "json-schema-2020-12",
            "http-header-validation",
            "http-custom-header-server-validation",
            // The tasks extension (SEP-2663), unscored: Baton's tasks are engine runs.
            "tasks-lifecycle",
            "tasks-capability-negotiation",
            "tasks-wire-fields",
            "tasks-request-state-removal",
            "tasks-request-headers",
            "tasks-dispatch-and-envelope",
            "tasks-required-task-error",
            "tasks-mrtr-input",
            "tasks-mrtr-composition",
        ],
    ),
];

fn count(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or(0)
}

#[test]
fn conformance_pass_count_does_not_fall() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for peer in ["conformance", "mcp-server-everything", "python"] {
        let path = root.join(".peers/bin").join(peer);
        assert!(
            path.exists(),
            "peer {peer} is missing at {}: run scripts/install-peers.sh (scripts/test.sh does); \
             the conformance suite cannot run without it",
            path.display()
        );
    }

    let out =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conformance-{}", std::process::id()));
    let output = Command::new("bash")
        .arg(root.join("scripts/conformance.sh"))
        .env("BATON_BIN", env!("CARGO_BIN_EXE_baton"))
        .env("CONFORMANCE_OUT", &out)
        .output()
        .expect("could not start bash scripts/conformance.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/conformance.sh failed ({}): Baton did not start or the suite did not run \
         (results in {})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status,
        out.display()
    );

    let summary_path = out.join("summary.json");
    let summary: Value = serde_json::from_str(
        &fs::read_to_string(&summary_path)
            .unwrap_or_else(|error| panic!("{}: {error}", summary_path.display())),
    )
    .unwrap_or_else(|error| panic!("{} is not JSON: {error}", summary_path.display()));

    let mut problems = Vec::new();
    let passed = count(&summary["totals"], "passed");
    if passed < MIN_PASSED_CHECKS {
        problems.push(format!(
            "{passed} conformance checks passed, fewer than the {MIN_PASSED_CHECKS} measured"
        ));
    }
    for (revision, minimum) in MIN_PASSED_PER_REVISION {
        let passed = count(&summary["revisions"][revision]["totals"], "passed");
        if passed < minimum {
            problems.push(format!(
                "{revision}: {passed} checks passed, fewer than the {minimum} measured"
            ));
        }
    }
    for (revision, scenarios) in PASSING_SCENARIOS {
        for scenario in scenarios {
            let result = &summary["revisions"][revision]["scenarios"][*scenario];
            if result.is_null() {
                problems.push(format!("{revision} {scenario}: did not run"));
            } else if count(result, "failed") > 0 || count(result, "passed") == 0 {
                let failures: Vec<String> = result["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|problem| problem["status"] != "WARNING")
                    .map(|problem| {
                        let id = problem["id"].as_str().unwrap_or("?");
                        let message = problem["message"].as_str().unwrap_or("");
                        format!("      {id}: {message}")
                    })
                    .collect();
                problems.push(format!(
                    "{revision} {scenario}: passed before, now {} passed, {} failed\n{}",
                    count(result, "passed"),
                    count(result, "failed"),
                    failures.join("\n")
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "conformance regressed (docs/CONFORMANCE.md; raw results in {}):\n  {}\n--- script output\n{stdout}",
        out.display(),
        problems.join("\n  ")
    );
    if passed > MIN_PASSED_CHECKS {
        eprintln!(
            "conformance improved: {passed} checks pass; raise MIN_PASSED_CHECKS (and docs/CONFORMANCE.md)"
        );
    }
    let _ = fs::remove_dir_all(&out);
}

/// Checks the client authorization scenarios passed when measured (docs/CONFORMANCE.md).
const MIN_CLIENT_PASSED_CHECKS: u64 = 447;
/// The 2025-11-25 revision's 14 client `auth/*` scenarios, the client credentials
/// extension and the 11 `auth/*` scenarios of 2026-07-28: each passes fully through
/// Baton's upstream OAuth client.
const CLIENT_AUTH_SCENARIOS: [&str; 26] = [
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
    "auth/client-credentials-basic",
    "auth/resource-mismatch",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
    "auth/authorization-server-migration",
    "auth/iss-supported",
    "auth/iss-not-advertised",
    "auth/iss-supported-missing",
    "auth/iss-wrong-issuer",
    "auth/iss-unexpected",
    "auth/iss-normalized",
    "auth/metadata-issuer-mismatch",
];

#[test]
fn conformance_client_authorization_scenarios_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for peer in ["conformance", "python"] {
        let path = root.join(".peers/bin").join(peer);
        assert!(
            path.exists(),
            "peer {peer} is missing at {}: run scripts/install-peers.sh (scripts/test.sh does)",
            path.display()
        );
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("conformance-client-{}", std::process::id()));
    let output = Command::new("bash")
        .arg(root.join("scripts/conformance-client.sh"))
        .env("BATON_BIN", env!("CARGO_BIN_EXE_baton"))
        .env("CONFORMANCE_OUT", &out)
        .output()
        .expect("could not start bash scripts/conformance-client.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/conformance-client.sh failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    let path = out.join("client-summary.json");
    let summary: Value = serde_json::from_str(
        &fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display())),
    )
    .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
    let mut problems = Vec::new();
    for scenario in CLIENT_AUTH_SCENARIOS {
        let result = &summary["scenarios"][scenario];
        if result.is_null() {
            problems.push(format!("{scenario}: did not run"));
        } else if count(result, "failed") > 0
            || count(result, "warnings") > 0
            || count(result, "passed") == 0
        {
            problems.push(format!("{scenario}: {result}"));
        }
    }
    let passed = count(&summary["totals"], "passed");
    if passed < MIN_CLIENT_PASSED_CHECKS {
        problems.push(format!(
            "{passed} client checks passed, fewer than the {MIN_CLIENT_PASSED_CHECKS} measured"
        ));
    }
    assert!(
        problems.is_empty(),
        "client conformance regressed (results in {}):\n  {}\n--- script output\n{stdout}",
        out.display(),
        problems.join("\n  ")
    );
    let _ = fs::remove_dir_all(&out);
}
