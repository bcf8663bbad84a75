//! The store as a user meets it: `baton store status|migrate|copy` on a real PostgreSQL,
//! and clear errors for a store that cannot be used.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// Runs the baton binary with `BATON_STORE_URL` set (or removed with `None`).
fn baton_on(store: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(baton_bin());
    command.args(args).stdin(std::process::Stdio::null());
    match store {
        Some(url) => command.env("BATON_STORE_URL", url),
        None => command.env_remove("BATON_STORE_URL"),
    };
    command.output().expect("run baton")
}

fn stdout_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn store_status_and_migrate_show_the_schema_version_on_postgres() {
    let pg = Pg::new();
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "servers: {}\n");
    let config = config.to_str().unwrap();
    let url = pg.url();
    let migrated = baton_on(Some(&url), &["--config", config, "store", "migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("schema version"));
    let status = stdout_json(&baton_on(
        Some(&url),
        &["--config", config, "store", "status", "--json"],
    ));
    assert_eq!(status["backend"], "postgres", "{status}");
    assert!(status["schema_version"].as_i64().unwrap() >= 1, "{status}");
    assert_eq!(
        status["schema_version"], status["latest_version"],
        "{status}"
    );
    // The default is SQLite, next to baton.yaml.
    let status = stdout_json(&baton_on(
        None,
        &["--config", config, "store", "status", "--json"],
    ));
    assert_eq!(status["backend"], "sqlite", "{status}");
}

#[test]
fn a_store_that_cannot_be_used_is_refused_with_the_url_masked_and_a_fix() {
    let dir = TestDir::new();
    let config = dir.write("baton.yaml", "servers: {}\n");
    let config = config.to_str().unwrap();
    // Nothing listens on this port.
    let url = format!(
        "postgres://baton:hunter2secret@127.0.0.1:{}/baton",
        free_port()
    );
    let status = baton_on(Some(&url), &["--config", config, "store", "status"]);
    assert!(!status.status.success());
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
    assert!(
        stderr.contains("postgres://baton:***@127.0.0.1"),
        "{stderr}"
    );
    assert!(stderr.contains("BATON_STORE_URL"), "{stderr}");
    // `serve` with a store named on purpose does not start without it.
    let started = Instant::now();
    let serve = baton_on(
        Some(&url),
        &["--config", config, "serve", "--http", "127.0.0.1:0"],
    );
    assert!(!serve.status.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(!stderr.contains("hunter2secret"), "{stderr}");
    assert!(stderr.contains("cannot open Baton's store"), "{stderr}");

    // A database that does not exist.
    let missing = baton_store::testing::with_database(
        &baton_store::testing::admin_url(),
        "baton_no_such_database",
    );
    let status = baton_on(Some(&missing), &["--config", config, "store", "status"]);
    assert!(!status.status.success());
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("createdb"), "{stderr}");

    // A URL of another kind, in the file.
    let bad = dir.write("bad.yaml", "store:\n  url: mysql://u:pw@db/x\n");
    let output = baton_on(
        None,
        &["--config", bad.to_str().unwrap(), "store", "status"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.yaml:2"), "{stderr}");
    assert!(stderr.contains("store.url"), "{stderr}");
}

/// A SQLite project with one finished run, one interrupted run, a schedule with fired
/// slots, events, time entries and a memory: everything `baton store copy` must move.
fn populated_sqlite(dir: &TestDir) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let journal = dir.path().join("journal.tsv");
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    let mut slow =
        "name: slow\nsteps:\n  - { id: s1, tool: fault__delay, args: { ms: 300 } }\n".to_owned();
    for i in 2..=4 {
        slow.push_str(&format!(
            "  - {{ id: s{i}, needs: [s{}], tool: fault__delay, args: {{ ms: 300 }} }}\n",
            i - 1
        ));
    }
    dir.write("workflows/slow.yaml", &slow);
    dir.write(
        "workflows/quick.yaml",
        "name: quick\nsteps:\n  - { id: a, tool: fault__delay, args: { ms: 1 } }\n",
    );
    let config = dir.write(
        "baton.yaml",
        &format!(
            "servers:\n  fault:\n    {}\n",
            fault_server(&["--journal", journal.to_str().unwrap()])
        ),
    );
    let c = config.to_str().unwrap();
    let ran = baton_on(None, &["--config", c, "run", "quick", "--json"]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    // An interrupted run: killed after its first step.
    let mut killed = std::process::Command::new(baton_bin())
        .args(["--config", c, "run", "slow", "--json"])
        .env_remove("BATON_STORE_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/s"))
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "slow never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    let runs = stdout_json(&baton_on(None, &["--config", c, "runs", "--json"]));
    let interrupted = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workflow"] == "slow")
        .unwrap()["run"]
        .as_str()
        .unwrap()
        .to_owned();
    for args in [
        &[
            "schedule",
            "add",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--tool",
            "fault__delay",
        ][..],
        &["schedule", "pause", "nightly"][..],
    ] {
        let mut all = vec!["--config", c];
        all.extend_from_slice(args);
        let output = baton_on(None, &all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let timing = dir.write(
        "task_timing.tsv",
        "timestamp\ttask_id\tmode\ttask\tpriority\tstart_time\tend_time\tduration\tresult\n2026-01-05T10:00:00Z\tt1\tcode\tbuild it\ttodo\t2026-01-05T09:00:00Z\t2026-01-05T10:00:00Z\t3600\tcompleted\n",
    );
    let memory = dir.write(
        "memory.md",
        "# Decisions\n\n- Use PostgreSQL for several workers\n",
    );
    for args in [
        vec!["timing", "import", timing.to_str().unwrap()],
        vec!["memory", "import", memory.to_str().unwrap()],
    ] {
        let mut all = vec!["--config", c];
        all.extend(args.iter().copied());
        let output = baton_on(None, &all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    (config, journal, interrupted)
}

#[test]
fn store_copy_moves_a_sqlite_store_into_postgres_where_runs_resume() {
    let dir = TestDir::new();
    let (config, journal, interrupted) = populated_sqlite(&dir);
    let c = config.to_str().unwrap();
    let pg = Pg::new();
    let url = pg.url();
    let sqlite = dir.path().join(".baton/baton.db");
    let from = format!("sqlite:{}", sqlite.display());
    let copied = baton_on(
        None,
        &[
            "--config", c, "store", "copy", "--from", &from, "--to", &url,
        ],
    );
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    let report = String::from_utf8_lossy(&copied.stdout);
    assert!(
        report.contains("runs") && report.contains("steps"),
        "{report}"
    );

    // Every listing reads the same on both stores.
    for args in [
        vec!["runs", "--json", "--limit", "100"],
        vec!["events", "--json", "--limit", "1000"],
        vec!["schedule", "list", "--json"],
        vec!["timing", "show", "--json"],
        vec!["memory", "show"],
        vec!["run", "show", interrupted.as_str(), "--json"],
    ] {
        let mut all = vec!["--config", c];
        all.extend(args.iter().copied());
        let on_sqlite = baton_on(None, &all);
        let on_postgres = baton_on(Some(&url), &all);
        assert!(
            on_postgres.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&on_postgres.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&on_sqlite.stdout),
            String::from_utf8_lossy(&on_postgres.stdout),
            "{args:?} differs after the copy"
        );
    }

    // A second copy into the now non-empty database is refused.
    let again = baton_on(
        None,
        &[
            "--config", c, "store", "copy", "--from", &from, "--to", &url,
        ],
    );
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("not empty") || stderr.contains("empty database"),
        "{stderr}"
    );

    // The interrupted run resumes on PostgreSQL without repeating its completed steps.
    let before: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let resumed = baton_on(
        Some(&url),
        &["--config", c, "resume", &interrupted, "--json"],
    );
    let resumed = stdout_json(&resumed);
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    let after = std::fs::read_to_string(&journal).unwrap();
    let calls = |step: &str| {
        after
            .lines()
            .filter(|l| l.contains(&format!("\t{interrupted}/{step}/-1")))
            .count()
    };
    let done_before = before
        .iter()
        .filter(|l| l.contains(&format!("\t{interrupted}/")))
        .count();
    assert!(done_before >= 2, "{before:?}");
    assert_eq!(
        calls("s1"),
        1,
        "s1 completed before the copy and ran again:\n{after}"
    );
    assert_eq!(calls("s4"), 1, "{after}");
}
