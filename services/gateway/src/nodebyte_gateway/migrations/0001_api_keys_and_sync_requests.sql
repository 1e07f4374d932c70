-- API keys for service callers; only a SHA-256 of the key is stored.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    key_prefix  text        NOT NULL,
    key_hash    bytea       NOT NULL UNIQUE,
    scopes      text[]      NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at  timestamptz
);

-- Commands the gateway accepted: lets a status poll answer PENDING before the
-- owning service has seen the command.
CREATE TABLE sync_requests (
    id           uuid PRIMARY KEY,
    kind         text        NOT NULL,
    requested_by text,
    skip_users   boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
