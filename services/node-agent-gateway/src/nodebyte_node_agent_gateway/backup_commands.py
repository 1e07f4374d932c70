"""What backup commands do to the rows around them, when routed, taken or failed.

- `backup`: its row is `pending` from routing, `in_progress` once the agent took it.
- `restore_backup`: the server goes `restoring` as the command leaves (nothing can
  start it under the agent); the agent reports it `stopped` when the files are back.
  Should the command fail before the agent took it, the server is `stopped` again.
- `delete_backup`: the row is `deleting` while the agent removes the archive and
  leaves the list once the agent confirms; if it does not, it is back as it was.

Retention: once a backup completes, a `delete_backup` command is queued for each
completed backup beyond the server's limit (the oldest); it is routed like the
user's own delete (one already being deleted is not deleted twice).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common import events, outbox
from nodebyte_node_agent_gateway import backup_store
from nodebyte_node_agent_gateway.agent_commands import backup_id, backup_name

SOURCE = "nodebyte/node-agent-gateway"
RETENTION = "retention"
# The actions whose rows are prepared before the command leaves.
PREPARED = frozenset({"backup", "restore_backup", "delete_backup"})


async def on_routed(
    conn: asyncpg.Connection, request_id: UUID, server_id: UUID, action: str, payload: dict
) -> str | None:
    """Prepare the rows for a command about to leave; the reason it may not, else None."""
    if action == "backup":
        if await backup_store.start(conn, request_id, server_id, backup_name(payload)):
            return None
        return "a backup with this name already exists"
    if action == "restore_backup":
        if await _change_state(conn, server_id, ("stopped", "crashed"), "restoring"):
            return None
        return "the server is no longer stopped"
    if action == "delete_backup":
        backup = backup_id(payload)
        if not await backup_store.mark_deleting(conn, backup):
            return "the backup is not finished, or is being deleted"
        await conn.execute(
            "UPDATE server_commands SET backup_id = $2 WHERE request_id = $1", request_id, backup
        )
    return None


async def on_acknowledged(conn: asyncpg.Connection, request_id: UUID, action: str) -> None:
    if action == "backup":
        await backup_store.started(conn, request_id)
    elif action == "delete_backup":
        backup = await _command_backup(conn, request_id)
        if backup is not None:
            await backup_store.deleted(conn, backup)


async def on_failed(
    conn: asyncpg.Connection, request_id: UUID, server_id: UUID, action: str
) -> None:
    """Undo what `on_routed` prepared for a command that left but was not carried out."""
    if action == "restore_backup":
        await _change_state(conn, server_id, ("restoring",), "stopped")
    elif action == "delete_backup":
        backup = await _command_backup(conn, request_id)
        if backup is not None:
            await backup_store.undelete(conn, backup)


async def enforce_retention(
    conn: asyncpg.Connection, server: asyncpg.Record, default_limit: int
) -> int:
    """Queue the deletion of completed backups beyond the server's limit; how many."""
    limit = server["backup_limit"] or default_limit
    if limit <= 0:
        return 0
    doomed = await backup_store.beyond_limit(conn, server["id"], limit)
    for doomed_id in doomed:
        await outbox.enqueue(
            conn,
            events.ServerCommandRequested(
                request_id=uuid6.uuid7(),
                server_id=server["id"],
                node_id=server["node_id"],
                action="delete_backup",
                payload={"backupId": str(doomed_id)},
                requested_by=RETENTION,
            ),
            source=SOURCE,
        )
    return len(doomed)


async def _command_backup(conn: asyncpg.Connection, request_id: UUID) -> UUID | None:
    """The backup a delete command is about (kept on the command's row)."""
    return await conn.fetchval(
        "SELECT backup_id FROM server_commands WHERE request_id = $1", request_id
    )


async def _change_state(
    conn: asyncpg.Connection, server_id: UUID, from_states: tuple[str, ...], to: str
) -> bool:
    """Move the server to `to` if it is in one of `from_states`, with its event."""
    row = await conn.fetchrow(
        """WITH old AS (SELECT id, state FROM servers WHERE id = $1 FOR UPDATE)
           UPDATE servers s SET state = $3, state_changed_at = now(), updated_at = now()
           FROM old WHERE s.id = old.id AND old.state = ANY($2::text[])
           RETURNING s.node_id, s.state_changed_at, old.state AS previous""",
        server_id,
        list(from_states),
        to,
    )
    if row is None:
        return False
    await outbox.enqueue(
        conn,
        events.ServerStateChanged(
            server_id=server_id,
            node_id=row["node_id"],
            previous_state=row["previous"],
            state=to,
            exit_code=None,
            changed_at=row["state_changed_at"],
        ),
        source=SOURCE,
    )
    return True
