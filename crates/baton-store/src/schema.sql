-- Baton's durable state, version 1. Portable SQL: TEXT, INTEGER (times in ms since the
-- Unix epoch), no engine-specific types, so that a PostgreSQL store can use the same shape.

CREATE TABLE IF NOT EXISTS workflow_versions (
    hash        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    id           TEXT PRIMARY KEY,
    workflow     TEXT NOT NULL,
    hash         TEXT NOT NULL REFERENCES workflow_versions (hash),
    status       TEXT NOT NULL,
    inputs       TEXT NOT NULL,
    outputs      TEXT,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    lease_owner  TEXT,
    lease_until  INTEGER,
    lease_epoch  INTEGER NOT NULL DEFAULT 0,
    parent_run   TEXT,
    parent_step  TEXT,
    origin       TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, lease_until);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at);

CREATE TABLE IF NOT EXISTS steps (
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id      TEXT NOT NULL,
    item         INTEGER NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    output       TEXT,
    output_blob  TEXT,
    error        TEXT,
    started_at   INTEGER,
    finished_at  INTEGER,
    wake_at      INTEGER,
    PRIMARY KEY (run_id, step_id, item)
);

-- Failed attempts (a successful one is the step row itself).
CREATE TABLE IF NOT EXISTS attempts (
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id      TEXT NOT NULL,
    item         INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    owner        TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    outcome      TEXT,
    error        TEXT,
    PRIMARY KEY (run_id, step_id, item, attempt)
);

CREATE TABLE IF NOT EXISTS blobs (
    id      TEXT PRIMARY KEY,
    run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    data    TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS approvals (
    run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id   TEXT NOT NULL,
    approved  INTEGER NOT NULL,
    by_whom   TEXT NOT NULL,
    comment   TEXT,
    at        INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
