//! Several workers on one database: claiming ready runs, the registry, wake-ups, schema
//! versions and connection errors.

use std::{collections::HashSet, time::Duration};

use serde_json::json;

use super::run;
use crate::testing::{TestBackend, TestPlace};
use crate::*;

backend_tests! {
    async fn claim_ready_hands_each_run_to_one_claimer(place: &TestPlace) {
        let a = place.store().await;
        let b = place.store().await;
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(run(&a).await);
        }
        let claimer = |store: Store, owner: &'static str| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = store
                        .claim_ready(owner, Duration::from_secs(60), 3)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        break mine;
                    }
                    for (id, lease) in got {
                        assert_eq!(lease.owner, owner);
                        mine.push(id);
                    }
                }
            })
        };
        let (left, right) = (claimer(a.clone(), "a"), claimer(b.clone(), "b"));
        let (left, right) = (left.await.unwrap(), right.await.unwrap());
        let all: Vec<&String> = left.iter().chain(&right).collect();
        assert_eq!(all.len(), 50, "every run claimed once: {} + {}", left.len(), right.len());
        let unique: HashSet<&String> = all.iter().copied().collect();
        assert_eq!(unique.len(), 50);
        assert!(ids.iter().all(|id| unique.contains(id)));
        let record = a.run(&ids[0]).await.unwrap();
        assert_eq!(record.status, RunStatus::Running);
        assert!(record.started_at.is_some());
        assert!(a.resumable().await.unwrap().is_empty());
        let mut counts = a.running_by_owner().await.unwrap();
        counts.sort();
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 50);
    }

    async fn claim_ready_takes_the_oldest_free_runs(place: &TestPlace) {
        let store = place.store().await;
        // Created in three different milliseconds: "oldest" is by creation time.
        let first = run(&store).await;
        tokio::time::sleep(Duration::from_millis(3)).await;
        let second = run(&store).await;
        tokio::time::sleep(Duration::from_millis(3)).await;
        let third = run(&store).await;
        let held = store.claim(&second, "x", Duration::from_secs(60)).await.unwrap().unwrap();
        let got = store.claim_ready("w", Duration::from_secs(60), 10).await.unwrap();
        let got: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(got, [first.as_str(), third.as_str()]);
        assert!(
            store.claim_ready("v", Duration::from_secs(60), 1).await.unwrap().is_empty(),
            "nothing left to claim"
        );
        store.release(&second, &held).await.unwrap();
        let again = store.claim_ready("v", Duration::from_secs(60), 5).await.unwrap();
        assert_eq!(again.len(), 1);
        assert!(again[0].1.epoch > held.epoch);
        let attempt = store.begin_attempt(&second, &again[0].1, "s", -1).await.unwrap();
        store
            .finish_attempt(&second, &again[0].1, "s", -1, attempt, Finish::Succeeded(json!(1)))
            .await
            .unwrap();
    }

    async fn workers_register_by_heartbeat(place: &TestPlace) {
        let store = place.store().await;
        assert!(store.workers().await.unwrap().is_empty());
        store.heartbeat("w1", &json!({"host": "a", "pid": 1})).await.unwrap();
        store.heartbeat("w2", &json!({"host": "b"})).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        store.heartbeat("w1", &json!({"host": "a", "pid": 2})).await.unwrap();
        let workers = store.workers().await.unwrap();
        assert_eq!(workers.len(), 2);
        let w1 = &workers[0];
        assert_eq!(w1.id, "w1");
        assert_eq!(w1.info, json!({"host": "a", "pid": 2}));
        assert!(w1.started_at < w1.heartbeat_at, "{w1:?}");
        assert!(w1.heartbeat_at <= w1.now);
        let clock = store.clock_ms().await.unwrap();
        assert!((clock - now_ms()).abs() < 60_000, "the store's clock is a real clock");
        store.remove_worker("w1").await.unwrap();
        let left: Vec<String> = store.workers().await.unwrap().into_iter().map(|w| w.id).collect();
        assert_eq!(left, ["w2"]);
        let id = run(&store).await;
        store.claim(&id, "w2", Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!(store.running_by_owner().await.unwrap(), [("w2".to_owned(), 1)]);
    }

    async fn the_schema_version_is_known_and_a_newer_one_refused(place: &TestPlace) {
        let store = place.store().await;
        let (applied, known) = store.schema_version().await.unwrap();
        assert!(known >= 1);
        assert_eq!(applied, known);
        let newer = "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)";
        match &store.backend {
            Backend::Sqlite(sqlite) => {
                sqlx::query(newer).bind(known + 1).execute(sqlite.pool()).await.unwrap();
            }
            Backend::Postgres(pg) => {
                sqlx::query(newer).bind(known + 1).execute(pg.pool()).await.unwrap();
            }
        }
        let refused = place.try_store().await.map(|_| ()).unwrap_err();
        assert!(
            matches!(refused, StoreError::SchemaTooNew { found, .. } if found == known + 1),
            "{refused}"
        );
        let text = refused.to_string();
        assert!(text.contains(&format!("has schema version {}", known + 1)), "{text}");
        assert!(text.contains(&format!("knows up to {known}: upgrade Baton")), "{text}");
    }

    async fn stores_opened_at_once_on_a_new_database_apply_the_schema_once_and_upgrade_an_old_one(place: &TestPlace) {
        // Three processes starting together on a database nobody created yet.
        let (a, b, c) = tokio::join!(place.try_store(), place.try_store(), place.try_store());
        for store in [a, b, c] {
            let store = store.unwrap_or_else(|error| panic!("{error}"));
            let (applied, known) = store.schema_version().await.unwrap();
            assert_eq!(applied, known);
        }
        // A store one version behind (its newest migration made `upstream_tasks`) is upgraded.
        let store = place.store().await;
        let (_, known) = store.schema_version().await.unwrap();
        let forget = "DELETE FROM schema_migrations WHERE version = $1";
        match &store.backend {
            Backend::Sqlite(sqlite) => {
                sqlx::query(forget).bind(known).execute(sqlite.pool()).await.unwrap();
                sqlx::query("DROP TABLE upstream_tasks").execute(sqlite.pool()).await.unwrap();
            }
            Backend::Postgres(pg) => {
                sqlx::query(forget).bind(known).execute(pg.pool()).await.unwrap();
                sqlx::query("DROP TABLE upstream_tasks").execute(pg.pool()).await.unwrap();
            }
        }
        assert_eq!(store.schema_version().await.unwrap(), (known - 1, known));
        let upgraded = place.store().await;
        assert_eq!(upgraded.schema_version().await.unwrap(), (known, known));
        assert_eq!(upgraded.upstream_task("none", "s").await.unwrap(), None, "the table is back");
    }

    async fn the_work_signal_moves_when_a_run_is_created(place: &TestPlace) {
        let store = place.store().await;
        // PostgreSQL: another store (another process) hears it through NOTIFY.
        let observer = match place.backend() {
            TestBackend::Sqlite => store.clone(),
            TestBackend::Postgres => place.store().await,
        };
        let mut signal = observer.work_signal();
        signal.borrow_and_update();
        run(&store).await;
        tokio::time::timeout(Duration::from_secs(10), signal.changed())
            .await
            .expect("the work signal moves")
            .unwrap();
        // A released run wakes workers too.
        let id = store.runs(1, None).await.unwrap()[0].id.clone();
        let lease = store.claim(&id, "a", Duration::from_secs(60)).await.unwrap().unwrap();
        signal.borrow_and_update();
        store.release(&id, &lease).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), signal.changed())
            .await
            .expect("the work signal moves on release")
            .unwrap();
        // So do a decision and a new or paused schedule.
        signal.borrow_and_update();
        store.decide(&id, "gate", true, "ana", None).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), signal.changed())
            .await
            .expect("the work signal moves on a decision")
            .unwrap();
        store.add_schedule("s", &json!({"every": "1m"}), false, 0).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), signal.changed())
            .await
            .expect("the work signal moves on a new schedule")
            .unwrap();
        store.set_paused("s", true, None, 0).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), signal.changed())
            .await
            .expect("the work signal moves on a pause")
            .unwrap();
    }

    async fn concurrent_slot_claims_take_each_slot_once(place: &TestPlace) {
        let a = place.store().await;
        let b = place.store().await;
        a.add_schedule("s", &json!({"every": "1m"}), false, 0).await.unwrap();
        let claimer = |store: Store, owner: &'static str, offset: i64| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for round in 0..40_i64 {
                    let slots: Vec<(&str, i64)> =
                        (0..3).map(|n| ("s", (round + offset + n) * 60_000)).collect();
                    let claimed = store.claim_slots(&slots, owner).await.unwrap();
                    for (slot, ours) in slots.iter().zip(claimed) {
                        if ours {
                            mine.push(slot.1);
                            store.settle_slot("s", slot.1, "skipped", None, Some("test")).await.unwrap();
                        }
                    }
                }
                mine
            })
        };
        let (left, right) = (claimer(a.clone(), "a", 0), claimer(b.clone(), "b", 1));
        let (left, right) = (left.await.unwrap(), right.await.unwrap());
        let mut all: Vec<i64> = left.iter().chain(&right).copied().collect();
        all.sort();
        let count = all.len();
        all.dedup();
        assert_eq!(all.len(), count, "no slot claimed twice");
        assert_eq!(count, 43, "slots 0 to 42 minutes");
        assert_eq!(a.schedule("s").await.unwrap().unwrap().skipped, 43);
    }

    async fn concurrent_starts_of_a_task_open_one_entry(place: &TestPlace) {
        let a = place.store().await;
        let b = place.store().await;
        let entry = NewTimeEntry {
            task_id: "t1".into(),
            mode: "code".into(),
            task: "task".into(),
            priority: "todo".into(),
            start_at: 1_000,
            end_at: None,
            duration_ms: None,
            result: "started".into(),
            source: "tool".into(),
            run_id: None,
            logged_at: 1_000,
        };
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..10 {
            let store = if n % 2 == 0 { a.clone() } else { b.clone() };
            let entry = entry.clone();
            tasks.spawn(async move { store.time_start(&entry).await.unwrap() });
        }
        let mut started = 0;
        while let Some(outcome) = tasks.join_next().await {
            if matches!(outcome.unwrap(), TimeStart::Started(_)) {
                started += 1;
            }
        }
        assert_eq!(started, 1);
        let filter = TimeFilter { open_only: true, ..TimeFilter::default() };
        assert_eq!(a.time_entries(&filter, false, None).await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_migrate_once() {
    let db = crate::testing::TestDb::new().await;
    let (a, b, c) = tokio::join!(db.store(64), db.store(64), db.store(64));
    for store in [&a, &b, &c] {
        let (applied, known) = store.schema_version().await.unwrap();
        assert_eq!(applied, known);
    }
    assert_eq!(a.backend_name(), "postgres");
    assert!(a.path().is_none());
    assert!(!a.location().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_create_on_public_is_told_what_to_grant() {
    let db = crate::testing::TestDb::new().await;
    let role = format!(
        "baton_t_role_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let admin = db.store(64).await;
    let Backend::Postgres(pg) = &admin.backend else {
        unreachable!()
    };
    // PostgreSQL 15 grants no CREATE on `public` to other users of a database.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA public TO {role}"
    )))
    .execute(pg.pool())
    .await
    .unwrap();
    let url = db.url().replacen("://postgres@", &format!("://{role}@"), 1);
    let error = Store::connect_postgres(&url, 64)
        .await
        .map(|_| ())
        .unwrap_err();
    drop(admin);
    let text = error.to_string();
    let admin_url = crate::testing::admin_url();
    let cleanup = async {
        let mut connection =
            <sqlx::postgres::PgConnection as sqlx::Connection>::connect(&admin_url)
                .await
                .unwrap();
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            db.url().rsplit('/').next().unwrap_or_default()
        )))
        .execute(&mut connection)
        .await;
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
            .execute(&mut connection)
            .await;
    };
    cleanup.await;
    assert!(matches!(error, StoreError::Privileges { .. }), "{error:?}");
    assert!(text.contains("GRANT CREATE ON SCHEMA public"), "{text}");
}

#[tokio::test]
async fn connecting_where_nothing_listens_says_so_without_the_password() {
    let url = "postgres://bob:hunter2@127.0.0.1:1/baton";
    let error = Store::connect_postgres(url, 64)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(error, StoreError::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("postgres://bob:***@127.0.0.1:1/baton"),
        "{text}"
    );
    assert!(text.contains("Is PostgreSQL running"), "{text}");
    assert!(!text.contains("hunter2") && !format!("{error:?}").contains("hunter2"));
}

#[tokio::test]
async fn a_missing_database_says_how_to_create_it() {
    let url = crate::testing::with_database(&crate::testing::admin_url(), "baton_no_such_db");
    let error = Store::connect_postgres(&url, 64)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(error, StoreError::NoDatabase { .. }), "{error:?}");
    assert!(
        error.to_string().contains("createdb baton_no_such_db"),
        "{error}"
    );
}

/// A worker frozen inside its claim transaction (stopped, a paused VM) holds the claim
/// lock; PostgreSQL ends that session after the idle-in-transaction timeout Baton sets, and
/// the other workers claim again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_frozen_inside_a_transaction_does_not_stop_the_others_claiming() {
    let db = crate::testing::TestDb::new().await;
    let (frozen, survivor) = (db.store(64).await, db.store(64).await);
    let Backend::Postgres(pg) = &frozen.backend else {
        unreachable!()
    };
    let setting: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert_eq!(setting, crate::postgres::IDLE_IN_TRANSACTION_TIMEOUT);
    let id = run(&survivor).await;
    // What `claim_ready` does first, then nothing more: the frozen claimer.
    let mut held = pg.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(crate::postgres::workers::CLAIM_LOCK)
        .execute(&mut *held)
        .await
        .unwrap();
    let claimed = tokio::time::timeout(
        Duration::from_secs(60),
        survivor.claim_ready("survivor", Duration::from_secs(60), 5),
    )
    .await
    .expect("the frozen session's claim lock was never freed")
    .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].0, id);
    // The frozen worker, resumed, finds its session ended and carries on with a new one.
    let late = sqlx::query("SELECT 1").execute(&mut *held).await;
    assert!(late.is_err(), "the frozen session was not ended: {late:?}");
    drop(held);
    let after = frozen
        .claim_ready("frozen", Duration::from_secs(60), 5)
        .await;
    assert!(after.unwrap().is_empty(), "the run stays the survivor's");
}

/// A timeout the user set (here in the URL's `options`) is kept.
#[tokio::test]
async fn a_users_own_idle_in_transaction_timeout_is_kept() {
    let db = crate::testing::TestDb::new().await;
    let separator = if db.url().contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{separator}options=-c%20idle_in_transaction_session_timeout%3D42s",
        db.url()
    );
    let store = Store::connect_postgres(&url, 64).await.unwrap();
    let Backend::Postgres(pg) = &store.backend else {
        unreachable!()
    };
    let setting: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert_eq!(setting, "42s");
}
