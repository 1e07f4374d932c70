-- hytale-auth collects game servers' console logs on a `hytale.server_logs` tick
-- every 5 minutes (as the Go backend's worker did).
INSERT INTO jobs (id, kind, name, description, builtin, cron, interval_seconds,
                  event_type, payload, enabled, catch_up) VALUES
    ('01a209ce-4a9f-79f0-9309-10080e76af66', 'system', 'hytale.server_logs',
     'Collect Hytale game servers'' console logs', true, '*/5 * * * *', NULL,
     'job.fired', '{}', true, 'once')
ON CONFLICT DO NOTHING;

-- Nobody consumes `console.logs_cleanup` yet: hytale-auth purges console logs in
-- its `hytale.cleanup` run and the node-agent gateway in its own housekeeping.
-- Off until a service reacts to it (an admin can enable it; it is not removed).
UPDATE jobs SET enabled = false, next_run_at = NULL, next_fire_at = NULL,
       description = 'Delete old console logs (enable when a service consumes it)'
WHERE kind = 'system' AND name = 'console.logs_cleanup' AND builtin
  AND updated_at = created_at;  -- only if an admin has not edited it
