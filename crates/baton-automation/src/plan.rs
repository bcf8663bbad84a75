//! The scheduler's decisions as pure functions of the time and the stored state: which
//! missed slots to run after downtime ([`catch_up`]) and what to do with a slot while an
//! earlier run is still going ([`decide`]). Tested without a clock.

use std::collections::VecDeque;

use baton_core::schedule::{CatchUp, MAX_CATCH_UP, Overlap, Schedule};
use chrono::{DateTime, Utc};

/// A slot whose fire time passed less than this long ago counts as on time, not missed
/// (a restart across a slot boundary runs it whatever the catch-up policy).
pub const GRACE: chrono::Duration = chrono::Duration::seconds(1);

/// Slots are listed in chunks of this many while looking for missed ones.
const CHUNK: usize = 4096;

/// What happens to the slots between the last handled one and now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatchUpPlan {
    /// Missed slots to run now, oldest first.
    pub fire: Vec<DateTime<Utc>>,
    /// Missed slots that will not run (recorded as missed), oldest first; at most
    /// [`MAX_CATCH_UP`] are listed.
    pub missed: Vec<DateTime<Utc>>,
    /// Missed slots beyond those listed (counted, not recorded one by one).
    pub missed_unlisted: u64,
    /// The last overdue slot examined: every slot up to it is decided by this plan.
    pub through: Option<DateTime<Utc>>,
}

/// The plan for slots after `cursor` (the last handled slot) whose fire time is more than
/// [`GRACE`] before `now`.
pub fn catch_up(schedule: &Schedule, cursor: DateTime<Utc>, now: DateTime<Utc>) -> CatchUpPlan {
    let table = &schedule.timetable;
    let window_start =
        now - chrono::Duration::from_std(schedule.catch_up_window).unwrap_or(chrono::Duration::MAX);
    let mut plan = CatchUpPlan::default();
    let mut in_window: VecDeque<DateTime<Utc>> = VecDeque::new();
    let mut from = cursor;
    loop {
        let chunk = table.slots_between(from, now, CHUNK);
        let count = chunk.len();
        for slot in chunk {
            from = slot;
            let fires_at = slot
                + chrono::Duration::from_std(table.jitter_for(&schedule.name, slot))
                    .unwrap_or_default();
            if fires_at > now - GRACE {
                // On time (or not due yet): the normal loop fires it.
                return finish(schedule, plan, in_window);
            }
            plan.through = Some(slot);
            if slot >= window_start {
                in_window.push_back(slot);
                if in_window.len() > MAX_CATCH_UP {
                    let dropped = in_window.pop_front().unwrap_or(slot);
                    note_missed(&mut plan, dropped);
                }
            } else {
                note_missed(&mut plan, slot);
            }
        }
        if count < CHUNK {
            return finish(schedule, plan, in_window);
        }
    }
}

fn note_missed(plan: &mut CatchUpPlan, slot: DateTime<Utc>) {
    if plan.missed.len() < MAX_CATCH_UP {
        plan.missed.push(slot);
    } else {
        plan.missed_unlisted += 1;
    }
}

fn finish(
    schedule: &Schedule,
    mut plan: CatchUpPlan,
    mut in_window: VecDeque<DateTime<Utc>>,
) -> CatchUpPlan {
    match schedule.catch_up {
        CatchUp::None => in_window
            .into_iter()
            .for_each(|slot| note_missed(&mut plan, slot)),
        CatchUp::Latest => {
            let latest = in_window.pop_back();
            in_window
                .into_iter()
                .for_each(|slot| note_missed(&mut plan, slot));
            plan.fire.extend(latest);
        }
        CatchUp::All => plan.fire.extend(in_window),
    }
    plan
}

/// What to do with a slot that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start a run now.
    Start,
    /// Cancel these runs, then start.
    CancelAndStart(Vec<String>),
    /// Keep the slot until the running one ends.
    Buffer,
    /// Record the slot as skipped, with the reason.
    Skip(String),
}

/// The overlap policy applied to the runs of this schedule still going (`active`) and
/// the slots already waiting (`buffered`).
pub fn decide(overlap: Overlap, active: &[String], buffered: i64) -> Decision {
    if active.is_empty() && buffered == 0 {
        return Decision::Start;
    }
    let running = || match active.first() {
        Some(run) if active.len() == 1 => format!("run {run} of an earlier slot is still going"),
        Some(_) => format!("{} runs of earlier slots are still going", active.len()),
        None => format!("{buffered} earlier slot(s) wait to run"),
    };
    match overlap {
        Overlap::AllowAll => Decision::Start,
        Overlap::Skip if active.is_empty() => Decision::Start,
        Overlap::Skip => Decision::Skip(format!("{} (overlap: skip)", running())),
        Overlap::BufferOne if buffered == 0 => Decision::Buffer,
        Overlap::BufferOne => Decision::Skip(format!(
            "{}, and one slot already waits (overlap: buffer_one)",
            running()
        )),
        Overlap::BufferAll => Decision::Buffer,
        Overlap::CancelOther => Decision::CancelAndStart(active.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use baton_core::schedule::ScheduleSpec;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(every: &str, catch_up: &str, window: Option<&str>) -> Schedule {
        ScheduleSpec {
            every: Some(every.into()),
            catch_up: Some(catch_up.into()),
            catch_up_window: window.map(Into::into),
            tool: Some("t__x".into()),
            ..Default::default()
        }
        .compile("s")
        .unwrap()
    }

    #[test]
    fn catch_up_none_records_every_missed_slot_and_runs_none() {
        let plan = catch_up(
            &schedule("10m", "none", None),
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:35:00Z"),
        );
        assert!(plan.fire.is_empty());
        assert_eq!(plan.through, Some(at("2026-01-01T00:30:00Z")));
        assert_eq!(
            plan.missed,
            [
                at("2026-01-01T00:10:00Z"),
                at("2026-01-01T00:20:00Z"),
                at("2026-01-01T00:30:00Z")
            ]
        );
    }

    #[test]
    fn catch_up_latest_runs_the_most_recent_missed_slot_once() {
        let plan = catch_up(
            &schedule("10m", "latest", None),
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:35:00Z"),
        );
        assert_eq!(plan.fire, [at("2026-01-01T00:30:00Z")]);
        assert_eq!(plan.missed.len(), 2);
    }

    #[test]
    fn catch_up_all_runs_the_missed_slots_inside_the_window_only() {
        let plan = catch_up(
            &schedule("10m", "all", Some("20m")),
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:35:00Z"),
        );
        assert_eq!(
            plan.fire,
            [at("2026-01-01T00:20:00Z"), at("2026-01-01T00:30:00Z")]
        );
        assert_eq!(plan.missed, [at("2026-01-01T00:10:00Z")]);
    }

    #[test]
    fn a_slot_just_passed_is_on_time_not_missed() {
        let plan = catch_up(
            &schedule("10m", "none", None),
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:10:00.500Z"),
        );
        assert_eq!(plan, CatchUpPlan::default());
    }

    #[test]
    fn long_downtime_with_short_intervals_is_bounded() {
        // Two days of `every: 1s` = 172,800 missed slots: one run, the rest counted.
        let plan = catch_up(
            &schedule("1s", "latest", Some("30d")),
            at("2026-01-01T00:00:00Z"),
            at("2026-01-03T00:00:00Z"),
        );
        assert_eq!(plan.fire, [at("2026-01-02T23:59:59Z")]);
        assert_eq!(plan.missed.len(), MAX_CATCH_UP);
        assert_eq!(
            plan.missed.len() as u64 + plan.missed_unlisted + 1,
            2 * 86_400 - 1
        );
    }

    #[test]
    fn each_overlap_policy() {
        let active = vec!["r1".to_owned()];
        assert_eq!(decide(Overlap::Skip, &[], 0), Decision::Start);
        assert!(
            matches!(decide(Overlap::Skip, &active, 0), Decision::Skip(reason) if reason.contains("run r1"))
        );
        assert_eq!(decide(Overlap::BufferOne, &active, 0), Decision::Buffer);
        assert!(matches!(
            decide(Overlap::BufferOne, &active, 1),
            Decision::Skip(reason) if reason.contains("buffer_one")
        ));
        assert_eq!(decide(Overlap::BufferAll, &active, 5), Decision::Buffer);
        assert_eq!(
            decide(Overlap::CancelOther, &active, 0),
            Decision::CancelAndStart(active.clone())
        );
        assert_eq!(decide(Overlap::AllowAll, &active, 0), Decision::Start);
        // Nothing running but slots waiting: the buffer goes first.
        assert_eq!(decide(Overlap::BufferAll, &[], 1), Decision::Buffer);
        assert_eq!(decide(Overlap::Skip, &[], 1), Decision::Start);
    }
}
