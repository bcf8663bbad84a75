//! What happens to one slot: the overlap policy against the schedule's runs still going,
//! then a run started, buffered, or the slot recorded as skipped — and, when a run ends,
//! its result recorded and the next buffered slot started. Used by the scheduler loop and
//! by `baton schedule trigger` alike.

use std::sync::Arc;

use baton_core::schedule::{EventKind, Schedule};
use baton_engine::Engine;
use baton_store::{RunStatus, Store};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::{
    events::{EventBus, fields},
    launch::launch,
    plan::{Decision, decide},
};

/// What became of a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Fired { run: String },
    Buffered,
    Skipped { reason: String },
}

/// Why a slot fires now (the `reason` of its `schedule_fired` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fire {
    /// Its time came.
    Slot,
    /// Missed while Baton was down, run by the catch-up policy.
    CatchUp,
    /// `baton schedule trigger` / `manage_schedules` trigger.
    Manual,
    /// It waited in the buffer for the previous run to end.
    Buffered,
}

impl Fire {
    pub fn as_str(self) -> &'static str {
        match self {
            Fire::Slot => "slot",
            Fire::CatchUp => "catch_up",
            Fire::Manual => "manual",
            Fire::Buffered => "buffered",
        }
    }
}

pub struct Firing {
    pub store: Store,
    pub engine: Arc<Engine>,
    pub bus: Arc<EventBus>,
    /// This process (slot claims record it).
    pub owner: String,
    pub separator: String,
    /// Where "now" comes from (the wall clock but in tests).
    pub clock: crate::Clock,
}

impl std::fmt::Debug for Firing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Firing")
            .field("owner", &self.owner)
            .finish()
    }
}

pub(crate) fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

impl Firing {
    /// Applies the overlap policy to a slot this process has claimed.
    pub async fn handle(&self, schedule: &Schedule, slot: i64, fire: Fire) -> Outcome {
        let name = schedule.name.as_str();
        let (active, buffered) = match (
            self.store.active_schedule_runs(name).await,
            self.store.buffered_count(name).await,
        ) {
            (Ok(active), Ok(buffered)) => (active, buffered),
            (Err(error), _) | (_, Err(error)) => {
                return self
                    .skip(
                        schedule,
                        slot,
                        format!("the store could not be read: {error}"),
                    )
                    .await;
            }
        };
        match decide(schedule.overlap, &active, buffered) {
            Decision::Start => self.start(schedule, slot, fire).await,
            Decision::CancelAndStart(runs) => {
                for run in &runs {
                    if let Err(error) = self.engine.cancel(run).await {
                        tracing::warn!(schedule = name, run, %error, "could not cancel the earlier run");
                    }
                }
                self.start(schedule, slot, fire).await
            }
            Decision::Buffer => {
                if let Err(error) = self
                    .store
                    .settle_slot(name, slot, "buffered", None, None)
                    .await
                {
                    tracing::warn!(schedule = name, %error, "could not buffer a slot");
                }
                if active.is_empty() {
                    return self.promote(schedule).await.unwrap_or(Outcome::Buffered);
                }
                Outcome::Buffered
            }
            Decision::Skip(reason) => self.skip(schedule, slot, reason).await,
        }
    }

    async fn skip(&self, schedule: &Schedule, slot: i64, reason: String) -> Outcome {
        let name = schedule.name.as_str();
        if let Err(error) = self
            .store
            .settle_slot(name, slot, "skipped", None, Some(&reason))
            .await
        {
            tracing::warn!(schedule = name, %error, "could not record a skipped slot");
        }
        tracing::info!(schedule = name, slot = rfc3339(slot), %reason, "schedule slot skipped");
        self.bus.emit(
            EventKind::ScheduleSkipped,
            fields([
                ("schedule", name.into()),
                ("slot", rfc3339(slot).into()),
                ("reason", reason.clone().into()),
            ]),
        );
        Outcome::Skipped { reason }
    }

    /// Records slots that will not run (downtime, catch-up policy).
    pub async fn miss(&self, schedule: &Schedule, slots: &[DateTime<Utc>], unlisted: u64) {
        let name = schedule.name.as_str();
        let claims: Vec<(&str, i64)> = slots
            .iter()
            .map(|slot| (name, slot.timestamp_millis()))
            .collect();
        let claimed = match self.store.claim_slots(&claims, &self.owner).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(schedule = name, %error, "could not record missed slots");
                return;
            }
        };
        let reason = format!(
            "missed while Baton was not running (catch_up: {})",
            schedule.catch_up.as_str()
        );
        let mut count = unlisted;
        for ((_, slot), ours) in claims.iter().zip(claimed) {
            if ours {
                count += 1;
                let _ = self
                    .store
                    .settle_slot(name, *slot, "missed", None, Some(&reason))
                    .await;
            }
        }
        if count > 0 {
            tracing::info!(schedule = name, missed = count, "{reason}");
            self.bus.emit(
                EventKind::ScheduleSkipped,
                fields([
                    ("schedule", name.into()),
                    ("missed", count.into()),
                    ("reason", reason.into()),
                ]),
            );
        }
    }

    async fn start(&self, schedule: &Schedule, slot: i64, fire: Fire) -> Outcome {
        let name = schedule.name.as_str();
        let origin = if fire == Fire::Manual {
            format!("schedule {name} (triggered at {})", rfc3339(slot))
        } else {
            format!("schedule {name} @ {}", rfc3339(slot))
        };
        match launch(
            &self.engine,
            &schedule.target,
            "schedule",
            name,
            &origin,
            &self.separator,
            None,
            schedule.spec.priority,
        )
        .await
        {
            Ok(run) => {
                if let Err(error) = self
                    .store
                    .settle_slot(name, slot, "fired", Some(&run), None)
                    .await
                {
                    tracing::warn!(schedule = name, %error, "could not record a fired slot");
                }
                let late_us = self.clock.now_us() - slot * 1000;
                let late = late_us / 1000;
                tracing::info!(
                    schedule = name,
                    slot = rfc3339(slot),
                    run,
                    late_ms = late,
                    "schedule fired"
                );
                self.bus.emit(
                    EventKind::ScheduleFired,
                    fields([
                        ("schedule", name.into()),
                        ("slot", rfc3339(slot).into()),
                        ("run", run.clone().into()),
                        ("late_ms", late.into()),
                        ("late_us", late_us.into()),
                        ("reason", fire.as_str().into()),
                    ]),
                );
                Outcome::Fired { run }
            }
            Err(error) => {
                let reason = format!("could not start {}: {error}", schedule.target.label());
                let _ = self.store.schedule_failed(name, &reason).await;
                let outcome = self.skip(schedule, slot, reason.clone()).await;
                if schedule.pause_on_failure {
                    self.pause_after_failure(name, &reason).await;
                }
                outcome
            }
        }
    }

    async fn pause_after_failure(&self, name: &str, why: &str) {
        let reason = format!("paused after a failure (pause_on_failure): {why}");
        match self
            .store
            .set_paused(name, true, Some(&reason), self.clock.now_ms())
            .await
        {
            Ok(_) => tracing::warn!(schedule = name, "{reason}"),
            Err(error) => tracing::warn!(schedule = name, %error, "could not pause"),
        }
    }

    /// Starts the oldest buffered slot when nothing of the schedule runs any more.
    pub async fn promote(&self, schedule: &Schedule) -> Option<Outcome> {
        let name = schedule.name.as_str();
        let slot = self.store.oldest_buffered(name).await.ok()??;
        if !self.store.active_schedule_runs(name).await.ok()?.is_empty() {
            return None;
        }
        if !self
            .store
            .take_buffered(name, slot, &self.owner)
            .await
            .ok()?
        {
            return None;
        }
        Some(self.start(schedule, slot, Fire::Buffered).await)
    }

    /// A run ended: if a schedule started it, record the result, pause on failure if
    /// asked, and start the next buffered slot. `lookup` finds the schedule's definition.
    pub async fn finished(
        &self,
        run: &str,
        status: RunStatus,
        error: Option<&str>,
        lookup: impl Fn(&str) -> Option<Arc<Schedule>>,
    ) {
        let Ok(Some((name, _slot))) = self.store.slot_of_run(run).await else {
            return;
        };
        let _ = self
            .store
            .schedule_result(&name, run, status.as_str(), error)
            .await;
        let Some(schedule) = lookup(&name) else {
            return;
        };
        if status == RunStatus::Failed && schedule.pause_on_failure {
            self.pause_after_failure(
                &name,
                &format!("run {run} failed: {}", error.unwrap_or("no error message")),
            )
            .await;
            return;
        }
        self.promote(&schedule).await;
    }

    /// Runs a schedule now (`baton schedule trigger`, `manage_schedules` trigger): a slot
    /// at the current time, through the overlap policy.
    pub async fn trigger_now(&self, schedule: &Schedule) -> Result<Outcome, String> {
        let mut slot = self.clock.now_ms();
        loop {
            match self
                .store
                .claim_manual_slot(&schedule.name, slot, &self.owner)
                .await
            {
                Ok(true) => break,
                Ok(false) => slot += 1,
                Err(error) => return Err(error.to_string()),
            }
        }
        Ok(self.handle(schedule, slot, Fire::Manual).await)
    }
}

/// The JSON a schedule's status is shown as (CLI, MCP).
pub fn outcome_json(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Fired { run } => serde_json::json!({"outcome": "fired", "run": run}),
        Outcome::Buffered => serde_json::json!({"outcome": "buffered"}),
        Outcome::Skipped { reason } => serde_json::json!({"outcome": "skipped", "reason": reason}),
    }
}
