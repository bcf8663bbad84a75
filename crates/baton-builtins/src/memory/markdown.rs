//! The markdown form of a memory, rendered and parsed.
//!
//! ```text
//! # Non-Obvious Implementation Patterns
//! - a bullet entry
//!   its second line (continuation lines are indented by two spaces)
//!
//! # System Updates & Status
//! [2025-11-01T05:13:28Z] [orchestrator] - a stamped entry
//! [2025-11-01T05:20:02Z] - a stamped entry without mode
//! ```
//!
//! Parsing: `# Name` starts a section; `- text` (or `* text`) and `[time] [mode] - text`
//! start an entry; an indented line continues the current entry (up to two leading spaces
//! are removed); blank lines are skipped. Anything else (an unindented line that starts
//! nothing, an entry before the first heading, an empty entry) is reported with its line
//! number.

use baton_store::{MemoryEntryRow, NewMemoryEntry};
use chrono::{DateTime, SecondsFormat, Utc};

use super::{MAX_TEXT, MemorySettings};
use crate::timing::{LineError, parse_instant};

/// An imported text, split.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub entries: Vec<NewMemoryEntry>,
    /// Headings that are not configured sections, in order of appearance.
    pub extra_sections: Vec<String>,
    pub errors: Vec<LineError>,
}

/// The sections a memory renders: the configured ones, then the others its entries are
/// in (by first entry).
pub(super) fn section_order(settings: &MemorySettings, rows: &[MemoryEntryRow]) -> Vec<String> {
    let mut order = settings.sections.clone();
    for row in rows {
        if !order.contains(&row.section) {
            order.push(row.section.clone());
        }
    }
    order
}

/// `sections` (headings, entries in id order), a blank line between sections.
pub(super) fn render(sections: &[String], rows: &[MemoryEntryRow]) -> String {
    let mut out = String::new();
    for (index, section) in sections.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.push_str("# ");
        out.push_str(section);
        out.push('\n');
        for row in rows.iter().filter(|row| row.section == *section) {
            render_entry(&mut out, row);
        }
    }
    out
}

/// The number of lines [`render`] writes.
pub(super) fn line_count(sections: &[String], rows: &[MemoryEntryRow]) -> usize {
    let entries: usize = rows
        .iter()
        .filter(|row| sections.contains(&row.section))
        .map(entry_lines)
        .sum();
    // A heading per section and a blank line between two.
    (sections.len() * 2).saturating_sub(1) + entries
}

/// The lines an entry renders to.
pub(super) fn entry_lines(row: &MemoryEntryRow) -> usize {
    row.text.lines().count().max(1)
}

fn render_entry(out: &mut String, row: &MemoryEntryRow) {
    let mut lines = row.text.lines();
    let first = lines.next().unwrap_or_default();
    if row.stamped {
        out.push('[');
        out.push_str(&stamp(row.created_at));
        out.push_str("] ");
        if let Some(mode) = &row.mode {
            out.push('[');
            out.push_str(mode);
            out.push_str("] ");
        }
    }
    out.push_str("- ");
    out.push_str(first);
    out.push('\n');
    for line in lines {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

/// A log line's time: RFC 3339 to the second, UTC.
fn stamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// An entry text as stored: control characters but tabs removed, lines trimmed at their
/// end, blank lines dropped, the first line trimmed at its start.
pub(super) fn normalise(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            line.chars()
                .filter(|c| *c == '\t' || !c.is_control())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .filter(|line| !line.trim().is_empty())
        .collect();
    let mut text = lines.join("\n");
    let lead = text.len() - text.trim_start().len();
    text.drain(..lead);
    text
}

/// The entries of a memory's markdown (see the module documentation). Entries without a
/// time of their own are written at `now`.
pub(super) fn parse(settings: &MemorySettings, text: &str, now: i64) -> Parsed {
    let mut parsed = Parsed::default();
    let mut section: Option<String> = None;
    // The entry being read: its first line's number and the entry.
    let mut current: Option<(usize, NewMemoryEntry)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line).trim_end();
        if line.is_empty() {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if let Some(name) = heading(line) {
            finish(&mut parsed, current.take());
            section = match name {
                "" => {
                    parsed.errors.push(LineError {
                        line: number,
                        message: "a heading without a name".to_owned(),
                    });
                    None
                }
                name => Some(section_name(settings, name, &mut parsed.extra_sections)),
            };
        } else if let Some((created_at, mode, text)) = entry_start(line) {
            finish(&mut parsed, current.take());
            match &section {
                Some(section) => {
                    current = Some((
                        number,
                        NewMemoryEntry {
                            section: section.clone(),
                            text: text.to_owned(),
                            stamped: created_at.is_some(),
                            mode: mode.filter(|mode| !mode.is_empty()).map(str::to_owned),
                            created_at: created_at.unwrap_or(now),
                        },
                    ))
                }
                None => parsed.errors.push(LineError {
                    line: number,
                    message: "an entry before any `# Section` heading".to_owned(),
                }),
            }
        } else if let Some((_, entry)) = current.as_mut().filter(|_| indented) {
            let continued = line
                .strip_prefix("  ")
                .or_else(|| line.strip_prefix(' '))
                .unwrap_or(line);
            entry.text.push('\n');
            entry.text.push_str(continued);
        } else {
            parsed.errors.push(LineError {
                line: number,
                message: format!(
                    "not an entry: expected `# Section`, `- text` or `[2025-11-01T05:13:28Z] [mode] - text`, found \"{}\"",
                    shorten(line)
                ),
            });
        }
    }
    finish(&mut parsed, current.take());
    parsed.errors.sort_by_key(|error| error.line);
    parsed
}

/// Adds a finished entry (or the reason it is not one).
fn finish(parsed: &mut Parsed, entry: Option<(usize, NewMemoryEntry)>) {
    let Some((line, mut entry)) = entry else {
        return;
    };
    entry.text = normalise(&entry.text);
    let problem = if entry.text.is_empty() {
        Some("an empty entry".to_owned())
    } else if entry.text.chars().count() > MAX_TEXT {
        Some(format!("an entry longer than {MAX_TEXT} characters"))
    } else if entry.mode.as_deref().is_some_and(|mode| {
        mode.chars().count() > super::MAX_NAME || mode.chars().any(char::is_control)
    }) {
        Some(format!("a mode longer than {} characters", super::MAX_NAME))
    } else {
        None
    };
    match problem {
        Some(message) => parsed.errors.push(LineError { line, message }),
        None => parsed.entries.push(entry),
    }
}

/// A level-1 heading's name.
fn heading(line: &str) -> Option<&str> {
    if line == "#" {
        return Some("");
    }
    line.strip_prefix("# ").map(str::trim)
}

/// An entry's first line: its time and mode when stamped, and its text.
fn entry_start(line: &str) -> Option<(Option<i64>, Option<&str>, &str)> {
    if let Some(text) = bullet(line) {
        return Some((None, None, text));
    }
    let rest = line.strip_prefix('[')?;
    let (time, rest) = rest.split_once(']')?;
    let created_at = parse_instant(time)?;
    let rest = rest.trim_start();
    let (mode, rest) = match rest.strip_prefix('[') {
        Some(rest) => {
            let (mode, rest) = rest.split_once(']')?;
            (Some(mode.trim()), rest.trim_start())
        }
        None => (None, rest),
    };
    Some((Some(created_at), mode, bullet(rest)?))
}

/// The text of `- text` or `* text`.
fn bullet(line: &str) -> Option<&str> {
    if line == "-" || line == "*" {
        return Some("");
    }
    line.strip_prefix("- ").or_else(|| line.strip_prefix("* "))
}

/// The section a heading names: a configured one (case-insensitive), else an extra one.
fn section_name(settings: &MemorySettings, name: &str, extra: &mut Vec<String>) -> String {
    if let Some(known) = settings
        .sections
        .iter()
        .find(|known| *known == name)
        .or_else(|| {
            settings
                .sections
                .iter()
                .find(|known| known.eq_ignore_ascii_case(name))
        })
    {
        return known.clone();
    }
    if !extra.iter().any(|known| known == name) {
        extra.push(name.to_owned());
    }
    name.to_owned()
}

fn shorten(line: &str) -> String {
    let mut short: String = line.chars().take(60).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}
