//! Schedules and events against the real binary: exactly-once slots across restarts and
//! across two processes, each overlap and catch-up policy, `pause_on_failure`, the Roo
//! import, the CLI and the MCP tools. (Triggers: `triggers.rs`.)

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::common::*;

/// `baton ARGS --config CONFIG`, parsed as JSON (one document, or one per line).
pub(crate) fn baton_json(config: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    let output = run_baton(&all);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "baton {args:?} failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|_| {
        Value::Array(
            stdout
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| serde_json::from_str(line).expect("a JSON line"))
                .collect(),
        )
    })
}

/// Every recorded event of `kind` (oldest first).
pub(crate) fn events(config: &Path, kind: &str) -> Vec<Value> {
    match baton_json(
        config,
        &["events", "--type", kind, "--json", "--limit", "5000"],
    ) {
        Value::Array(list) => list,
        single => vec![single],
    }
}

pub(crate) fn schedules(config: &Path) -> BTreeMap<String, Value> {
    baton_json(config, &["schedule", "list", "--json"])["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s.clone()))
        .collect()
}

pub(crate) fn runs(config: &Path) -> Vec<Value> {
    baton_json(config, &["runs", "--json", "--limit", "1000"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Polls `condition` until it holds, failing with `what` after `limit`.
pub(crate) fn wait_until(limit: Duration, what: &str, condition: impl FnMut() -> bool) {
    wait_until_or(limit, || what.to_owned(), condition);
}

/// [`wait_until`], describing the failure with `what()` (called only then).
pub(crate) fn wait_until_or(
    limit: Duration,
    what: impl Fn() -> String,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {}",
            what()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn fired_by(config: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut by = BTreeMap::<String, Vec<Value>>::new();
    for event in events(config, "schedule_fired") {
        by.entry(event["data"]["schedule"].as_str().unwrap().to_owned())
            .or_default()
            .push(event["data"].clone());
    }
    by
}

/// No slot of any schedule fired twice.
fn assert_each_slot_once(config: &Path) {
    for (schedule, fired) in fired_by(config) {
        let slots: Vec<&str> = fired.iter().map(|f| f["slot"].as_str().unwrap()).collect();
        let unique: BTreeSet<&str> = slots.iter().copied().collect();
        assert_eq!(
            unique.len(),
            slots.len(),
            "{schedule} fired a slot twice: {slots:?}"
        );
    }
}

#[test]
fn restarts_never_fire_a_slot_twice_and_catch_up_follows_the_policy() {
    for (store, _pg) in each_backend() {
        restarts_never_fire_a_slot_twice_on(&store);
    }
}

/// (`overlap: allow_all` where catch-up is counted: a run the killed process left unfinished
/// would otherwise make the default `skip` policy skip the catch-up, depending on timing.)
fn restarts_never_fire_a_slot_twice_on(store: &str) {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "{store}schedules:\n\
         \x20 s-none: {{ every: 1s, tool: baton__status, catch_up: none }}\n\
         \x20 s-latest: {{ every: 1s, tool: baton__status, catch_up: latest, overlap: allow_all }}\n\
         \x20 s-all: {{ every: 1s, tool: baton__status, catch_up: all, overlap: allow_all }}\n"
        ),
    );
    let names = ["s-none", "s-latest", "s-all"];
    {
        let _first = BatonHttp::start(&config);
        wait_until(Duration::from_secs(20), "two fires of each", || {
            let fired = fired_by(&config);
            names
                .iter()
                .all(|name| fired.get(*name).is_some_and(|f| f.len() >= 2))
        });
    } // killed (SIGKILL): Baton is down from here
    let down = Instant::now();
    // Downtime across several 1 s slots.
    while down.elapsed() < Duration::from_millis(3500) {
        std::thread::sleep(Duration::from_millis(100));
    }
    {
        let second = BatonHttp::start(&config);
        // The restart's catch-up is recorded before it is killed again (the first process
        // may already have fired 4 on-time slots of a schedule).
        let what = || {
            format!(
                "on-time fires and the catch-up after the restart: {:?}\n{}",
                fired_by(&config),
                second.logs()
            )
        };
        wait_until_or(Duration::from_secs(20), what, || {
            let fired = fired_by(&config);
            let count = |name: &str, reason: &str| {
                fired
                    .get(name)
                    .map_or(0, |f| f.iter().filter(|f| f["reason"] == reason).count())
            };
            names.iter().all(|name| count(name, "slot") >= 4)
                && count("s-latest", "catch_up") >= 1
                && count("s-all", "catch_up") >= 2
        });
    }
    assert_each_slot_once(&config);
    let fired = fired_by(&config);
    let caught_up = |name: &str| {
        fired[name]
            .iter()
            .filter(|f| f["reason"] == "catch_up")
            .count()
    };
    assert_eq!(caught_up("s-none"), 0, "catch_up: none runs nothing missed");
    assert_eq!(caught_up("s-latest"), 1, "catch_up: latest runs one");
    assert!(
        caught_up("s-all") >= 2,
        "catch_up: all runs each missed slot"
    );
    let listed = schedules(&config);
    assert!(
        listed["s-none"]["missed"].as_i64().unwrap() >= 2,
        "{listed:?}"
    );
    assert!(listed["s-latest"]["missed"].as_i64().unwrap() >= 1);
    assert_eq!(listed["s-all"]["missed"], 0);
    // The last run may have been cut short by the kill at the end of the test.
    let result = listed["s-latest"]["last_result"].as_str().unwrap();
    assert!(["succeeded", "running"].contains(&result), "{result}");
    assert!(listed["s-latest"]["next_fire"].is_string());
}

#[test]
fn two_processes_on_one_database_fire_each_slot_once() {
    for (store, _pg) in each_backend() {
        two_processes_fire_each_slot_once_on(&store);
    }
}

fn two_processes_fire_each_slot_once_on(store: &str) {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "{store}schedules:\n  tick: {{ every: 1s, tool: baton__status, overlap: allow_all }}\n"
        ),
    );
    {
        let _a = BatonHttp::start(&config);
        let _b = BatonHttp::start(&config);
        wait_until(Duration::from_secs(30), "six fires", || {
            fired_by(&config).get("tick").is_some_and(|f| f.len() >= 6)
        });
    }
    assert_each_slot_once(&config);
    // And none was lost between them: consecutive seconds.
    let fired = &fired_by(&config)["tick"];
    let mut slots: Vec<i64> = fired
        .iter()
        .filter(|f| f["reason"] == "slot")
        .map(|f| {
            chrono::DateTime::parse_from_rfc3339(f["slot"].as_str().unwrap())
                .unwrap()
                .timestamp()
        })
        .collect();
    slots.sort();
    for pair in slots.windows(2) {
        assert_eq!(pair[1] - pair[0], 1, "a slot was lost: {slots:?}");
    }
}

/// Runs of schedule `name`: (start, end) in ms, an unfinished one ending at `i64::MAX`.
fn intervals(runs: &[Value], name: &str) -> Vec<(i64, i64, String)> {
    let prefix = format!("schedule {name} ");
    let mut list: Vec<(i64, i64, String)> = runs
        .iter()
        .filter(|run| {
            run["origin"]
                .as_str()
                .is_some_and(|origin| origin.starts_with(&prefix))
        })
        .map(|run| {
            (
                run["started_at"]
                    .as_i64()
                    .or(run["created_at"].as_i64())
                    .unwrap(),
                run["finished_at"].as_i64().unwrap_or(i64::MAX),
                run["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    list.sort();
    list
}

fn overlapping(list: &[(i64, i64, String)]) -> bool {
    list.windows(2).any(|pair| pair[1].0 < pair[0].1)
}

#[test]
fn each_overlap_policy_with_runs_longer_than_the_interval() {
    let dir = TestDir::new();
    std::fs::create_dir(dir.path().join("workflows")).unwrap();
    dir.write(
        "workflows/slow.yaml",
        "name: slow\nsteps:\n  - id: wait\n    sleep: 2500ms\n",
    );
    let config = dir.write(
        "baton.yaml",
        "schedules:\n\
         \x20 ov-skip: { every: 1s, workflow: slow, overlap: skip }\n\
         \x20 ov-buffer-one: { every: 1s, workflow: slow, overlap: buffer_one }\n\
         \x20 ov-buffer-all: { every: 1s, workflow: slow, overlap: buffer_all }\n\
         \x20 ov-cancel: { every: 1s, workflow: slow, overlap: cancel_other }\n\
         \x20 ov-allow: { every: 1s, workflow: slow, overlap: allow_all }\n",
    );
    {
        let _baton = BatonHttp::start(&config);
        wait_until(
            Duration::from_secs(40),
            "two buffered runs to start",
            || {
                fired_by(&config).get("ov-buffer-all").is_some_and(|fired| {
                    fired.iter().filter(|f| f["reason"] == "buffered").count() >= 2
                })
            },
        );
    }
    let runs = runs(&config);
    let listed = schedules(&config);
    let skip = intervals(&runs, "ov-skip");
    assert!(!overlapping(&skip), "skip: {skip:?}");
    assert!(listed["ov-skip"]["skipped"].as_i64().unwrap() >= 2);

    let one = intervals(&runs, "ov-buffer-one");
    assert!(!overlapping(&one), "buffer_one: {one:?}");
    assert!(listed["ov-buffer-one"]["skipped"].as_i64().unwrap() >= 1);
    let fired = fired_by(&config);
    assert!(
        fired["ov-buffer-one"]
            .iter()
            .any(|f| f["reason"] == "buffered")
    );

    let all = intervals(&runs, "ov-buffer-all");
    assert!(!overlapping(&all), "buffer_all: {all:?}");
    assert_eq!(listed["ov-buffer-all"]["skipped"], 0);

    let cancel = intervals(&runs, "ov-cancel");
    assert!(
        cancel.iter().any(|(_, _, status)| status == "cancelled"),
        "cancel_other: {cancel:?}"
    );
    assert_eq!(listed["ov-cancel"]["skipped"], 0);

    let allow = intervals(&runs, "ov-allow");
    assert!(overlapping(&allow), "allow_all: {allow:?}");
    assert_each_slot_once(&config);
}

#[test]
fn roo_schedules_import_maps_fields_and_reports_the_rest() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "");
    let fixture = repo_root().join("tests/fixtures/roo/schedules.json");
    let report = baton_json(
        &config,
        &["schedule", "import", fixture.to_str().unwrap(), "--json"],
    );
    let list = report["schedules"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = &list[0];
    assert_eq!(first["name"], "project-orchestration-workflow");
    assert_eq!(first["imported"], true);
    assert_eq!(
        first["spec"],
        json!({
            "description": "Project Orchestration Workflow",
            "every": "10m",
            "mode": "architect",
            "task": first["spec"]["task"],
            "overlap": "buffer_one",
            "paused": false
        })
    );
    let not_mapped: Vec<&str> = first["not_mapped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        not_mapped.iter().any(|f| f.starts_with("inactivityDelay")),
        "{not_mapped:?}"
    );
    assert!(not_mapped.iter().any(|f| f.starts_with("lastTaskId")));
    let second = &list[1];
    assert_eq!(
        second["spec"]["days"],
        json!(["mon", "tue", "wed", "thu", "fri"])
    );
    assert_eq!(second["spec"]["overlap"], "skip");

    let listed = schedules(&config);
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed["project-orchestration-workflow"]["target"],
        "mode architect"
    );
    assert_eq!(listed["project-orchestration-workflow"]["paused"], false);
    let other = listed
        .keys()
        .find(|k| *k != "project-orchestration-workflow")
        .unwrap();
    assert_eq!(listed[other]["paused"], true, "active: false");
    // Importing again names the conflict instead of duplicating.
    let again = run_baton(&[
        "schedule",
        "import",
        fixture.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists"));
}

#[test]
fn schedule_cli_adds_pauses_resumes_triggers_and_deletes() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        "schedules:\n  declared: { cron: \"0 9 * * 1-5\", timezone: Europe/Paris, tool: baton__status }\n",
    );
    let cfg = config.to_str().unwrap();
    let added = baton_json(
        &config,
        &[
            "schedule",
            "add",
            "hourly",
            "--every",
            "1h",
            "--tool",
            "baton__status",
            "--overlap",
            "buffer_all",
            "--json",
        ],
    );
    assert_eq!(added["timing"], "every 1h");
    assert_eq!(added["overlap"], "buffer_all");
    let bad = run_baton(&[
        "schedule",
        "add",
        "x",
        "--every",
        "10 minutes",
        "--tool",
        "baton__status",
        "--config",
        cfg,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("every: \"10 minutes\" is not a duration")
    );
    let unknown = run_baton(&[
        "schedule",
        "add",
        "y",
        "--every",
        "1m",
        "--workflow",
        "nope",
        "--config",
        cfg,
    ]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown workflow \"nope\""));

    assert!(
        run_baton(&["schedule", "pause", "hourly", "--config", cfg])
            .status
            .success()
    );
    assert_eq!(schedules(&config)["hourly"]["paused"], true);
    assert!(schedules(&config)["hourly"]["next_fire"].is_null());
    assert!(
        run_baton(&["schedule", "resume", "hourly", "--config", cfg])
            .status
            .success()
    );
    assert_eq!(schedules(&config)["hourly"]["paused"], false);

    let triggered = run_baton(&["schedule", "trigger", "declared", "--config", cfg]);
    assert!(triggered.status.success(), "{triggered:?}");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&triggered.stdout),
        String::from_utf8_lossy(&triggered.stderr)
    );
    assert!(said.contains("succeeded"), "{said}");
    let declared = &schedules(&config)["declared"];
    assert_eq!(declared["last_result"], "succeeded");
    assert_eq!(declared["timing"], "cron 0 9 * * 1-5 (Europe/Paris)");
    assert!(
        declared["next_fire"].as_str().unwrap().contains("T0"),
        "{declared}"
    );

    let refused = run_baton(&["schedule", "delete", "declared", "--config", cfg]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("declared in baton.yaml"));
    assert!(
        run_baton(&["schedule", "delete", "hourly", "--config", cfg])
            .status
            .success()
    );
    assert!(!schedules(&config).contains_key("hourly"));
    let missing = run_baton(&["schedule", "pause", "hourly", "--config", cfg]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no schedule \"hourly\""));
}

#[tokio::test]
async fn schedules_and_events_are_mcp_tools() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        "schedules:\n  daily: { cron: \"0 3 * * *\", tool: baton__status }\n",
    );
    let baton = BatonHttp::start(&config);
    let (client, _notes) = connect_http(&baton.mcp_url()).await;
    let names = tool_names(&client).await;
    for tool in [
        "baton__get_schedule_status",
        "baton__manage_schedules",
        "baton__list_events",
    ] {
        assert!(names.iter().any(|n| n == tool), "{tool} missing: {names:?}");
    }
    let added = call(
        &client,
        "baton__manage_schedules",
        json!({"action": "add", "name": "often", "schedule": {"every": "1s", "tool": "baton__status"}}),
    )
    .await;
    assert_ne!(added.is_error, Some(true), "{}", text_of(&added));
    let bad = call(
        &client,
        "baton__manage_schedules",
        json!({"action": "add", "name": "bad", "schedule": {"every": "1s"}}),
    )
    .await;
    assert_eq!(bad.is_error, Some(true));
    assert!(
        text_of(&bad).contains("nothing to start"),
        "{}",
        text_of(&bad)
    );
    // The running scheduler picks the new schedule up.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listed = call(
            &client,
            "baton__list_events",
            json!({"type": "schedule_fired"}),
        )
        .await;
        let events = listed.structured_content.clone().unwrap()["events"].clone();
        if events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["data"]["schedule"] == "often")
        {
            break;
        }
        assert!(Instant::now() < deadline, "often never fired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let paused = call(
        &client,
        "baton__manage_schedules",
        json!({"action": "pause", "name": "often"}),
    )
    .await;
    assert_eq!(paused.structured_content.unwrap()["paused"], true);
    let one = call(
        &client,
        "baton__get_schedule_status",
        json!({"name": "often"}),
    )
    .await;
    let one = one.structured_content.unwrap();
    assert!(
        one["recent_slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|slot| slot["state"] == "fired" && slot["run"].is_string()),
        "{one}"
    );
    let status = call(&client, "baton__get_schedule_status", json!({})).await;
    let status = status.structured_content.unwrap();
    let names: Vec<&str> = status["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["daily", "often"]);
    let triggered = call(
        &client,
        "baton__manage_schedules",
        json!({"action": "trigger", "name": "daily"}),
    )
    .await;
    assert_eq!(triggered.structured_content.unwrap()["outcome"], "fired");
    let unknown = call(&client, "baton__list_events", json!({"type": "nope"})).await;
    assert_eq!(unknown.is_error, Some(true));
}

#[test]
fn pause_on_failure_pauses_after_a_failed_run() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        "schedules:\n  fragile:\n    every: 1s\n    tool: baton__status\n    args: { server: no-such-server }\n    pause_on_failure: true\n",
    );
    let _baton = BatonHttp::start(&config);
    wait_until(
        Duration::from_secs(15),
        "the schedule to pause itself",
        || schedules(&config)["fragile"]["paused"] == true,
    );
    let fragile = &schedules(&config)["fragile"];
    assert_eq!(fragile["last_result"], "failed");
    assert!(
        fragile["pause_reason"]
            .as_str()
            .unwrap()
            .contains("pause_on_failure"),
        "{fragile}"
    );
    let fired = fired_by(&config)["fragile"].len();
    // Paused: no further slot fires (three more would have by now).
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(fired_by(&config)["fragile"].len(), fired);
}

#[test]
fn validate_connect_checks_the_tools_schedules_and_triggers_call() {
    let dir = TestDir::new();
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  everything:\n    command: {}\n\
             schedules:\n  typo: {{ every: 1h, tool: everything__ecko }}\n  fine: {{ every: 1h, tool: everything__echo, args: {{ message: hi }} }}\n\
             triggers:\n  t: {{ on: server_down, tool: everything__echo, args: {{ message: down }} }}\n",
            peer("mcp-server-everything").display()
        ),
    );
    let output = run_baton(&["validate", "--connect", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("baton.yaml:5:")
            && stderr.contains("schedule \"typo\" calls unknown tool \"everything__ecko\""),
        "{stderr}"
    );
    assert!(
        !stderr.contains("\"fine\"") && !stderr.contains("trigger \"t\""),
        "{stderr}"
    );
}

#[test]
fn a_schedule_added_from_the_cli_fires_in_a_serve_of_a_fresh_config() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "");
    let _baton = BatonHttp::start(&config);
    // The store is opened at start (the schedule tools are always there), not polled for.
    assert!(
        dir.path().join(".baton/baton.db").exists(),
        "serve opens its store at start"
    );
    let added = run_baton(&[
        "schedule",
        "add",
        "tick",
        "--every",
        "1s",
        "--tool",
        "baton__status",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(added.status.success(), "{added:?}");
    wait_until(
        Duration::from_secs(20),
        "the running serve to fire it",
        || fired_by(&config).contains_key("tick"),
    );
}
