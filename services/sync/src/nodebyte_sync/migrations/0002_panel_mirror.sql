-- The rest of the panel mirror. Ids are the panel's. No foreign keys: the sync
-- writes each entity in bulk in the reference's order and prunes after each step.
CREATE TABLE nodes (
    id                  bigint PRIMARY KEY,
    uuid                uuid,
    public              boolean,
    name                text NOT NULL,
    description         text,
    location_id         bigint,
    fqdn                text,
    scheme              text,
    behind_proxy        boolean,
    maintenance_mode    boolean,
    memory              bigint,
    memory_overallocate integer,
    disk                bigint,
    disk_overallocate   integer,
    upload_size         integer,
    daemon_listen       integer,
    daemon_sftp         integer,
    daemon_base         text,
    allocated_memory    bigint,
    allocated_disk      bigint,
    created_at          timestamptz,
    updated_at          timestamptz,
    synced_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nodes_location ON nodes (location_id);

CREATE TABLE allocations (
    id         bigint PRIMARY KEY,
    node_id    bigint NOT NULL,
    ip         text NOT NULL,
    alias      text,
    port       integer NOT NULL,
    notes      text,
    assigned   boolean NOT NULL DEFAULT false,
    server_id  bigint,               -- set from the servers' allocations
    synced_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX allocations_node ON allocations (node_id);
CREATE INDEX allocations_server ON allocations (server_id) WHERE server_id IS NOT NULL;

CREATE TABLE nests (
    id          bigint PRIMARY KEY,
    uuid        uuid,
    author      text,
    name        text NOT NULL,
    description text,
    created_at  timestamptz,
    updated_at  timestamptz,
    synced_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE eggs (
    id            bigint PRIMARY KEY,
    uuid          uuid,
    nest_id       bigint NOT NULL,
    name          text NOT NULL,
    author        text,
    description   text,
    docker_image  text,
    docker_images jsonb,
    config        jsonb,
    startup       text,
    script        jsonb,
    created_at    timestamptz,
    updated_at    timestamptz,
    synced_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eggs_nest ON eggs (nest_id);

CREATE TABLE egg_variables (
    id             bigint PRIMARY KEY,
    egg_id         bigint NOT NULL,
    name           text NOT NULL,
    description    text,
    env_variable   text NOT NULL,
    default_value  text,
    user_viewable  boolean,
    user_editable  boolean,
    rules          text,
    created_at     timestamptz,
    updated_at     timestamptz,
    synced_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX egg_variables_egg ON egg_variables (egg_id);

CREATE TABLE servers (
    id              bigint PRIMARY KEY,
    external_id     text,
    uuid            uuid NOT NULL,
    identifier      text NOT NULL,
    name            text NOT NULL,
    description     text,
    status          text,
    suspended       boolean NOT NULL DEFAULT false,
    limits          jsonb,
    feature_limits  jsonb,
    owner_id        bigint,
    node_id         bigint,
    allocation_id   bigint,
    nest_id         bigint,
    egg_id          bigint,
    container       jsonb,
    panel_type      text NOT NULL DEFAULT 'pterodactyl',
    created_at      timestamptz,
    updated_at      timestamptz,
    synced_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX servers_owner ON servers (owner_id);
CREATE INDEX servers_node ON servers (node_id);
CREATE INDEX servers_name ON servers (lower(name));

CREATE TABLE server_databases (
    id               bigint PRIMARY KEY,
    server_id        bigint NOT NULL,
    host_id          bigint,
    database         text NOT NULL,
    username         text,
    remote           text,
    max_connections  integer,
    created_at       timestamptz,
    updated_at       timestamptz,
    synced_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_databases_server ON server_databases (server_id);

CREATE TABLE panel_users (
    id           bigint PRIMARY KEY,
    external_id  text,
    uuid         uuid,
    username     text NOT NULL,
    email        text NOT NULL,
    first_name   text,
    last_name    text,
    language     text,
    root_admin   boolean NOT NULL DEFAULT false,
    two_factor   boolean NOT NULL DEFAULT false,
    created_at   timestamptz,
    updated_at   timestamptz,
    synced_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX panel_users_email ON panel_users (lower(email));

-- Who may use a server, from the Client API; the owner is marked.
CREATE TABLE server_subusers (
    id           text PRIMARY KEY,   -- "<server id>:<user uuid>"
    server_id    bigint NOT NULL,
    user_uuid    uuid NOT NULL,
    username     text,
    email        text,
    two_factor   boolean NOT NULL DEFAULT false,
    permissions  text[] NOT NULL DEFAULT '{}',
    is_owner     boolean NOT NULL DEFAULT false,
    created_at   timestamptz,
    synced_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_subusers_server ON server_subusers (server_id);

-- Panel connection and sync settings; one row. Keys are sealed (AES-256-GCM).
CREATE TABLE panel_settings (
    id                     boolean PRIMARY KEY DEFAULT true CHECK (id),
    panel_url              text,
    application_key_sealed text,
    client_key_sealed      text,
    page_size              integer NOT NULL DEFAULT 500,
    fetch_concurrency      integer NOT NULL DEFAULT 8,
    subusers_enabled       boolean NOT NULL DEFAULT true,
    subusers_batch_size    integer NOT NULL DEFAULT 100,
    log_retention_days     integer NOT NULL DEFAULT 30,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    updated_by             text
);
