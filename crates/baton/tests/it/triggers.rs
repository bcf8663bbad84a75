//! Triggers against the real binary: a killed reference server starting a recovery
//! workflow once within its cooldown, signed webhooks (and the refused ones), file
//! triggers, and schedules and triggers following an edit of baton.yaml.

use std::{process::Command, time::Duration};

use crate::{
    common::*,
    schedules::{events, fired_by, runs, schedules, wait_until},
};

#[test]
fn a_killed_upstream_starts_the_recovery_workflow_once_within_its_cooldown() {
    for (store, _pg) in each_backend() {
        recovery_workflow_once_within_its_cooldown_on(&store);
    }
}

fn recovery_workflow_once_within_its_cooldown_on(store: &str) {
    let dir = TestDir::new();
    // The reference git server, on a repository only this test uses: its path picks the
    // process out for `pkill -f`.
    let repo = git_repo(dir.path());
    let id = repo.display().to_string();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "{store}servers:\n  git:\n    command: {}\n    args: [\"--repository\", \"{id}\"]\n    resilience:\n      restart: {{ initial_delay: 200ms }}\n\
             workflows:\n  definitions:\n    recover:\n      inputs:\n        event: {{ type: object }}\n      steps:\n        - id: note\n          set: {{ server: \"{{{{ inputs.event.data.server }}}}\" }}\n\
             triggers:\n  recover-git:\n    on: server_down\n    match: {{ server: git }}\n    workflow: recover\n    cooldown: 1h\n",
            peer("mcp-server-git").display()
        ),
    );
    let _baton = BatonHttp::start(&config);
    let kill = || {
        wait_until(Duration::from_secs(20), "the upstream process", || {
            Command::new("pgrep")
                .args(["-f", &id])
                .output()
                .is_ok_and(|out| out.status.success())
        });
        let status = Command::new("pkill")
            .args(["-9", "-f", &id])
            .status()
            .unwrap();
        assert!(status.success());
    };
    wait_until(Duration::from_secs(30), "the server to be up", || {
        !events(&config, "server_up").is_empty()
    });
    kill();
    wait_until(Duration::from_secs(20), "the trigger to fire", || {
        !events(&config, "trigger_fired").is_empty()
    });
    // Up at start, then again after the restart.
    wait_until(Duration::from_secs(20), "the server to come back", || {
        events(&config, "server_up").len() >= 2
    });
    kill();
    wait_until(Duration::from_secs(20), "a second server_down", || {
        events(&config, "server_down").len() >= 2
    });
    assert!(_baton.wait_for_log("cooling down"), "{}", _baton.logs());
    let fired = events(&config, "trigger_fired");
    assert_eq!(fired.len(), 1, "cooldown: {fired:?}");
    let run = fired[0]["data"]["run"].as_str().unwrap();
    wait_until(
        Duration::from_secs(10),
        "the recovery run to finish",
        || {
            runs(&config)
                .iter()
                .any(|r| r["run"] == run && r["status"] == "succeeded")
        },
    );
    let record = runs(&config).into_iter().find(|r| r["run"] == run).unwrap();
    assert_eq!(record["workflow"], "recover");
    assert_eq!(record["outputs"]["server"], "git", "{record}");
}

#[tokio::test]
async fn signed_webhooks_run_their_workflow_and_others_are_refused() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        "workflows:\n  definitions:\n    deploy:\n      inputs:\n        event: { type: object }\n      steps:\n        - id: got\n          set: { ref: \"{{ inputs.event.data.payload.ref }}\" }\n\
         triggers:\n\
         \x20 bearer-hook:\n    webhook: { secret: \"${HOOK_SECRET:-0123456789abcdef-bearer}\" }\n    workflow: deploy\n\
         \x20 github:\n    webhook: { secret: 0123456789abcdef-hmac, auth: hmac, header: X-Hub-Signature-256, max_body: 1KiB }\n    workflow: deploy\n",
    );
    let baton = BatonHttp::start(&config);
    let http = reqwest::Client::new();
    let post = |path: &str, body: &str, headers: &[(&str, String)]| {
        let mut request = http
            .post(format!("{}{path}", baton.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send()
    };
    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(status(post("/hooks/nope", "{}", &[]).await.unwrap()), 404);
    assert_eq!(
        status(post("/hooks/bearer-hook", "{}", &[]).await.unwrap()),
        401
    );
    let wrong = [("authorization", "Bearer wrong-secret".to_owned())];
    assert_eq!(
        status(post("/hooks/bearer-hook", "{}", &wrong).await.unwrap()),
        401
    );
    let body = r#"{"ref":"refs/heads/main"}"#;
    let bad_signature = [(
        "x-hub-signature-256",
        format!(
            "sha256={}",
            baton_automation::webhook::sign("another-secret-xxxx", body.as_bytes())
        ),
    )];
    assert_eq!(
        status(post("/hooks/github", body, &bad_signature).await.unwrap()),
        401
    );
    let too_big = "x".repeat(2048);
    assert_eq!(
        status(post("/hooks/github", &too_big, &[]).await.unwrap()),
        413
    );
    // Refused requests started nothing.
    assert!(events(&config, "webhook_received").is_empty());
    assert!(events(&config, "trigger_fired").is_empty());

    let right = [("authorization", "Bearer 0123456789abcdef-bearer".to_owned())];
    assert_eq!(
        status(post("/hooks/bearer-hook", body, &right).await.unwrap()),
        202
    );
    let signed = [(
        "x-hub-signature-256",
        format!(
            "sha256={}",
            baton_automation::webhook::sign("0123456789abcdef-hmac", body.as_bytes())
        ),
    )];
    assert_eq!(
        status(post("/hooks/github", body, &signed).await.unwrap()),
        202
    );
    wait_until(Duration::from_secs(10), "both runs", || {
        runs(&config)
            .iter()
            .filter(|r| r["workflow"] == "deploy" && r["status"] == "succeeded")
            .count()
            == 2
    });
    for run in runs(&config) {
        assert_eq!(run["outputs"]["ref"], "refs/heads/main", "{run}");
    }
    assert!(baton.wait_for_log("webhook refused"));
}

#[test]
fn file_triggers_debounce_and_filter_by_glob() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.path().join("watched")).unwrap();
    let config = dir.write(
        "baton.yaml",
        "triggers:\n  on-text:\n    files: { paths: [watched], include: [\"*.txt\"], debounce: 300ms }\n    tool: baton__status\n",
    );
    let _baton = BatonHttp::start(&config);
    // The watch is in place before Baton listens (triggers start first).
    std::fs::write(dir.path().join("watched/ignored.log"), "x").unwrap();
    for index in 0..3 {
        std::fs::write(dir.path().join(format!("watched/n{index}.txt")), "x").unwrap();
    }
    wait_until(Duration::from_secs(10), "a file_changed event", || {
        !events(&config, "file_changed").is_empty()
    });
    wait_until(Duration::from_secs(10), "the triggered run", || {
        runs(&config).iter().any(|r| r["status"] == "succeeded")
    });
    let changed = events(&config, "file_changed");
    let paths: Vec<String> = changed
        .iter()
        .flat_map(|e| e["data"]["paths"].as_array().unwrap().clone())
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert!(paths.iter().all(|p| p.ends_with(".txt")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("n2.txt")), "{paths:?}");
    assert_eq!(
        changed.len(),
        1,
        "three writes, one debounced event: {changed:?}"
    );
}

#[test]
fn editing_schedules_while_serving_applies_them_and_records_the_reload() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        "schedules:\n  old: { every: 1h, tool: baton__status }\n",
    );
    let _baton = BatonHttp::start(&config);
    wait_until(Duration::from_secs(10), "the declared schedule", || {
        schedules(&config).contains_key("old")
    });
    // Saved the way editors do: a new file renamed over the old one.
    let replace = |text: &str| {
        let temp = dir.write("baton.yaml.tmp", text);
        std::fs::rename(temp, &config).unwrap();
    };
    replace(
        "schedules:\n  new: { every: 1s, tool: baton__status }\n\
         triggers:\n  added: { webhook: { secret: 0123456789abcdef-added }, tool: baton__status }\n",
    );
    wait_until(Duration::from_secs(15), "the new schedule to fire", || {
        fired_by(&config).contains_key("new")
    });
    assert!(
        !schedules(&config).contains_key("old"),
        "removed from baton.yaml"
    );
    // The trigger added by the edit answers its webhook.
    let hook = format!("{}/hooks/added", _baton.base);
    let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
        reqwest::Client::new()
            .post(&hook)
            .header("authorization", "Bearer 0123456789abcdef-added")
            .body("{}")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 202);
    wait_until(Duration::from_secs(10), "the added trigger to fire", || {
        !events(&config, "trigger_fired").is_empty()
    });
    replace("schedules:\n  new: { every: 1s, tool: baton__status, overlap: sometimes }\n");
    // The CLI refuses the broken baton.yaml too: read the same store through another file.
    let config = dir.write("reader.yaml", "store: { path: .baton/baton.db }\n");
    wait_until(Duration::from_secs(15), "the rejected reload", || {
        events(&config, "config_reloaded")
            .iter()
            .any(|e| e["data"]["applied"] == false)
    });
    let reloads = events(&config, "config_reloaded");
    assert_eq!(reloads[0]["data"]["applied"], true, "{reloads:?}");
    let rejected = reloads
        .iter()
        .find(|e| e["data"]["applied"] == false)
        .unwrap();
    assert!(
        rejected["data"]["errors"]
            .as_str()
            .unwrap()
            .contains("schedules.new.overlap"),
        "{rejected}"
    );
    // The running schedule stays in force.
    let before = fired_by(&config)["new"].len();
    wait_until(Duration::from_secs(10), "further fires", || {
        fired_by(&config)["new"].len() > before
    });
}
