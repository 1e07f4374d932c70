CREATE TABLE sync_logs (
    id              uuid PRIMARY KEY,
    type            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN
                        ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    items_total     integer     NOT NULL DEFAULT 0,
    items_synced    integer     NOT NULL DEFAULT 0,
    items_failed    integer     NOT NULL DEFAULT 0,
    error           text,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    requested_by    text,
    skip_users      boolean     NOT NULL DEFAULT false,
    cancel_requested boolean    NOT NULL DEFAULT false,
    attempts        integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    completed_at    timestamptz
);
CREATE INDEX sync_logs_created ON sync_logs (created_at DESC);
CREATE INDEX sync_logs_type_created ON sync_logs (type, created_at DESC);

-- Mirror of the panel's locations.
CREATE TABLE locations (
    id          bigint PRIMARY KEY,
    short       text        NOT NULL,
    long        text,
    created_at  timestamptz,
    updated_at  timestamptz,
    synced_at   timestamptz NOT NULL DEFAULT now()
);
