-- Emails and webhook dispatches the gateway accepted: a status poll answers
-- PENDING before the notifier has seen the command.
CREATE TABLE notify_requests (
    id         uuid PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('email', 'webhook')),
    label      text        NOT NULL,  -- the email's template or the dispatched event
    created_at timestamptz NOT NULL DEFAULT now()
);
