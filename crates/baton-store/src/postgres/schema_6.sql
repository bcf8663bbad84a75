-- Version 6: learned call statistics per server and tool name (counts and the most recent
-- latencies), so adaptive timeouts and the status tools survive a restart.
CREATE TABLE learned_stats (
    server      text NOT NULL,
    name        text NOT NULL,
    calls       bigint NOT NULL,
    errors      bigint NOT NULL,
    timeouts    bigint NOT NULL,
    samples     text NOT NULL,
    updated_at  bigint NOT NULL,
    PRIMARY KEY (server, name)
);
