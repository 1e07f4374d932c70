-- Game-server nodes, the agents' credentials and sessions.
CREATE TABLE nodes (
    id                  uuid PRIMARY KEY,
    name                text        NOT NULL UNIQUE,
    description         text,
    location_id         text,
    hostname            text        NOT NULL,
    public_address      text,
    max_memory_mb       integer     NOT NULL CHECK (max_memory_mb > 0),
    max_cpu_cores       integer     NOT NULL CHECK (max_cpu_cores > 0),
    is_online           boolean     NOT NULL DEFAULT false,
    session_id          uuid,       -- the live agent connection, if any
    replica             text,       -- the replica holding that connection
    agent_version       text,
    connected_at        timestamptz,
    last_seen_at        timestamptz,
    offline_alerted     boolean     NOT NULL DEFAULT false,
    cpu_percent         real,
    memory_used_mb      integer,
    memory_total_mb     integer,
    disk_used_mb        integer,
    disk_total_mb       integer,
    container_count     integer,
    uptime_seconds      bigint,
    health_reported_at  timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nodes_online_seen ON nodes (last_seen_at) WHERE is_online;

-- Only a SHA-256 of each token is kept; a new token revokes the previous ones.
CREATE TABLE deployment_tokens (
    id          uuid PRIMARY KEY,
    node_id     uuid        NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    last_used_at timestamptz
);
CREATE INDEX deployment_tokens_node ON deployment_tokens (node_id) WHERE revoked_at IS NULL;

-- Failed handshakes per claimed node id; a lock grows with each failure past the threshold.
CREATE TABLE handshake_lockouts (
    node_key        text PRIMARY KEY,
    failures        integer     NOT NULL,
    locked_until    timestamptz,
    last_failure_at timestamptz NOT NULL
);

CREATE TABLE servers (
    id                  uuid PRIMARY KEY,
    name                text        NOT NULL,
    description         text,
    node_id             uuid        NOT NULL REFERENCES nodes (id),
    docker_image        text        NOT NULL,
    startup_command     text        NOT NULL DEFAULT '',
    environment         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    allocated_memory_mb integer     NOT NULL CHECK (allocated_memory_mb > 0),
    allocated_cpu_cores integer     NOT NULL CHECK (allocated_cpu_cores > 0),
    allocated_disk_mb   integer     NOT NULL CHECK (allocated_disk_mb > 0),
    primary_port        integer     NOT NULL,
    network_mode        text        NOT NULL DEFAULT 'bridge',
    state               text        NOT NULL DEFAULT 'stopped' CHECK (state IN
                            ('stopped', 'installing', 'starting', 'running', 'stopping', 'crashed')),
    -- what the last command asked for; tells an unexpected exit from a requested one
    desired_state       text        NOT NULL DEFAULT 'stopped' CHECK (desired_state IN
                            ('stopped', 'running', 'restarting')),
    state_changed_at    timestamptz,
    crash_count         integer     NOT NULL DEFAULT 0,
    last_crash_at       timestamptz,
    last_exit_code      integer,
    restart_policy      text        NOT NULL DEFAULT 'on-failure' CHECK (restart_policy IN
                            ('always', 'on-failure', 'never')),
    max_crash_count     integer     NOT NULL DEFAULT 5 CHECK (max_crash_count >= 0),
    suspended_at        timestamptz,
    suspended_by        text,
    suspension_reason   text,
    cpu_usage           real,
    memory_usage_mb     integer,
    disk_usage_mb       integer,
    network_sent        bigint,
    network_received    bigint,
    stats_at            timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX servers_node ON servers (node_id);

-- Commands on their way to an agent, by the request id the requester minted.
CREATE TABLE server_commands (
    request_id      uuid PRIMARY KEY,
    server_id       uuid        NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    node_id         uuid        NOT NULL,
    action          text        NOT NULL,
    status          text        NOT NULL CHECK (status IN
                        ('routed', 'delivered', 'acknowledged', 'failed')),
    reason          text,
    requested_by    text,
    awaiting_ack    boolean     NOT NULL DEFAULT false,
    delivered_by    text,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    finished_at     timestamptz
);
CREATE INDEX server_commands_open ON server_commands (requested_at)
    WHERE status IN ('routed', 'delivered');
CREATE INDEX server_commands_server ON server_commands (server_id, requested_at DESC);

-- Console lines, bounded per server and by age.
CREATE TABLE console_lines (
    id          bigserial PRIMARY KEY,
    server_id   uuid        NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    stream      text        NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
    data        text        NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX console_lines_server ON console_lines (server_id, id);
CREATE INDEX console_lines_at ON console_lines (at);

-- Raw samples (kept hours) and their hourly and daily aggregates (kept months).
CREATE TABLE node_samples (
    node_id         uuid        NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    cpu_percent     real        NOT NULL,
    memory_used_mb  integer     NOT NULL,
    memory_total_mb integer     NOT NULL,
    disk_used_mb    integer     NOT NULL,
    disk_total_mb   integer     NOT NULL,
    container_count integer     NOT NULL
);
CREATE INDEX node_samples_node_at ON node_samples (node_id, at);
CREATE INDEX node_samples_at ON node_samples (at);

CREATE TABLE server_samples (
    server_id        uuid        NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    at               timestamptz NOT NULL,
    cpu_percent      real        NOT NULL,
    memory_mb        integer     NOT NULL,
    disk_mb          integer,
    network_sent     bigint,
    network_received bigint
);
CREATE INDEX server_samples_server_at ON server_samples (server_id, at);
CREATE INDEX server_samples_at ON server_samples (at);

-- Percentages for nodes (cpu, memory used/total, disk used/total); for servers
-- cpu %, memory and disk in MB.
CREATE TABLE usage_rollups (
    subject_kind text        NOT NULL CHECK (subject_kind IN ('node', 'server')),
    subject_id   uuid        NOT NULL,
    resolution   text        NOT NULL CHECK (resolution IN ('hour', 'day')),
    bucket       timestamptz NOT NULL,
    samples      integer     NOT NULL,
    cpu_avg      double precision,
    cpu_max      double precision,
    memory_avg   double precision,
    memory_max   double precision,
    disk_avg     double precision,
    disk_max     double precision,
    PRIMARY KEY (subject_kind, subject_id, resolution, bucket)
);
CREATE INDEX usage_rollups_bucket ON usage_rollups (resolution, bucket);

CREATE TABLE backups (
    id          uuid PRIMARY KEY,
    server_id   uuid        NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    path        text,
    size_mb     double precision,
    checksum    text,
    status      text        NOT NULL CHECK (status IN
                    ('pending', 'in_progress', 'completed', 'failed')),
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    UNIQUE (server_id, name)
);

CREATE TABLE alert_rules (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    type        text        NOT NULL CHECK (type IN
                    ('resource_threshold', 'node_offline', 'server_crashed')),
    target      text        NOT NULL CHECK (target IN ('node', 'server')),
    target_id   text        NOT NULL DEFAULT '*',
    severity    text        NOT NULL DEFAULT 'warning' CHECK (severity IN
                    ('info', 'warning', 'critical')),
    conditions  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    actions     jsonb       NOT NULL DEFAULT '[]'::jsonb,
    enabled     boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id          uuid PRIMARY KEY,
    rule_id     uuid        REFERENCES alert_rules (id) ON DELETE SET NULL,
    -- what makes two alerts "the same" for de-duplication (rule, kind, subject)
    fingerprint text        NOT NULL,
    node_id     uuid,
    server_id   uuid,
    type        text        NOT NULL,
    severity    text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title       text        NOT NULL,
    message     text        NOT NULL,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    resolved    boolean     NOT NULL DEFAULT false,
    resolved_at timestamptz,
    resolved_by text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_fingerprint ON alerts (fingerprint, created_at DESC);
CREATE INDEX alerts_created ON alerts (created_at DESC);
CREATE INDEX alerts_unresolved ON alerts (created_at DESC) WHERE NOT resolved;

-- Offline nodes and crashing servers are alerted on out of the box; admins may
-- disable or narrow these rules.
INSERT INTO alert_rules (id, name, type, target, severity) VALUES
    ('00000000-0000-7000-8000-000000000001', 'Node offline', 'node_offline', 'node', 'critical'),
    ('00000000-0000-7000-8000-000000000002', 'Server crashed', 'server_crashed', 'server',
     'warning');

-- How far raw samples have been folded into hourly buckets (one row).
CREATE TABLE usage_rollup_state (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    rolled_until timestamptz NOT NULL
);
INSERT INTO usage_rollup_state (rolled_until) VALUES (now());
