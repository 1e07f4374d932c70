-- One unique index serves both "once per (job, due time)" and the history
-- listing: manual runs take the instant they were asked for as due time, so they
-- need no exception, and every insert maintains one index fewer.
DROP INDEX runs_history;
DROP INDEX runs_once_per_due_time;
CREATE UNIQUE INDEX runs_once_per_due_time ON runs (job_id, due_at);
