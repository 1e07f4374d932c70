-- Webhook URLs of alert rules (the node-agent-gateway owns the rules; each
-- alert brings its rule's URLs, sealed). One row per URL, sealed again here;
-- deliveries name one as target "alert-rule:<id>".
CREATE TABLE alert_rule_webhooks (
    id         uuid PRIMARY KEY,  -- derived from the URL's SHA-256: one row per URL
    url_sealed text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Where an alert's resolution goes besides its webhook type (its rule's
-- webhooks), and which event raised it: the resolution is sent to a webhook
-- only once the alert's own delivery there is settled, so it never lands first.
ALTER TABLE alert_routes ADD COLUMN rule_targets text[] NOT NULL DEFAULT '{}',
                         ADD COLUMN raised_event_id uuid;

-- A delivery that must follow the delivery of another event to the same target.
ALTER TABLE webhook_deliveries ADD COLUMN after_event uuid;
