-- Who may write the mirror: one holder at a time, for a deadline it renews while it
-- runs. `token` grows at every take-over (a fencing token): a write or finish of a
-- holder whose token is no longer current is refused (mirror_lease.py).
CREATE TABLE sync_mirror_lease (
    name        text        PRIMARY KEY,
    token       bigint      NOT NULL,
    holder      text,                   -- NULL once released
    expires_at  timestamptz NOT NULL
);
