-- Version 8: input a task waits for. A step of a task whose server asked for input
-- (elicitation, sampling, roots) parks each request here under the key the client answers
-- with (`tasks/update`); the step goes on once every key of its round has a response.
CREATE TABLE task_inputs (
    task_id     text NOT NULL,
    key         text NOT NULL,
    request     text NOT NULL,
    response    text,
    created_at  bigint NOT NULL,
    PRIMARY KEY (task_id, key)
);
