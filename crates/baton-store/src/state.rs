//! State of the built-in tools (migration 4): task time entries and persistent memories.
//!
//! - `task_time`: one row per timed task. A partial unique index keeps at most one open
//!   entry (no `end_at`) per task id, so of two concurrent starts exactly one inserts
//!   ([`StateStore::time_start`]); a stop closes the open entry in one statement.
//! - `memory_entries` / `memory_archive`: the entries of named memories, and the ones a
//!   memory's line cap moved out. Writes and the cap's archiving happen in one transaction
//!   that holds the memory (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock on the
//!   memory's name) ([`StateStore::memory_write`]): concurrent writers, in this process or
//!   another one on the same database, take turns and lose nothing.
//!
//! The formats, validation and summaries live in `baton-builtins`; this module only keeps
//! rows.

use crate::Result;

/// A task time entry as stored (times in ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeEntryRow {
    pub id: i64,
    pub task_id: String,
    pub mode: String,
    pub task: String,
    /// `schedule` or `todo`.
    pub priority: String,
    pub start_at: i64,
    /// `None` while the task is open.
    pub end_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub result: String,
    /// `tool`, `workflow`, `schedule` or `import`.
    pub source: String,
    pub run_id: Option<String>,
    /// When the entry was written (the `timestamp` column of `task_timing.tsv`).
    pub logged_at: i64,
}

/// A task time entry to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimeEntry {
    pub task_id: String,
    pub mode: String,
    pub task: String,
    pub priority: String,
    pub start_at: i64,
    pub end_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub result: String,
    pub source: String,
    pub run_id: Option<String>,
    pub logged_at: i64,
}

/// What [`StateStore::time_start`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeStart {
    Started(TimeEntryRow),
    /// The task already has this open entry; nothing was written.
    AlreadyOpen(TimeEntryRow),
}

/// What [`Store::time_import`] did with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeImported {
    Inserted,
    /// An entry of the same task starting in the same second exists.
    Duplicate,
    /// The entry is open and the task already has this other open entry.
    OpenConflict(TimeEntryRow),
}

/// Which entries a time query reads; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeFilter {
    pub mode: Option<String>,
    pub priority: Option<String>,
    pub task_id: Option<String>,
    /// Entries starting at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Entries starting before this time (ms).
    pub to_ms: Option<i64>,
    /// Only entries still open.
    pub open_only: bool,
}

/// Entries of one (mode, priority) pair counted by [`Store::time_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeGroup {
    pub mode: String,
    pub priority: String,
    pub count: i64,
    /// Entries with an end (the others are open).
    pub closed: i64,
    /// Sum of the closed entries' durations.
    pub total_ms: i64,
}

/// A memory entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryEntryRow {
    pub id: i64,
    pub memory: String,
    pub section: String,
    pub text: String,
    pub mode: Option<String>,
    /// Rendered as a log line with its time and mode.
    pub stamped: bool,
    pub created_at: i64,
}

/// A memory entry to append (the memory is an argument of [`StateStore::memory_write`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMemoryEntry {
    pub section: String,
    pub text: String,
    pub mode: Option<String>,
    pub stamped: bool,
    pub created_at: i64,
}

/// An entry the line cap moved to the archive (`entry.id` is the id it had).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMemoryRow {
    pub entry: MemoryEntryRow,
    pub archived_at: i64,
}

/// What [`StateStore::memory_write`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryWrite {
    /// Per entry given, in order: the stored row, or `None` for a duplicate skipped.
    pub inserted: Vec<Option<MemoryEntryRow>>,
    /// Entries moved to the archive, in the order they were moved.
    pub archived: Vec<MemoryEntryRow>,
}

feature! {
    /// Time entries and memories, as every backend keeps them.
    StateStore {
        /// Opens an entry for `new.task_id` (whose `end_at` should be `None`), unless the task
        /// already has an open one: then that entry is the answer and nothing is written.
        fn time_start(&self, new: &NewTimeEntry) -> Result<TimeStart>;
        /// Closes the open entry of `task_id` at `end_at` with `result`; `None` when the task
        /// has no open entry.
        fn time_stop(
            &self,
            task_id: &str,
            end_at: i64,
            result: &str,
        ) -> Result<Option<TimeEntryRow>>;
        /// Records a finished run (`new.run_id` set): inserted, or, when the run already has
        /// an entry (a reopened run finished again), that entry is updated.
        fn time_record_run(&self, new: &NewTimeEntry) -> Result<TimeEntryRow>;
        /// Inserts imported entries in one transaction. An entry whose task already has an
        /// entry starting in the same second is a duplicate (so importing a file twice adds
        /// nothing); an open entry of a task that has another open entry is not inserted.
        fn time_import(&self, entries: &[NewTimeEntry]) -> Result<Vec<TimeImported>>;
        /// The entries `filter` selects, by start time (newest first or oldest first), at
        /// most `limit` of them.
        fn time_entries(
            &self,
            filter: &TimeFilter,
            newest_first: bool,
            limit: Option<u32>,
        ) -> Result<Vec<TimeEntryRow>>;
        /// Counts and durations of the entries `filter` selects, per (mode, priority).
        fn time_groups(&self, filter: &TimeFilter) -> Result<Vec<TimeGroup>>;
        /// Appends `entries` to `memory` in one immediate transaction, then archives the
        /// entries `cap` names. With `dedupe`, an entry equal to one the memory has or had
        /// (same section and text; for a stamped entry also the mode and the second it was
        /// written) is skipped. `cap` sees every entry of the memory in id order, new ones
        /// included, and the ids of the new ones; it answers the ids to archive, in order.
        fn memory_write(
            &self,
            memory: &str,
            entries: &[NewMemoryEntry],
            dedupe: bool,
            cap: impl FnOnce(&[MemoryEntryRow], &[i64]) -> Vec<i64> + Send,
        ) -> Result<MemoryWrite>;
        /// Every entry of `memory`, in id (writing) order.
        fn memory_entries(&self, memory: &str) -> Result<Vec<MemoryEntryRow>>;
        /// The most recently archived entries of `memory` (newest first, at most `limit`) and
        /// how many the archive holds in all.
        fn memory_archive(&self, memory: &str, limit: u32) -> Result<(Vec<ArchivedMemoryRow>, i64)>;
    }
}
