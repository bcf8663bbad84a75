-- Version 12: input a task waits for. A step of a task whose server asked for input
-- (elicitation, sampling, roots) parks each request here under the key the client answers
-- with (`tasks/update`); the step goes on once every key of its round has a response.
CREATE TABLE task_inputs (
    task_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    request     TEXT NOT NULL,
    response    TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (task_id, key)
);
