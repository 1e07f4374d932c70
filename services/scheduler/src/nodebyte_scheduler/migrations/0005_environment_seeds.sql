-- Settings the environment gives once, on the first start that reads them (the Go
-- backend's AUTO_SYNC_ENABLED / AUTO_SYNC_INTERVAL); afterwards the admin API owns them.
CREATE TABLE environment_seeds (
    name       text PRIMARY KEY,
    seeded_at  timestamptz NOT NULL DEFAULT now()
);
