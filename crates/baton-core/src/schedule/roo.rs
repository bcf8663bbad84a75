//! Roo Code scheduler files (`.roo/schedules.json`) as Baton schedules. Every field is
//! either mapped or reported as not mapped, with the reason; nothing is dropped silently.
//!
//! | Roo | Baton |
//! |---|---|
//! | `name` | the schedule's name |
//! | `scheduleType: "time"` + `timeInterval` + `timeUnit` (minute, hour, day) | `every: <n><m/h/d>` |
//! | `selectedDays` (all seven true: no filter) | `days: [mon, …]` |
//! | `startDate` + `startHour` + `startMinute` | `start` (local time) |
//! | `expirationDate` + `expirationHour` + `expirationMinute` | `until` (local time) |
//! | `active: false` | `paused: true` |
//! | `taskInteraction`: wait, skip, interrupt | `overlap`: buffer_one, skip, cancel_other |
//! | `mode` + `taskInstructions` | a mode task (`mode`, `task`) |
//! | `id`, `modeDisplayName`, `createdAt`, `updatedAt` | ignored (bookkeeping) |
//! | `requireActivity`, `inactivityDelay` | reported: Baton has no editor activity to watch |
//! | `lastExecutionTime`, `lastSkippedTime`, `lastTaskId`, `nextExecutionTime` | reported: history stays in Roo |

use serde_json::{Map, Value};

/// One Roo schedule in Baton's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub name: String,
    /// `every:` (e.g. `10m`), when the schedule is a time interval.
    pub every: Option<String>,
    /// `days:` (`None`: every day).
    pub days: Option<Vec<String>>,
    /// `start:` / `until:` as `YYYY-MM-DD HH:MM` (local time).
    pub start: Option<String>,
    pub until: Option<String>,
    pub paused: bool,
    /// `overlap:` in Temporal's names.
    pub overlap: String,
    pub mode: Option<String>,
    pub task: Option<String>,
    /// `field: why` for every field that was not mapped.
    pub not_mapped: Vec<String>,
}

impl Imported {
    /// The Baton schedule: a name made of the Roo name (`Project Orchestration Workflow`
    /// → `project-orchestration-workflow`, the original kept as the description) and the
    /// mapped fields. `None` when nothing says when it fires (a non-time schedule).
    pub fn spec(&self) -> Option<(String, super::ScheduleSpec)> {
        let every = self.every.clone()?;
        let mut name = String::new();
        for c in self.name.chars() {
            if c.is_ascii_alphanumeric() {
                name.push(c.to_ascii_lowercase());
            } else if !name.is_empty() && !name.ends_with('-') {
                name.push('-');
            }
        }
        let mut name = name.trim_end_matches('-').to_owned();
        name.truncate(64);
        if name.is_empty() {
            name = "roo-schedule".to_owned();
        }
        Some((
            name,
            super::ScheduleSpec {
                description: Some(self.name.clone()),
                every: Some(every),
                days: self.days.clone(),
                start: self.start.clone(),
                until: self.until.clone(),
                mode: self.mode.clone(),
                task: self.task.clone(),
                overlap: Some(self.overlap.clone()),
                paused: Some(self.paused),
                ..Default::default()
            },
        ))
    }
}

const DAYS: [(&str, &str); 7] = [
    ("mon", "mon"),
    ("tue", "tue"),
    ("wed", "wed"),
    ("thu", "thu"),
    ("fri", "fri"),
    ("sat", "sat"),
    ("sun", "sun"),
];

/// Parses a Roo `schedules.json` (`{"schedules": [...]}` or a bare array).
pub fn import(text: &str) -> Result<Vec<Imported>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("not a Roo schedules file: {error}"))?;
    let list = match &value {
        Value::Object(map) => map.get("schedules").and_then(Value::as_array),
        Value::Array(list) => Some(list),
        _ => None,
    }
    .ok_or("not a Roo schedules file: expected {\"schedules\": [...]}")?;
    list.iter()
        .enumerate()
        .map(|(index, entry)| {
            entry
                .as_object()
                .ok_or_else(|| format!("schedules[{index}] is not an object"))
                .and_then(|entry| one(index, entry))
        })
        .collect()
}

fn text<'a>(entry: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    entry
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

fn one(index: usize, entry: &Map<String, Value>) -> Result<Imported, String> {
    let name = text(entry, "name")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("roo-schedule-{}", index + 1));
    let mut not_mapped = Vec::new();
    let every = match text(entry, "scheduleType") {
        Some("time") | None => {
            let interval = text(entry, "timeInterval")
                .ok_or_else(|| format!("schedule \"{name}\": timeInterval is missing"))?;
            let count: u64 = interval.parse().map_err(|_| {
                format!("schedule \"{name}\": timeInterval \"{interval}\" is not a number")
            })?;
            let unit = match text(entry, "timeUnit").unwrap_or("minute") {
                "minute" | "minutes" => "m",
                "hour" | "hours" => "h",
                "day" | "days" => "d",
                other => {
                    return Err(format!(
                        "schedule \"{name}\": timeUnit \"{other}\" is not minute, hour or day"
                    ));
                }
            };
            Some(format!("{count}{unit}"))
        }
        Some(other) => {
            not_mapped.push(format!(
                "scheduleType: \"{other}\" has no Baton equivalent (only \"time\" schedules are imported)"
            ));
            None
        }
    };
    let days = entry
        .get("selectedDays")
        .and_then(Value::as_object)
        .map(|selected| {
            DAYS.iter()
                .filter(|(roo, _)| selected.get(*roo).and_then(Value::as_bool).unwrap_or(false))
                .map(|(_, baton)| (*baton).to_owned())
                .collect::<Vec<_>>()
        });
    let days = days.filter(|days| days.len() < 7);
    let moment = |date: &str, hour: &str, minute: &str| -> Option<String> {
        let date = text(entry, date)?;
        let hour = text(entry, hour).unwrap_or("00");
        let minute = text(entry, minute).unwrap_or("00");
        Some(format!("{date} {hour:0>2}:{minute:0>2}"))
    };
    let start = moment("startDate", "startHour", "startMinute");
    let until = moment("expirationDate", "expirationHour", "expirationMinute");
    let overlap = match text(entry, "taskInteraction").unwrap_or("wait") {
        "wait" => "buffer_one",
        "skip" => "skip",
        "interrupt" => "cancel_other",
        other => {
            not_mapped.push(format!(
                "taskInteraction: \"{other}\" is not wait, skip or interrupt (using buffer_one)"
            ));
            "buffer_one"
        }
    }
    .to_owned();
    for (key, why) in [
        ("requireActivity", "Baton has no editor activity to watch"),
        ("inactivityDelay", "Baton has no editor activity to watch"),
        ("lastExecutionTime", "run history stays in Roo"),
        ("lastSkippedTime", "run history stays in Roo"),
        ("lastTaskId", "run history stays in Roo"),
        ("nextExecutionTime", "Baton computes its own next fire time"),
    ] {
        let present = match entry.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            Some(Value::String(text)) => !text.trim().is_empty(),
            Some(_) => true,
        };
        if present {
            not_mapped.push(format!("{key}: {why}"));
        }
    }
    let known = [
        "id",
        "name",
        "mode",
        "taskInstructions",
        "scheduleType",
        "timeInterval",
        "timeUnit",
        "selectedDays",
        "startDate",
        "startHour",
        "startMinute",
        "expirationDate",
        "expirationHour",
        "expirationMinute",
        "requireActivity",
        "active",
        "taskInteraction",
        "inactivityDelay",
        "lastExecutionTime",
        "lastSkippedTime",
        "lastTaskId",
        "nextExecutionTime",
        "modeDisplayName",
        "createdAt",
        "updatedAt",
    ];
    for key in entry.keys() {
        if !known.contains(&key.as_str()) {
            not_mapped.push(format!("{key}: unknown field"));
        }
    }
    Ok(Imported {
        name,
        every,
        days,
        start,
        until,
        paused: !entry.get("active").and_then(Value::as_bool).unwrap_or(true),
        overlap,
        mode: text(entry, "mode").map(str::to_owned),
        task: text(entry, "taskInstructions").map(str::to_owned),
        not_mapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/roo/schedules.json");
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    #[test]
    fn the_sample_file_maps_field_by_field() {
        let schedules = import(&fixture()).unwrap();
        assert_eq!(schedules.len(), 2);
        let first = &schedules[0];
        assert_eq!(first.name, "Project Orchestration Workflow");
        assert_eq!(first.every.as_deref(), Some("10m"));
        assert_eq!(first.days, None, "all seven days: no filter");
        assert_eq!(first.start, None);
        assert_eq!(first.until, None);
        assert!(!first.paused);
        assert_eq!(first.overlap, "buffer_one", "taskInteraction wait");
        assert_eq!(first.mode.as_deref(), Some("architect"));
        assert!(
            first
                .task
                .as_deref()
                .unwrap()
                .starts_with("Review open work")
        );
        let reported = first.not_mapped.join("\n");
        for field in [
            "inactivityDelay",
            "lastExecutionTime",
            "lastSkippedTime",
            "lastTaskId",
            "nextExecutionTime",
        ] {
            assert!(reported.contains(field), "{field} not reported: {reported}");
        }
        assert!(!reported.contains("requireActivity"), "false: nothing lost");

        let second = &schedules[1];
        assert_eq!(second.every.as_deref(), Some("1d"));
        assert_eq!(
            second.days.as_deref(),
            Some(&["mon", "tue", "wed", "thu", "fri"].map(String::from)[..])
        );
        assert_eq!(second.start.as_deref(), Some("2025-11-03 08:30"));
        assert_eq!(second.until.as_deref(), Some("2026-12-31 23:59"));
        assert!(second.paused, "active false");
        assert_eq!(second.overlap, "skip");
        assert!(second.not_mapped.is_empty(), "{:?}", second.not_mapped);

        let (name, spec) = first.spec().unwrap();
        assert_eq!(name, "project-orchestration-workflow");
        let schedule = spec.compile(&name).unwrap();
        assert_eq!(schedule.overlap, crate::schedule::Overlap::BufferOne);
        assert_eq!(
            schedule.target,
            crate::schedule::Target::Mode {
                mode: "architect".into(),
                task: first.task.clone().unwrap()
            }
        );
        assert_eq!(
            schedule.timetable.timing,
            crate::schedule::Timing::Every(std::time::Duration::from_secs(600))
        );
        let (name, spec) = second.spec().unwrap();
        let schedule = spec.compile(&name).unwrap();
        assert_eq!(schedule.timetable.days.as_ref().map(Vec::len), Some(5));
        assert_eq!(
            schedule.timetable.start.unwrap().to_rfc3339(),
            "2025-11-03T08:30:00+00:00",
            "local times in UTC unless a timezone is set"
        );
        assert_eq!(spec.paused, Some(true));
    }

    #[test]
    fn bad_files_and_fields_are_named() {
        assert!(
            import("[")
                .unwrap_err()
                .contains("not a Roo schedules file")
        );
        assert!(import("{\"x\": 1}").unwrap_err().contains("expected"));
        let error = import(r#"{"schedules": [{"name": "n", "timeInterval": "ten"}]}"#).unwrap_err();
        assert!(
            error.contains("schedule \"n\": timeInterval \"ten\" is not a number"),
            "{error}"
        );
        let odd = import(
            r#"{"schedules": [{"name": "n", "timeInterval": "5", "timeUnit": "hour", "taskInteraction": "interrupt", "colour": "red"}]}"#,
        )
        .unwrap();
        assert_eq!(odd[0].every.as_deref(), Some("5h"));
        assert_eq!(odd[0].overlap, "cancel_other");
        assert_eq!(odd[0].not_mapped, ["colour: unknown field"]);
    }
}
