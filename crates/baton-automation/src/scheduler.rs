//! The scheduler: one task holding every active schedule's next fire time in an ordered
//! queue. When fire times come, it claims the due slots in one transaction (a slot
//! somebody else claimed is left alone) and hands each claimed slot to [`Firing`].
//!
//! The store is the truth: schedules declared in baton.yaml are reconciled into it at
//! start and on reload; `baton schedule add/pause/resume/delete` change it from another
//! process, and the loop notices (it polls a cheap version query every second).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use baton_core::schedule::{Schedule, ScheduleSpec};
use baton_engine::RunEvent;
use baton_store::{Reconciled, ScheduleRow};
use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    firing::{Fire, Firing, Outcome},
    plan::catch_up,
};

/// A running loop that finds a slot overdue by more than this was not merely busy: the
/// process was suspended, and the catch-up policy applies as after downtime.
const SUSPENDED_AFTER: Duration = Duration::from_secs(60);

/// How often the store is checked for schedules changed by another process.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Slots left undecided by dead workers are looked for every this many polls.
const RECOVER_EVERY_TICKS: u64 = 5;

enum Command {
    /// The schedules of baton.yaml changed (or at start).
    Reconcile(Vec<Schedule>, tokio::sync::oneshot::Sender<String>),
    /// The store changed here (an MCP tool added, paused, … a schedule).
    Refresh,
}

/// A handle on the running scheduler.
#[derive(Debug, Clone)]
pub struct Scheduler {
    firing: Arc<Firing>,
    commands: mpsc::UnboundedSender<Command>,
    compiled: Arc<Mutex<HashMap<String, Arc<Schedule>>>>,
}

struct Entry {
    schedule: Arc<Schedule>,
    row: ScheduleRow,
    /// Its place in the queue: (fire time, name) → slot.
    queued: Option<(i64, String)>,
}

impl Scheduler {
    /// Reconciles `declared` into the store, catches up on what was missed and starts the
    /// loop; it ends when `shutdown` is cancelled.
    pub async fn start(
        firing: Arc<Firing>,
        declared: Vec<Schedule>,
        shutdown: CancellationToken,
    ) -> Scheduler {
        let (commands, receiver) = mpsc::unbounded_channel();
        let compiled = Arc::new(Mutex::new(HashMap::new()));
        let scheduler = Scheduler {
            firing: firing.clone(),
            commands,
            compiled: compiled.clone(),
        };
        let summary = reconcile_declared(&firing.store, &declared, firing.clock.now_ms()).await;
        tracing::info!("schedules: {summary}");
        recover(&firing).await;
        let mut looper = Loop {
            firing,
            entries: HashMap::new(),
            queue: BTreeMap::new(),
            compiled,
            version: (0, 0),
        };
        looper.refresh().await;
        let events = looper.firing.engine.subscribe();
        tokio::spawn(looper.run(receiver, events, shutdown));
        scheduler
    }

    /// Applies baton.yaml's (new) schedules; returns a one-line summary.
    pub async fn reconcile(&self, declared: Vec<Schedule>) -> String {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if self
            .commands
            .send(Command::Reconcile(declared, reply))
            .is_err()
        {
            return "the scheduler has stopped".to_owned();
        }
        answer
            .await
            .unwrap_or_else(|_| "the scheduler has stopped".to_owned())
    }

    /// Tells the loop the store changed (it would notice within a second anyway).
    pub fn refresh(&self) {
        let _ = self.commands.send(Command::Refresh);
    }

    pub fn firing(&self) -> &Arc<Firing> {
        &self.firing
    }

    /// The compiled schedule `name` as the loop knows it.
    pub fn schedule(&self, name: &str) -> Option<Arc<Schedule>> {
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Runs `name` now, through its overlap policy.
    pub async fn trigger(&self, name: &str) -> Result<Outcome, String> {
        let schedule = self
            .schedule(name)
            .ok_or_else(|| format!("no schedule \"{name}\" (see `baton schedule list`)"))?;
        self.firing.trigger_now(&schedule).await
    }
}

/// Stores the schedules declared in baton.yaml and removes config schedules no longer
/// declared; a one-line summary.
pub async fn reconcile_declared(
    store: &baton_store::Store,
    declared: &[Schedule],
    now: i64,
) -> String {
    let (mut added, mut changed, mut failed) = (0, 0, 0);
    for schedule in declared {
        let spec = serde_json::to_value(&schedule.spec).unwrap_or_default();
        match store
            .upsert_config_schedule(
                &schedule.name,
                &spec,
                schedule.spec.paused.unwrap_or(false),
                now,
            )
            .await
        {
            Ok(Reconciled::Added) => added += 1,
            Ok(Reconciled::Changed) => changed += 1,
            Ok(Reconciled::Unchanged) => {}
            Err(error) => {
                failed += 1;
                tracing::error!(schedule = schedule.name, %error, "could not store the schedule");
            }
        }
    }
    let names: Vec<String> = declared.iter().map(|s| s.name.clone()).collect();
    let removed = store
        .remove_config_schedules_except(&names)
        .await
        .unwrap_or_default();
    let mut summary = format!(
        "{} declared ({added} new, {changed} changed, {} removed)",
        declared.len(),
        removed.len()
    );
    if failed > 0 {
        summary.push_str(&format!(", {failed} could not be stored"));
    }
    summary
}

/// Slots claimed by a worker that died before deciding them (a process of this machine
/// that is gone, or a worker silent for longer than its lease whose claim is that old):
/// taken over (one worker wins each), then linked to the run the dead worker had created,
/// or decided now.
async fn recover(firing: &Firing) {
    let Ok(slots) = firing.store.unsettled_slots().await else {
        return;
    };
    if slots.is_empty() {
        return;
    }
    let lease = firing.engine.settings().lease.as_millis() as i64;
    let (Ok(now), Ok(workers)) = (firing.store.clock_ms().await, firing.store.workers().await)
    else {
        return;
    };
    let live: std::collections::HashSet<&str> = workers
        .iter()
        .filter(|worker| worker.now - worker.heartbeat_at <= lease)
        .map(|worker| worker.id.as_str())
        .collect();
    for slot in slots {
        let owner = slot.owner.as_deref().unwrap_or_default();
        let gone = owner != firing.owner
            && (baton_engine::holder_is_dead(owner)
                || (!live.contains(owner) && now - slot.recorded_at > lease));
        if !gone
            || !firing
                .store
                .reclaim_slot(&slot.schedule, slot.slot, owner, &firing.owner)
                .await
                .unwrap_or(false)
        {
            continue;
        }
        tracing::info!(
            schedule = slot.schedule,
            slot = slot.slot,
            owner,
            "deciding a slot its worker left undecided"
        );
        let origin = format!(
            "schedule {} @ {}",
            slot.schedule,
            crate::firing::rfc3339(slot.slot)
        );
        if let Ok(Some(run)) = firing.store.run_with_origin(&origin).await {
            let _ = firing
                .store
                .settle_slot(&slot.schedule, slot.slot, "fired", Some(&run), None)
                .await;
        } else if let Ok(Some(row)) = firing.store.schedule(&slot.schedule).await
            && let Some(schedule) = compile_row(&row)
        {
            firing.handle(&schedule, slot.slot, Fire::Slot).await;
        }
    }
}

fn compile_row(row: &ScheduleRow) -> Option<Schedule> {
    let spec: ScheduleSpec = match serde_json::from_value(row.spec.clone()) {
        Ok(spec) => spec,
        Err(error) => {
            tracing::error!(schedule = row.name, %error, "the stored schedule is unreadable; ignored");
            return None;
        }
    };
    match spec.compile(&row.name) {
        Ok(schedule) => Some(schedule),
        Err(problems) => {
            let problems: Vec<String> = problems
                .iter()
                .map(|(field, message)| format!("{field}: {message}"))
                .collect();
            tracing::error!(
                schedule = row.name,
                "the stored schedule is invalid ({}); ignored",
                problems.join("; ")
            );
            None
        }
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

struct Loop {
    firing: Arc<Firing>,
    entries: HashMap<String, Entry>,
    queue: BTreeMap<(i64, String), i64>,
    compiled: Arc<Mutex<HashMap<String, Arc<Schedule>>>>,
    version: (i64, i64),
}

impl Loop {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut events: tokio::sync::broadcast::Receiver<RunEvent>,
        shutdown: CancellationToken,
    ) {
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            let next = self.queue.first_key_value().map(|((at, _), _)| *at);
            let now = self.firing.clock.now_ms();
            let wait = next.map(|at| Duration::from_millis((at - now).max(0) as u64));
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = async {
                    match wait {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => std::future::pending().await,
                    }
                } => self.fire_due().await,
                _ = poll.tick() => {
                    if self.firing.store.schedules_version().await.is_ok_and(|v| v != self.version) {
                        self.refresh().await;
                    }
                    ticks += 1;
                    if ticks.is_multiple_of(RECOVER_EVERY_TICKS) {
                        // Another worker may have died holding slots.
                        let firing = self.firing.clone();
                        tokio::spawn(async move { recover(&firing).await });
                    }
                }
                command = commands.recv() => match command {
                    Some(Command::Reconcile(declared, reply)) => {
                        let summary =
                            reconcile_declared(&self.firing.store, &declared, self.firing.clock.now_ms())
                                .await;
                        self.refresh().await;
                        let _ = reply.send(summary);
                    }
                    Some(Command::Refresh) => self.refresh().await,
                    None => return,
                },
                event = events.recv() => match event {
                    Ok(RunEvent::Finished { run, status, error }) => {
                        let compiled = self.compiled.clone();
                        let firing = self.firing.clone();
                        // Off the loop: a promotion starts a run (store round trips).
                        tokio::spawn(async move {
                            firing
                                .finished(&run, status, error.as_deref(), |name| {
                                    compiled.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
                                })
                                .await;
                        });
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        events = self.firing.engine.subscribe();
                    }
                },
            }
        }
    }

    /// Re-reads the schedules from the store: new, changed, paused, resumed and deleted
    /// ones take effect; unchanged ones keep their place in the queue.
    async fn refresh(&mut self) {
        let rows = match self.firing.store.schedules().await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "could not read the schedules");
                return;
            }
        };
        if let Ok(version) = self.firing.store.schedules_version().await {
            self.version = version;
        }
        let buffered = self
            .firing
            .store
            .schedules_with_buffered()
            .await
            .unwrap_or_default();
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        for row in rows {
            seen.insert(row.name.clone());
            let same = self
                .entries
                .get(&row.name)
                .is_some_and(|entry| entry.row.spec == row.spec && entry.row.paused == row.paused);
            if same {
                if let Some(entry) = self.entries.get_mut(&row.name) {
                    entry.row = row;
                }
                continue;
            }
            self.unqueue(&row.name);
            let Some(schedule) = compile_row(&row) else {
                self.entries.remove(&row.name);
                continue;
            };
            let schedule = Arc::new(schedule);
            let name = row.name.clone();
            let cursor = time(row.cursor);
            let paused = row.paused;
            self.entries.insert(
                name.clone(),
                Entry {
                    schedule: schedule.clone(),
                    row,
                    queued: None,
                },
            );
            if !paused {
                let handled = self.catch_up(&schedule, cursor).await;
                self.enqueue(&name, handled);
                if buffered.contains(&name) {
                    self.firing.promote(&schedule).await;
                }
            }
        }
        self.entries.retain(|name, entry| {
            let keep = seen.contains(name);
            if !keep && let Some(key) = entry.queued.take() {
                self.queue.remove(&key);
            }
            keep
        });
        *self.compiled.lock().unwrap_or_else(|p| p.into_inner()) = self
            .entries
            .iter()
            .map(|(name, entry)| (name.clone(), entry.schedule.clone()))
            .collect();
    }

    /// Applies the catch-up policy to the slots missed since `cursor`; returns the last
    /// slot now handled.
    async fn catch_up(&self, schedule: &Schedule, cursor: DateTime<Utc>) -> DateTime<Utc> {
        let now = self.firing.clock.now();
        let plan = catch_up(schedule, cursor, now);
        if !plan.missed.is_empty() || plan.missed_unlisted > 0 {
            self.firing
                .miss(schedule, &plan.missed, plan.missed_unlisted)
                .await;
        }
        for slot in &plan.fire {
            let ms = slot.timestamp_millis();
            if let Ok(claimed) = self
                .firing
                .store
                .claim_slots(&[(&schedule.name, ms)], &self.firing.owner)
                .await
                && claimed.first() == Some(&true)
            {
                self.firing.handle(schedule, ms, Fire::CatchUp).await;
            }
        }
        plan.through.map_or(cursor, |through| through.max(cursor))
    }

    fn unqueue(&mut self, name: &str) {
        if let Some(entry) = self.entries.get_mut(name)
            && let Some(key) = entry.queued.take()
        {
            self.queue.remove(&key);
        }
    }

    /// Queues the first slot after `after`, at its (jittered) fire time.
    fn enqueue(&mut self, name: &str, after: DateTime<Utc>) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        let table = &entry.schedule.timetable;
        let Some(slot) = table.next_after(after) else {
            return;
        };
        let fire = slot.timestamp_millis() + table.jitter_for(name, slot).as_millis() as i64;
        let key = (fire, name.to_owned());
        self.queue.insert(key.clone(), slot.timestamp_millis());
        entry.queued = Some(key);
    }

    /// Claims every due slot in one transaction and handles the ones that are ours.
    async fn fire_due(&mut self) {
        let now = self.firing.clock.now_ms();
        let mut due = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, name), slot) = entry.remove_entry();
            if let Some(entry) = self.entries.get_mut(&name) {
                entry.queued = None;
            }
            due.push((name, slot));
        }
        if due.is_empty() {
            return;
        }
        let claims: Vec<(&str, i64)> = due
            .iter()
            .map(|(name, slot)| (name.as_str(), *slot))
            .collect();
        let claimed = match self
            .firing
            .store
            .claim_slots(&claims, &self.firing.owner)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "could not claim due slots; retrying");
                vec![false; due.len()]
            }
        };
        for ((name, slot), ours) in due.into_iter().zip(claimed) {
            let Some(schedule) = self.entries.get(&name).map(|entry| entry.schedule.clone()) else {
                continue;
            };
            if ours {
                let firing = self.firing.clone();
                let schedule = schedule.clone();
                tokio::spawn(async move {
                    firing.handle(&schedule, slot, Fire::Slot).await;
                });
            }
            // A busy loop fires its slots late, one after another, as slots. Only when
            // the next slot is overdue by more than a minute (the machine slept, the
            // process was stopped) does the catch-up policy decide about the missed ones.
            let table = &schedule.timetable;
            let overdue = table.next_after(time(slot)).is_some_and(|next| {
                let fires =
                    next.timestamp_millis() + table.jitter_for(&name, next).as_millis() as i64;
                now - fires > SUSPENDED_AFTER.as_millis() as i64
            });
            let handled = if overdue {
                self.catch_up(&schedule, time(slot)).await
            } else {
                time(slot)
            };
            self.enqueue(&name, handled);
        }
    }
}

#[cfg(test)]
mod tests;
