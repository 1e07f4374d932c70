-- Every webhook message the notifier owes, and what became of it.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    source_event_id  uuid        NOT NULL,
    target           text        NOT NULL,  -- which webhook; never its URL (a secret)
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    UNIQUE (source_event_id, target)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'queued';
