-- Version 3: the event stream, schedules and their slots, trigger cool-downs.

CREATE TABLE IF NOT EXISTS events (
    id    INTEGER PRIMARY KEY,
    at    INTEGER NOT NULL,
    kind  TEXT NOT NULL,
    data  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, id);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);

-- One row per schedule, declared in baton.yaml (origin 'config') or added at run time.
-- Every slot at or before `cursor` has been handled (fired, buffered, skipped or missed).
CREATE TABLE IF NOT EXISTS schedules (
    name          TEXT PRIMARY KEY,
    spec          TEXT NOT NULL,
    origin        TEXT NOT NULL,
    paused        INTEGER NOT NULL DEFAULT 0,
    pause_reason  TEXT,
    cursor        INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_slot     INTEGER,
    last_fired_at INTEGER,
    last_run      TEXT,
    last_result   TEXT,
    last_error    TEXT,
    skipped       INTEGER NOT NULL DEFAULT 0,
    missed        INTEGER NOT NULL DEFAULT 0
);

-- A slot is handled once: the primary key is what keeps two processes, or a restarted
-- one, from firing it twice. state: claimed (being decided), fired, buffered, skipped,
-- missed.
CREATE TABLE IF NOT EXISTS schedule_slots (
    schedule     TEXT NOT NULL,
    slot         INTEGER NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT,
    run          TEXT,
    owner        TEXT,
    recorded_at  INTEGER NOT NULL,
    PRIMARY KEY (schedule, slot)
);
CREATE INDEX IF NOT EXISTS slots_by_run ON schedule_slots (run);
CREATE INDEX IF NOT EXISTS slots_by_state ON schedule_slots (schedule, state, slot);

CREATE TABLE IF NOT EXISTS trigger_state (
    name           TEXT PRIMARY KEY,
    last_fired_at  INTEGER NOT NULL,
    last_run       TEXT
);
