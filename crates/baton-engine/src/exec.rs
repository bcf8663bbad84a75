//! Executing one run: claim its lease, keep it renewed, start every step whose needs are
//! done (in parallel), commit each result, and finish the run.

use std::{collections::BTreeMap, sync::Arc};

use baton_core::workflow::{OnError, Workflow, template};
use baton_store::{Lease, RunRecord, RunStatus, StepRecord, StepStatus};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Engine, EngineError, RENEW_EVERY, RunEvent};

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Steps of one run in flight at once; more wait for a free place (they queue on the
/// store's one connection anyway).
pub const MAX_PARALLEL_STEPS: usize = 64;

/// What a finished step left for the steps after it.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub status: StepStatus,
    pub output: Value,
    pub error: Option<String>,
}

/// Everything a step needs to run, shared by the run's tasks.
pub(crate) struct RunContext {
    pub engine: Arc<Engine>,
    pub run: String,
    pub lease: Lease,
    pub workflow: Arc<Workflow>,
    pub inputs: Value,
    pub cancel: CancellationToken,
    /// Records of earlier attempts (from before a restart), by (step, item).
    pub previous: BTreeMap<(String, i64), StepRecord>,
}

impl Engine {
    /// Executes `run` to its end (resuming it if it had started) and returns its record.
    /// (Boxed: a step may run a sub-workflow, which executes a run.)
    pub fn execute(
        self: &Arc<Self>,
        run: &str,
    ) -> futures::future::BoxFuture<'static, Result<RunRecord, EngineError>> {
        let (engine, run) = (self.clone(), run.to_owned());
        Box::pin(async move {
            // The run's trace span, named after its workflow (its steps are children);
            // free without a trace exporter.
            if !tracing::enabled!(target: baton_core::TRACE_TARGET, tracing::Level::INFO) {
                return engine.execute_inner(&run).await;
            }
            let record = engine.store.run(&run).await?;
            let span = tracing::info_span!(
                target: baton_core::TRACE_TARGET,
                "baton.run",
                otel.name = %format!("workflow {}", record.workflow),
                otel.kind = "internal",
                baton.run.id = %run,
                baton.workflow = %record.workflow,
            );
            // A run executed again (resumed, taken over) links to its first trace.
            if !record.status.is_finished() {
                match engine.store.trace_parent(&run, None).await? {
                    Some(first) => crate::trace_link::link(&span, &first),
                    None => {
                        if let Some(ours) = crate::trace_link::traceparent(&span) {
                            engine.store.trace_parent(&run, Some(&ours)).await?;
                        }
                    }
                }
            }
            tracing::Instrument::instrument(engine.execute_inner(&run), span).await
        })
    }

    async fn execute_inner(self: &Arc<Self>, run: &str) -> Result<RunRecord, EngineError> {
        let record = self.store.run(run).await?;
        if record.status.is_finished() {
            return Ok(record);
        }
        let workflow = self.definition(&record).await?;
        // One execution of a run per process: a second caller (the dispatcher and a
        // client racing for a new run) waits for the first one's end.
        let cancel = CancellationToken::new();
        let first = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            match running.entry(run.to_owned()) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(cancel.clone());
                    true
                }
            }
        };
        if !first {
            return self.await_run(run).await;
        }
        let claimed = self.claim_or_take_over(run).await;
        let lease = match claimed {
            Ok(lease) => lease,
            Err(error) => {
                self.forget_running(run);
                return Err(error);
            }
        };
        // Stops renewing when this execution ends or is dropped (its process is going).
        let keeper = AbortOnDrop(self.keep_lease(run, &lease, cancel.clone()));
        let limit = workflow.timeout;
        let drive = self.drive(&record, workflow, lease.clone(), cancel.clone());
        let result = match limit {
            None => drive.await,
            Some(limit) => self.within(run, limit, drive, &cancel).await,
        };
        drop(keeper);
        // Stopped without an end (Baton is stopping): the lease goes now, so another
        // process resumes the run at once instead of after the lease time.
        if self
            .store
            .run(run)
            .await
            .is_ok_and(|record| !record.status.is_finished())
            && let Err(error) = self.store.release(run, &lease).await
        {
            tracing::warn!(run, %error, "could not release the run's lease");
        }
        self.forget_running(run);
        if let Err(error) = &result {
            tracing::warn!(run, %error, "run stopped");
        }
        result?;
        Ok(self.store.run(run).await?)
    }

    fn forget_running(&self, run: &str) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.remove(run);
        if running.is_empty() {
            self.idle.notify_waiters();
        }
    }

    /// Claims `run`'s lease, or takes it from a holder on this machine whose process is
    /// gone; [`EngineError::Busy`] when a live worker holds it.
    async fn claim_or_take_over(&self, run: &str) -> Result<Lease, EngineError> {
        let before = self.store.run(run).await?.lease_owner;
        Ok(
            match self.store.claim(run, &self.owner, self.lease_ttl).await? {
                Some(lease) => {
                    // Claimed while another worker's name was on it: its lease had run out.
                    if before.as_ref().is_some_and(|holder| *holder != self.owner) {
                        self.count_takeover();
                    }
                    lease
                }
                None => {
                    let record = self.store.run(run).await?;
                    // A run waiting for room under its concurrency key starts only
                    // through the queue (`claim_ready`), where the key's count is exact.
                    if record.status == RunStatus::Queued && record.concurrency_key.is_some() {
                        return Err(EngineError::Queued(run.to_owned()));
                    }
                    let holder = record.lease_owner.unwrap_or_default();
                    // A holder on this machine whose process is gone (killed, crashed) is taken
                    // over at once rather than after its lease time.
                    let taken = if crate::holder_is_dead(&holder) {
                        tracing::info!(
                            run,
                            holder,
                            "the run's owner process is gone; taking the run over"
                        );
                        self.store
                            .take_over(run, &holder, &self.owner, self.lease_ttl)
                            .await?
                    } else {
                        None
                    };
                    match taken {
                        Some(lease) => {
                            self.count_takeover();
                            lease
                        }
                        None => return Err(EngineError::Busy(run.to_owned(), holder)),
                    }
                }
            },
        )
    }

    fn count_takeover(&self) {
        self.takeovers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// `drive`, cancelling the run once it has executed for `limit` (counted from when it
    /// first began executing, so a resumed run keeps its deadline).
    async fn within(
        &self,
        run: &str,
        limit: std::time::Duration,
        drive: impl std::future::Future<Output = Result<(), EngineError>>,
        cancel: &CancellationToken,
    ) -> Result<(), EngineError> {
        let now = baton_store::now_ms();
        let began = self.store.run(run).await?.started_at.unwrap_or(now);
        let left = std::time::Duration::from_millis(
            (began + limit.as_millis() as i64 - now).max(0) as u64,
        );
        tokio::pin!(drive);
        tokio::select! {
            result = &mut drive => result,
            _ = tokio::time::sleep(left) => {
                tracing::warn!(run, ?limit, "the run exceeded its workflow's timeout: cancelling it");
                self.store.cancel(run).await?;
                cancel.cancel();
                drive.await
            }
        }
    }

    /// Renews the lease until aborted; cancels the run here when the lease is lost or the
    /// run was cancelled from elsewhere.
    fn keep_lease(
        self: &Arc<Self>,
        run: &str,
        lease: &Lease,
        cancel: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let (engine, run, lease) = (self.clone(), run.to_owned(), lease.clone());
        tokio::spawn(async move {
            let every = RENEW_EVERY.min(engine.lease_ttl / 3);
            loop {
                tokio::time::sleep(every).await;
                match engine.store.renew(&run, &lease, engine.lease_ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            run,
                            "lost the run's lease (cancelled, or taken over); stopping here"
                        );
                        cancel.cancel();
                        return;
                    }
                    Err(error) => tracing::warn!(run, %error, "could not renew the run's lease"),
                }
            }
        })
    }

    async fn drive(
        self: &Arc<Self>,
        record: &RunRecord,
        workflow: Arc<Workflow>,
        lease: Lease,
        cancel: CancellationToken,
    ) -> Result<(), EngineError> {
        let run = record.id.clone();
        let previous: BTreeMap<(String, i64), StepRecord> = self
            .store
            .steps(&run)
            .await?
            .into_iter()
            .map(|step| ((step.step_id.clone(), step.item), step))
            .collect();
        // Steps finished before (this run resumed): their results stand.
        let mut done: BTreeMap<String, Done> = previous
            .iter()
            .filter(|((_, item), step)| {
                *item == -1 && matches!(step.status, StepStatus::Succeeded | StepStatus::Skipped)
            })
            .map(|((id, _), step)| {
                (
                    id.clone(),
                    Done {
                        status: step.status,
                        output: step.output.clone().unwrap_or(Value::Null),
                        error: None,
                    },
                )
            })
            .collect();
        self.emit(RunEvent::Started {
            run: run.clone(),
            workflow: workflow.name.clone(),
            steps: workflow.steps.len(),
        });
        let context = Arc::new(RunContext {
            engine: self.clone(),
            run: run.clone(),
            lease: lease.clone(),
            workflow: workflow.clone(),
            inputs: record.inputs.clone(),
            cancel: cancel.clone(),
            previous,
        });
        let mut running: JoinSet<(usize, Result<Done, EngineError>)> = JoinSet::new();
        // Each step's unfinished needs, and who needs it: a finished step makes its
        // dependents ready in O(their number), whatever the workflow's size.
        let steps = &workflow.steps;
        let position: std::collections::HashMap<&str, usize> = steps
            .iter()
            .enumerate()
            .map(|(i, step)| (step.id.as_str(), i))
            .collect();
        let mut waiting: Vec<usize> = vec![0; steps.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
        for (i, step) in steps.iter().enumerate() {
            for need in &step.needs {
                if let Some(&j) = position.get(need.as_str()) {
                    waiting[i] += 1;
                    dependents[j].push(i);
                }
            }
        }
        let mut ready: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
        let settle =
            |j: usize, waiting: &mut Vec<usize>, ready: &mut std::collections::VecDeque<usize>| {
                for &d in &dependents[j] {
                    waiting[d] -= 1;
                    if waiting[d] == 0 {
                        ready.push_back(d);
                    }
                }
            };
        // Steps done before a restart count as finished first (in dependency order).
        for (i, step) in steps.iter().enumerate() {
            if done.contains_key(&step.id) {
                settle(i, &mut waiting, &mut ready);
            }
        }
        ready.retain(|&i| !done.contains_key(&steps[i].id));
        for (i, step) in steps.iter().enumerate() {
            if waiting[i] == 0 && !done.contains_key(&step.id) && !ready.contains(&i) {
                ready.push_back(i);
            }
        }
        let mut failure: Option<String> = None;
        loop {
            while failure.is_none() && !cancel.is_cancelled() && running.len() < MAX_PARALLEL_STEPS
            {
                let Some(i) = ready.pop_front() else { break };
                let step = &steps[i];
                // Templates read only the steps a step needs (reads are needs).
                let snapshot = self.template_context(&context, &done, &step.needs);
                let (context, step) = (context.clone(), step.clone());
                let span = tracing::info_span!(
                    target: baton_core::TRACE_TARGET,
                    "baton.step",
                    otel.name = %format!("step {}", step.id),
                    otel.kind = "internal",
                    baton.step.id = %step.id,
                    error.type = tracing::field::Empty,
                );
                running.spawn(tracing::Instrument::instrument(
                    async move {
                        let outcome = crate::steps::run_step(&context, &step, snapshot).await;
                        if outcome.is_err() {
                            tracing::Span::current().record("error.type", "step_error");
                        }
                        (i, outcome)
                    },
                    span,
                ));
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (i, outcome) = match joined {
                Ok(result) => result,
                Err(error) => {
                    failure.get_or_insert(format!("a step task failed: {error}"));
                    continue;
                }
            };
            let id = steps[i].id.clone();
            match outcome {
                Ok(finished) => {
                    let continues = steps[i].on_error == OnError::Continue;
                    if finished.status == StepStatus::Failed && !continues {
                        failure.get_or_insert(format!(
                            "step \"{id}\" failed: {}",
                            finished.error.clone().unwrap_or_default()
                        ));
                    }
                    done.insert(id, finished);
                    settle(i, &mut waiting, &mut ready);
                }
                Err(EngineError::Store(baton_store::StoreError::Fenced(_))) => {
                    // Another process owns the run now: stop without writing anything.
                    tracing::warn!(
                        run = %run,
                        step = %id,
                        "this process no longer owns run {run} (another worker took it over): its result for step {id} was refused, nothing was written"
                    );
                    cancel.cancel();
                    running.shutdown().await;
                    return Ok(());
                }
                Err(EngineError::Cancelled(_)) if !cancel.is_cancelled() => {
                    // A call was cancelled under the run (Baton is stopping): stop without
                    // writing anything; the run stays resumable.
                    cancel.cancel();
                    running.shutdown().await;
                    return Ok(());
                }
                Err(error) => {
                    failure.get_or_insert(format!("step \"{id}\": {error}"));
                }
            }
        }
        if cancel.is_cancelled() {
            let status = self.store.run(&run).await?.status;
            if status == RunStatus::Cancelled {
                self.emit(RunEvent::Finished {
                    run: run.clone(),
                    status,
                    error: Some("cancelled".to_owned()),
                });
            }
            return Ok(());
        }
        let blocked: Vec<&str> = workflow
            .steps
            .iter()
            .filter(|step| !done.contains_key(&step.id))
            .map(|step| step.id.as_str())
            .collect();
        let (status, outputs, error) = match failure {
            Some(error) => (RunStatus::Failed, None, Some(error)),
            None if !blocked.is_empty() => (
                RunStatus::Failed,
                None,
                Some(format!("steps never became ready: {}", blocked.join(", "))),
            ),
            None => match self.outputs(&context, &done) {
                Ok(outputs) => (RunStatus::Succeeded, Some(outputs), None),
                Err(error) => (RunStatus::Failed, None, Some(format!("outputs: {error}"))),
            },
        };
        self.store
            .finish_run(&run, &lease, status, outputs.as_ref(), error.as_deref())
            .await?;
        self.emit(RunEvent::Finished { run, status, error });
        Ok(())
    }

    /// The template context: inputs, the outputs and statuses of the finished steps among
    /// `ids`, allowed env, the run.
    pub(crate) fn template_context<'a>(
        &self,
        context: &RunContext,
        done: &BTreeMap<String, Done>,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> Value {
        let steps: serde_json::Map<String, Value> = ids
            .into_iter()
            .filter_map(|id| done.get(id).map(|d| (id, d)))
            .map(|(id, d)| {
                (
                    id.clone(),
                    json!({ "output": d.output, "status": d.status.as_str(), "error": d.error }),
                )
            })
            .collect();
        json!({
            "inputs": context.inputs,
            "steps": steps,
            "env": self.env,
            "run": { "id": context.run, "workflow": context.workflow.name },
        })
    }

    /// The run's outputs: its `outputs:` templates, or else the last step's output.
    fn outputs(
        &self,
        context: &RunContext,
        done: &BTreeMap<String, Done>,
    ) -> Result<Value, String> {
        let values = self.template_context(context, done, done.keys());
        let workflow = &context.workflow;
        if workflow.outputs.is_empty() {
            return Ok(workflow
                .steps
                .last()
                .and_then(|step| done.get(&step.id))
                .map(|d| d.output.clone())
                .unwrap_or(Value::Null));
        }
        let env = template::environment();
        let data = minijinja::Value::from_serialize(&values);
        let outputs = Value::Object(
            workflow
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        template::render(&env, &outputs, &data)
    }
}
