//! Several engines (workers) on one store, on both backends: capacity leaves runs to the
//! others, dispatchers share the ready runs without running one twice, and a run whose
//! worker stopped renewing its lease is finished by another.

use super::*;

const TWO_STEPS: &str = "name: two\nsteps:\n  - { id: a, tool: t__slow, args: { ms: 50 } }\n  - { id: b, needs: [a], tool: t__slow, args: { ms: 50 } }\n";

fn worker(store: Store, tools: Arc<Tools>, max_runs: Option<u32>) -> Arc<Engine> {
    Engine::with_settings(
        store,
        tools,
        vec![workflow(TWO_STEPS)],
        &[],
        WorkerSettings {
            lease: Duration::from_secs(2),
            max_runs,
            poll: Duration::from_millis(100),
        },
    )
}

async fn wait_all_finished(store: &Store, runs: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for run in runs {
        loop {
            let record = store.run(run).await.unwrap();
            if record.status.is_finished() {
                assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
                break;
            }
            assert!(Instant::now() < deadline, "run {run} never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_worker_leaves_runs_to_another() {
    a_full_worker_leaves_runs_to_another_on(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_worker_leaves_runs_to_another_on_postgres() {
    a_full_worker_leaves_runs_to_another_on(TestBackend::Postgres).await;
}

async fn a_full_worker_leaves_runs_to_another_on(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    let place = TestPlace::new(backend, dir.path(), 1024).await;
    let (tools_a, tools_b) = (Arc::new(Tools::default()), Arc::new(Tools::default()));
    let a = worker(place.store().await, tools_a.clone(), Some(1));
    let b = worker(place.store().await, tools_b.clone(), None);
    let stop = CancellationToken::new();
    b.dispatch(stop.clone());
    let inputs = serde_json::Map::new();
    let first = a.start("two", &inputs, "test").await.unwrap();
    a.submit(&first);
    // A is full: the next run is left in the store, and B takes it.
    let second = a.start("two", &inputs, "test").await.unwrap();
    a.submit(&second);
    // A caller of A waits for a run B executes, and gets its end.
    let third = a.start("two", &inputs, "test").await.unwrap();
    let record = a.execute_anywhere(&third).await.unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{record:?}");
    wait_all_finished(a.store(), &[first.clone(), second.clone(), third.clone()]).await;
    stop.cancel();
    let keys = |tools: &Tools| -> Vec<String> {
        tools
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, key, ..)| key.clone())
            .collect()
    };
    let (on_a, on_b) = (keys(&tools_a), keys(&tools_b));
    assert!(on_a.iter().any(|k| k.starts_with(&first)), "{on_a:?}");
    assert!(on_b.iter().any(|k| k.starts_with(&second)), "{on_b:?}");
    // Each step ran once, on one worker.
    assert_eq!(on_a.len() + on_b.len(), 6, "{on_a:?} {on_b:?}");
    assert!(tools_a.max_in_flight.load(Ordering::SeqCst) <= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_dispatchers_execute_each_ready_run_once() {
    two_dispatchers_execute_each_ready_run_once_on(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_dispatchers_execute_each_ready_run_once_on_postgres() {
    two_dispatchers_execute_each_ready_run_once_on(TestBackend::Postgres).await;
}

async fn two_dispatchers_execute_each_ready_run_once_on(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    let place = TestPlace::new(backend, dir.path(), 1024).await;
    let (tools_a, tools_b) = (Arc::new(Tools::default()), Arc::new(Tools::default()));
    let a = worker(place.store().await, tools_a.clone(), Some(4));
    let b = worker(place.store().await, tools_b.clone(), Some(4));
    let mut runs = Vec::new();
    for _ in 0..40 {
        let run = a
            .start("two", &serde_json::Map::new(), "test")
            .await
            .unwrap();
        // Created here, given to whichever worker takes it.
        a.store().release_owned(&run, a.owner()).await.unwrap();
        runs.push(run);
    }
    let stop = CancellationToken::new();
    a.dispatch(stop.clone());
    b.dispatch(stop.clone());
    wait_all_finished(a.store(), &runs).await;
    stop.cancel();
    let mut keys: Vec<String> = [&tools_a, &tools_b]
        .iter()
        .flat_map(|tools| {
            tools
                .calls
                .lock()
                .unwrap()
                .iter()
                .map(|(_, key, ..)| key.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(keys.len(), 80, "{keys:?}");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 80, "a step ran twice");
    for tools in [&tools_a, &tools_b] {
        assert!(
            !tools.calls.lock().unwrap().is_empty(),
            "one worker did nothing"
        );
        assert!(
            tools.max_in_flight.load(Ordering::SeqCst) <= 4,
            "over max_runs"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_lease_ran_out_is_finished_by_a_dispatcher() {
    a_run_whose_lease_ran_out_is_finished_by_a_dispatcher_on(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_lease_ran_out_is_finished_by_a_dispatcher_on_postgres() {
    a_run_whose_lease_ran_out_is_finished_by_a_dispatcher_on(TestBackend::Postgres).await;
}

async fn a_run_whose_lease_ran_out_is_finished_by_a_dispatcher_on(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    let place = TestPlace::new(backend, dir.path(), 1024).await;
    let tools = Arc::new(Tools::default());
    let b = worker(place.store().await, tools.clone(), None);
    let run = b
        .start("two", &serde_json::Map::new(), "test")
        .await
        .unwrap();
    // A worker on another machine claimed it and went silent.
    b.store().release_owned(&run, b.owner()).await.unwrap();
    let gone = b
        .store()
        .claim(&run, "elsewhere:1:abcdef", Duration::from_millis(700))
        .await
        .unwrap()
        .unwrap();
    let stop = CancellationToken::new();
    let started = Instant::now();
    b.dispatch(stop.clone());
    wait_all_finished(b.store(), std::slice::from_ref(&run)).await;
    stop.cancel();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "taken before the lease ran out"
    );
    // The silent worker can no longer write.
    assert!(matches!(
        b.store().begin_attempt(&run, &gone, "a", -1).await,
        Err(baton_store::StoreError::Fenced(_))
    ));
}
