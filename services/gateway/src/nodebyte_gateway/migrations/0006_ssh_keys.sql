-- SSH public keys an account signs in to SFTP with (the node-agent-gateway's port 2022).
-- The fingerprint (SHA256 of the key blob) finds a presented key; one key per account once.
CREATE TABLE ssh_keys (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    public_key   text NOT NULL,
    fingerprint  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, fingerprint)
);
