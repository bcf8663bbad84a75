//! The run queue on both backends, asserted from the run records: a worker's place limit
//! (`workflows.max_concurrent`) holds and the queue leaves by priority, then age; a
//! concurrency key serializes runs with equal keys across workers and lets other keys
//! overlap.

use super::*;

const GATED: &str = "name: gated\nsteps:\n  - { id: gate, approval: { prompt: \"go?\" } }\n";
const WORK: &str = "name: work\nsteps:\n  - { id: a, tool: t__slow, args: { ms: 60 } }\n  - { id: b, needs: [a], tool: t__slow, args: { ms: 60 } }\n";
const KEYED: &str = "name: keyed\ninputs:\n  repo: { type: string }\nconcurrency: { limit: 1, key: \"{{ inputs.repo }}\" }\nsteps:\n  - { id: a, tool: t__slow, args: { ms: 80 } }\n  - { id: b, needs: [a], tool: t__slow, args: { ms: 80 } }\n";

fn worker(store: Store, max_runs: Option<u32>) -> Arc<Engine> {
    Engine::with_settings(
        store,
        Arc::new(Tools::default()),
        vec![workflow(GATED), workflow(WORK), workflow(KEYED)],
        &[],
        WorkerSettings {
            lease: Duration::from_secs(5),
            max_runs,
            poll: Duration::from_millis(200),
        },
    )
}

/// Waits until every run ended, and returns their records (all must have succeeded).
async fn finished(store: &Store, runs: &[String]) -> Vec<RunRecord> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut records = Vec::new();
    for run in runs {
        loop {
            let record = store.run(run).await.unwrap();
            if record.status.is_finished() {
                assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
                records.push(record);
                break;
            }
            assert!(Instant::now() < deadline, "run {run} never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    records
}

/// Whether two runs executed at the same time (their [started, finished] spans overlap;
/// one starting in the millisecond the other finished does not count).
fn overlap(a: &RunRecord, b: &RunRecord) -> bool {
    let span = |r: &RunRecord| (r.started_at.unwrap(), r.finished_at.unwrap());
    let ((a0, a1), (b0, b1)) = (span(a), span(b));
    a0 < b1 && b0 < a1
}

/// The most runs executing at one moment.
fn most_at_once(records: &[RunRecord]) -> usize {
    records
        .iter()
        .map(|r| {
            let at = r.started_at.unwrap();
            records
                .iter()
                .filter(|o| o.started_at.unwrap() <= at && at < o.finished_at.unwrap())
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_places_and_the_queue_leaves_by_priority() {
    two_places_and_the_queue_leaves_by_priority_on(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_places_and_the_queue_leaves_by_priority_on_postgres() {
    two_places_and_the_queue_leaves_by_priority_on(TestBackend::Postgres).await;
}

async fn two_places_and_the_queue_leaves_by_priority_on(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    let place = TestPlace::new(backend, dir.path(), 1024).await;
    let engine = worker(place.store().await, Some(2));
    let stop = CancellationToken::new();
    engine.dispatch(stop.clone());
    let none = serde_json::Map::new();
    // Two runs hold both places (each waits for an approval) ...
    let mut blockers = Vec::new();
    for _ in 0..2 {
        let id = engine.start("gated", &none, "test").await.unwrap();
        assert!(engine.submit(&id), "a free place executes the run at once");
        blockers.push(id);
    }
    // ... so four more wait, queued, whatever order they came in.
    let mut queued = Vec::new();
    for priority in [1, 5, 3, 9] {
        let id = engine
            .start_with("work", &none, "test", Some(priority))
            .await
            .unwrap();
        assert!(!engine.submit(&id), "no place: the run is queued");
        queued.push((priority, id));
    }
    let store = engine.store().clone();
    // The blockers have left the queue (under load one may still be there, claimed and
    // not yet started) and the four wait unclaimed.
    wait_until("the four runs are left in the queue", async || {
        let queue = store.queue().await.unwrap();
        let mut free = 0;
        for run in &queue {
            free += usize::from(store.run(&run.id).await.unwrap().lease_owner.is_none());
        }
        queue.len() == 4 && free == 4
    })
    .await;
    let queue = store.queue().await.unwrap();
    let order: Vec<i64> = queue.iter().map(|run| run.priority).collect();
    assert_eq!(order, [9, 5, 3, 1], "the queue's order: {queue:?}");
    assert_eq!(engine.queue_position(&queued[3].1).await.unwrap(), Some(1));
    assert_eq!(engine.queue_position(&queued[0].1).await.unwrap(), Some(4));
    for run in &queue {
        let record = store.run(&run.id).await.unwrap();
        assert_eq!(record.status, RunStatus::Queued, "{record:?}");
        assert_eq!(record.started_at, None, "a queued run has not started");
    }
    for blocker in &blockers {
        assert!(
            engine
                .decide(blocker, "gate", true, "test", None)
                .await
                .unwrap()
        );
    }
    let mut all = blockers.clone();
    all.extend(queued.iter().map(|(_, id)| id.clone()));
    let records = finished(&store, &all).await;
    stop.cancel();
    assert!(
        most_at_once(&records) <= 2,
        "more than two runs executed at once: {records:#?}"
    );
    assert!(store.queue().await.unwrap().is_empty());
    let started = |priority: i64| {
        let id = &queued.iter().find(|(p, _)| *p == priority).unwrap().1;
        records
            .iter()
            .find(|r| &r.id == id)
            .unwrap()
            .started_at
            .unwrap()
    };
    // The two highest leave first (claimed together when the blockers end, so their
    // start times may be in either order), the two lowest once those are done.
    assert!(
        started(9).max(started(5)) < started(3).min(started(1)),
        "started out of priority order: {records:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_concurrency_key_serializes_equal_keys_across_workers() {
    a_concurrency_key_serializes_equal_keys_across_workers_on(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_concurrency_key_serializes_equal_keys_across_workers_on_postgres() {
    a_concurrency_key_serializes_equal_keys_across_workers_on(TestBackend::Postgres).await;
}

async fn a_concurrency_key_serializes_equal_keys_across_workers_on(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    let place = TestPlace::new(backend, dir.path(), 1024).await;
    let (a, b) = (
        worker(place.store().await, None),
        worker(place.store().await, None),
    );
    let stop = CancellationToken::new();
    a.dispatch(stop.clone());
    b.dispatch(stop.clone());
    let mut runs = Vec::new();
    for (index, repo) in ["x", "x", "y", "x", "y"].into_iter().enumerate() {
        let engine = if index % 2 == 0 { &a } else { &b };
        let inputs = json!({ "repo": repo }).as_object().unwrap().clone();
        let id = engine.start("keyed", &inputs, "test").await.unwrap();
        engine.submit(&id);
        runs.push((repo, id));
    }
    let store = a.store().clone();
    let records = finished(
        &store,
        &runs.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(),
    )
    .await;
    stop.cancel();
    let keyed = |repo: &str| -> Vec<&RunRecord> {
        runs.iter()
            .zip(&records)
            .filter(|((r, _), _)| *r == repo)
            .map(|(_, record)| record)
            .collect()
    };
    let (x, y) = (keyed("x"), keyed("y"));
    assert_eq!(x[0].concurrency_key.as_deref(), Some("keyed:x"));
    for (i, first) in x.iter().enumerate() {
        for second in &x[i + 1..] {
            assert!(!overlap(first, second), "equal keys overlapped: {x:#?}");
        }
    }
    assert!(!overlap(y[0], y[1]), "equal keys overlapped: {y:#?}");
    // Different keys ran side by side.
    assert!(
        x.iter().any(|xr| y.iter().any(|yr| overlap(xr, yr))),
        "different keys never overlapped: {records:#?}"
    );
}

#[tokio::test]
async fn a_key_that_cannot_render_refuses_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let flow = workflow(
        "name: k\ninputs:\n  repo: { type: object, required: false, default: {} }\nconcurrency: { key: \"{{ inputs.repo.name.first }}\" }\nsteps:\n  - { id: a, tool: t__echo }\n",
    );
    let engine = engine(&dir, Arc::new(Tools::default()), vec![flow]).await;
    let error = engine
        .start("k", &serde_json::Map::new(), "test")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("concurrency.key"), "{error}");
}
