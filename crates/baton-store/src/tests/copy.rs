//! Copying a populated SQLite store into PostgreSQL (and back): every record equal.

use std::time::Duration;

use serde_json::{Value, json};

use super::run;
use crate::testing::{TestBackend, TestPlace};
use crate::*;

/// Fills `store` with one of everything; returns (finished run, unfinished run).
async fn populate(store: &Store) -> (String, String) {
    let done = run(store).await;
    let lease = store
        .claim(&done, "a", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let first = store.begin_attempt(&done, &lease, "s1", -1).await.unwrap();
    store
        .finish_attempt(
            &done,
            &lease,
            "s1",
            -1,
            first,
            Finish::Succeeded(json!({"k": "\u{0}", "a": 1})),
        )
        .await
        .unwrap();
    let failed = store.begin_attempt(&done, &lease, "s2", 0).await.unwrap();
    store
        .finish_attempt(
            &done,
            &lease,
            "s2",
            0,
            failed,
            Finish::Failed("boom".into()),
        )
        .await
        .unwrap();
    let second = store.begin_attempt(&done, &lease, "s2", 0).await.unwrap();
    let big = json!({"z": "x".repeat(500), "a": [1, 2]});
    store
        .finish_attempt(&done, &lease, "s2", 0, second, Finish::Succeeded(big))
        .await
        .unwrap();
    store
        .decide(&done, "gate", true, "ana", Some("ok"))
        .await
        .unwrap();
    store
        .finish_run(
            &done,
            &lease,
            RunStatus::Succeeded,
            Some(&json!({"out": 1})),
            None,
        )
        .await
        .unwrap();
    let open = run(store).await;
    store
        .save_oauth_credentials("remote", r#"{"client_id":"c","token_response":null}"#)
        .await
        .unwrap();
    store
        .save_learned(&[LearnedStats {
            server: "fault".into(),
            name: "delay".into(),
            calls: 12,
            errors: 1,
            timeouts: 0,
            samples_ms: vec![60.5, 61.0],
        }])
        .await
        .unwrap();
    store
        .create_task(&TaskRecord {
            id: "task-1".into(),
            run_id: open.clone(),
            owner: "principal:ana".into(),
            tool: "x__y".into(),
            kind: "tool".into(),
            created_at: 1_000,
            ttl_ms: None,
            poll_interval_ms: 500,
        })
        .await
        .unwrap();
    store
        .remember_upstream_task(&format!("{done}/call/0"), "jobs", "up-1", 1_000)
        .await
        .unwrap();
    store
        .ask_task_input(
            "task-1",
            "call/0/0/confirm",
            r#"{"method":"elicitation/create"}"#,
            1_000,
        )
        .await
        .unwrap();
    let spec = json!({"every": "1m", "tool": "x__y"});
    store
        .add_schedule("sched", &spec, false, 1_000)
        .await
        .unwrap();
    store
        .claim_slots(&[("sched", 60_000), ("sched", 120_000)], "a")
        .await
        .unwrap();
    store
        .settle_slot("sched", 60_000, "fired", Some(&done), None)
        .await
        .unwrap();
    store
        .settle_slot("sched", 120_000, "buffered", None, None)
        .await
        .unwrap();
    store
        .set_paused("sched", true, Some("by hand"), 0)
        .await
        .unwrap();
    assert!(store.claim_trigger("trig", 50_000, 10_000).await.unwrap());
    let data = json!({"server": "git"});
    store
        .insert_events(&[(1, "a", &data), (2, "b", &data), (3, "a", &data)])
        .await
        .unwrap();
    let audited = |principal: Option<&str>, outcome: &str| NewAudit {
        at: 5,
        principal: principal.map(str::to_owned),
        kind: "tool".into(),
        name: "fault__echo".into(),
        outcome: outcome.into(),
        duration_ms: 2,
        arguments_sha256: None,
    };
    store
        .insert_audit(&[audited(Some("alice"), "ok"), audited(None, "denied")])
        .await
        .unwrap();
    let entry = |task: &str, end: Option<i64>, run: Option<&str>| NewTimeEntry {
        task_id: task.into(),
        mode: "code".into(),
        task: "t".into(),
        priority: "todo".into(),
        start_at: 1_000,
        end_at: end,
        duration_ms: end.map(|end| end - 1_000),
        result: "started".into(),
        source: "tool".into(),
        run_id: run.map(str::to_owned),
        logged_at: 1_000,
    };
    store.time_start(&entry("open", None, None)).await.unwrap();
    store
        .time_record_run(&entry("ran", Some(5_000), Some(&done)))
        .await
        .unwrap();
    let note = |text: &str| NewMemoryEntry {
        section: "S".into(),
        text: text.into(),
        mode: None,
        stamped: false,
        created_at: 7,
    };
    let cap = |all: &[MemoryEntryRow], _: &[i64]| -> Vec<i64> {
        all.iter()
            .take(all.len().saturating_sub(2))
            .map(|row| row.id)
            .collect()
    };
    store
        .memory_write("m", &[note("1"), note("2"), note("3")], false, cap)
        .await
        .unwrap();
    (done, open)
}

/// Everything the public read methods say about a store populated by [`populate`].
async fn snapshot(store: &Store) -> Vec<String> {
    let mut said = Vec::new();
    let runs = store.runs(100, None).await.unwrap();
    said.push(format!("{runs:?}"));
    for record in &runs {
        said.push(format!("{:?}", store.steps(&record.id).await.unwrap()));
        said.push(format!(
            "{:?}",
            store.failed_attempts(&record.id, "s2", 0).await.unwrap()
        ));
        said.push(format!(
            "{:?}",
            store.approval(&record.id, "gate").await.unwrap()
        ));
        said.push(format!("{:?}", store.version(&record.hash).await.unwrap()));
    }
    said.push(format!("{:?}", store.schedules().await.unwrap()));
    said.push(format!("{:?}", store.slots("sched", 10).await.unwrap()));
    said.push(format!(
        "{:?}",
        store.events(None, 0, 100, false).await.unwrap()
    ));
    said.push(format!(
        "{:?}",
        store.audit(&AuditFilter::default()).await.unwrap()
    ));
    said.push(format!("{:?}", store.learned().await.unwrap()));
    said.push(format!("{:?}", store.task("task-1").await.unwrap()));
    said.push(format!("{:?}", store.task_inputs("task-1").await.unwrap()));
    let steps = store.runs(10, None).await.unwrap();
    for run in steps {
        said.push(format!(
            "{:?}",
            store
                .upstream_task(&format!("{}/call/0", run.id), "jobs")
                .await
                .unwrap()
        ));
    }
    // (Debug hides the credentials document; compare it as text.)
    said.extend(
        store
            .oauth_servers()
            .await
            .unwrap()
            .into_iter()
            .map(|row| format!("{} {} {}", row.server, row.credentials, row.updated_at)),
    );
    said.push(format!(
        "{:?}",
        store
            .time_entries(&TimeFilter::default(), false, None)
            .await
            .unwrap()
    ));
    said.push(format!("{:?}", store.memory_entries("m").await.unwrap()));
    said.push(format!(
        "{:?}",
        store.memory_archive("m", 10).await.unwrap()
    ));
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_sqlite_into_postgres_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let source = TestPlace::new(TestBackend::Sqlite, dir.path(), 64).await;
    let source = source.store().await;
    let (done, open) = populate(&source).await;
    let place = TestPlace::new(TestBackend::Postgres, dir.path(), 64).await;
    let target = place.store().await;

    let report = source.copy_into(&target).await.unwrap();
    let rows = |table: &str| {
        report
            .tables
            .iter()
            .find(|(name, _)| name == table)
            .unwrap()
            .1
    };
    assert_eq!(rows("runs"), 2);
    assert_eq!(rows("attempts"), 1);
    assert_eq!(rows("blobs"), 1);
    assert_eq!(rows("memory_archive"), 1);
    assert_eq!(rows("audit_log"), 2);
    assert_eq!(rows("oauth_credentials"), 1);
    assert_eq!(rows("learned_stats"), 1);
    assert_eq!(rows("tasks"), 1);
    assert_eq!(rows("task_inputs"), 1);
    assert_eq!(rows("upstream_tasks"), 1);
    assert_eq!(report.tables.len(), 19);
    assert_eq!(snapshot(&target).await, snapshot(&source).await);
    let big = &target.steps(&done).await.unwrap()[1];
    assert_eq!(
        big.output.as_ref().unwrap()["z"],
        Value::String("x".repeat(500))
    );
    assert!(
        !target.claim_trigger("trig", 55_000, 10_000).await.unwrap(),
        "the cool-down came along"
    );

    // A second copy is refused, naming the target and a table with rows.
    let refused = source.copy_into(&target).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::NotEmpty { .. }),
        "{refused:?}"
    );
    let text = refused.to_string();
    assert!(
        text.contains(&target.location()) && text.contains("workflow_versions"),
        "{text}"
    );
    assert!(text.contains("empty database"), "{text}");

    // Generated ids continue past the copied ones.
    let events = source.events(None, 0, 100, false).await.unwrap();
    let data = json!({});
    let next = target.insert_events(&[(4, "c", &data)]).await.unwrap();
    assert!(next[0] > events.last().unwrap().id);

    // The unfinished run goes on on PostgreSQL.
    let claimed = target
        .claim_ready("pg", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let (id, lease) = &claimed[0];
    assert_eq!(id, &open);
    let attempt = target.begin_attempt(id, lease, "s", -1).await.unwrap();
    target
        .finish_attempt(id, lease, "s", -1, attempt, Finish::Succeeded(json!(true)))
        .await
        .unwrap();
    target
        .finish_run(id, lease, RunStatus::Succeeded, None, None)
        .await
        .unwrap();
    assert_eq!(target.run(id).await.unwrap().status, RunStatus::Succeeded);

    // And back: PostgreSQL into a fresh SQLite file keeps every record too.
    let back_dir = tempfile::tempdir().unwrap();
    let back = TestPlace::new(TestBackend::Sqlite, back_dir.path(), 64).await;
    let back = back.store().await;
    target.copy_into(&back).await.unwrap();
    assert_eq!(snapshot(&back).await, snapshot(&target).await);
}
