-- Device authorization grants in progress. Only a hash of the device code is kept:
-- the client presents the code on every poll, and a leaked table grants nothing.
CREATE TABLE device_flows (
    id                uuid PRIMARY KEY,
    device_code_hash  bytea       NOT NULL UNIQUE,
    user_code         text        NOT NULL,
    verification_uri  text        NOT NULL,
    verification_uri_complete text,
    interval_seconds  integer     NOT NULL,
    status            text        NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'authorized', 'denied', 'expired')),
    account_id        uuid,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    poll_until        timestamptz NOT NULL,
    last_polled_at    timestamptz,
    completed_at      timestamptz
);
CREATE INDEX device_flows_created ON device_flows (created_at);

-- Authorised Hytale accounts: their OAuth tokens (sealed, AES-256-GCM with key ids)
-- and their place in the pool that game sessions are spread over.
CREATE TABLE accounts (
    account_id            uuid PRIMARY KEY,
    status                text        NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'needs_reauth')),
    access_token_sealed   text        NOT NULL,
    refresh_token_sealed  text        NOT NULL,
    scope                 text        NOT NULL DEFAULT '',
    access_expires_at     timestamptz NOT NULL,
    refresh_expires_at    timestamptz NOT NULL,
    refresh_at            timestamptz NOT NULL,  -- when the refresh sweep renews the tokens
    token_refreshed_at    timestamptz NOT NULL DEFAULT now(),
    refresh_failures      integer     NOT NULL DEFAULT 0,
    last_refresh_error    text,
    selected_profile_uuid uuid,
    in_pool               boolean     NOT NULL DEFAULT true,
    session_limit         integer     NOT NULL CHECK (session_limit >= 0),
    limit_reached_at      timestamptz,  -- the upstream refused a session: over its limit
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_refresh_due ON accounts (refresh_at) WHERE status = 'active';

CREATE TABLE profiles (
    account_id   uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    profile_uuid uuid NOT NULL,
    username     text NOT NULL,
    PRIMARY KEY (account_id, profile_uuid)
);

-- Game sessions, each optionally linked to a panel server whose startup variables
-- receive every new token pair (token_generation counts them, pushed_generation
-- records the last one the panel accepted).
CREATE TABLE game_sessions (
    id                    uuid PRIMARY KEY,
    account_id            uuid        NOT NULL REFERENCES accounts ON DELETE CASCADE,
    profile_uuid          uuid        NOT NULL,
    server_id             integer,
    status                text        NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'ended', 'expired')),
    session_token_sealed  text,
    identity_token_sealed text,
    expires_at            timestamptz NOT NULL,
    refresh_at            timestamptz NOT NULL,
    refreshed_at          timestamptz NOT NULL DEFAULT now(),
    refresh_failures      integer     NOT NULL DEFAULT 0,
    last_refresh_error    text,
    token_generation      integer     NOT NULL DEFAULT 1,
    pushed_generation     integer     NOT NULL DEFAULT 0,
    push_attempts         integer     NOT NULL DEFAULT 0,
    push_next_at          timestamptz NOT NULL DEFAULT now(),
    push_last_error       text,
    pushed_at             timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    ended_at              timestamptz,
    end_reason            text
);
CREATE UNIQUE INDEX game_sessions_one_per_server ON game_sessions (server_id)
    WHERE status = 'active' AND server_id IS NOT NULL;
CREATE INDEX game_sessions_refresh_due ON game_sessions (refresh_at) WHERE status = 'active';
CREATE INDEX game_sessions_account_active ON game_sessions (account_id) WHERE status = 'active';
CREATE INDEX game_sessions_push_due ON game_sessions (push_next_at)
    WHERE status = 'active' AND server_id IS NOT NULL AND pushed_generation < token_generation;
CREATE INDEX game_sessions_ended ON game_sessions (ended_at) WHERE status <> 'active';

-- The variables a server of each egg reads its session from (defaults from settings).
CREATE TABLE egg_variables (
    egg_id            integer PRIMARY KEY,
    session_variable  text        NOT NULL,
    identity_variable text        NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- What the panel told us about servers we push to (identifier for the Client API, egg).
CREATE TABLE panel_servers (
    server_id   integer PRIMARY KEY,
    identifier  text        NOT NULL,
    uuid        uuid        NOT NULL,
    egg_id      integer     NOT NULL,
    fetched_at  timestamptz NOT NULL DEFAULT now()
);

-- Compliance trail of OAuth and session operations.
CREATE TABLE audit_logs (
    id           uuid PRIMARY KEY,
    event_type   text        NOT NULL CHECK (event_type IN (
                     'TOKEN_CREATED', 'TOKEN_REFRESHED', 'TOKEN_DELETED', 'AUTH_FAILED',
                     'SESSION_CREATED', 'SESSION_REFRESHED', 'SESSION_DELETED', 'PROFILE_SELECTED')),
    account_id   uuid,
    profile_uuid uuid,
    session_id   uuid,
    server_id    integer,
    ip_address   inet,
    user_agent   text,
    details      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_account ON audit_logs (account_id, created_at DESC);
CREATE INDEX audit_logs_type ON audit_logs (event_type, created_at DESC);
CREATE INDEX audit_logs_created ON audit_logs (created_at DESC);

-- Game server console lines, read from the server's log file through the panel.
-- The cursor (file, byte offset) makes each fetch take only what is new; the
-- generation changes whenever the file does (a new file, or one rewritten in
-- place, noticed by its first bytes), so (generation, offset) names a line once.
CREATE TABLE server_log_cursors (
    server_id            integer PRIMARY KEY,
    file_name            text,
    generation           integer     NOT NULL DEFAULT 0,
    byte_offset          bigint      NOT NULL DEFAULT 0,
    head_length          integer     NOT NULL DEFAULT 0,
    head_hash            bytea,
    last_synced_at       timestamptz,
    last_error           text,
    consecutive_failures integer     NOT NULL DEFAULT 0
);
CREATE TABLE server_logs (
    id           bigserial PRIMARY KEY,
    server_id    integer     NOT NULL,
    file_name    text        NOT NULL,
    generation   integer     NOT NULL,
    byte_offset  bigint      NOT NULL,
    line         text        NOT NULL,
    logged_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (server_id, generation, byte_offset)
);
CREATE INDEX server_logs_server ON server_logs (server_id, id DESC);
CREATE INDEX server_logs_logged ON server_logs (logged_at);

-- When each periodic task last ran and last got a tick from the scheduler; shared
-- by replicas so only one runs a fallback tick.
CREATE TABLE periodic_tasks (
    name         text PRIMARY KEY,
    last_tick_at timestamptz,
    last_run_at  timestamptz
);
