-- Version 9: the upstream tasks steps made. A step whose call the upstream runs as a task
-- records the task's id here, under the step's idempotency key and the server, so that the
-- step, run again after Baton stopped, follows the same upstream task instead of calling
-- the tool again (a remote server's task outlives Baton). Forgotten when the task ends.
CREATE TABLE upstream_tasks (
    step_key    text NOT NULL,
    server      text NOT NULL,
    task_id     text NOT NULL,
    run_id      text NOT NULL,
    created_at  bigint NOT NULL,
    PRIMARY KEY (step_key, server)
);
