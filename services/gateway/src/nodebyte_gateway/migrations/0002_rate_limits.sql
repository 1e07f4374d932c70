-- Token buckets shared by every gateway replica. UNLOGGED: a crash may forget
-- recent spending (buckets refill anyway), and no WAL is written per request.
CREATE UNLOGGED TABLE rate_buckets (
    key         text PRIMARY KEY,
    tokens      double precision NOT NULL,
    updated_at  timestamptz NOT NULL
);
