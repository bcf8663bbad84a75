//! Named persistent memories (default `project`) with sections, a line cap that archives
//! instead of deleting, and the markdown format of Roo Code setups as import/export.
//!
//! A memory's sections come from its [`MemorySettings`] (by default the three of the
//! sample: "Non-Obvious Implementation Patterns", "Development & Debug Commands", "System
//! Updates & Status"). [`update`] appends an entry with its time and mode; entries of the
//! log section are *stamped* (rendered `[2025-11-01T05:13:28Z] [mode] - text`), the others
//! are bullets (`- text`). A line of a multi-line entry continues indented by two spaces.
//!
//! **Line cap**: when the rendered memory has more than `max_lines` lines, the oldest
//! entries of the log section are moved to the archive ([`archive`] reads it) until it
//! fits; the entry just written stays. Entries of other sections are never archived: when
//! they alone exceed the cap, the result carries a warning.
//!
//! **Concurrency**: an update (append + cap) is one immediate transaction: concurrent
//! writers, through one `Store` or several on the same file, lose nothing.
//!
//! **Markdown**: `# Section` headings, a blank line between sections. [`import_markdown`]
//! is idempotent (an entry equal to one the memory has or had is skipped). A heading that
//! is not a configured section becomes an extra section of the memory: its entries are
//! kept, shown and exported after the configured ones, and listed in the report
//! (`extra_sections`); [`update`] writes only to configured sections, so add it to the
//! settings to write to it. Lines that are no entry (an unindented line that starts
//! nothing, an entry before the first heading, an empty entry, a nameless heading) are
//! reported with their line number; the rest is imported. [`export_markdown`] takes the
//! settings too: they give the order of the sections and the empty ones to show.

mod markdown;

use baton_store::{MemoryEntryRow, NewMemoryEntry, Store, StoreError, now_ms};
use serde::{Deserialize, Serialize};

use crate::timing::{LineError, format_ms};

/// The memory used when none is named.
pub const DEFAULT_MEMORY: &str = "project";
/// The sections of a memory unless configured otherwise.
pub const DEFAULT_SECTIONS: [&str; 3] = [
    "Non-Obvious Implementation Patterns",
    "Development & Debug Commands",
    "System Updates & Status",
];
pub const DEFAULT_LOG_SECTION: &str = "System Updates & Status";
pub const DEFAULT_MAX_LINES: usize = 300;
/// Longest entry accepted (characters).
pub const MAX_TEXT: usize = 8000;
/// Longest memory, section or mode name accepted (characters).
const MAX_NAME: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("memory \"{memory}\" has no section \"{section}\"; its sections are: {}", quoted(.sections))]
    UnknownSection {
        memory: String,
        section: String,
        sections: Vec<String>,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("memory settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, MemoryError>;

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A memory's shape (from the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemorySettings {
    /// In the order they are rendered.
    pub sections: Vec<String>,
    /// Rendered lines above which the log section's oldest entries are archived.
    pub max_lines: usize,
    /// The section whose entries are stamped and archived; one of `sections`.
    pub log_section: String,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            sections: DEFAULT_SECTIONS.map(str::to_owned).to_vec(),
            max_lines: DEFAULT_MAX_LINES,
            log_section: DEFAULT_LOG_SECTION.to_owned(),
        }
    }
}

impl MemorySettings {
    /// Every problem of the settings, for the config's checks.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.sections.is_empty() {
            return Err("sections is empty: a memory needs at least one section".to_owned());
        }
        for (index, section) in self.sections.iter().enumerate() {
            check_name("section", section).map_err(|error| error.to_string())?;
            if section.trim() != section {
                return Err(format!("section \"{section}\" has surrounding spaces"));
            }
            if self.sections[..index]
                .iter()
                .any(|other| other.eq_ignore_ascii_case(section))
            {
                return Err(format!("section \"{section}\" is listed twice"));
            }
        }
        if !self.sections.contains(&self.log_section) {
            return Err(format!(
                "log_section \"{}\" is not one of the sections ({})",
                self.log_section,
                quoted(&self.sections)
            ));
        }
        if self.max_lines < self.sections.len() * 2 {
            return Err(format!(
                "max_lines {} is too small for {} sections (at least {})",
                self.max_lines,
                self.sections.len(),
                self.sections.len() * 2
            ));
        }
        Ok(())
    }
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// Empty: [`DEFAULT_MEMORY`].
    #[serde(default)]
    pub memory: String,
    /// A configured section (case-insensitive).
    pub section: String,
    pub text: String,
    /// The mode writing it.
    #[serde(default)]
    pub mode: Option<String>,
}

/// One entry as the tools show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryEntry {
    pub id: i64,
    pub section: String,
    pub text: String,
    pub mode: Option<String>,
    /// When it was written (RFC 3339).
    pub timestamp: String,
    /// Rendered as a log line with its time and mode.
    pub stamped: bool,
}

impl From<&MemoryEntryRow> for MemoryEntry {
    fn from(row: &MemoryEntryRow) -> Self {
        MemoryEntry {
            id: row.id,
            section: row.section.clone(),
            text: row.text.clone(),
            mode: row.mode.clone(),
            timestamp: format_ms(row.created_at),
            stamped: row.stamped,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionView {
    pub name: String,
    /// The log section (stamped entries, archived by the cap).
    pub log: bool,
    /// `false` for a section only an import brought.
    pub configured: bool,
    pub entries: Vec<MemoryEntry>,
}

/// The answer of [`get`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryView {
    pub memory: String,
    pub sections: Vec<SectionView>,
    /// The sections shown, rendered.
    pub markdown: String,
    /// Rendered lines of the whole memory.
    pub lines: usize,
    pub max_lines: usize,
    /// Entries in the memory's archive.
    pub archived: i64,
}

/// The answer of [`update`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateResult {
    pub memory: String,
    pub entry: MemoryEntry,
    /// Rendered lines of the memory after the update.
    pub lines: usize,
    pub max_lines: usize,
    /// Entries the cap moved to the archive.
    pub archived: Vec<MemoryEntry>,
    pub warning: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchivedEntry {
    #[serde(flatten)]
    pub entry: MemoryEntry,
    /// RFC 3339.
    pub archived_at: String,
}

/// The answer of [`archive`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveView {
    pub memory: String,
    /// Most recently archived first.
    pub entries: Vec<ArchivedEntry>,
    /// Entries in the archive in all.
    pub total: i64,
}

/// The answer of [`import_markdown`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryImportReport {
    pub memory: String,
    pub imported: usize,
    /// Entries the memory already has or had (skipped).
    pub duplicates: usize,
    /// Headings that are not configured sections (imported as extra sections).
    pub extra_sections: Vec<String>,
    /// Lines not imported, and why.
    pub errors: Vec<LineError>,
    /// Entries the cap moved to the archive.
    pub archived: Vec<MemoryEntry>,
    pub lines: usize,
    pub warning: Option<String>,
}

/// Appends an entry to a configured section of a memory, then applies the line cap.
pub async fn update(
    store: &Store,
    settings: &MemorySettings,
    update: Update,
) -> Result<UpdateResult> {
    settings.validate().map_err(MemoryError::Settings)?;
    let memory = memory_name(&update.memory)?;
    let section = settings
        .sections
        .iter()
        .find(|name| **name == update.section.trim())
        .or_else(|| {
            settings
                .sections
                .iter()
                .find(|name| name.eq_ignore_ascii_case(update.section.trim()))
        })
        .ok_or_else(|| MemoryError::UnknownSection {
            memory: memory.clone(),
            section: update.section.clone(),
            sections: settings.sections.clone(),
        })?
        .clone();
    let text = entry_text(&update.text)?;
    let mode = match update.mode.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(mode) => Some(mode_name(mode)?),
    };
    let new = NewMemoryEntry {
        stamped: section == settings.log_section,
        section,
        text,
        mode,
        created_at: now_ms(),
    };
    let mut capped = Capped::default();
    let write = store
        .memory_write(&memory, &[new], false, |rows, new_ids| {
            capped = cap(settings, &memory, rows, new_ids);
            capped.archive.clone()
        })
        .await?;
    let entry = write
        .inserted
        .first()
        .and_then(Option::as_ref)
        .map(MemoryEntry::from)
        .ok_or_else(|| StoreError::Corrupt("an appended memory entry was not returned".into()))?;
    Ok(UpdateResult {
        memory,
        entry,
        lines: capped.lines,
        max_lines: settings.max_lines,
        archived: write.archived.iter().map(MemoryEntry::from).collect(),
        warning: capped.warning,
    })
}

/// A memory (or one of its sections): its entries, rendered markdown and line count.
pub async fn get(
    store: &Store,
    settings: &MemorySettings,
    memory: &str,
    section: Option<&str>,
) -> Result<MemoryView> {
    settings.validate().map_err(MemoryError::Settings)?;
    let memory = memory_name(memory)?;
    let rows = store.memory_entries(&memory).await?;
    let order = markdown::section_order(settings, &rows);
    let shown: Vec<String> = match section.map(str::trim).filter(|s| !s.is_empty()) {
        None => order.clone(),
        Some(wanted) => {
            let found = order
                .iter()
                .find(|name| *name == wanted)
                .or_else(|| order.iter().find(|name| name.eq_ignore_ascii_case(wanted)));
            match found {
                Some(name) => vec![name.clone()],
                None => {
                    return Err(MemoryError::UnknownSection {
                        memory,
                        section: wanted.to_owned(),
                        sections: order,
                    });
                }
            }
        }
    };
    let sections = shown
        .iter()
        .map(|name| SectionView {
            name: name.clone(),
            log: *name == settings.log_section,
            configured: settings.sections.contains(name),
            entries: rows
                .iter()
                .filter(|row| row.section == *name)
                .map(MemoryEntry::from)
                .collect(),
        })
        .collect();
    let (_, total) = store.memory_archive(&memory, 0).await?;
    Ok(MemoryView {
        markdown: markdown::render(&shown, &rows),
        lines: markdown::line_count(&order, &rows),
        max_lines: settings.max_lines,
        archived: total,
        memory,
        sections,
    })
}

/// The most recently archived entries of a memory (at most `limit`) and the total.
pub async fn archive(store: &Store, memory: &str, limit: u32) -> Result<ArchiveView> {
    let memory = memory_name(memory)?;
    let (rows, total) = store.memory_archive(&memory, limit).await?;
    Ok(ArchiveView {
        entries: rows
            .iter()
            .map(|row| ArchivedEntry {
                entry: MemoryEntry::from(&row.entry),
                archived_at: format_ms(row.archived_at),
            })
            .collect(),
        total,
        memory,
    })
}

/// Imports a memory in the markdown format (see the module documentation), then applies
/// the line cap.
pub async fn import_markdown(
    store: &Store,
    settings: &MemorySettings,
    memory: &str,
    text: &str,
) -> Result<MemoryImportReport> {
    settings.validate().map_err(MemoryError::Settings)?;
    let memory = memory_name(memory)?;
    let parsed = markdown::parse(settings, text, now_ms());
    let mut capped = Capped::default();
    let write = store
        .memory_write(&memory, &parsed.entries, true, |rows, _| {
            capped = cap(settings, &memory, rows, &[]);
            capped.archive.clone()
        })
        .await?;
    Ok(MemoryImportReport {
        imported: write.inserted.iter().flatten().count(),
        duplicates: write.inserted.iter().filter(|row| row.is_none()).count(),
        extra_sections: parsed.extra_sections,
        errors: parsed.errors,
        archived: write.archived.iter().map(MemoryEntry::from).collect(),
        lines: capped.lines,
        warning: capped.warning,
        memory,
    })
}

/// A memory in the markdown format: the configured sections in order (empty ones with
/// their heading only), then the extra ones.
pub async fn export_markdown(
    store: &Store,
    settings: &MemorySettings,
    memory: &str,
) -> Result<String> {
    settings.validate().map_err(MemoryError::Settings)?;
    let memory = memory_name(memory)?;
    let rows = store.memory_entries(&memory).await?;
    Ok(markdown::render(
        &markdown::section_order(settings, &rows),
        &rows,
    ))
}

/// What the line cap decided.
#[derive(Debug, Default)]
struct Capped {
    /// Ids to move to the archive, oldest first.
    archive: Vec<i64>,
    /// Lines once they are moved.
    lines: usize,
    warning: Option<String>,
}

/// The oldest log entries (not in `keep`) to archive until the memory fits its cap.
fn cap(settings: &MemorySettings, memory: &str, rows: &[MemoryEntryRow], keep: &[i64]) -> Capped {
    let order = markdown::section_order(settings, rows);
    let mut lines = markdown::line_count(&order, rows);
    let mut archive = Vec::new();
    for row in rows {
        if lines <= settings.max_lines {
            break;
        }
        if row.section == settings.log_section && !keep.contains(&row.id) {
            lines = lines.saturating_sub(markdown::entry_lines(row));
            archive.push(row.id);
        }
    }
    let warning = (lines > settings.max_lines).then(|| {
        format!(
            "memory \"{memory}\" has {lines} lines, more than its cap of {}: only entries outside the log section \"{}\" (never archived) or just written remain; shorten them or raise max_lines",
            settings.max_lines, settings.log_section
        )
    });
    Capped {
        archive,
        lines,
        warning,
    }
}

/// A memory name: trimmed, empty is [`DEFAULT_MEMORY`].
fn memory_name(name: &str) -> Result<String> {
    match name.trim() {
        "" => Ok(DEFAULT_MEMORY.to_owned()),
        name => check_name("memory", name),
    }
}

fn mode_name(mode: &str) -> Result<String> {
    let mode = check_name("mode", mode)?;
    if mode.contains(['[', ']']) {
        return Err(MemoryError::Invalid(format!(
            "mode \"{mode}\" contains a bracket"
        )));
    }
    Ok(mode)
}

fn check_name(field: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(MemoryError::Invalid(format!("{field} is empty")));
    }
    if name.chars().count() > MAX_NAME {
        return Err(MemoryError::Invalid(format!(
            "{field} is longer than {MAX_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(MemoryError::Invalid(format!(
            "{field} \"{}\" contains a line break or other control character",
            name.escape_debug()
        )));
    }
    Ok(name.to_owned())
}

/// An entry's text: lines trimmed at their end, blank lines dropped (the markdown has none
/// inside an entry), tabs kept, other control characters removed.
fn entry_text(text: &str) -> Result<String> {
    let text = markdown::normalise(text);
    if text.is_empty() {
        return Err(MemoryError::Invalid("text is empty".to_owned()));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(MemoryError::Invalid(format!(
            "text is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
