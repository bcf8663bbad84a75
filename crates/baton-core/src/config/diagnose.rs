//! When the file does not even deserialize (a wrong shape, an unknown field), serde stops at
//! the first problem. This second, looser pass reports every structural problem at once, in
//! plain words with the form to write, and then the file's other errors too: the fields
//! found broken are blanked out (lines kept, so positions stay true), the rest is compiled
//! as usual, and its errors join the list (minus those the blanked fields explain).

mod words;

use std::path::Path;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::{
    error::{ConfigError, ConfigErrors},
    raw,
};
use crate::schedule::{ScheduleSpec, TriggerSpec};

/// Sections that are maps of name → item, checked item by item.
const NAMED_SECTIONS: &[&str] = &["servers", "mcpServers", "schedules", "triggers"];

/// One structural problem: where, what, and which lines to blank out to look past it.
struct Problem {
    error: ConfigError,
    /// 0-based line range (inclusive start, exclusive end) that the problem covers.
    blank: (usize, usize),
}

/// All errors in `text`, or `first` (serde's own error) when this pass cannot do better.
pub(super) fn all_errors(
    path: &Path,
    text: &str,
    first: ConfigError,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> ConfigErrors {
    let Ok(loose) = serde_saphyr::from_str::<IndexMap<String, Spanned<Value>>>(text) else {
        return ConfigErrors(vec![words::humanize_first(first)]);
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = Vec::new();
    for (section, value) in &loose {
        problems.extend(check_section(path, &lines, section, value));
    }
    if problems.is_empty() {
        return ConfigErrors(vec![words::humanize_first(first)]);
    }
    let mut errors: Vec<ConfigError> = problems.iter().map(|p| p.error.clone()).collect();
    errors.extend(errors_past(path, &lines, &problems, lookup));
    errors.sort_by_key(|error| (error.line, error.column));
    errors.dedup();
    ConfigErrors(errors)
}

/// The structural problems of one top-level section.
fn check_section(
    path: &Path,
    lines: &[&str],
    section: &str,
    value: &Spanned<Value>,
) -> Vec<Problem> {
    let line = value.referenced.line() as usize;
    let key_line = section_line(lines, section).unwrap_or(line.saturating_sub(1));
    let section_block = (key_line, block_end(lines, key_line));
    if NAMED_SECTIONS.contains(&section) {
        if let Value::Array(items) = &value.value {
            let error = ConfigError {
                file: path.to_owned(),
                line: key_line as u64 + 1,
                column: 1,
                path: section.to_owned(),
                message: words::list_for_map(section, items),
            };
            return vec![Problem {
                error,
                blank: section_block,
            }];
        }
        if let Value::Object(entries) = &value.value {
            let check: fn(Value) -> Result<(), Failure> = match section {
                "schedules" => typed::<ScheduleSpec>,
                "triggers" => typed::<TriggerSpec>,
                _ => typed::<raw::RawServer>,
            };
            return entries
                .iter()
                .flat_map(|(name, item)| {
                    let item_path = format!("{section}.{name}");
                    let entry = key_below(lines, key_line, name).unwrap_or(key_line);
                    every_failure(item, check)
                        .into_iter()
                        .map(move |failure| problem(path, lines, &item_path, entry, item, failure))
                })
                .collect();
        }
    }
    let check: fn(Value) -> Result<(), Failure> = match section {
        "namespace" => typed::<raw::RawNamespace>,
        "serve" => typed::<raw::RawServe>,
        "resilience" => typed::<raw::RawResilience>,
        "workflows" => typed::<raw::RawWorkflows>,
        "store" => typed::<raw::RawStore>,
        "workers" => typed::<raw::RawWorkers>,
        "access" => typed::<Vec<raw::RawAccessRule>>,
        "events" => typed::<raw::RawEvents>,
        "project" => typed::<raw::RawProject>,
        "memory" => typed::<raw::RawMemory>,
        "validation" => typed::<raw::RawValidation>,
        "modes" => typed::<raw::RawModes>,
        "inputs" => |_| Ok(()),
        _ if NAMED_SECTIONS.contains(&section) => {
            |_| Err(Failure::whole("expected a map of names to entries"))
        }
        _ => |_| {
            Err(Failure::whole(
                "unknown section: use servers, mcpServers, namespace, serve, resilience, workflows, store, workers, access, schedules, triggers, events, project, memory, validation or modes",
            ))
        },
    };
    every_failure(&value.value, check)
        .into_iter()
        .map(|failure| {
            if failure.field.is_empty() {
                Problem {
                    error: ConfigError {
                        file: path.to_owned(),
                        line: key_line as u64 + 1,
                        column: 1,
                        path: section.to_owned(),
                        message: words::plain(&failure.message, section, &value.value),
                    },
                    blank: section_block,
                }
            } else {
                problem(path, lines, section, key_line, &value.value, failure)
            }
        })
        .collect()
}

/// Every failure of `check` on `value`: after each, the failing top-level field is left
/// out and the rest checked again (serde stops at the first).
fn every_failure(value: &Value, check: fn(Value) -> Result<(), Failure>) -> Vec<Failure> {
    let mut rest = value.clone();
    let mut failures = Vec::new();
    while failures.len() < 32 {
        let Err(failure) = check(rest.clone()) else {
            break;
        };
        let removed = match (failure.field.first(), rest.as_object_mut()) {
            (Some(top), Some(map)) => map.remove(top).is_some(),
            _ => false,
        };
        failures.push(failure);
        if !removed {
            break;
        }
    }
    failures
}

/// A problem inside the item at `item_line`, placed at the failing field's line when it
/// can be found there.
fn problem(
    path: &Path,
    lines: &[&str],
    item_path: &str,
    item_line: usize,
    item: &Value,
    failure: Failure,
) -> Problem {
    // The field's own line: each path segment found below the previous one.
    let mut at = item_line;
    let mut found = Vec::new();
    for segment in &failure.field {
        match key_below(lines, at, segment) {
            Some(line) => {
                at = line;
                found.push(segment.clone());
            }
            None => break,
        }
    }
    // Blank the outermost field found (a flow-style item is one line: the whole item).
    let blank_from = match failure.field.first() {
        Some(top) => key_below(lines, item_line, top).unwrap_or(item_line),
        None => item_line,
    };
    let field_path = std::iter::once(item_path.to_owned())
        .chain(failure.field.iter().cloned())
        .collect::<Vec<_>>()
        .join(".");
    let value = failure
        .field
        .iter()
        .try_fold(item, |value, key| value.get(key))
        .unwrap_or(&Value::Null);
    let last = failure
        .field
        .last()
        .map(String::as_str)
        .unwrap_or(item_path);
    let column = lines
        .get(at)
        .map(|line| line.len() - line.trim_start().len() + 1)
        .unwrap_or(1);
    Problem {
        error: ConfigError {
            file: path.to_owned(),
            line: at as u64 + 1,
            column: column as u64,
            path: field_path,
            message: words::plain(&failure.message, last, value),
        },
        blank: (blank_from, block_end(lines, blank_from)),
    }
}

/// The errors of the rest of the file: the broken lines blanked, the rest compiled; errors
/// about a blanked field, or about what contains it, are left out (the structural error
/// already covers them).
fn errors_past(
    path: &Path,
    lines: &[&str],
    problems: &[Problem],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<ConfigError> {
    let repaired: String = lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let blanked = problems
                .iter()
                .any(|p| index >= p.blank.0 && index < p.blank.1);
            if blanked { "" } else { line }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let Ok(raw) = serde_saphyr::from_str::<raw::RawConfig>(&repaired) else {
        return Vec::new();
    };
    match super::compile(path, raw, lookup) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .0
            .into_iter()
            .filter(|error| {
                !problems.iter().any(|p| {
                    let broken = &p.error.path;
                    broken.starts_with(&error.path) || error.path.starts_with(broken.as_str())
                })
            })
            .collect(),
    }
}

/// Why a section or item did not deserialize: the field path inside it, and serde's words.
struct Failure {
    field: Vec<String>,
    message: String,
}

impl Failure {
    /// A failure of the section as a whole.
    fn whole(message: &str) -> Failure {
        Failure {
            field: Vec::new(),
            message: message.to_owned(),
        }
    }
}

/// Deserializes one section or item, naming the field that failed.
fn typed<T: DeserializeOwned>(value: Value) -> Result<(), Failure> {
    serde_path_to_error::deserialize::<_, T>(value)
        .map(drop)
        .map_err(|error| {
            let field = error.path().to_string();
            let field = if field == "." {
                Vec::new()
            } else {
                field.split('.').map(str::to_owned).collect()
            };
            Failure {
                field,
                message: error.inner().to_string(),
            }
        })
}

/// The line (0-based) of the top-level key `section`.
fn section_line(lines: &[&str], section: &str) -> Option<usize> {
    lines.iter().position(|line| {
        line.strip_prefix(section)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })
}

/// The first line after `parent` (or `parent` itself, for flow style) whose key is `key`,
/// inside `parent`'s block.
fn key_below(lines: &[&str], parent: usize, key: &str) -> Option<usize> {
    let end = block_end(lines, parent);
    (parent + 1..end).find(|&index| {
        let line = lines[index].trim_start().trim_start_matches("- ");
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
            || line
                .strip_prefix(&format!("\"{key}\""))
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })
}

/// The end (exclusive) of the block that starts at `start`: the first later line that is
/// not blank, not a comment and not indented deeper than `start`.
fn block_end(lines: &[&str], start: usize) -> usize {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let Some(first) = lines.get(start) else {
        return start;
    };
    let base = indent(first);
    (start + 1..lines.len())
        .find(|&index| {
            let line = lines[index];
            !line.trim().is_empty() && !line.trim_start().starts_with('#') && indent(line) <= base
        })
        .unwrap_or(lines.len())
}

#[cfg(test)]
mod tests;
