-- Failed sign-ins per email address (its SHA-256, known account or not, so a
-- lockout tells nobody whether the address is registered), and the lockout
-- they led to. Lockouts grow longer while they keep coming (see sign_in_lockout).
CREATE TABLE sign_in_failures (
    email_digest bytea       PRIMARY KEY,
    failures     int         NOT NULL,
    lockouts     int         NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_updated_idx ON sign_in_failures (updated_at);

-- The emailed link that ends a lockout.
ALTER TABLE account_tokens DROP CONSTRAINT account_tokens_purpose_check;
ALTER TABLE account_tokens ADD CONSTRAINT account_tokens_purpose_check CHECK (
    purpose IN ('verify_email', 'email_change', 'password_reset', 'magic_link', 'unlock')
);
