-- Version 4: the built-in tools' state: task time entries and persistent memories.

-- One row per timed task: started with the tool (open until stopped), recorded for a
-- finished workflow or scheduled run, or imported from a task_timing.tsv.
-- priority: schedule | todo. result: started, completed, failed, cancelled or free text.
-- source: tool, workflow, schedule, import.
CREATE TABLE IF NOT EXISTS task_time (
    id           INTEGER PRIMARY KEY,
    task_id      TEXT NOT NULL,
    mode         TEXT NOT NULL,
    task         TEXT NOT NULL,
    priority     TEXT NOT NULL,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER,
    duration_ms  INTEGER,
    result       TEXT NOT NULL,
    source       TEXT NOT NULL,
    run_id       TEXT,
    logged_at    INTEGER NOT NULL
);
-- A task has at most one open entry: of two concurrent starts, exactly one inserts.
CREATE UNIQUE INDEX IF NOT EXISTS task_time_open ON task_time (task_id) WHERE end_at IS NULL;
-- A run has one entry (recording it again updates it). NULLs are distinct.
CREATE UNIQUE INDEX IF NOT EXISTS task_time_by_run ON task_time (run_id);
CREATE INDEX IF NOT EXISTS task_time_by_task ON task_time (task_id, start_at);
CREATE INDEX IF NOT EXISTS task_time_by_start ON task_time (start_at);

-- Entries of named memories. stamped = 1: rendered as a log line with its time and mode.
CREATE TABLE IF NOT EXISTS memory_entries (
    id          INTEGER PRIMARY KEY,
    memory      TEXT NOT NULL,
    section     TEXT NOT NULL,
    text        TEXT NOT NULL,
    mode        TEXT,
    stamped     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_entries_by_memory ON memory_entries (memory, section, id);

-- Entries moved out of a memory by its line cap, never deleted. entry_id: the id the entry
-- had (SQLite may hand a deleted highest id out again, so it is not this table's key).
CREATE TABLE IF NOT EXISTS memory_archive (
    id           INTEGER PRIMARY KEY,
    entry_id     INTEGER NOT NULL,
    memory       TEXT NOT NULL,
    section      TEXT NOT NULL,
    text         TEXT NOT NULL,
    mode         TEXT,
    stamped      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    archived_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_archive_by_memory ON memory_archive (memory, section, created_at);
CREATE INDEX IF NOT EXISTS memory_archive_by_time ON memory_archive (memory, archived_at, id);
