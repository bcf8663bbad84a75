//! The store's tests, written against [`Store`] only: each test body takes a
//! [`TestPlace`] and [`backend_tests!`] runs it on SQLite (`sqlite::name`) and on PostgreSQL
//! (`postgres::name`, a fresh database per test). (One assertion reads a row directly, per
//! backend, and says so.)

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

use crate::testing::{TestBackend, TestPlace};

/// Declares each test body once (`async fn name(place: &TestPlace) { … }`) and a test of
/// it per backend, in modules `sqlite` and `postgres`.
macro_rules! backend_tests {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($place:ident: &TestPlace) $body:block
    )*) => {
        $(
            $(#[$meta])*
            async fn $name($place: &TestPlace) $body
        )*
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let place = super::TestPlace::new(super::TestBackend::Sqlite, dir.path(), 64).await;
                    super::$name(&place).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let place = super::TestPlace::new(super::TestBackend::Postgres, dir.path(), 64).await;
                    super::$name(&place).await;
                }
            )*
        }
    };
}

async fn run(store: &Store) -> String {
    store.save_version("h1", "wf", "{}").await.unwrap();
    store
        .create_run(NewRun {
            workflow: "wf".into(),
            hash: "h1".into(),
            inputs: json!({"n": 1}),
            parent: None,
            origin: "test".into(),
            held_by: None,
            priority: 0,
            concurrency: None,
        })
        .await
        .unwrap()
}

backend_tests! {
async fn a_task_is_found_by_its_id_run_and_owner_and_pruned_after_its_ttl(place: &TestPlace) {
    let store = place.store().await;
    let run_id = run(&store).await;
    let task = |id: &str, owner: &str, created_at: i64, ttl_ms: Option<i64>| TaskRecord {
        id: id.into(),
        run_id: run_id.clone(),
        owner: owner.into(),
        tool: "echo__echo".into(),
        kind: "tool".into(),
        created_at,
        ttl_ms,
        poll_interval_ms: 500,
    };
    store.create_task(&task("t1", "principal:ana", 1_000, Some(60_000))).await.unwrap();
    store.create_task(&task("t2", "principal:ana", 2_000, None)).await.unwrap();
    store.create_task(&task("t3", "principal:bo", 3_000, Some(1_000))).await.unwrap();
    assert_eq!(store.task("t1").await.unwrap(), Some(task("t1", "principal:ana", 1_000, Some(60_000))));
    assert_eq!(store.task("nope").await.unwrap(), None);
    let ana: Vec<String> = store.tasks_of("principal:ana", 10).await.unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(ana, ["t2", "t1"], "newest first, only ana's");
    assert_eq!(store.task_of_run(&run_id).await.unwrap().map(|t| t.owner).as_deref().map(|o| o.starts_with("principal:")), Some(true));
    assert!(task("t3", "x", 3_000, Some(1_000)).expired(4_000));
    assert!(!task("t3", "x", 3_000, Some(1_000)).expired(3_999));
    assert_eq!(store.prune_tasks(4_000).await.unwrap(), 1, "only t3's ttl has passed");
    assert_eq!(store.task("t3").await.unwrap(), None);
    assert!(store.task("t1").await.unwrap().is_some());
    assert_eq!(store.prune_tasks(61_000).await.unwrap(), 1, "t1 next; t2 has no ttl");
    assert!(store.task("t2").await.unwrap().is_some());
}

async fn a_task_input_waits_for_its_answer_and_a_repeated_request_finds_it(place: &TestPlace) {
    let store = place.store().await;
    let run_id = run(&store).await;
    let record = |id: &str| TaskRecord {
        id: id.into(),
        run_id: run_id.clone(),
        owner: "session:s".into(),
        tool: "t".into(),
        kind: "tool".into(),
        created_at: 1_000,
        ttl_ms: Some(1_000),
        poll_interval_ms: 500,
    };
    store.create_task(&record("t1")).await.unwrap();
    store.ask_task_input("t1", "k1", r#"{"q":1}"#, 10).await.unwrap();
    store.ask_task_input("t1", "k2", r#"{"q":2}"#, 10).await.unwrap();
    assert!(!store.answer_task_input("t1", "nope", "1").await.unwrap(), "no request under that key");
    assert!(store.answer_task_input("t1", "k1", r#"{"a":1}"#).await.unwrap());
    assert!(!store.answer_task_input("t1", "k1", r#"{"a":9}"#).await.unwrap(), "answered once");
    let inputs = store.task_inputs("t1").await.unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0].response.as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(inputs[1].response, None);
    // The same request again (a step repeated after a restart) finds its answer; another
    // request under the key waits anew.
    store.ask_task_input("t1", "k1", r#"{"q":1}"#, 20).await.unwrap();
    assert_eq!(store.task_inputs("t1").await.unwrap()[0].response.as_deref(), Some(r#"{"a":1}"#));
    store.ask_task_input("t1", "k1", r#"{"q":3}"#, 20).await.unwrap();
    assert_eq!(store.task_inputs("t1").await.unwrap()[0].response, None);
    // An answer given before its request (parked as ANY_REQUEST) is kept for the request.
    store.ask_task_input("t1", "k3", crate::ANY_REQUEST, 20).await.unwrap();
    assert!(store.answer_task_input("t1", "k3", r#"{"a":3}"#).await.unwrap());
    store.ask_task_input("t1", "k3", r#"{"q":3}"#, 30).await.unwrap();
    let k3 = store.task_inputs("t1").await.unwrap().into_iter().find(|i| i.key == "k3").unwrap();
    assert_eq!((k3.request.as_str(), k3.response.as_deref()), (r#"{"q":3}"#, Some(r#"{"a":3}"#)));
    store.forget_task_input("t1", "k3").await.unwrap();
    store.forget_task_input("t1", "k2").await.unwrap();
    assert_eq!(store.task_inputs("t1").await.unwrap().len(), 1);
    // Pruned with their task.
    assert_eq!(store.prune_tasks(3_000).await.unwrap(), 1);
    assert!(store.task_inputs("t1").await.unwrap().is_empty());
}

async fn a_steps_upstream_task_is_remembered_until_forgotten_or_its_run_is_gone(place: &TestPlace) {
    let store = place.store().await;
    let run_id = run(&store).await;
    let key = format!("{run_id}/call/0");
    assert_eq!(store.upstream_task(&key, "jobs").await.unwrap(), None);
    store.remember_upstream_task(&key, "jobs", "up-1", 10).await.unwrap();
    store.remember_upstream_task(&key, "other", "up-9", 10).await.unwrap();
    assert_eq!(store.upstream_task(&key, "jobs").await.unwrap().as_deref(), Some("up-1"));
    // A new task of the same step (after the first was refused) replaces it.
    store.remember_upstream_task(&key, "jobs", "up-2", 20).await.unwrap();
    assert_eq!(store.upstream_task(&key, "jobs").await.unwrap().as_deref(), Some("up-2"));
    store.forget_upstream_task(&key, "jobs").await.unwrap();
    assert_eq!(store.upstream_task(&key, "jobs").await.unwrap(), None);
    assert_eq!(store.upstream_task(&key, "other").await.unwrap().as_deref(), Some("up-9"));
    // A step of a run that no longer exists is pruned with the tasks.
    store.remember_upstream_task("gone-run/call/0", "jobs", "up-3", 10).await.unwrap();
    store.prune_tasks(0).await.unwrap();
    assert_eq!(store.upstream_task("gone-run/call/0", "jobs").await.unwrap(), None);
    assert_eq!(store.upstream_task(&key, "other").await.unwrap().as_deref(), Some("up-9"));
}

async fn a_step_result_is_committed_with_its_attempt(place: &TestPlace) {
    let store = place.store().await;
    let id = run(&store).await;
    assert_eq!(store.resumable().await.unwrap(), vec![id.clone()]);
    let lease = store
        .claim(&id, "a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store.resumable().await.unwrap().is_empty(),
        "held runs are not resumable"
    );
    let attempt = store.begin_attempt(&id, &lease, "s", -1).await.unwrap();
    assert_eq!(attempt, 1);
    store
        .finish_attempt(
            &id,
            &lease,
            "s",
            -1,
            attempt,
            Finish::Succeeded(json!({"ok": true})),
        )
        .await
        .unwrap();
    let steps = store.steps(&id).await.unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].status, StepStatus::Succeeded);
    assert_eq!(steps[0].output, Some(json!({"ok": true})));
    assert_eq!(steps[0].attempts, 1);
    store
        .finish_run(
            &id,
            &lease,
            RunStatus::Succeeded,
            Some(&json!({"r": 1})),
            None,
        )
        .await
        .unwrap();
    let record = store.run(&id).await.unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.outputs, Some(json!({"r": 1})));
    assert!(record.lease_owner.is_none());
}

async fn a_process_whose_lease_was_taken_cannot_commit(place: &TestPlace) {
    let store = place.store().await;
    let id = run(&store).await;
    let old = store
        .claim(&id, "a", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    let attempt = store.begin_attempt(&id, &old, "s", -1).await.unwrap();
    // While the lease is valid nobody else gets it ...
    let held = store
        .claim(&id, "b", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(held.is_none() || old.epoch != held.as_ref().unwrap().epoch);
    // ... once it has expired (1 ms), another process takes it over.
    let mut taken = None;
    for _ in 0..100 {
        taken = store
            .claim(&id, "b", Duration::from_secs(30))
            .await
            .unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let new = taken.expect("the expired lease is taken over");
    assert!(new.epoch > old.epoch);
    let fenced = store
        .finish_attempt(&id, &old, "s", -1, attempt, Finish::Succeeded(json!(1)))
        .await;
    assert!(matches!(fenced, Err(StoreError::Fenced(_))), "{fenced:?}");
    assert!(matches!(
        store.begin_attempt(&id, &old, "t", -1).await,
        Err(StoreError::Fenced(_))
    ));
    assert!(
        !store
            .renew(&id, &old, Duration::from_secs(1))
            .await
            .unwrap()
    );
    // The new owner attempts the step again: attempt 2.
    let again = store.begin_attempt(&id, &new, "s", -1).await.unwrap();
    assert_eq!(again, 2);
    // A stale attempt number cannot overwrite the newer attempt.
    assert!(matches!(
        store
            .finish_attempt(&id, &new, "s", -1, 1, Finish::Succeeded(json!(1)))
            .await,
        Err(StoreError::Fenced(_))
    ));
    store
        .finish_attempt(&id, &new, "s", -1, again, Finish::Succeeded(json!(2)))
        .await
        .unwrap();
}

async fn large_outputs_are_stored_out_of_line(place: &TestPlace) {
    let store = place.store().await;
    let id = run(&store).await;
    let lease = store
        .claim(&id, "a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let big = json!("x".repeat(1000));
    let attempt = store.begin_attempt(&id, &lease, "big", -1).await.unwrap();
    store
        .finish_attempt(
            &id,
            &lease,
            "big",
            -1,
            attempt,
            Finish::Succeeded(big.clone()),
        )
        .await
        .unwrap();
    // Backend-specific: the step row keeps no copy of the large output.
    let inline: Option<String> = match &store.backend {
        crate::Backend::Sqlite(sqlite) => {
            sqlx::query_scalar("SELECT output FROM steps WHERE run_id = $1")
                .bind(&id)
                .fetch_one(sqlite.pool())
                .await
                .unwrap()
        }
        crate::Backend::Postgres(pg) => {
            sqlx::query_scalar("SELECT output::text FROM steps WHERE run_id = $1")
                .bind(&id)
                .fetch_one(pg.pool())
                .await
                .unwrap()
        }
    };
    assert!(inline.is_none(), "the step row stays small");
    assert_eq!(store.steps(&id).await.unwrap()[0].output, Some(big));
}

async fn cancel_reopen_approvals_and_pruning(place: &TestPlace) {
    let store = place.store().await;
    let id = run(&store).await;
    assert!(store.cancel(&id).await.unwrap());
    assert_eq!(store.run(&id).await.unwrap().status, RunStatus::Cancelled);
    assert!(!store.cancel(&id).await.unwrap(), "already finished");
    assert!(matches!(
        store.cancel("nope").await,
        Err(StoreError::NoRun(_))
    ));

    assert!(
        store
            .decide(&id, "gate", true, "ana", Some("fine"))
            .await
            .unwrap()
    );
    assert!(
        !store.decide(&id, "gate", false, "bob", None).await.unwrap(),
        "first decision stands"
    );
    let approval = store.approval(&id, "gate").await.unwrap().unwrap();
    assert!(approval.approved);
    assert_eq!(approval.by, "ana");

    store.reopen(&id, &["gate".to_owned()]).await.unwrap();
    assert_eq!(store.run(&id).await.unwrap().status, RunStatus::Queued);
    assert!(store.approval(&id, "gate").await.unwrap().is_none());

    let second = run(&store).await;
    store.cancel(&id).await.unwrap();
    store.cancel(&second).await.unwrap();
    assert_eq!(store.prune(Duration::from_secs(3600), 1).await.unwrap(), 1);
    assert_eq!(store.runs(10, None).await.unwrap().len(), 1);
    assert!(store.database_size().await.unwrap() > 0);
}

async fn reopening_the_database_keeps_everything(place: &TestPlace) {
    let id = {
        let store = place.store().await;
        run(&store).await
    };
    let store = place.store().await;
    assert_eq!(store.run(&id).await.unwrap().inputs, json!({"n": 1}));
    assert_eq!(store.version("h1").await.unwrap().as_deref(), Some("{}"));
}

async fn a_slot_is_claimed_once_even_by_two_stores_on_one_file(place: &TestPlace) {
    let a = place.store().await;
    let b = place.store().await;
    let spec = json!({"every": "1m", "tool": "x__y"});
    assert_eq!(
        a.upsert_config_schedule("s", &spec, false, 1_000)
            .await
            .unwrap(),
        Reconciled::Added
    );
    assert_eq!(
        b.upsert_config_schedule("s", &spec, false, 1_000)
            .await
            .unwrap(),
        Reconciled::Unchanged
    );
    let claims = [("s", 60_000), ("s", 120_000)];
    assert_eq!(a.claim_slots(&claims, "a").await.unwrap(), [true, true]);
    assert_eq!(
        b.claim_slots(&[("s", 120_000), ("s", 180_000)], "b")
            .await
            .unwrap(),
        [false, true]
    );
    assert_eq!(b.schedule("s").await.unwrap().unwrap().cursor, 180_000);
    a.settle_slot("s", 60_000, "skipped", None, Some("overlap"))
        .await
        .unwrap();
    a.settle_slot("s", 120_000, "buffered", None, None)
        .await
        .unwrap();
    assert_eq!(a.buffered_count("s").await.unwrap(), 1);
    assert!(a.take_buffered("s", 120_000, "a").await.unwrap());
    assert!(
        !b.take_buffered("s", 120_000, "b").await.unwrap(),
        "taken once"
    );
    let row = a.schedule("s").await.unwrap().unwrap();
    assert_eq!(row.skipped, 1);
    // A pause from the CLI survives an unchanged config; a changed spec applies its own.
    a.set_paused("s", true, Some("by hand"), 0).await.unwrap();
    a.upsert_config_schedule("s", &spec, false, 0)
        .await
        .unwrap();
    assert!(a.schedule("s").await.unwrap().unwrap().paused);
    let changed = json!({"every": "2m", "tool": "x__y"});
    assert_eq!(
        a.upsert_config_schedule("s", &changed, false, 500_000)
            .await
            .unwrap(),
        Reconciled::Changed
    );
    let row = a.schedule("s").await.unwrap().unwrap();
    assert!(!row.paused);
    assert_eq!(
        row.cursor, 500_000,
        "a changed timing starts from now, no catch-up"
    );
    assert_eq!(
        a.remove_config_schedules_except(&[]).await.unwrap(),
        ["s".to_owned()]
    );
    assert!(a.schedule("s").await.unwrap().is_none());
}

async fn trigger_cooldowns_and_event_retention(place: &TestPlace) {
    let store = place.store().await;
    assert!(store.claim_trigger("t", 10_000, 5_000).await.unwrap());
    assert!(
        !store.claim_trigger("t", 12_000, 5_000).await.unwrap(),
        "cooling down"
    );
    assert!(
        store.claim_trigger("t", 15_000, 5_000).await.unwrap(),
        "cooled down"
    );
    let data = json!({"server": "git"});
    let now = now_ms();
    let rows: Vec<(i64, &str, &Value)> = (0..10)
        .map(|i| (now - 10 + i, "server_down", &data))
        .collect();
    let ids = store.insert_events(&rows).await.unwrap();
    assert_eq!(ids.len(), 10);
    let old = json!({});
    store
        .insert_events(&[(now - 10 * 86_400_000, "server_up", &old)])
        .await
        .unwrap();
    let newest = store.events(None, 0, 3, true).await.unwrap();
    assert_eq!(newest.len(), 3);
    assert!(newest[0].id < newest[2].id, "oldest first");
    assert_eq!(
        store
            .events(Some("server_up"), 0, 10, false)
            .await
            .unwrap()
            .len(),
        1
    );
    // Older than 7 days: gone; beyond the newest 5: gone.
    assert_eq!(store.prune_events(5, 7 * 86_400_000).await.unwrap(), 6);
    let left = store.events(None, 0, 100, false).await.unwrap();
    assert_eq!(left.len(), 5);
    assert_eq!(left.last().unwrap().id, *ids.last().unwrap());
}
/// The audit trail: filters by principal, name glob and time, newest first, with a limit
/// that counts only matching records; pruning by age.
async fn audit_records_filter_and_prune(place: &TestPlace) {
    let store = &place.store().await;
    let now = now_ms();
    let record = |at: i64, who: Option<&str>, name: &str, outcome: &str| NewAudit {
        at,
        principal: who.map(str::to_owned),
        kind: "tool".into(),
        name: name.into(),
        outcome: outcome.into(),
        duration_ms: 3,
        arguments_sha256: Some("ab".repeat(32)),
    };
    let mut records = vec![record(now - 30 * 86_400_000, Some("alice"), "fs__write_file", "ok")];
    for i in 0..150 {
        records.push(record(now - 1000 + i, Some("alice"), "fault__echo", "ok"));
    }
    records.push(record(now, Some("bob"), "fs__write_file", "denied"));
    records.push(record(now, None, "fault__100%_x", "ok"));
    store.insert_audit(&records).await.unwrap();

    let all = store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.len(), 100, "the default limit");
    assert!(all[0].id > all[1].id, "newest first");
    let writes = store
        .audit(&AuditFilter {
            name: Some("*__write_*".into()),
            limit: Some(5),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    // Older matching records are found past pages of other names.
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].principal.as_deref(), Some("bob"));
    assert_eq!(writes[0].outcome, "denied");
    let literal = store
        .audit(&AuditFilter {
            name: Some("fault__100%_x".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(literal.len(), 1, "% and _ are literal in a glob");
    assert_eq!(literal[0].principal, None);
    let recent_alice = store
        .audit(&AuditFilter {
            principal: Some("alice".into()),
            since_ms: Some(now - 86_400_000),
            limit: Some(1000),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(recent_alice.len(), 150);
    assert_eq!(recent_alice[0].arguments_sha256, Some("ab".repeat(32)));
    assert_eq!(store.prune_audit(now - 7 * 86_400_000).await.unwrap(), 1);
    let left = store
        .audit(&AuditFilter {
            limit: Some(1000),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 152);
}
/// Pages of runs: filters by workflow set, status, origin prefix and time; `before`
/// continues where the last page ended, without repeating or skipping a run.
async fn runs_are_paged_and_filtered(place: &TestPlace) {
    let store = &place.store().await;
    store.save_version("h1", "wf", "{}").await.unwrap();
    store.save_version("h2", "other", "{}").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..25 {
        let (workflow, hash) = if i % 5 == 0 { ("other", "h2") } else { ("wf", "h1") };
        let id = store
            .create_run(NewRun {
                workflow: workflow.into(),
                hash: hash.into(),
                inputs: json!({"i": i}),
                parent: None,
                origin: if i % 2 == 0 { "schedule:nightly".into() } else { "cli".into() },
                held_by: None,
                priority: 0,
                concurrency: None,
            })
            .await
            .unwrap();
        ids.push(id);
    }
    store.cancel(&ids[24]).await.unwrap();
    // The first execution's traceparent is kept; a later one does not replace it.
    assert_eq!(store.trace_parent(&ids[0], None).await.unwrap(), None);
    let first = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let kept = store.trace_parent(&ids[0], Some(first)).await.unwrap();
    assert_eq!(kept.as_deref(), Some(first));
    let again = store.trace_parent(&ids[0], Some("00-other-01")).await.unwrap();
    assert_eq!(again.as_deref(), Some(first));
    let page = |before: Option<(i64, String)>| RunQuery {
        workflows: Some(vec!["wf".into()]),
        before,
        limit: 7,
        ..RunQuery::default()
    };
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let runs = store.run_page(&page(before.clone())).await.unwrap();
        assert!(runs.len() <= 7);
        let Some(last) = runs.last() else { break };
        before = Some((last.created_at, last.id.clone()));
        assert!(runs.iter().all(|run| run.workflow == "wf"));
        seen.extend(runs.into_iter().map(|run| run.id));
    }
    assert_eq!(seen.len(), 20, "every wf run once");
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 20);
    assert_eq!(store.run_page(&RunQuery { limit: 500, ..RunQuery::default() }).await.unwrap().len(), 25);
    let scheduled = RunQuery {
        origin: Some("schedule:".into()),
        limit: 100,
        ..RunQuery::default()
    };
    assert_eq!(store.run_page(&scheduled).await.unwrap().len(), 13);
    let cancelled = RunQuery {
        status: Some(RunStatus::Cancelled),
        limit: 100,
        ..RunQuery::default()
    };
    let cancelled = store.run_page(&cancelled).await.unwrap();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].id, ids[24]);
    let none = RunQuery {
        workflows: Some(vec![]),
        limit: 100,
        ..RunQuery::default()
    };
    assert!(store.run_page(&none).await.unwrap().is_empty(), "an empty set sees nothing");
    let future = RunQuery {
        since: Some(now_ms() + 60_000),
        limit: 100,
        ..RunQuery::default()
    };
    assert!(store.run_page(&future).await.unwrap().is_empty());
}

    async fn oauth_credentials_are_kept_per_server_and_the_file_is_private(place: &TestPlace) {
        let store = place.store().await;
        assert_eq!(store.oauth_credentials("a").await.unwrap(), None);
        store.save_oauth_credentials("a", "{\"v\":1}").await.unwrap();
        store.save_oauth_credentials("b", "{\"v\":2}").await.unwrap();
        store.save_oauth_credentials("a", "{\"v\":3}").await.unwrap();
        let a = store.oauth_credentials("a").await.unwrap().unwrap();
        assert_eq!(a.credentials, "{\"v\":3}");
        assert!(!format!("{a:?}").contains("v\\\":3"), "Debug hides the document: {a:?}");
        let servers: Vec<String> = store
            .oauth_servers()
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.server)
            .collect();
        assert_eq!(servers, ["a", "b"]);
        assert!(store.delete_oauth_credentials("a").await.unwrap());
        assert!(!store.delete_oauth_credentials("a").await.unwrap());
        assert_eq!(store.oauth_credentials("a").await.unwrap(), None);
        // SQLite: the database (it holds tokens) is readable by its owner only.
        if let Some(path) = store.path() {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
    }
}

mod copy;
mod workers;
