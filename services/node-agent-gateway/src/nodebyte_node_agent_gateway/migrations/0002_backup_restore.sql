-- Backups restored, deleted and kept within a limit; their size in bytes.

-- `restoring` (a backup being restored into a stopped server) and `transferring`
-- (a server moving to another node) join the lifecycle. The list is complete, so
-- whichever feature's migration runs last leaves the same constraint.
ALTER TABLE servers DROP CONSTRAINT IF EXISTS servers_state_check;
ALTER TABLE servers ADD CONSTRAINT servers_state_check CHECK (state IN
    ('stopped', 'installing', 'starting', 'running', 'stopping', 'crashed', 'transferring',
     'restoring'));

-- How many completed backups the server keeps (NULL: the service's default).
ALTER TABLE servers ADD COLUMN backup_limit integer CHECK (backup_limit >= 1);

-- `deleting`: the agent was asked to remove the archive; the row goes when it has.
ALTER TABLE backups DROP CONSTRAINT IF EXISTS backups_status_check;
ALTER TABLE backups ADD CONSTRAINT backups_status_check CHECK (status IN
    ('pending', 'in_progress', 'completed', 'failed', 'deleting'));
ALTER TABLE backups ADD COLUMN size_bytes bigint CHECK (size_bytes >= 0);
CREATE INDEX backups_server_completed ON backups (server_id, completed_at DESC)
    WHERE status = 'completed';

-- The backup a delete command is about, to settle its row when the agent answers.
ALTER TABLE server_commands ADD COLUMN backup_id uuid;
