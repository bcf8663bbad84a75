//! Schedules, their slots, trigger cool-downs and the recorded event stream.
//!
//! Exactly-once firing rests on one rule: a slot is handled by whoever inserts its
//! `(schedule, slot)` row first ([`AutomationStore::claim_slots`]); a restarted process, or
//! a second process on the same database, finds the row and leaves the slot alone.

use serde_json::Value;

use crate::Result;

/// Where a schedule was declared.
pub const ORIGIN_CONFIG: &str = "config";
pub const ORIGIN_RUNTIME: &str = "runtime";

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRow {
    pub name: String,
    /// The `ScheduleSpec` as JSON.
    pub spec: Value,
    pub origin: String,
    pub paused: bool,
    pub pause_reason: Option<String>,
    /// Every slot at or before this time (ms) has been handled.
    pub cursor: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_slot: Option<i64>,
    pub last_fired_at: Option<i64>,
    pub last_run: Option<String>,
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    pub skipped: i64,
    pub missed: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlotRow {
    pub schedule: String,
    pub slot: i64,
    pub state: String,
    pub reason: Option<String>,
    pub run: Option<String>,
    /// The worker that claimed it.
    pub owner: Option<String>,
    pub recorded_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub data: Value,
}

/// What [`Store::upsert_config_schedule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    Added,
    Changed,
    Unchanged,
}

feature! {
    /// Schedules, slots, trigger cool-downs and events, as every backend keeps them.
    AutomationStore {
        /// Makes the stored schedule `name` the one declared in baton.yaml. A new one starts
        /// its slots at `cursor` (now); a changed spec replaces the stored one, starts at
        /// `cursor` too and its `paused:` applies; an unchanged one keeps its state (a pause
        /// from the CLI stays).
        fn upsert_config_schedule(
            &self,
            name: &str,
            spec: &Value,
            paused: bool,
            cursor: i64,
        ) -> Result<Reconciled>;
        /// Deletes the config-declared schedules not in `keep` (removed from baton.yaml);
        /// returns their names.
        fn remove_config_schedules_except(&self, keep: &[String]) -> Result<Vec<String>>;
        /// Adds a run-time schedule; `false` when the name is taken.
        fn add_schedule(&self, name: &str, spec: &Value, paused: bool, cursor: i64) -> Result<bool>;
        /// Deletes a schedule and its slot history; `false` when there was none.
        fn delete_schedule(&self, name: &str) -> Result<bool>;
        /// Pauses or resumes; `false` when there is no such schedule. Resuming moves the
        /// cursor to `resume_at`: slots that passed while paused are not caught up.
        fn set_paused(
            &self,
            name: &str,
            paused: bool,
            reason: Option<&str>,
            resume_at: i64,
        ) -> Result<bool>;
        fn schedules(&self) -> Result<Vec<ScheduleRow>>;
        fn schedule(&self, name: &str) -> Result<Option<ScheduleRow>>;
        /// Changes whenever a schedule is added, changed, paused, resumed or deleted (the
        /// scheduler polls it to see changes made by the CLI or another process).
        fn schedules_version(&self) -> Result<(i64, i64)>;
        /// Claims each `(schedule, slot)` that nobody has handled yet, in one transaction;
        /// the answer says, in order, which ones are now ours.
        fn claim_slots(&self, slots: &[(&str, i64)], owner: &str) -> Result<Vec<bool>>;
        /// Claims a slot for a manual run without moving the cursor (planned slots before it
        /// are still caught up after a restart); `false` when the time is taken.
        fn claim_manual_slot(&self, schedule: &str, slot: i64, owner: &str) -> Result<bool>;
        /// Records that a schedule's target could not even start.
        fn schedule_failed(&self, schedule: &str, error: &str) -> Result<()>;
        /// Records what became of a claimed slot: `fired` (with its run), `buffered`,
        /// `skipped` or `missed` (with the reason). Keeps the schedule's counters and last
        /// fire up to date.
        fn settle_slot(
            &self,
            schedule: &str,
            slot: i64,
            state: &str,
            run: Option<&str>,
            reason: Option<&str>,
        ) -> Result<()>;
        /// The oldest slot of `schedule` waiting in its buffer.
        fn oldest_buffered(&self, schedule: &str) -> Result<Option<i64>>;
        /// Takes a buffered slot for starting: `true` when this caller got it.
        fn take_buffered(&self, schedule: &str, slot: i64, owner: &str) -> Result<bool>;
        /// The schedules with slots waiting in their buffer.
        fn schedules_with_buffered(&self) -> Result<Vec<String>>;
        /// How many slots of `schedule` wait in the buffer.
        fn buffered_count(&self, schedule: &str) -> Result<i64>;
        /// Runs started by `schedule` that have not finished.
        fn active_schedule_runs(&self, schedule: &str) -> Result<Vec<String>>;
        /// Slots claimed but never settled (the process died while deciding them).
        fn unsettled_slots(&self) -> Result<Vec<SlotRow>>;
        /// Takes an unsettled slot from its claimer `from` (known to be gone; `""` for
        /// none) for `to`: `true` when this caller got it (of several, one does).
        fn reclaim_slot(&self, schedule: &str, slot: i64, from: &str, to: &str) -> Result<bool>;
        /// The schedule and slot that started `run`, if a schedule did.
        fn slot_of_run(&self, run: &str) -> Result<Option<(String, i64)>>;
        /// A run created for a slot whose settling was lost, found by its origin.
        fn run_with_origin(&self, origin: &str) -> Result<Option<String>>;
        /// Records how a schedule's run ended (only when it is still the last run).
        fn schedule_result(
            &self,
            schedule: &str,
            run: &str,
            result: &str,
            error: Option<&str>,
        ) -> Result<()>;
        /// The most recent slots of `schedule`, newest first.
        fn slots(&self, schedule: &str, limit: u32) -> Result<Vec<SlotRow>>;
        /// Starts trigger `name`'s cool-down at `now` unless it is still cooling down from
        /// an earlier fire: `true` means fire now (across processes: one wins).
        fn claim_trigger(&self, name: &str, now: i64, cooldown_ms: i64) -> Result<bool>;
        /// Appends events (`(at, kind, data)`), returning their ids.
        fn insert_events(&self, events: &[(i64, &str, &Value)]) -> Result<Vec<i64>>;
        /// Events after id `after`, of `kind` if given, oldest first, at most `limit`; or,
        /// with `newest`, the last `limit` of them (still oldest first).
        fn events(
            &self,
            kind: Option<&str>,
            after: i64,
            limit: u32,
            newest: bool,
        ) -> Result<Vec<EventRow>>;
        /// Deletes events older than `keep_for_ms` and beyond the newest `keep`.
        fn prune_events(&self, keep: u32, keep_for_ms: i64) -> Result<u64>;
    }
}
