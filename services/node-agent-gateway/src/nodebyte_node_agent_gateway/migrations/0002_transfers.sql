-- Transfers of servers between nodes: the servers' state list gains `transferring`
-- (and `restoring`, for backup restores; the same full list wherever it is redefined).
ALTER TABLE servers DROP CONSTRAINT IF EXISTS servers_state_check;
ALTER TABLE servers ADD CONSTRAINT servers_state_check CHECK (state IN
    ('stopped', 'installing', 'starting', 'running', 'stopping', 'crashed', 'transferring',
     'restoring'));

CREATE TABLE server_transfers (
    id                  uuid PRIMARY KEY,
    server_id           uuid        NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    source_node_id      uuid        NOT NULL,
    target_node_id      uuid        NOT NULL,
    -- stopping: waits for the server to stop; streaming: source archive → target restore
    phase               text        NOT NULL CHECK (phase IN
                            ('stopping', 'streaming', 'completed', 'failed')),
    previous_state      text        NOT NULL,
    restart_after       boolean     NOT NULL,
    bytes_transferred   bigint      NOT NULL DEFAULT 0,
    chunks              integer     NOT NULL DEFAULT 0,
    error               text,
    requested_by        text,
    started_at          timestamptz NOT NULL DEFAULT now(),
    progress_at         timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz
);
-- At most one transfer under way per server.
CREATE UNIQUE INDEX server_transfers_active ON server_transfers (server_id)
    WHERE phase IN ('stopping', 'streaming');
CREATE INDEX server_transfers_server ON server_transfers (server_id, started_at DESC);
CREATE INDEX server_transfers_progress ON server_transfers (progress_at)
    WHERE phase IN ('stopping', 'streaming');
