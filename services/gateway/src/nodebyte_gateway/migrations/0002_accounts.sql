-- Accounts: users, roles with dot permissions, sessions with rotating refresh
-- tokens, single-use email tokens, and the admin audit log. Every secret is
-- stored as a SHA-256 (tokens) or an argon2id/bcrypt hash (passwords).

-- Roles carry the NodeByte names; their permissions are dot strings, `*` is all.
CREATE TABLE roles (
    name        text PRIMARY KEY,
    description text    NOT NULL DEFAULT '',
    permissions text[]  NOT NULL DEFAULT '{}',
    is_admin    boolean NOT NULL DEFAULT false,  -- counted as an admin in user stats
    position    integer NOT NULL DEFAULT 0
);

INSERT INTO roles (name, description, permissions, is_admin, position) VALUES
    ('MEMBER', 'A customer', '{}', false, 1),
    ('PARTNER', 'A partner', '{}', false, 2),
    ('SPONSOR', 'A sponsor', '{}', false, 3),
    ('SUPPORT_TEAM', 'Support staff: read users and servers',
     '{admin.read,users.read,stats.read,servers.read}', false, 4),
    ('TECH_TEAM', 'Technical staff: run syncs, read and manage nodes',
     '{admin.read,users.read,stats.read,sync.*,nodes.*,servers.read,hytale.read,scheduler.read}',
     false, 5),
    ('ADMINISTRATOR', 'Administers the platform',
     '{admin.*,users.*,stats.*,sync.*,nodes.*,servers.*,hytale.*,webhooks.*,email.*,scheduler.*,alerts.*,backups.*}',
     true, 6),
    ('SUPER_ADMIN', 'Every permission', '{*}', true, 7);

CREATE TABLE users (
    id                   uuid PRIMARY KEY,
    email                text        NOT NULL,
    username             text,
    password_hash        text,
    first_name           text,
    last_name            text,
    roles                text[]      NOT NULL DEFAULT '{MEMBER}',
    is_pterodactyl_admin boolean     NOT NULL DEFAULT false,
    is_virtfusion_admin  boolean     NOT NULL DEFAULT false,
    pterodactyl_id       integer,
    virtfusion_id        integer,
    is_migrated          boolean     NOT NULL DEFAULT false,
    is_active            boolean     NOT NULL DEFAULT true,
    email_verified_at    timestamptz,
    avatar_url           text,
    company_name         text,
    phone_number         text,
    billing_email        text,
    account_balance      numeric(12, 2) NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    last_login_at        timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE username IS NOT NULL;
CREATE INDEX users_created_at_idx ON users (created_at DESC, id DESC);
CREATE INDEX users_roles_idx ON users USING gin (roles);

-- A session is one sign-in (a refresh-token family); `sid` in access tokens.
CREATE TABLE auth_sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    revoke_reason text,
    ip            text,
    user_agent    text
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id) WHERE revoked_at IS NULL;

-- Each refresh rotates: the used token is marked, a new one issued. Presenting
-- a rotated token again is reuse: the whole session is revoked.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Single-use tokens sent by email; issuing one drops the user's unused ones
-- of the same purpose, so only the latest link works.
CREATE TABLE account_tokens (
    id         uuid PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL
               CHECK (purpose IN ('verify_email', 'email_change', 'password_reset', 'magic_link')),
    token_hash bytea       NOT NULL UNIQUE,
    new_email  text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);

ALTER TABLE api_keys ADD COLUMN created_by text;
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;

-- Who did what, when, from where; before/after with secrets masked.
CREATE TABLE audit_logs (
    id          uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_type  text        NOT NULL,  -- user, api_key, cli, system
    actor_id    text,
    actor_label text,
    action      text        NOT NULL,
    target_type text,
    target_id   text,
    before      jsonb,
    after       jsonb,
    ip          text,
    user_agent  text,
    request_id  text
);
CREATE INDEX audit_logs_time_idx ON audit_logs (occurred_at DESC, id DESC);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_id, occurred_at DESC);
CREATE INDEX audit_logs_action_idx ON audit_logs (action, occurred_at DESC);
CREATE INDEX audit_logs_target_idx ON audit_logs (target_type, target_id, occurred_at DESC);
