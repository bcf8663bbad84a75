-- Version 5: live Baton processes, by their heartbeats (ms since the Unix epoch).
CREATE TABLE IF NOT EXISTS workers (
    id            TEXT PRIMARY KEY,
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL,
    info          TEXT NOT NULL
);
