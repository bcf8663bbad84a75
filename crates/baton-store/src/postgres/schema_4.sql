-- Version 4: the run queue. A run waiting for a place to execute is 'queued' (it was
-- 'pending'); the queue leaves by priority (higher first), then age; runs sharing a
-- concurrency key execute at most concurrency_limit at a time.
UPDATE runs SET status = 'queued' WHERE status = 'pending';
ALTER TABLE runs ADD COLUMN priority bigint NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN concurrency_key text;
ALTER TABLE runs ADD COLUMN concurrency_limit bigint;
CREATE INDEX runs_queue ON runs (priority DESC, created_at, id) WHERE status = 'queued' AND parent_run IS NULL;
CREATE INDEX runs_by_concurrency_key ON runs (concurrency_key, status) WHERE concurrency_key IS NOT NULL;
-- Released (lease gone, still unfinished) or reopened: any worker may take it.
DROP TRIGGER runs_released ON runs;
CREATE TRIGGER runs_released AFTER UPDATE ON runs FOR EACH ROW
    WHEN (NEW.lease_owner IS NULL AND NEW.status IN ('queued', 'running')
          AND (OLD.lease_owner IS NOT NULL OR OLD.status NOT IN ('queued', 'running')))
    EXECUTE FUNCTION baton_notify_work();
-- A run with a concurrency key ended: the next run with its key may start, on any worker.
CREATE TRIGGER runs_key_freed AFTER UPDATE ON runs FOR EACH ROW
    WHEN (NEW.concurrency_key IS NOT NULL AND OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION baton_notify_work();
