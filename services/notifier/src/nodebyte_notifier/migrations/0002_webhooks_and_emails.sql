-- Discord webhooks the admins manage. The URL is a secret: sealed (AES-GCM,
-- context "webhook:<id>"), shown masked, and found by its SHA-256 only.
CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    name            text        NOT NULL,
    url_sealed      text        NOT NULL,
    url_masked      text        NOT NULL,
    url_digest      bytea       NOT NULL UNIQUE,
    type            text        NOT NULL,
    scope           text        NOT NULL,
    description     text,
    events          text[]      NOT NULL DEFAULT '{}',  -- empty: every event of its type and scope
    enabled         boolean     NOT NULL DEFAULT true,
    disabled_reason text,
    disabled_at     timestamptz,
    test_success_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_audience ON webhooks (type, scope) WHERE enabled;

-- Webhook deliveries learn who holds their lease (a live worker holds an
-- advisory lock on its key), what asked for them, and Discord's message id.
ALTER TABLE webhook_deliveries
    ADD COLUMN request_id  uuid,          -- the dispatch that asked for it, if any
    ADD COLUMN event_type  text,
    ADD COLUMN lease_owner integer,
    ADD COLUMN in_doubt    boolean NOT NULL DEFAULT false,  -- a worker died mid-request
    ADD COLUMN throttles   integer NOT NULL DEFAULT 0,
    ADD COLUMN message_id  text,
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();
CREATE INDEX webhook_deliveries_request ON webhook_deliveries (request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX webhook_deliveries_sending ON webhook_deliveries (lease_until)
    WHERE status = 'sending';
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at)
    WHERE status IN ('sent', 'failed');

-- Dispatches the gateway forwarded (webhook.dispatch_requested), so GET by id
-- can tell "seen, no webhook wanted it" from "never seen".
CREATE TABLE webhook_dispatches (
    id            uuid PRIMARY KEY,
    event         text        NOT NULL,
    webhook_type  text        NOT NULL,
    scope         text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Every email the notifier owes. The rendered content is sealed (it may hold
-- reset or verification links); recipients and subject stay readable.
CREATE TABLE email_deliveries (
    id                  uuid PRIMARY KEY,  -- the email_id of the request
    source_event_id     uuid,
    recipients          text[]      NOT NULL,
    subject             text        NOT NULL,
    template            text        NOT NULL,
    content_sealed      text,              -- NULL when the request could not be rendered
    status              text        NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts            integer     NOT NULL DEFAULT 0,
    throttles           integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    lease_until         timestamptz,
    lease_owner         integer,
    in_doubt            boolean     NOT NULL DEFAULT false,
    provider            text,
    message_id          text,
    last_status_code    integer,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz
);
CREATE INDEX email_deliveries_due ON email_deliveries (next_attempt_at) WHERE status = 'queued';
CREATE INDEX email_deliveries_sending ON email_deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX email_deliveries_finished ON email_deliveries (created_at)
    WHERE status IN ('sent', 'failed');

-- Which webhook type an open alert was announced to, so its resolution goes
-- to the same webhooks (alert.resolved does not repeat what the alert was about).
CREATE TABLE alert_routes (
    alert_id     uuid PRIMARY KEY,
    webhook_type text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
