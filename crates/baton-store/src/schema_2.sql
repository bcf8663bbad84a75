-- Version 2: when the current attempt of a step started (a failed attempt's history row
-- is written at its end, with this start).
ALTER TABLE steps ADD COLUMN attempt_started_at INTEGER;
