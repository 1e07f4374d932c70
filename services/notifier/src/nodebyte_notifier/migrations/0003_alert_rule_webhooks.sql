-- Webhook URLs of alert rules (the node-agent-gateway owns the rules; each
-- alert brings its rule's URLs, sealed). One row per URL, sealed again here;
-- deliveries name one as target "alert-rule:<id>".
CREATE TABLE alert_rule_webhooks (
    id         uuid PRIMARY KEY,  -- derived from the URL's SHA-256: one row per URL
    url_sealed text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Where an alert's resolution goes besides its webhook type: its rule's webhooks.
ALTER TABLE alert_routes ADD COLUMN rule_targets text[] NOT NULL DEFAULT '{}';
