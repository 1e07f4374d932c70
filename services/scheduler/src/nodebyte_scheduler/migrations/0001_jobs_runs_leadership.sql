-- Jobs: system jobs (kind 'system', one per name) and users' server tasks
-- (kind 'task'). The scheduler knows only when each is due and which event it
-- publishes; what the event means belongs to the service that consumes it.
CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('system', 'task')),
    name             text        NOT NULL,
    description      text        NOT NULL DEFAULT '',
    builtin          boolean     NOT NULL DEFAULT false,
    cron             text,
    timezone         text        NOT NULL DEFAULT 'UTC',
    interval_seconds integer     CHECK (interval_seconds > 0),
    anchor_at        timestamptz,           -- interval due times are anchor_at + k * interval
    event_type       text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    server_id        uuid,
    action           text,
    enabled          boolean     NOT NULL DEFAULT true,
    catch_up         text        NOT NULL DEFAULT 'skip' CHECK (catch_up IN ('skip', 'once')),
    jitter_seconds   integer     NOT NULL DEFAULT 0 CHECK (jitter_seconds >= 0),
    next_run_at      timestamptz,           -- the next due time (schedule clock)
    next_fire_at     timestamptz,           -- next_run_at plus that due time's jitter
    last_run_id      uuid,
    last_run_at      timestamptz,
    last_status      text,
    last_error       text,
    run_count        integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((cron IS NULL) <> (interval_seconds IS NULL)),
    CHECK (kind <> 'task' OR (server_id IS NOT NULL AND action IS NOT NULL))
);
CREATE UNIQUE INDEX jobs_system_name ON jobs (name) WHERE kind = 'system';
CREATE INDEX jobs_due ON jobs (next_fire_at) WHERE enabled;
CREATE INDEX jobs_tasks_by_server ON jobs (server_id, created_at) WHERE kind = 'task';

-- One row per firing. The unique index is what makes a due time fire once,
-- whatever the leaders believe: a second insert for (job, due time) does nothing.
CREATE TABLE runs (
    id            uuid PRIMARY KEY,
    job_id        uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    due_at        timestamptz NOT NULL,
    trigger       text        NOT NULL CHECK (trigger IN ('schedule', 'catch_up', 'manual')),
    status        text        NOT NULL
                      CHECK (status IN ('fired', 'pending', 'sent', 'failed', 'skipped')),
    fired_at      timestamptz NOT NULL,     -- schedule clock
    missed_count  integer     NOT NULL DEFAULT 0,
    event_id      uuid,
    details       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error         text,
    replica       text        NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT clock_timestamp(),  -- wall clock
    completed_at  timestamptz
);
CREATE UNIQUE INDEX runs_once_per_due_time ON runs (job_id, due_at) WHERE trigger <> 'manual';
CREATE INDEX runs_history ON runs (job_id, due_at DESC);
CREATE INDEX runs_awaiting_outcome ON runs (recorded_at) WHERE status = 'pending';

-- The leader's lease: one row. `term` grows at each change of holder, and a
-- leader commits a firing only while it holds an unexpired lease of its term.
CREATE TABLE leadership (
    id            integer PRIMARY KEY CHECK (id = 1),
    holder        text,
    term          bigint      NOT NULL DEFAULT 0,
    acquired_at   timestamptz,
    heartbeat_at  timestamptz,
    expires_at    timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO leadership (id) VALUES (1);

-- Built-in jobs (editable; they are disabled rather than deleted). Their first
-- due time is computed by the leader, from the schedule, when it first sees them.
INSERT INTO jobs (id, kind, name, description, builtin, cron, interval_seconds,
                  event_type, payload, enabled, catch_up) VALUES
    ('01a2099a-2501-7ae0-8736-94fb2af01e2a', 'system', 'sync.auto',
     'Automatic full sync of the panel mirror', true, NULL, 3600,
     'sync.requested', '{"kind": "full"}', true, 'once'),
    ('01a2099a-2502-7cbb-a92b-a67bb6598d98', 'system', 'hytale.refresh',
     'Refresh Hytale OAuth tokens and game sessions', true, '*/5 * * * *', NULL,
     'job.fired', '{}', true, 'once'),
    ('01a2099a-2503-7777-8e74-0ddd173f6612', 'system', 'hytale.cleanup',
     'Delete expired Hytale game sessions', true, '0 2 * * *', NULL,
     'job.fired', '{}', true, 'once'),
    ('01a2099a-2504-7836-bce6-1648bfa1d6ae', 'system', 'sync.logs_cleanup',
     'Delete old sync logs', true, '0 3 * * *', NULL,
     'job.fired', '{"retention_days": 30}', true, 'once'),
    ('01a2099a-2505-7a43-ba61-6e12ebca6c96', 'system', 'console.logs_cleanup',
     'Delete old game server console logs', true, '0 4 * * *', NULL,
     'job.fired', '{"retention_days": 30}', true, 'once'),
    ('01a2099a-2506-7f11-a508-59763068a358', 'system', 'alerts.evaluate',
     'Ticks for alert evaluation (enable when the node-agent gateway consumes them)', true,
     '* * * * *', NULL, 'job.fired', '{}', false, 'skip');
