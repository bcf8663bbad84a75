//! The `task_timing.tsv` format: one tab-separated line per entry under a header line.
//!
//! Columns: `timestamp` (when the line was written), `mode`, `task_id`, `start_time`,
//! `end_time`, `duration` (seconds), `task`, `result`, `priority`. Times are RFC 3339; an
//! open entry has empty `end_time` and `duration`.
//!
//! Import: the header may list the columns in any order (a file without a header is read
//! in the order above); blank lines are skipped; every bad line is reported with its line
//! number and the problem, and the good lines are still imported. An entry is a duplicate
//! of a stored one of the same task starting in the same second, so importing a file
//! twice adds nothing. An empty `timestamp` is the start time, an empty `duration` of a
//! closed entry is end − start, an empty `result` is `started` (open) or `completed`.
//!
//! Export: times to the second, durations in whole seconds (rounded), tabs and line
//! breaks inside fields become spaces.

use baton_store::{NewTimeEntry, Store, TimeImported};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{Filter, Priority, Result, Source, format_ms, parse_instant, store_filter};

/// The columns, in the order they are written.
pub const TSV_COLUMNS: [&str; 9] = [
    "timestamp",
    "mode",
    "task_id",
    "start_time",
    "end_time",
    "duration",
    "task",
    "result",
    "priority",
];

const TIMESTAMP: usize = 0;
const MODE: usize = 1;
const TASK_ID: usize = 2;
const START: usize = 3;
const END: usize = 4;
const DURATION: usize = 5;
const TASK: usize = 6;
const RESULT: usize = 7;
const PRIORITY: usize = 8;

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// What [`import_tsv`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    /// Lines whose entry is already stored (skipped).
    pub duplicates: usize,
    pub errors: Vec<LineError>,
}

/// Where each known column is in a line (`None`: the file does not have it).
type Layout = [Option<usize>; 9];

/// Imports the lines of a `task_timing.tsv` (see the module documentation).
pub async fn import_tsv(store: &Store, text: &str) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut layout: Option<(Layout, usize)> = None;
    let mut entries = Vec::new();
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let (columns, width) = match layout {
            Some(known) => known,
            None => {
                let known = match header(&fields) {
                    Some(Ok(found)) => {
                        layout = Some(found);
                        continue;
                    }
                    Some(Err(message)) => {
                        report.errors.push(LineError {
                            line: number,
                            message,
                        });
                        return Ok(report);
                    }
                    None => (std::array::from_fn(Some), TSV_COLUMNS.len()),
                };
                layout = Some(known);
                known
            }
        };
        match entry(&fields, &columns, width) {
            Ok(entry) => {
                entries.push(entry);
                lines.push(number);
            }
            Err(message) => report.errors.push(LineError {
                line: number,
                message,
            }),
        }
    }
    let outcomes = store.time_import(&entries).await?;
    for ((outcome, entry), line) in outcomes.into_iter().zip(&entries).zip(lines) {
        match outcome {
            TimeImported::Inserted => report.imported += 1,
            TimeImported::Duplicate => report.duplicates += 1,
            TimeImported::OpenConflict(open) => report.errors.push(LineError {
                line,
                message: format!(
                    "task \"{}\" is open here and already has an open entry (entry {}, started at {}): stop it first",
                    entry.task_id,
                    open.id,
                    format_ms(open.start_at)
                ),
            }),
        }
    }
    report.errors.sort_by_key(|error| error.line);
    Ok(report)
}

/// The entries `filter` selects as a `task_timing.tsv` (oldest first). With a limit, the
/// newest that many.
pub async fn export_tsv(store: &Store, filter: &Filter) -> Result<String> {
    let store_filter = store_filter(filter)?;
    let mut rows = store
        .time_entries(&store_filter, filter.limit.is_some(), filter.limit)
        .await?;
    if filter.limit.is_some() {
        rows.reverse();
    }
    let mut out = TSV_COLUMNS.join("\t");
    out.push('\n');
    for row in rows {
        let fields = [
            seconds_time(row.logged_at),
            field(&row.mode),
            field(&row.task_id),
            seconds_time(row.start_at),
            row.end_at.map(seconds_time).unwrap_or_default(),
            row.duration_ms
                .filter(|_| row.end_at.is_some())
                .map(|ms| (ms.saturating_add(500) / 1000).to_string())
                .unwrap_or_default(),
            field(&row.task),
            field(&row.result),
            field(&row.priority),
        ];
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    Ok(out)
}

/// The layout a header line gives; `None` when the line is not a header.
fn header(fields: &[&str]) -> Option<std::result::Result<(Layout, usize), String>> {
    let names: Vec<String> = fields
        .iter()
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    if !names.iter().any(|name| name == "task_id") || !names.iter().any(|name| name == "start_time")
    {
        return None;
    }
    let mut layout: Layout = [None; 9];
    for (position, name) in names.iter().enumerate() {
        if let Some(column) = TSV_COLUMNS.iter().position(|known| known == name) {
            if layout[column].is_some() {
                return Some(Err(format!("the header has the column \"{name}\" twice")));
            }
            layout[column] = Some(position);
        }
    }
    if layout[MODE].is_none() {
        return Some(Err(
            "the header has no \"mode\" column (expected: timestamp, mode, task_id, start_time, end_time, duration, task, result, priority)".to_owned(),
        ));
    }
    Some(Ok((layout, names.len())))
}

/// One line's entry, or what is wrong with it.
fn entry(
    fields: &[&str],
    layout: &Layout,
    width: usize,
) -> std::result::Result<NewTimeEntry, String> {
    if fields.len() > width {
        return Err(format!(
            "{} fields, expected {width} (is there a tab inside a field?)",
            fields.len()
        ));
    }
    let get = |column: usize| {
        layout[column]
            .and_then(|position| fields.get(position))
            .map(|value| value.trim())
            .unwrap_or("")
    };
    let required = |column: usize| match get(column) {
        "" => Err(format!("{} is empty", TSV_COLUMNS[column])),
        value => Ok(value.to_owned()),
    };
    let time = |column: usize| {
        let value = get(column);
        parse_instant(value).ok_or_else(|| {
            format!(
                "{} \"{value}\" is not an RFC 3339 time (2025-11-01T05:10:00Z)",
                TSV_COLUMNS[column]
            )
        })
    };
    let task_id = required(TASK_ID)?;
    let mode = required(MODE)?;
    if task_id.chars().any(char::is_control) || mode.chars().any(char::is_control) {
        return Err("task_id or mode contains a control character".to_owned());
    }
    let priority: Priority = get(PRIORITY).parse()?;
    let start_at = time(START)?;
    let end_at = match get(END) {
        "" => None,
        _ => Some(time(END)?),
    };
    let duration_ms = match (get(DURATION), end_at) {
        ("", None) => None,
        ("", Some(end)) => Some(end - start_at),
        (value, Some(_)) => Some(seconds(value)?),
        (_, None) => {
            return Err(
                "duration is given but end_time is empty (an open entry has neither)".to_owned(),
            );
        }
    };
    if let Some(end) = end_at
        && end < start_at
    {
        return Err(format!(
            "end_time {} is before start_time {}",
            get(END),
            get(START)
        ));
    }
    let logged_at = match get(TIMESTAMP) {
        "" => start_at,
        _ => time(TIMESTAMP)?,
    };
    let result = match get(RESULT) {
        "" if end_at.is_none() => "started".to_owned(),
        "" => "completed".to_owned(),
        result => result.to_owned(),
    };
    Ok(NewTimeEntry {
        task_id,
        mode,
        task: get(TASK).to_owned(),
        priority: priority.as_str().to_owned(),
        start_at,
        end_at,
        duration_ms,
        result,
        source: Source::Import.as_str().to_owned(),
        run_id: None,
        logged_at,
    })
}

/// A duration in seconds (a fraction allowed) as ms.
fn seconds(value: &str) -> std::result::Result<i64, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..1e12).contains(&seconds) => {
            Ok((seconds * 1000.0).round() as i64)
        }
        _ => Err(format!(
            "duration \"{value}\" is not a number of seconds (e.g. 949)"
        )),
    }
}

/// A time to the second, RFC 3339 in UTC.
fn seconds_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A field on one line: tabs and line breaks become spaces.
fn field(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
