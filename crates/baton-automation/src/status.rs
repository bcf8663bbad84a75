//! A schedule's status as shown by `baton schedule list` and `baton__get_schedule_status`:
//! its timing and target, policies, last fire and result, next fire, skipped and missed
//! slots.

use baton_core::schedule::ScheduleSpec;
use baton_store::ScheduleRow;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::firing::rfc3339;

/// `every 10m`, `cron 0 9 * * 1-5 (Europe/Paris)`, `at 2026-12-01T09:00:00Z`.
pub fn timing_label(spec: &ScheduleSpec) -> String {
    let mut label = match (&spec.every, &spec.cron, &spec.at) {
        (Some(every), _, _) => format!("every {every}"),
        (_, Some(cron), _) => format!("cron {cron}"),
        (_, _, Some(at)) => format!("at {at}"),
        _ => "never".to_owned(),
    };
    if let Some(days) = &spec.days {
        label.push_str(&format!(" on {}", days.join(",")));
    }
    if let Some(zone) = &spec.timezone {
        label.push_str(&format!(" ({zone})"));
    }
    label
}

/// The status of one stored schedule at `now`.
pub fn schedule_json(row: &ScheduleRow, now: DateTime<Utc>) -> Value {
    let spec: Option<ScheduleSpec> = serde_json::from_value(row.spec.clone()).ok();
    let compiled = spec.as_ref().map(|spec| spec.compile(&row.name));
    let (timing, target, overlap, catch_up, next, error) = match (&spec, &compiled) {
        (Some(spec), Some(Ok(schedule))) => {
            let after = now.max(
                chrono::TimeZone::timestamp_millis_opt(&Utc, row.cursor)
                    .single()
                    .unwrap_or(now),
            );
            let next = (!row.paused)
                .then(|| schedule.timetable.next_after(after))
                .flatten()
                .map(|slot| {
                    (slot
                        + chrono::Duration::from_std(
                            schedule.timetable.jitter_for(&row.name, slot),
                        )
                        .unwrap_or_default())
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                });
            (
                timing_label(spec),
                schedule.target.label(),
                schedule.overlap.as_str(),
                schedule.catch_up.as_str(),
                next,
                None,
            )
        }
        (Some(spec), Some(Err(problems))) => (
            timing_label(spec),
            String::new(),
            "",
            "",
            None,
            Some(
                problems
                    .iter()
                    .map(|(field, message)| format!("{field}: {message}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        _ => (
            String::new(),
            String::new(),
            "",
            "",
            None,
            Some("unreadable spec".to_owned()),
        ),
    };
    json!({
        "name": row.name,
        "description": spec.as_ref().and_then(|spec| spec.description.clone()),
        "origin": row.origin,
        "timing": timing,
        "target": target,
        "overlap": overlap,
        "catch_up": catch_up,
        "paused": row.paused,
        "pause_reason": row.pause_reason,
        "next_fire": next,
        "last_slot": row.last_slot.map(rfc3339),
        "last_fired_at": row.last_fired_at.map(rfc3339),
        "last_run": row.last_run,
        "last_result": row.last_result,
        "last_error": row.last_error,
        "skipped": row.skipped,
        "missed": row.missed,
        "invalid": error,
        "spec": row.spec,
    })
}
