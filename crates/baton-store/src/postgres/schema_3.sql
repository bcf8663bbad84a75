-- Version 3: the W3C traceparent of a run's first execution, so that a resumed or
-- taken-over run's trace links back to it.
ALTER TABLE runs ADD COLUMN trace_parent text;
