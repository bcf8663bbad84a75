-- Version 10: learned call statistics per server and tool name (counts and the most recent
-- latencies), so adaptive timeouts and the status tools survive a restart.
CREATE TABLE learned_stats (
    server      TEXT NOT NULL,
    name        TEXT NOT NULL,
    calls       INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    timeouts    INTEGER NOT NULL,
    samples     TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (server, name)
);
