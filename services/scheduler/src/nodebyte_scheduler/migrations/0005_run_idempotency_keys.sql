-- A hand-run request's Idempotency-Key: a retried "execute now" finds its run instead of
-- making a second one.
ALTER TABLE runs ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX runs_idempotency_key ON runs (job_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
