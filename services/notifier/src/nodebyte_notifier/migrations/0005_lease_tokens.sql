-- Each claim of a delivery gets its own fencing token: only the claim holding
-- the current token may renew, re-take or settle the delivery. Replaces the
-- worker's session advisory lock (lease_owner), which a dead pooled connection
-- dropped while the worker and its requests lived on.
ALTER TABLE webhook_deliveries ADD COLUMN lease_token uuid;
ALTER TABLE email_deliveries ADD COLUMN lease_token uuid;
