-- A task run the node took (`server.command_acknowledged`): delivered, not
-- "succeeded" (no event says a command succeeded); a later failure still wins.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('fired', 'pending', 'acknowledged', 'sent', 'failed', 'skipped'));
