-- The gateway gives every panel user an account (panel_users.synced): a row is
-- announced when `announced_at` differs from `synced_at`, i.e. when the upsert
-- inserted or changed it since the last announcement. NULL on existing rows, so
-- the first sync after this release announces every panel user once.
ALTER TABLE panel_users ADD COLUMN announced_at timestamptz;
