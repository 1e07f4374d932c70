-- The frame a routed command carries, kept until it ends: a replica that takes over a
-- node's agent (the holder died with the command in its queue) sends it from here.
-- Cleared once the command is acknowledged or failed.
ALTER TABLE server_commands ADD COLUMN frame jsonb;
