-- Single-use tickets that open one WebSocket or event stream (`POST /api/v1/ws-ticket`):
-- a browser cannot send headers there, and a long-lived credential in the URL would be
-- logged. Kept here, not in a replica's memory, so any replica can take the ticket.
CREATE TABLE ws_tickets (
    digest       bytea PRIMARY KEY,          -- sha256 of the ticket; the ticket is never stored
    user_id      uuid NOT NULL,
    label        text NOT NULL,
    permissions  text[] NOT NULL,
    roles        text[] NOT NULL,
    session_id   uuid,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX ws_tickets_expiry ON ws_tickets (expires_at);
