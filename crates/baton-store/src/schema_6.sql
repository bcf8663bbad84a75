-- Version 6: the audit trail of downstream clients' tool calls, prompt gets and resource
-- reads (times in ms since the Unix epoch; arguments only as a SHA-256).
CREATE TABLE IF NOT EXISTS audit_log (
    id                INTEGER PRIMARY KEY,
    at                INTEGER NOT NULL,
    principal         TEXT,
    kind              TEXT NOT NULL,
    name              TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    duration_ms       INTEGER NOT NULL,
    arguments_sha256  TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_by_time ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_by_principal ON audit_log (principal, at);
