-- Every server and node action is audited whether the owner accepted it, refused
-- it (a 4xx) or it failed (a 5xx, a timeout). Entries written before this column
-- recorded changes that were made.
ALTER TABLE audit_logs ADD COLUMN outcome text NOT NULL DEFAULT 'accepted'
    CHECK (outcome IN ('accepted', 'refused', 'failed'));
CREATE INDEX audit_logs_outcome_idx ON audit_logs (outcome, occurred_at DESC)
    WHERE outcome <> 'accepted';
