-- Version 8: the run queue. A run waiting for a place to execute is 'queued' (it was
-- 'pending'); the queue leaves by priority (higher first), then age; runs sharing a
-- concurrency key execute at most concurrency_limit at a time.
UPDATE runs SET status = 'queued' WHERE status = 'pending';
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER;
CREATE INDEX runs_queue ON runs (priority DESC, created_at, id) WHERE status = 'queued' AND parent_run IS NULL;
CREATE INDEX runs_by_concurrency_key ON runs (concurrency_key, status) WHERE concurrency_key IS NOT NULL;
