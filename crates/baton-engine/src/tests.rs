//! The engine against a real SQLite store and an in-process fake tool set (fault injection:
//! slow, flaky and hanging tools), so that overlap, concurrency, retries, approvals and
//! take-over after a lost process are asserted from recorded facts.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use baton_core::workflow::{WorkflowContext, compile_workflow};
use baton_store::{
    StepStatus, Store,
    testing::{TestBackend, TestPlace},
};
use serde_json::json;

use super::*;

#[derive(Default)]
struct Tools {
    /// (tool, idempotency key, started, ended)
    calls: Mutex<Vec<(String, String, Instant, Instant)>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    failures: Mutex<HashMap<String, u64>>,
    /// `t__hang` hangs while this is false, and answers once it is true.
    release_hang: std::sync::atomic::AtomicBool,
    /// (tool, idempotency key) of every call, at its start.
    started: Mutex<Vec<(String, String)>>,
    /// (tool, whether the step retries itself) of every call.
    step_retries: Mutex<Vec<(String, bool)>>,
}

impl ToolCaller for Tools {
    fn call<'a>(
        &'a self,
        tool: &'a str,
        args: Value,
        options: CallOptions,
    ) -> BoxFuture<'a, Result<ToolOutput, ToolFailure>> {
        let (key, cancel) = (options.idempotency_key, options.cancel);
        self.step_retries
            .lock()
            .unwrap()
            .push((tool.to_owned(), options.step_retries));
        Box::pin(async move {
            let started = Instant::now();
            self.started
                .lock()
                .unwrap()
                .push((tool.to_owned(), key.clone()));
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let result = match tool {
                "t__echo" => Ok(args.clone()),
                "t__slow" => {
                    let ms = args["ms"].as_u64().unwrap_or(100);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(args.clone())
                }
                "t__flaky" => {
                    let mut failures = self.failures.lock().unwrap();
                    let seen = failures.entry(key.clone()).or_default();
                    *seen += 1;
                    if *seen <= args["fail"].as_u64().unwrap_or(0) {
                        Err(ToolFailure::Transient(format!("failure {seen}")))
                    } else {
                        Ok(json!({"after": *seen}))
                    }
                }
                "t__hang" if self.release_hang.load(Ordering::SeqCst) => {
                    Ok(json!({"resumed": true}))
                }
                "t__hang" => {
                    cancel.cancelled().await;
                    Err(ToolFailure::Cancelled)
                }
                "t__error" => {
                    self.in_flight.fetch_sub(1, Ordering::SeqCst);
                    return Ok(ToolOutput {
                        value: json!("it broke"),
                        is_error: true,
                    });
                }
                other => Err(ToolFailure::Permanent(format!("no tool {other}"))),
            };
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            self.calls
                .lock()
                .unwrap()
                .push((tool.to_owned(), key, started, Instant::now()));
            result.map(|value| ToolOutput {
                value,
                is_error: false,
            })
        })
    }
}

fn workflow(text: &str) -> Workflow {
    compile_workflow(
        Path::new("test.yaml"),
        text,
        WorkflowContext {
            servers: None,
            separator: "__",
            env_allow: &[],
            modes: None,
        },
    )
    .unwrap_or_else(|errors| panic!("{errors}"))
}

async fn engine(
    dir: &tempfile::TempDir,
    tools: Arc<Tools>,
    workflows: Vec<Workflow>,
) -> Arc<Engine> {
    let store = Store::open(&dir.path().join("baton.db"), 1024)
        .await
        .unwrap();
    Engine::new(store, tools, workflows, &[])
}

fn calls_of(tools: &Tools, tool: &str) -> Vec<(String, Instant, Instant)> {
    tools
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(name, ..)| name == tool)
        .map(|(_, key, start, end)| (key.clone(), *start, *end))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_branches_overlap_and_data_flows_between_steps() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let flow = workflow(
        r#"
name: fan
inputs:
  who: { type: string, default: world }
outputs:
  greeting: "{{ steps.join.output.text }}"
steps:
  - { id: a, tool: t__slow, args: { ms: 300, tag: a } }
  - { id: b, tool: t__slow, args: { ms: 300, tag: b } }
  - id: join
    set: { text: "hello {{ inputs.who }} from {{ steps.a.output.tag }}{{ steps.b.output.tag }}" }
"#,
    );
    let engine = engine(&dir, tools.clone(), vec![flow]).await;
    let record = engine
        .run("fan", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert_eq!(
        record.outputs,
        Some(json!({"greeting": "hello world from ab"}))
    );
    let slow = calls_of(&tools, "t__slow");
    assert_eq!(slow.len(), 2);
    let (first, second) = (&slow[0], &slow[1]);
    assert!(
        first.1 < second.2 && second.1 < first.2,
        "the two branches ran at the same time: {slow:?}"
    );
    // Step records carry their times.
    let steps = engine.store().steps(&record.id).await.unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s.started_at.is_some() && s.finished_at.is_some())
    );
}

/// A workflow's `timeout:` cancels a run that runs longer (a durable sleep here), and a
/// workflow without one is untouched (its definition's hash does not move either).
#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_timeout_cancels_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let slow = workflow("name: slow\ntimeout: 300ms\nsteps:\n  - { id: wait, sleep: 30s }\n");
    assert_eq!(slow.timeout, Some(Duration::from_millis(300)));
    let plain = workflow("name: plain\nsteps:\n  - { id: wait, sleep: 30s }\n");
    let stored = serde_json::to_value(&plain).unwrap();
    assert!(
        stored.get("timeout").is_none(),
        "left out when unset: {stored}"
    );
    let engine = engine(&dir, tools, vec![slow]).await;
    let started = Instant::now();
    let record = tokio::time::timeout(
        Duration::from_secs(20),
        engine.run("slow", &Default::default(), "test"),
    )
    .await
    .expect("the timeout did not end the run")
    .unwrap();
    assert_eq!(record.status, RunStatus::Cancelled, "{record:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread")]
async fn for_each_keeps_order_and_respects_its_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let flow = workflow(
        r#"
name: each
steps:
  - id: list
    set: { items: [5, 4, 3, 2, 1, 0] }
  - id: work
    for_each: "{{ steps.list.output.items }}"
    concurrency: 2
    tool: t__slow
    args: { ms: "{{ 20 + item * 10 }}", n: "{{ item }}", i: "{{ index }}" }
"#,
    );
    let engine = engine(&dir, tools.clone(), vec![flow]).await;
    let record = engine
        .run("each", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let outputs = record.outputs.unwrap();
    let ns: Vec<i64> = outputs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [5, 4, 3, 2, 1, 0], "results in item order");
    assert_eq!(tools.max_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_error_fails_after_one_attempt_and_one_layer_retries() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let flows = vec![
        workflow(
            "name: typo\nsteps:\n  - { id: s, tool: t__ecko, retry: { max_attempts: 5, initial: 10ms } }\n",
        ),
        workflow("name: plain\nsteps:\n  - { id: s, tool: t__flaky, args: { fail: 1 } }\n"),
        workflow(
            "name: own\nsteps:\n  - { id: s, tool: t__flaky, args: { fail: 1 }, retry: { max_attempts: 2, initial: 10ms } }\n",
        ),
    ];
    let engine = engine(&dir, tools.clone(), flows).await;
    let typo = engine
        .run("typo", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(typo.status, RunStatus::Failed);
    let error = typo.error.unwrap();
    assert!(
        error.contains("no tool t__ecko (after 1 attempt; a permanent error is not retried)"),
        "{error}"
    );
    assert_eq!(engine.store().steps(&typo.id).await.unwrap()[0].attempts, 1);
    assert_eq!(
        calls_of(&tools, "t__ecko").len(),
        1,
        "called once, not five times"
    );

    // Without a step policy the caller may retry (the engine does not); with one, the
    // engine retries and tells the caller to make one attempt per call.
    let plain = engine
        .run("plain", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(plain.status, RunStatus::Failed, "the engine did not retry");
    let own = engine
        .run("own", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(own.status, RunStatus::Succeeded);
    assert_eq!(engine.store().steps(&own.id).await.unwrap()[0].attempts, 2);
    let flags: Vec<bool> = tools
        .step_retries
        .lock()
        .unwrap()
        .iter()
        .filter(|(tool, _)| tool == "t__flaky")
        .map(|(_, retries)| *retries)
        .collect();
    assert_eq!(flags, [false, true, true]);
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_follow_the_policy_and_failures_name_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let flows = vec![
        workflow(
            "name: heal\nsteps:\n  - { id: s, tool: t__flaky, args: { fail: 2 }, retry: { max_attempts: 3, initial: 10ms, jitter: false } }\n",
        ),
        workflow(
            "name: give_up\nsteps:\n  - { id: s, tool: t__flaky, args: { fail: 5 }, retry: { max_attempts: 2, initial: 10ms } }\n  - { id: after, needs: [s], set: { x: 1 } }\n",
        ),
        workflow(
            "name: fallback\nsteps:\n  - id: s\n    tool: t__error\n    fallback: { tool: t__echo, args: { via: fallback } }\n",
        ),
        workflow(
            "name: carry_on\nsteps:\n  - { id: s, tool: t__error, on_error: continue }\n  - { id: t, needs: [s], set: { seen: \"{{ steps.s.status }}\" } }\n",
        ),
    ];
    let engine = engine(&dir, tools.clone(), flows).await;
    let healed = engine
        .run("heal", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(healed.status, RunStatus::Succeeded);
    assert_eq!(healed.outputs, Some(json!({"after": 3})));
    let record = &engine.store().steps(&healed.id).await.unwrap()[0];
    assert_eq!(record.attempts, 3);

    let failed = engine
        .run("give_up", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.unwrap();
    assert!(
        error.contains("step \"s\" failed: failure 2 (after 2 attempts)"),
        "{error}"
    );
    let steps = engine.store().steps(&failed.id).await.unwrap();
    assert!(
        steps.iter().all(|s| s.step_id != "after"),
        "a step after a failure does not run"
    );

    let fell_back = engine
        .run("fallback", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(fell_back.outputs, Some(json!({"via": "fallback"})));

    let carried = engine
        .run("carry_on", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(carried.status, RunStatus::Succeeded);
    assert_eq!(carried.outputs, Some(json!({"seen": "failed"})));
}

#[test]
fn backoff_grows_and_is_capped() {
    let policy = baton_core::workflow::StepRetry {
        max_attempts: 10,
        initial: Duration::from_millis(100),
        multiplier: 2.0,
        max: Duration::from_millis(500),
        jitter: false,
    };
    let delays: Vec<u128> = (1..=5)
        .map(|a| steps::backoff(&policy, a).as_millis())
        .collect();
    assert_eq!(delays, [100, 200, 400, 500, 500]);
    let jittered = baton_core::workflow::StepRetry {
        jitter: true,
        ..policy
    };
    for attempt in 1..=5 {
        let delay = steps::backoff(&jittered, attempt);
        assert!(delay <= Duration::from_millis(500), "{delay:?}");
        assert!(delay >= Duration::from_millis(50), "{delay:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_blocks_until_someone_decides() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let flow = workflow(
        "name: gated\nsteps:\n  - { id: gate, approval: { prompt: \"Ship it?\" } }\n  - { id: ship, needs: [gate], set: { by: \"{{ steps.gate.output.by }}\" } }\n",
    );
    let engine = engine(&dir, tools, vec![flow]).await;
    let mut events = engine.subscribe();
    let id = engine
        .start("gated", &Default::default(), "test")
        .await
        .unwrap();
    let running = {
        let (engine, id) = (engine.clone(), id.clone());
        tokio::spawn(async move { engine.execute(&id).await })
    };
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Ok(RunEvent::Waiting { step, reason, .. })) => {
                assert_eq!(step, "gate");
                assert!(reason.contains("Ship it?"), "{reason}");
                break;
            }
            Ok(Ok(_)) => continue,
            other => panic!("no waiting event: {other:?}"),
        }
    }
    assert_eq!(
        engine.store().run(&id).await.unwrap().status,
        RunStatus::Running
    );
    let waiting = engine.store().steps(&id).await.unwrap();
    assert_eq!(waiting[0].status, StepStatus::Waiting);
    assert!(
        engine
            .decide(&id, "gate", true, "ana", Some("go"))
            .await
            .unwrap()
    );
    let record = running.await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.outputs, Some(json!({"by": "ana"})));
}

/// A process that dies mid-step: another one takes the run over when the lease expires,
/// does not run the completed step again, and attempts the interrupted one again with the
/// same idempotency key.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_taken_over_without_repeating_completed_steps() {
    a_run_is_taken_over_without_repeating_completed_steps_on(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_taken_over_without_repeating_completed_steps_on_postgres() {
    a_run_is_taken_over_without_repeating_completed_steps_on(TestBackend::Postgres).await;
}

async fn a_run_is_taken_over_without_repeating_completed_steps_on(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    let place = TestPlace::new(backend, dir.path(), 1024).await;
    let tools = Arc::new(Tools::default());
    let text = "name: two\nsteps:\n  - { id: first, tool: t__echo, args: { n: 1 } }\n  - { id: second, needs: [first], tool: t__hang, args: {} }\n";
    let first_engine = Engine::new(
        place.store().await,
        tools.clone(),
        vec![workflow(text)],
        &[],
    )
    .with_lease_ttl(Duration::from_millis(300));
    let id = first_engine
        .start("two", &Default::default(), "test")
        .await
        .unwrap();
    let crashed = {
        let (engine, id) = (first_engine.clone(), id.clone());
        tokio::spawn(async move { engine.execute(&id).await })
    };
    // Wait until the second step's tool call is in flight (its row says running and the
    // tool has been called), then "crash": abort without releasing.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let steps = first_engine.store().steps(&id).await.unwrap();
        let running = steps
            .iter()
            .any(|s| s.step_id == "second" && s.status == StepStatus::Running);
        let called = tools
            .started
            .lock()
            .unwrap()
            .iter()
            .any(|(tool, _)| tool == "t__hang");
        if running && called {
            break;
        }
        assert!(Instant::now() < deadline, "the second step never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    crashed.abort();
    let _ = crashed.await;

    // Another process on the same database, where the tool now answers.
    tools.release_hang.store(true, Ordering::SeqCst);
    let store = place.store().await;
    let second_engine = Engine::new(store, tools.clone(), vec![workflow(text)], &[]);
    let started = Instant::now();
    let record = loop {
        match second_engine.execute(&id).await {
            Ok(record) => break record,
            Err(EngineError::Busy(..)) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(error) => panic!("{error}"),
        }
    };
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert_eq!(record.outputs, Some(json!({"resumed": true})));
    assert_eq!(
        second_engine.takeovers(),
        1,
        "counted (baton_run_takeovers_total)"
    );
    assert_eq!(first_engine.takeovers(), 0);
    let echo_calls = calls_of(&tools, "t__echo");
    assert_eq!(
        echo_calls.len(),
        1,
        "the completed step ran once: {echo_calls:?}"
    );
    let hang_keys: Vec<String> = tools
        .started
        .lock()
        .unwrap()
        .iter()
        .filter(|(tool, _)| tool == "t__hang")
        .map(|(_, key)| key.clone())
        .collect();
    assert_eq!(
        hang_keys.len(),
        2,
        "the interrupted step was attempted again"
    );
    assert_eq!(hang_keys[0], hang_keys[1], "with the same idempotency key");
    let second = engine_steps(&second_engine, &id, "second").await;
    assert_eq!(second.attempts, 2);
}

async fn engine_steps(engine: &Engine, run: &str, step: &str) -> baton_store::StepRecord {
    engine
        .store()
        .steps(run)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.step_id == step && s.item == -1)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_is_retried_from_its_failed_step() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let flow = workflow(
        "name: once\nsteps:\n  - { id: a, tool: t__echo, args: { n: 1 } }\n  - { id: b, needs: [a], tool: t__flaky, args: { fail: 1 } }\n  - { id: c, needs: [b], set: { done: true } }\n",
    );
    let engine = engine(&dir, tools.clone(), vec![flow]).await;
    let failed = engine
        .run("once", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let forgotten = engine.reopen(&failed.id, None).await.unwrap();
    assert_eq!(forgotten, ["b", "c"], "the failed step and what follows it");
    let retried = engine.execute(&failed.id).await.unwrap();
    assert_eq!(retried.status, RunStatus::Succeeded, "{:?}", retried.error);
    assert_eq!(calls_of(&tools, "t__echo").len(), 1, "a kept its result");
    // From a step: it and everything after it run again.
    let again = engine.reopen(&failed.id, Some("a")).await.unwrap();
    assert_eq!(again, ["a", "b", "c"]);
    assert!(matches!(
        engine.reopen(&failed.id, Some("nope")).await,
        Err(EngineError::Definition(..))
    ));
}

/// A durable timer keeps its wake-up time across a restart: the resumed run wakes when the
/// first process would have, not a full sleep later.
#[tokio::test(flavor = "multi_thread")]
async fn a_durable_timer_survives_a_restart() {
    a_durable_timer_survives_a_restart_on(TestBackend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_durable_timer_survives_a_restart_on_postgres() {
    a_durable_timer_survives_a_restart_on(TestBackend::Postgres).await;
}

async fn a_durable_timer_survives_a_restart_on(backend: TestBackend) {
    let dir = tempfile::tempdir().unwrap();
    let place = TestPlace::new(backend, dir.path(), 1024).await;
    let tools = Arc::new(Tools::default());
    let text = "name: nap\nsteps:\n  - { id: wait, sleep: 2s }\n  - { id: after, needs: [wait], set: { ok: true } }\n";
    let first = Engine::new(
        place.store().await,
        tools.clone(),
        vec![workflow(text)],
        &[],
    )
    .with_lease_ttl(Duration::from_millis(300));
    let id = first
        .start("nap", &Default::default(), "test")
        .await
        .unwrap();
    let started = Instant::now();
    let crashed = {
        let (engine, id) = (first.clone(), id.clone());
        tokio::spawn(async move { engine.execute(&id).await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    crashed.abort();
    let _ = crashed.await;
    let wake_at = first.store().steps(&id).await.unwrap()[0]
        .wake_at
        .expect("wake-up time stored");
    let store = place.store().await;
    let second = Engine::new(store, tools, vec![workflow(text)], &[]);
    let record = loop {
        match second.execute(&id).await {
            Ok(record) => break record,
            // The first owner's lease (300 ms) has to run out first.
            Err(EngineError::Busy(..)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(error) => panic!("{error}"),
        }
    };
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(3500),
        "woke at the stored time ({wake_at}), not 2 s after the restart: {took:?}"
    );
    assert!(
        took >= Duration::from_millis(1900),
        "slept the whole timer: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conditions_timeouts_and_sub_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let flows = vec![
        workflow(
            "name: parent\ninputs:\n  deep: { type: boolean, default: false }\nsteps:\n  - { id: skipped, if: \"inputs.deep\", tool: t__echo, args: { n: 1 } }\n  - { id: child, workflow: child, inputs: { word: \"{{ steps.skipped.status }}\" } }\n  - { id: slow, tool: t__hang, args: {}, timeout: 200ms, on_error: continue }\n  - { id: last, needs: [child, slow], set: { child: \"{{ steps.child.output.echoed }}\", slow: \"{{ steps.slow.status }}\" } }\n",
        ),
        workflow(
            "name: child\ninputs:\n  word: { type: string }\noutputs:\n  echoed: \"{{ steps.say.output.word }}\"\nsteps:\n  - { id: say, tool: t__echo, args: { word: \"{{ inputs.word }}\" } }\n",
        ),
    ];
    let engine = engine(&dir, tools.clone(), flows).await;
    let record = engine
        .run("parent", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    assert_eq!(
        record.outputs,
        Some(json!({"child": "skipped", "slow": "failed"})),
        "the false condition skipped its step, the sub-workflow ran with its inputs, the timeout failed a step that continues"
    );
    let steps = engine.store().steps(&record.id).await.unwrap();
    let slow = steps.iter().find(|s| s.step_id == "slow").unwrap();
    assert!(
        slow.error
            .as_deref()
            .unwrap_or_default()
            .contains("timed out after 200ms"),
        "{slow:?}"
    );
    let children = engine.store().runs(10, Some("child")).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].parent_run.as_deref(), Some(record.id.as_str()));
    assert!(
        calls_of(&tools, "t__echo").len() == 1,
        "only the child's echo ran"
    );
}

/// Editing a workflow never changes a run that has started: it runs the definition it was
/// pinned to.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_keeps_the_definition_it_started_with() {
    let dir = tempfile::tempdir().unwrap();
    let tools = Arc::new(Tools::default());
    let before = "name: pinned\nsteps:\n  - { id: s, set: { version: 1 } }\n";
    let after = "name: pinned\nsteps:\n  - { id: s, set: { version: 2 } }\n";
    let engine = engine(&dir, tools, vec![workflow(before)]).await;
    let id = engine
        .start("pinned", &Default::default(), "test")
        .await
        .unwrap();
    engine.set_workflows(vec![workflow(after)]);
    let old = engine.execute(&id).await.unwrap();
    assert_eq!(old.outputs, Some(json!({"version": 1})));
    let new = engine
        .run("pinned", &Default::default(), "test")
        .await
        .unwrap();
    assert_eq!(new.outputs, Some(json!({"version": 2})));
    assert_ne!(old.hash, new.hash);
}

mod queue;
mod workers;
