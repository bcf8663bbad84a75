-- Version 11: MCP tasks. A tool call a client asked to run as a task is a run of the
-- engine; this row says which run, who may see it (a principal or a session) and how
-- long it is kept.
CREATE TABLE tasks (
    id                TEXT PRIMARY KEY,
    run_id            TEXT NOT NULL,
    owner             TEXT NOT NULL,
    tool              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    ttl_ms            INTEGER,
    poll_interval_ms  INTEGER NOT NULL
);
CREATE INDEX tasks_by_owner ON tasks (owner, created_at);
CREATE INDEX tasks_by_run ON tasks (run_id);
