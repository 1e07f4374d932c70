"""Moving a server and its files to another node, or rolling back to where it was.

    request ──(running: stop first, phase `stopping`)──> stopped
            ──> phase `streaming`, server `transferring`:
                target agent ← transfer_receive, source agent ← transfer_archive
                source ─transfer_chunk─> us ─> target ─transfer_chunk_ack─> us ─> source
                target ─transfer_result(success)─> us: the server is on the target
                (node, network), `stopped`, or started again if it was running;
                the source removes its copy (transfer_finished).

The archive never sits whole anywhere but on the two agents' disks: each chunk
is relayed as it comes, through the replica holding the target's socket (the
node's routing key, as commands), and the source sends at most `window`
chunks ahead of the target's acknowledgements. So a replica holds a chunk at a
time per transfer, however large the server, and it works whichever replicas
hold the two agents. (A one-time download URL would need the source's archive
staged somewhere the target can fetch it, and the URL to reach the replica
holding it.)

Anything that goes wrong rolls back: the source refusing or failing to
archive, the target refusing or failing to restore, either node leaving
(its socket closes, or a chunk finds no replica holding the target), no
progress for `transfer_stall_seconds`, or the target unable by then to take the
server's allocations (allocations.move_allocations: all or none, each keeping its
port when free there). The server stays on the source in the state it had
(started again if it was running), the source's files untouched; the target
drops what it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common import events, outbox
from nodebyte_common.envelope import ApiError
from nodebyte_common.runtime import Runtime
from nodebyte_common.server_transfers import TransferOrder, TransferView
from nodebyte_node_agent_gateway import allocations, server_store, transfer_store
from nodebyte_node_agent_gateway.agent_commands import (
    transfer_abort_frame,
    transfer_archive_frame,
    transfer_finished_frame,
    transfer_receive_frame,
)
from nodebyte_node_agent_gateway.allocations import AllocationRefused
from nodebyte_node_agent_gateway.lifecycle import TRANSFER_AFTER_STOP, TRANSFER_AT_ONCE
from nodebyte_node_agent_gateway.node_link import NodeLink
from nodebyte_node_agent_gateway.protocol import (
    TransferChunk,
    TransferChunkAck,
    TransferResult,
    encode,
)
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

log = logging.getLogger(__name__)

SOURCE = "nodebyte/node-agent-gateway"


class TransferRefused(Exception):
    """A frame about a transfer that its sender is not part of (or that is over)."""


async def _allocations_fit(conn: asyncpg.Connection, server_id: UUID, node_id: UUID) -> None:
    """Would the server's allocations move to `node_id` now? A trial move, always undone
    (the move itself is made on completion); AllocationRefused when they would not."""

    class _Undo(Exception):
        pass

    with contextlib.suppress(_Undo):
        async with conn.transaction():
            await allocations.move_allocations(conn, server_id, node_id)
            raise _Undo


async def _set_state(
    conn: asyncpg.Connection, server: asyncpg.Record, state: str, node_id: UUID | None = None
) -> asyncpg.Record:
    """The backend moves the server itself (not an agent's report): state, node, event."""
    row = await conn.fetchrow(
        """UPDATE servers SET state = $2, node_id = coalesce($3, node_id),
                  state_changed_at = now(), updated_at = now()
           WHERE id = $1 RETURNING *""",
        server["id"],
        state,
        node_id,
    )
    await outbox.enqueue(
        conn,
        events.ServerStateChanged(
            server_id=row["id"],
            node_id=row["node_id"],
            previous_state=server["state"],
            state=state,
            changed_at=row["state_changed_at"],
        ),
        source=SOURCE,
    )
    return row


async def _command(conn: asyncpg.Connection, server_id: UUID, node_id: UUID, action: str) -> None:
    await outbox.enqueue(
        conn,
        events.ServerCommandRequested(
            request_id=uuid6.uuid7(),
            server_id=server_id,
            node_id=node_id,
            action=action,  # type: ignore[arg-type]
            requested_by="transfer",
        ),
        source=SOURCE,
    )


class Transfers:
    def __init__(
        self, runtime: Runtime, link: NodeLink, settings: NodeAgentGatewaySettings
    ) -> None:
        self.runtime = runtime
        self.link = link
        self.settings = settings

    # --- the request ---

    async def request(self, server_id: UUID, order: TransferOrder) -> TransferView:
        """Admit and begin a transfer (ApiError with nothing changed when refused)."""
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            server = await server_store.get(conn, server_id, for_update=True)
            if server is None:
                raise ApiError(404, "Server not found")
            await self._admit(conn, server, order.target_node_id)
            phase = "streaming" if server["state"] in TRANSFER_AT_ONCE else "stopping"
            row = await transfer_store.insert(
                conn,
                uuid6.uuid7(),
                server,
                order.target_node_id,
                phase=phase,
                restart_after=server["state"] in TRANSFER_AFTER_STOP,
                requested_by=order.requested_by,
            )
            if phase == "streaming":
                await _set_state(conn, server, "transferring")
            else:
                await conn.execute(
                    "UPDATE servers SET desired_state = 'stopped' WHERE id = $1", server_id
                )
                await _command(conn, server_id, server["node_id"], "stop")
            await outbox.enqueue(
                conn,
                events.ServerTransferStarted(
                    transfer_id=row["id"],
                    server_id=server_id,
                    source_node_id=row["source_node_id"],
                    target_node_id=row["target_node_id"],
                    phase=phase,
                    requested_by=order.requested_by,
                    started_at=row["started_at"],
                ),
                source=SOURCE,
            )
        if phase == "streaming":
            await self.dispatch(row)
        return transfer_store.view(row)

    async def _admit(
        self, conn: asyncpg.Connection, server: asyncpg.Record, target_id: UUID
    ) -> None:
        if server["suspended_at"] is not None:
            raise ApiError(423, "Server is suspended")
        if server["node_id"] == target_id:
            raise ApiError(400, "Server is already on the target node")
        if server["state"] not in TRANSFER_AT_ONCE | TRANSFER_AFTER_STOP:
            raise ApiError(409, f"Cannot transfer a server that is {server['state']}")
        target = await conn.fetchrow(
            "SELECT * FROM nodes WHERE id = $1 FOR UPDATE", target_id
        )  # locked: two transfers to one node count each other's resources
        if target is None:
            raise ApiError(404, "Target node not found")
        if not target["is_online"]:
            raise ApiError(400, "Target node is offline", "NODE_OFFLINE")
        if not await conn.fetchval("SELECT is_online FROM nodes WHERE id = $1", server["node_id"]):
            raise ApiError(409, "The server's node is offline", "NODE_OFFLINE")
        if not await self._fits(conn, server, target):
            raise ApiError(
                400, "Target node does not have enough resources", "INSUFFICIENT_RESOURCES"
            )
        try:
            await _allocations_fit(conn, server["id"], target_id)
        except AllocationRefused as refused:
            raise ApiError(
                409,
                f"The target node cannot take the server's allocations: {refused.message}",
                "ALLOCATIONS_REFUSED",
            ) from None

    async def _fits(
        self, conn: asyncpg.Connection, server: asyncpg.Record, target: asyncpg.Record
    ) -> bool:
        memory, cores = await server_store.committed_resources(conn, target["id"])
        incoming = await conn.fetchrow(
            f"""SELECT coalesce(sum(s.allocated_memory_mb), 0) AS memory,
                       coalesce(sum(s.allocated_cpu_cores), 0) AS cpu
                FROM server_transfers t JOIN servers s ON s.id = t.server_id
                WHERE t.target_node_id = $1 AND t.{transfer_store.ACTIVE}""",
            target["id"],
        )
        memory += int(incoming["memory"]) + server["allocated_memory_mb"]
        cores += int(incoming["cpu"]) + server["allocated_cpu_cores"]
        return memory <= target["max_memory_mb"] and cores <= target["max_cpu_cores"]

    # --- the stop that comes first ---

    async def after_stop(
        self, conn: asyncpg.Connection, server: asyncpg.Record
    ) -> asyncpg.Record | None:
        """In the transaction recording that `server` stopped (or crashed): a transfer
        waiting for it begins streaming; returns it, to dispatch once committed."""
        row = await transfer_store.active_of_server(conn, server["id"], "stopping")
        if row is None:
            return None
        await _set_state(conn, server, "transferring")
        return await transfer_store.set_phase(conn, row["id"], "streaming")

    async def dispatch(self, row: asyncpg.Record) -> None:
        """Tell the target to receive, then the source to archive (that order: the
        target's frames queue ahead of the chunks)."""
        d = self.settings.agent_server_dir
        receive = transfer_receive_frame(row["server_id"], row["id"], server_dir=d)
        archive = transfer_archive_frame(
            row["server_id"],
            row["id"],
            server_dir=d,
            chunk_bytes=self.settings.transfer_chunk_bytes,
            window=self.settings.transfer_window,
        )
        if not await self._send(row["target_node_id"], receive):
            await self.fail(row["id"], "target node offline")
        elif not await self._send(row["source_node_id"], archive):
            await self.fail(row["id"], "source node offline")

    async def _send(self, node_id: UUID, frame: dict[str, Any] | bytes) -> bool:
        body = frame if isinstance(frame, bytes) else encode(frame)
        try:
            return await self.link.send_to_node(
                node_id, "frame", body, expiration=self.settings.transfer_stall_seconds
            )
        except ConnectionError:
            return False

    # --- frames from the agents ---

    async def on_frame(
        self, node_id: UUID, frame: TransferChunk | TransferChunkAck | TransferResult
    ) -> None:
        match frame:
            case TransferChunk():
                await self._chunk(node_id, frame)
            case TransferChunkAck():
                await self._ack(node_id, frame)
            case TransferResult():
                await self._result(node_id, frame)

    async def _chunk(self, node_id: UUID, chunk: TransferChunk) -> None:
        transfer_id = chunk.transfer()
        size = len(chunk.data) * 3 // 4 - chunk.data[-2:].count("=")
        async with self.runtime.pool.acquire() as conn:
            row = await transfer_store.count_chunk(conn, transfer_id, node_id, size)
        if row is None or row["server_id"] != chunk.server():
            raise TransferRefused("no such transfer streaming from this node")
        relayed = {
            "type": "transfer_chunk",
            "serverId": str(row["server_id"]),
            "transferId": str(transfer_id),
            "seq": chunk.seq,
            "data": chunk.data,
            "last": chunk.last,
            "sha256": chunk.sha256,
        }
        if not await self._send(row["target_node_id"], relayed):
            await self.fail(transfer_id, "target node went offline")

    async def _ack(self, node_id: UUID, ack: TransferChunkAck) -> None:
        row = await self._streaming(ack.transfer(), node_id, "target_node_id", ack.server())
        relayed = {
            "type": "transfer_chunk_ack",
            "serverId": str(row["server_id"]),
            "transferId": str(row["id"]),
            "seq": ack.seq,
        }
        if not await self._send(row["source_node_id"], relayed):
            await self.fail(row["id"], "source node went offline")

    async def _result(self, node_id: UUID, result: TransferResult) -> None:
        column = "source_node_id" if result.role == "source" else "target_node_id"
        row = await self._streaming(result.transfer(), node_id, column, result.server())
        if not result.success:
            await self.fail(row["id"], f"{result.role} agent: {result.error or 'failed'}")
        elif result.role == "target":
            await self.complete(row["id"])

    async def _streaming(
        self, transfer_id: UUID, node_id: UUID, column: str, server_id: UUID
    ) -> asyncpg.Record:
        async with self.runtime.pool.acquire() as conn:
            row = await transfer_store.streaming(conn, transfer_id)
        if row is None or row[column] != node_id or row["server_id"] != server_id:
            raise TransferRefused("no such transfer streaming with this node")
        return row

    # --- the end: on the target, or back on the source ---

    async def complete(self, transfer_id: UUID) -> None:
        try:
            async with self.runtime.pool.acquire() as conn, conn.transaction():
                row = await transfer_store.lock_active(conn, transfer_id)
                if row is None:
                    return
                server = await server_store.get(conn, row["server_id"], for_update=True)
                await allocations.move_allocations(conn, server["id"], row["target_node_id"])
                await _set_state(conn, server, "stopped", row["target_node_id"])
                row = await transfer_store.finish(conn, transfer_id, "completed")
                if row["restart_after"]:
                    await _command(conn, server["id"], row["target_node_id"], "start")
                await outbox.enqueue(
                    conn,
                    events.ServerTransferCompleted(
                        transfer_id=transfer_id,
                        server_id=server["id"],
                        source_node_id=row["source_node_id"],
                        target_node_id=row["target_node_id"],
                        bytes_transferred=row["bytes_transferred"],
                        completed_at=row["finished_at"],
                    ),
                    source=SOURCE,
                )
        except AllocationRefused as refused:  # taken there since it was admitted
            await self.fail(transfer_id, f"allocations on the target: {refused.message}")
            return
        await self._send(
            row["source_node_id"], transfer_finished_frame(row["server_id"], transfer_id)
        )

    async def fail(self, transfer_id: UUID, reason: str) -> None:
        """Roll back: the server on its source as it was; both agents told to stop."""
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            row = await transfer_store.lock_active(conn, transfer_id)
            if row is None:
                return
            server = await server_store.get(conn, row["server_id"], for_update=True)
            if server["state"] == "transferring":
                await _set_state(conn, server, "stopped")
                if row["restart_after"]:
                    await _command(conn, server["id"], row["source_node_id"], "start")
            row = await transfer_store.finish(conn, transfer_id, "failed", reason)
            await outbox.enqueue(
                conn,
                events.ServerTransferFailed(
                    transfer_id=transfer_id,
                    server_id=row["server_id"],
                    source_node_id=row["source_node_id"],
                    target_node_id=row["target_node_id"],
                    reason=reason,
                    failed_at=row["finished_at"],
                ),
                source=SOURCE,
            )
        log.info("transfer rolled back", extra={"transfer_id": str(transfer_id), "reason": reason})
        abort = encode(transfer_abort_frame(row["server_id"], transfer_id, reason))
        for node_id in (row["target_node_id"], row["source_node_id"]):
            await self._send(node_id, abort)

    async def node_left(self, node_id: UUID) -> None:
        """An agent's socket closed: its transfers under way cannot finish."""
        async with self.runtime.pool.acquire() as conn:
            transfer_ids = await transfer_store.streaming_with_node(conn, node_id)
        for transfer_id in transfer_ids:
            await self.fail(transfer_id, "a node of the transfer went offline")

    async def sweep_forever(self, pool_of: Callable[[], asyncpg.Pool]) -> None:
        """Roll back transfers that made no progress for too long (a runtime loop)."""
        stall = self.settings.transfer_stall_seconds
        while True:
            await asyncio.sleep(max(stall / 4, 0.5))
            try:
                async with pool_of().acquire() as conn:
                    stalled = await transfer_store.stalled(conn, stall)
                for transfer_id in stalled:
                    await self.fail(transfer_id, f"no progress for {stall:g} seconds")
            except (OSError, asyncpg.PostgresError):
                log.warning("transfer sweep failed", exc_info=True)
