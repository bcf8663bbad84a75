//! Schedule timing, as plain math on an explicit clock: when does a schedule fire?
//!
//! A schedule fires at *slots*: `every: 10m` (an interval anchored to `start`, or to the
//! Unix epoch), `cron: "*/10 8-18 * * 1-5"` in a `timezone`, or once `at` a time. `days`
//! keeps only slots on those weekdays (in the schedule's time zone), `start` and `until`
//! bound them, and `jitter` delays each fire by a deterministic amount in `[0, jitter]`
//! derived from the schedule and the slot (so a restart computes the same delay).
//!
//! Nothing here reads the clock: callers pass `now`, so every case is tested without
//! waiting. The scheduler (firing, overlap, catch-up) builds on [`Timing::next_after`].

pub mod roo;
mod spec;
mod trigger;

pub use spec::{
    CatchUp, DEFAULT_CATCH_UP_WINDOW, MAX_CATCH_UP, Overlap, Problems, Schedule, ScheduleSpec,
    Target, valid_name,
};
pub use trigger::{
    DEFAULT_SIGNATURE_HEADER, EventKind, FileWatch, FilesSpec, HookAuth, Trigger, TriggerSource,
    TriggerSpec, Webhook, WebhookSpec, parse_size,
};

use std::{str::FromStr, time::Duration};

use chrono::{DateTime, Datelike, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq)]
pub enum Timing {
    Every(Duration),
    Cron(Box<croner::Cron>),
    At(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timetable {
    pub timing: Timing,
    pub timezone: Tz,
    /// Only slots on these weekdays (in `timezone`); `None`: every day.
    pub days: Option<Vec<Weekday>>,
    /// No slot before; the anchor of `every`.
    pub start: Option<DateTime<Utc>>,
    /// No slot after (expiration).
    pub until: Option<DateTime<Utc>>,
    pub jitter: Duration,
}

/// How far ahead a search for a matching day goes before giving up (a `days` filter that
/// excludes every slot, e.g. `every: 7d` anchored on a Monday with `days: [tue]`).
const SEARCH_LIMIT: usize = 10_000;

impl Timetable {
    /// The first slot strictly after `after`, if any.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut cursor = after;
        if let Some(start) = self.start
            && cursor < start
        {
            // A slot exactly at `start` counts.
            cursor = start - chrono::Duration::milliseconds(1);
        }
        for _ in 0..SEARCH_LIMIT {
            let slot = self.raw_next(cursor)?;
            if self.until.is_some_and(|until| slot > until) {
                return None;
            }
            if self.day_matches(slot) {
                return Some(slot);
            }
            cursor = slot;
        }
        None
    }

    /// Slots in `(from, to]`, oldest first, at most `limit` of them.
    pub fn slots_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut slots = Vec::new();
        let mut cursor = from;
        while slots.len() < limit {
            match self.next_after(cursor) {
                Some(slot) if slot <= to => {
                    slots.push(slot);
                    cursor = slot;
                }
                _ => break,
            }
        }
        slots
    }

    /// The fire delay of `slot` for schedule `name`: the same every time it is computed.
    pub fn jitter_for(&self, name: &str, slot: DateTime<Utc>) -> Duration {
        if self.jitter.is_zero() {
            return Duration::ZERO;
        }
        let digest = Sha256::digest(format!("{name}@{}", slot.timestamp_millis()));
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        let fraction = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
        self.jitter.mul_f64(fraction)
    }

    fn day_matches(&self, slot: DateTime<Utc>) -> bool {
        self.days
            .as_ref()
            .is_none_or(|days| days.contains(&slot.with_timezone(&self.timezone).weekday()))
    }

    fn raw_next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.timing {
            Timing::At(at) => (*at > after).then_some(*at),
            Timing::Every(interval) => {
                let step = i64::try_from(interval.as_millis()).ok()?.max(1);
                let anchor = self
                    .start
                    .unwrap_or(DateTime::UNIX_EPOCH)
                    .timestamp_millis();
                let since = after.timestamp_millis() - anchor;
                let periods = if since < 0 { 0 } else { since / step + 1 };
                Utc.timestamp_millis_opt(anchor + periods * step).single()
            }
            Timing::Cron(cron) => {
                let local = after.with_timezone(&self.timezone);
                cron.find_next_occurrence(&local, false)
                    .ok()
                    .map(|next| next.with_timezone(&Utc))
            }
        }
    }
}

/// A weekday from `mon`, `monday`, `Mon`, …
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    Weekday::from_str(text.trim()).ok()
}

/// A cron pattern (5 or 6 fields, aliases like `@hourly`), or the parser's reason.
pub fn parse_cron(pattern: &str) -> Result<croner::Cron, String> {
    croner::Cron::from_str(pattern).map_err(|error| error.to_string())
}

/// An IANA time zone name (`Europe/Paris`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>().map_err(|_| {
        format!("unknown time zone \"{name}\": use an IANA name such as UTC or Europe/Paris")
    })
}

/// A time: RFC 3339 (`2026-03-29T01:30:00Z`), or a local date-time / date in `timezone`
/// (`2026-03-29 01:30`, `2026-03-29`).
pub fn parse_time(text: &str, timezone: Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|date| date.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| {
            format!(
                "\"{text}\" is not a time: write 2026-03-29T01:30:00Z, or 2026-03-29 01:30 (in the schedule's time zone)"
            )
        })?;
    timezone
        .from_local_datetime(&naive)
        .earliest()
        .map(|time| time.with_timezone(&Utc))
        .ok_or_else(|| format!("\"{text}\" does not exist in {timezone} (a clock change skips it)"))
}

/// Whether `target` can start in `config`: a workflow that exists and accepts the inputs
/// (a trigger's workflow also receives `event` when it declares that input), a tool of a
/// configured server. `Err` says what to fix.
pub fn check_target(target: &Target, config: &crate::Config, trigger: bool) -> Result<(), String> {
    match target {
        Target::Workflow { name, inputs } => {
            let Some(workflow) = config
                .workflows
                .definitions
                .iter()
                .find(|workflow| &workflow.name == name)
            else {
                let known: Vec<&str> = config
                    .workflows
                    .definitions
                    .iter()
                    .map(|workflow| workflow.name.as_str())
                    .collect();
                return Err(format!(
                    "unknown workflow \"{name}\" (workflows: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            };
            let mut given = inputs.clone();
            if trigger && workflow.inputs.contains_key("event") {
                given.insert("event".to_owned(), serde_json::json!({}));
            }
            workflow
                .resolve_inputs(&given)
                .map(|_| ())
                .map_err(|problems| problems.join("; "))
        }
        Target::Tool { tool, .. } => {
            let separator = &config.namespace.separator;
            let server = tool
                .split_once(separator.as_str())
                .map(|(server, _)| server);
            match server {
                Some(server)
                    if server == "baton"
                        || server == "workflow"
                        || config.server(server).is_some() =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "tool \"{tool}\" is not server{separator}tool of a configured server (servers: {})",
                    config
                        .server_names()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        // Modes are checked when the task is delegated.
        Target::Mode { .. } => Ok(()),
    }
}

/// [`check_target`] for every schedule and trigger of the file, with their positions.
pub fn check_targets(config: &crate::Config) -> Vec<crate::ConfigError> {
    let file = config.source.clone().unwrap_or_default();
    let error =
        |section: &str, name: &str, field: &str, line, column, message| crate::ConfigError {
            file: file.clone(),
            line,
            column,
            path: format!("{section}.{name}.{field}"),
            message,
        };
    let field = |target: &Target| match target {
        Target::Workflow { .. } => "workflow",
        Target::Tool { .. } => "tool",
        Target::Mode { .. } => "mode",
    };
    let mut errors = Vec::new();
    for schedule in &config.schedules {
        if let Err(message) = check_target(&schedule.target, config, false) {
            errors.push(error(
                "schedules",
                &schedule.name,
                field(&schedule.target),
                schedule.line,
                schedule.column,
                message,
            ));
        }
    }
    for trigger in &config.triggers {
        if let Err(message) = check_target(&trigger.target, config, true) {
            errors.push(error(
                "triggers",
                &trigger.name,
                field(&trigger.target),
                trigger.line,
                trigger.column,
                message,
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests;
