//! Task time tracking: start and stop a task, query entries with totals and per-mode and
//! per-priority summaries, record finished workflow and scheduled runs, and the
//! `task_timing.tsv` format of Roo Code setups as import/export ([`import_tsv`],
//! [`export_tsv`]).
//!
//! A task (by `task_id`) has at most one open entry: starting it again before stopping it
//! is an error naming the open entry, and so is stopping a task that is not started. Two
//! concurrent starts of the same task: exactly one wins (the store's partial unique
//! index). Times are kept in ms and shown as RFC 3339 (UTC).

mod tsv;

use std::str::FromStr;

use baton_store::{NewTimeEntry, Store, StoreError, TimeEntryRow, TimeFilter, TimeStart, now_ms};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use tsv::{ImportReport, LineError, TSV_COLUMNS, export_tsv, import_tsv};

/// Longest task id or mode accepted.
const MAX_NAME: usize = 200;
/// Longest task description or result accepted (characters).
const MAX_TEXT: usize = 4000;
/// Entries a query returns when no limit is given, and the most it ever returns.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum TimingError {
    #[error(
        "task \"{task_id}\" is already started at {started_at} (entry {id}, mode {mode}); stop it first"
    )]
    AlreadyStarted {
        task_id: String,
        id: i64,
        mode: String,
        started_at: String,
    },
    #[error("no started task \"{0}\": start it first")]
    NotStarted(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, TimingError>;

/// Which list a task comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Schedule,
    Todo,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Schedule => "schedule",
            Priority::Todo => "todo",
        }
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "schedule" => Ok(Priority::Schedule),
            "todo" => Ok(Priority::Todo),
            "" => Err("priority missing: expected schedule or todo".to_owned()),
            other => Err(format!(
                "unknown priority \"{other}\": expected schedule or todo"
            )),
        }
    }
}

/// Who wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `track_task_time`.
    Tool,
    Workflow,
    Schedule,
    Import,
    /// `delegate_task`.
    Delegation,
    /// `switch_mode`: time spent in each mode of a session.
    Mode,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tool => "tool",
            Source::Workflow => "workflow",
            Source::Schedule => "schedule",
            Source::Import => "import",
            Source::Delegation => "delegation",
            Source::Mode => "mode",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartTask {
    pub task_id: String,
    pub mode: String,
    /// What the task is.
    #[serde(default)]
    pub task: String,
    pub priority: Priority,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopTask {
    pub task_id: String,
    /// `completed` (the default), `failed`, `cancelled` or free text.
    #[serde(default)]
    pub result: Option<String>,
}

/// A finished workflow or scheduled run, recorded by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRun {
    pub run_id: String,
    /// The entry's task id (for example the schedule's or workflow's name).
    pub task_id: String,
    pub mode: String,
    pub task: String,
    pub priority: Priority,
    /// [`Source::Workflow`] or [`Source::Schedule`].
    pub source: Source,
    pub start_ms: i64,
    pub end_ms: i64,
    /// `completed`, `failed`, `cancelled` or free text.
    pub result: String,
}

/// What [`query`] (and [`export_tsv`]) read; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    pub mode: Option<String>,
    pub priority: Option<Priority>,
    /// Entries starting at or after this: RFC 3339, or a date (`2025-11-01`, from 00:00 UTC).
    pub from: Option<String>,
    /// Entries starting at or before this: RFC 3339, or a date (the whole day, UTC).
    pub to: Option<String>,
    pub task_id: Option<String>,
    /// Entries listed (newest first); default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`].
    /// Totals and summaries always count every matching entry.
    pub limit: Option<u32>,
}

/// One entry as the tools show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeEntry {
    pub id: i64,
    pub task_id: String,
    pub mode: String,
    pub task: String,
    pub priority: String,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339; `None` while open.
    pub end: Option<String>,
    pub duration_ms: Option<i64>,
    pub result: String,
    pub source: String,
    pub run_id: Option<String>,
    /// When the entry was written (RFC 3339).
    pub timestamp: String,
    pub open: bool,
}

impl From<TimeEntryRow> for TimeEntry {
    fn from(row: TimeEntryRow) -> Self {
        TimeEntry {
            id: row.id,
            open: row.end_at.is_none(),
            start: format_ms(row.start_at),
            end: row.end_at.map(format_ms),
            timestamp: format_ms(row.logged_at),
            task_id: row.task_id,
            mode: row.mode,
            task: row.task,
            priority: row.priority,
            duration_ms: row.duration_ms,
            result: row.result,
            source: row.source,
            run_id: row.run_id,
        }
    }
}

/// Counts over the entries a filter selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub count: i64,
    /// Entries still open.
    pub open: i64,
    /// Sum of the closed entries' durations.
    pub total_ms: i64,
    /// Average duration of the closed entries.
    pub average_ms: Option<i64>,
}

/// Totals for one mode or one priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The mode or the priority.
    pub name: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// The answer of [`query`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeReport {
    /// Matching entries, newest first, at most the limit.
    pub entries: Vec<TimeEntry>,
    /// More entries match than are listed.
    pub truncated: bool,
    pub totals: Totals,
    /// Matching entries still open (at most the limit).
    pub open_tasks: Vec<TimeEntry>,
    pub by_mode: Vec<Summary>,
    pub by_priority: Vec<Summary>,
}

/// Starts timing `task.task_id`.
pub async fn start(store: &Store, task: StartTask) -> Result<TimeEntry> {
    let task_id = name("task_id", &task.task_id)?;
    let mode = name("mode", &task.mode)?;
    let description = text("task", &task.task)?;
    let now = now_ms();
    let new = NewTimeEntry {
        task_id: task_id.clone(),
        mode,
        task: description,
        priority: task.priority.as_str().to_owned(),
        start_at: now,
        end_at: None,
        duration_ms: None,
        result: "started".to_owned(),
        source: Source::Tool.as_str().to_owned(),
        run_id: None,
        logged_at: now,
    };
    match store.time_start(&new).await? {
        TimeStart::Started(row) => Ok(row.into()),
        TimeStart::AlreadyOpen(row) => Err(TimingError::AlreadyStarted {
            task_id,
            id: row.id,
            mode: row.mode,
            started_at: format_ms(row.start_at),
        }),
    }
}

/// Stops timing `task.task_id`: its open entry gets an end, a duration and a result.
pub async fn stop(store: &Store, task: StopTask) -> Result<TimeEntry> {
    let task_id = name("task_id", &task.task_id)?;
    let result = match task.result.as_deref().map(str::trim) {
        None | Some("") => "completed".to_owned(),
        Some(result) => text("result", result)?,
    };
    store
        .time_stop(&task_id, now_ms(), &result)
        .await?
        .map(TimeEntry::from)
        .ok_or(TimingError::NotStarted(task_id))
}

/// Records a finished run as a closed entry; recording the same run again (a reopened run
/// that finished again) updates its entry.
pub async fn record_run(store: &Store, run: RecordRun) -> Result<TimeEntry> {
    let run_id = name("run_id", &run.run_id)?;
    let end = run.end_ms.max(run.start_ms);
    let result = match run.result.trim() {
        "" => "completed".to_owned(),
        result => text("result", result)?,
    };
    let new = NewTimeEntry {
        task_id: name("task_id", &run.task_id)?,
        mode: name("mode", &run.mode)?,
        task: text("task", &run.task)?,
        priority: run.priority.as_str().to_owned(),
        start_at: run.start_ms,
        end_at: Some(end),
        duration_ms: Some(end.saturating_sub(run.start_ms)),
        result,
        source: run.source.as_str().to_owned(),
        run_id: Some(run_id),
        logged_at: now_ms(),
    };
    Ok(store.time_record_run(&new).await?.into())
}

/// The entries `filter` selects (newest first) with totals, the open tasks and the
/// per-mode and per-priority summaries.
pub async fn query(store: &Store, filter: Filter) -> Result<TimeReport> {
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut store_filter = store_filter(&filter)?;
    let mut entries = store
        .time_entries(&store_filter, true, Some(limit + 1))
        .await?;
    let truncated = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let groups = store.time_groups(&store_filter).await?;
    store_filter.open_only = true;
    let open_tasks = store.time_entries(&store_filter, true, Some(limit)).await?;

    let mut totals = Accumulator::default();
    let mut by_mode: Vec<(String, Accumulator)> = Vec::new();
    let mut by_priority: Vec<(String, Accumulator)> = Vec::new();
    for group in &groups {
        totals.add(group);
        accumulate(&mut by_mode, &group.mode, group);
        accumulate(&mut by_priority, &group.priority, group);
    }
    let summaries = |groups: Vec<(String, Accumulator)>| {
        groups
            .into_iter()
            .map(|(name, acc)| Summary {
                name,
                totals: acc.totals(),
            })
            .collect()
    };
    Ok(TimeReport {
        entries: entries.into_iter().map(TimeEntry::from).collect(),
        truncated,
        totals: totals.totals(),
        open_tasks: open_tasks.into_iter().map(TimeEntry::from).collect(),
        by_mode: summaries(by_mode),
        by_priority: summaries(by_priority),
    })
}

#[derive(Debug, Default, Clone, Copy)]
struct Accumulator {
    count: i64,
    closed: i64,
    total_ms: i64,
}

impl Accumulator {
    fn add(&mut self, group: &baton_store::TimeGroup) {
        self.count += group.count;
        self.closed += group.closed;
        self.total_ms = self.total_ms.saturating_add(group.total_ms);
    }

    fn totals(self) -> Totals {
        Totals {
            count: self.count,
            open: self.count - self.closed,
            total_ms: self.total_ms,
            average_ms: (self.closed > 0).then(|| self.total_ms / self.closed),
        }
    }
}

fn accumulate(list: &mut Vec<(String, Accumulator)>, key: &str, group: &baton_store::TimeGroup) {
    match list.iter_mut().find(|(name, _)| name == key) {
        Some((_, acc)) => acc.add(group),
        None => {
            let mut acc = Accumulator::default();
            acc.add(group);
            list.push((key.to_owned(), acc));
        }
    }
}

/// The store's filter for `filter` (its dates resolved).
fn store_filter(filter: &Filter) -> Result<TimeFilter> {
    let from_ms = filter
        .from
        .as_deref()
        .map(|from| parse_bound(from, false))
        .transpose()?;
    let to_ms = filter
        .to
        .as_deref()
        .map(|to| parse_bound(to, true))
        .transpose()?;
    if let (Some(from), Some(to)) = (from_ms, to_ms)
        && from >= to
    {
        return Err(TimingError::Invalid(format!(
            "the range is empty: from ({}) is not before to ({})",
            filter.from.as_deref().unwrap_or_default(),
            filter.to.as_deref().unwrap_or_default()
        )));
    }
    let trimmed = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    Ok(TimeFilter {
        mode: trimmed(&filter.mode),
        priority: filter.priority.map(|p| p.as_str().to_owned()),
        task_id: trimmed(&filter.task_id),
        from_ms,
        to_ms,
        open_only: false,
    })
}

/// A range bound in ms: a date is the start of that day (UTC) as `from`, the start of the
/// next day as `to` (exclusive); a time is itself as `from`, one ms later as `to`.
fn parse_bound(text: &str, end: bool) -> Result<i64> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end { date.succ_opt() } else { Some(date) };
        if let Some(ms) = day
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|time| time.and_utc().timestamp_millis())
        {
            return Ok(ms);
        }
    }
    match parse_instant(text) {
        Some(ms) => Ok(if end { ms.saturating_add(1) } else { ms }),
        None => Err(TimingError::Invalid(format!(
            "\"{text}\" is not a date (2025-11-01) or an RFC 3339 time (2025-11-01T05:10:00Z)"
        ))),
    }
}

/// An instant: RFC 3339, or a date and time without offset (taken as UTC).
pub(crate) fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|time| time.and_utc().timestamp_millis())
}

/// RFC 3339 in UTC, with a fraction only when there is one.
pub(crate) fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A task id, mode or run id: trimmed, not empty, one line, not too long.
fn name(field: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(TimingError::Invalid(format!("{field} is empty")));
    }
    if value.chars().count() > MAX_NAME {
        return Err(TimingError::Invalid(format!(
            "{field} is longer than {MAX_NAME} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(TimingError::Invalid(format!(
            "{field} \"{}\" contains a tab, line break or other control character",
            value.escape_debug()
        )));
    }
    Ok(value.to_owned())
}

/// A description or result: trimmed, line breaks and tabs become spaces (the TSV format
/// has one line per entry), not too long.
fn text(field: &str, value: &str) -> Result<String> {
    let value: String = value
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if value.chars().count() > MAX_TEXT {
        return Err(TimingError::Invalid(format!(
            "{field} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
