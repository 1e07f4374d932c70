-- The trace context of what queued each delivery (W3C traceparent), so its
-- attempts, made later by a delivery worker, are spans of the same trace.
ALTER TABLE webhook_deliveries ADD COLUMN traceparent text;
ALTER TABLE email_deliveries ADD COLUMN traceparent text;
