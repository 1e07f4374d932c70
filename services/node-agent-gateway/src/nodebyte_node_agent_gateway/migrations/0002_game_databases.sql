-- MySQL/MariaDB servers registered by an admin, and the databases made on them for
-- game servers. The admin password is sealed (AES-256-GCM, nodebyte_common.sealing,
-- bound to the host's id); a database user's password is never stored.
CREATE TABLE database_hosts (
    id               uuid PRIMARY KEY,
    name             text        NOT NULL UNIQUE,
    host             text        NOT NULL,
    port             integer     NOT NULL CHECK (port BETWEEN 1 AND 65535),
    username         text        NOT NULL,
    password_sealed  text        NOT NULL,
    node_id          uuid        REFERENCES nodes (id) ON DELETE SET NULL,
    location_id      text,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- A server's databases keep their server and host from going while they exist: deleting
-- either goes through the code that drops them on the host first (RESTRICT, not CASCADE,
-- so no path can forget the host and leave its database and user behind).
CREATE TABLE game_databases (
    id                  uuid PRIMARY KEY,
    server_id           uuid        NOT NULL REFERENCES servers (id) ON DELETE RESTRICT,
    host_id             uuid        NOT NULL REFERENCES database_hosts (id) ON DELETE RESTRICT,
    name                text        NOT NULL,  -- the database's name on the host
    username            text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_rotated_at timestamptz,
    UNIQUE (host_id, name),
    UNIQUE (host_id, username)
);
CREATE INDEX game_databases_server ON game_databases (server_id, created_at);
