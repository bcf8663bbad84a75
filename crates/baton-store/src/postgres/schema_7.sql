-- Version 7: MCP tasks. A tool call a client asked to run as a task is a run of the
-- engine; this row says which run, who may see it (a principal or a session) and how
-- long it is kept.
CREATE TABLE tasks (
    id                text PRIMARY KEY,
    run_id            text NOT NULL,
    owner             text NOT NULL,
    tool              text NOT NULL,
    kind              text NOT NULL,
    created_at        bigint NOT NULL,
    ttl_ms            bigint,
    poll_interval_ms  bigint NOT NULL
);
CREATE INDEX tasks_by_owner ON tasks (owner, created_at);
CREATE INDEX tasks_by_run ON tasks (run_id);
