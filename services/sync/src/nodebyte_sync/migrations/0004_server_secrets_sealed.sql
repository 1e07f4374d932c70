-- Servers' environments were mirrored with their secrets in clear (Hytale session and
-- identity tokens, passwords, keys). From now on a sync seals them (environment_secrets.py);
-- the clear values already at rest are dropped here (SQL cannot seal), and the next sync
-- writes them back sealed: the mapping version changed, so no page digest matches.
UPDATE servers
SET container = jsonb_set(
        container,
        '{environment}',
        (SELECT coalesce(jsonb_object_agg(
                    e.key,
                    CASE WHEN upper(e.key) ~ '(^|_)(TOKENS?|SECRETS?|PASSWORD|PASSWD|PASS|PWD|KEY|APIKEY|CREDENTIALS?|PRIVATE)(_|$)|TOKEN|SECRET|PASSWORD'
                         THEN 'null'::jsonb ELSE e.value END), '{}'::jsonb)
         FROM jsonb_each(container -> 'environment') AS e))
WHERE jsonb_typeof(container -> 'environment') = 'object';
