"""What each frame from an agent does, once it decoded and passed the rate limits.

Frames about a server are refused unless the server is registered on the
sending node. State changes, backups and acknowledgements are written at once,
in order, each in its transaction with its events; frequent telemetry goes to
the batched buffer; console lines, state changes and stats also go live to
whoever follows the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common import events, outbox
from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import (
    alerts,
    backup_commands,
    backup_store,
    command_outcomes,
    node_store,
    server_store,
)
from nodebyte_node_agent_gateway.agent_session import AgentSession
from nodebyte_node_agent_gateway.lifecycle import after_change, can_transition
from nodebyte_node_agent_gateway.metrics import set_node_health
from nodebyte_node_agent_gateway.node_link import NodeLink
from nodebyte_node_agent_gateway.protocol import (
    AgentMessage,
    BackupComplete,
    CommandAck,
    ConsoleOutput,
    FileAck,
    FileReady,
    FileResult,
    HealthReport,
    Heartbeat,
    NodeHandshake,
    ProtocolError,
    ResourceStats,
    ServerStateUpdate,
    TransferChunk,
    TransferChunkAck,
    TransferResult,
    encode,
    parse_uuid,
)
from nodebyte_node_agent_gateway.session_registry import SessionRegistry
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings
from nodebyte_node_agent_gateway.telemetry import NodeHealth, ServerStats, TelemetryBuffer
from nodebyte_node_agent_gateway.transfers import TransferRefused, Transfers

log = logging.getLogger(__name__)

SOURCE = "nodebyte/node-agent-gateway"
SERVER_SET_MAX_AGE = 60.0  # seconds before a session re-reads which servers its node has
SERVER_SET_MISS_REFRESH = 1.0  # an unknown server re-reads the set at most this often
SERVER_SET_REFRESH_CHUNK = 5_000  # nodes per query of the periodic refresh


class Refused(Exception):
    """A frame that is valid JSON of a known type but may not be applied."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AgentMessages:
    def __init__(
        self,
        runtime: Runtime,
        telemetry: TelemetryBuffer,
        link: NodeLink,
        settings: NodeAgentGatewaySettings,
        alert_policy: alerts.AlertPolicy,
        transfers: Transfers,
    ) -> None:
        self.transfers = transfers
        self.runtime = runtime
        self.telemetry = telemetry
        self.link = link
        self.settings = settings
        self.alert_policy = alert_policy

    def server_of(self, message: AgentMessage) -> UUID | None:
        """The server a frame is about (for its rate limit), None for node-level frames."""
        if isinstance(
            message,
            (Heartbeat, HealthReport, CommandAck, NodeHandshake, FileReady, FileAck, FileResult),
        ):
            return None
        try:
            return message.server()
        except ProtocolError as exc:
            raise Refused("INVALID_MESSAGE", str(exc)) from None

    def arrived(self, session: AgentSession) -> None:
        """A frame came in: the agent is alive, however long the frames before it take."""
        self.telemetry.saw(session.node_id, session.session_id, datetime.now(UTC))

    async def handle(self, session: AgentSession, message: AgentMessage) -> None:
        now = datetime.now(UTC)
        match message:
            case Heartbeat():
                return
            case HealthReport():
                self._health(session, message, now)
            case ResourceStats():
                await self._stats(session, message, now)
            case ConsoleOutput():
                await self._console(session, message, now)
            case ServerStateUpdate():
                await self._state(session, message)
            case BackupComplete():
                await self._backup(session, message)
            case CommandAck():
                await self._ack(session, message)
            case TransferChunk() | TransferChunkAck() | TransferResult():
                try:
                    await self.transfers.on_frame(session.node_id, message)
                except TransferRefused as refused:
                    raise Refused("UNKNOWN_TRANSFER", str(refused)) from None
            case NodeHandshake():
                raise Refused("ALREADY_AUTHENTICATED", "the handshake was already done")
            case FileReady() | FileAck() | FileResult():
                raise Refused("UNKNOWN_TRANSFER", "no file transfer has that requestId")

    # --- telemetry ---

    def _health(self, session: AgentSession, report: HealthReport, now: datetime) -> None:
        if report.node_id is not None and report.node_id != session.node_key:
            raise Refused("WRONG_NODE", "nodeId is not the node of this connection")
        try:
            cpu = report.cpu_value()
        except ProtocolError as exc:
            raise Refused("INVALID_MESSAGE", str(exc)) from None
        health = NodeHealth(
            cpu=cpu,
            memory_used=round(report.memory_usage_mb),
            memory_total=round(report.memory_total_mb),
            disk_used=round(report.disk_usage_mb),
            disk_total=round(report.disk_total_mb),
            containers=report.container_count,
            uptime=report.uptime_seconds,
            at=now,
        )
        self.telemetry.add_health(session.node_id, health)
        set_node_health(
            session.node_key,
            cpu=cpu,
            memory_used=health.memory_used,
            memory_total=health.memory_total,
            disk_used=health.disk_used,
            disk_total=health.disk_total,
            containers=health.containers,
        )

    async def _stats(self, session: AgentSession, stats: ResourceStats, now: datetime) -> None:
        server_id = await self._own_server(session, stats.server())
        try:
            cpu, memory = stats.cpu_value(), stats.memory_value()
        except ProtocolError as exc:
            raise Refused("INVALID_MESSAGE", str(exc)) from None
        disk = round(stats.disk_usage_mb) if stats.disk_usage_mb is not None else None
        self.telemetry.add_stats(
            server_id,
            ServerStats(cpu, round(memory), disk, stats.network_sent, stats.network_received, now),
        )
        frame = {
            "type": "resource_stats",
            "serverId": str(server_id),
            "cpu": cpu,
            "memoryMb": memory,
            "networkSent": stats.network_sent,
            "networkReceived": stats.network_received,
            "diskUsageMb": stats.disk_usage_mb,
        }
        await self.link.publish_live(server_id, "resource_stats", encode(frame))

    async def _console(self, session: AgentSession, line: ConsoleOutput, now: datetime) -> None:
        if len(line.data.encode()) > self.settings.console_line_max_bytes:
            raise Refused("TOO_LARGE", "console output is larger than allowed in one frame")
        server_id = await self._own_server(session, line.server())
        self.telemetry.add_console(server_id, line.stream, line.data, now)
        frame = {
            "type": "server_log",
            "serverId": str(server_id),
            "stream": line.stream,
            "data": line.data,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
        }
        await self.link.publish_live(server_id, "server_log", encode(frame))

    async def refresh_server_sets_forever(self, registry: SessionRegistry) -> None:
        """Re-read every held node's servers in a few queries, twice per SERVER_SET_MAX_AGE
        (a runtime loop): a query per session and minute was a tenth of the CPU at
        thousands of agents. A session the loop missed still re-reads its own."""
        while True:
            await asyncio.sleep(SERVER_SET_MAX_AGE / 2)
            sessions = registry.all()
            for start in range(0, len(sessions), SERVER_SET_REFRESH_CHUNK):
                chunk = sessions[start : start + SERVER_SET_REFRESH_CHUNK]
                try:
                    async with self.runtime.pool.acquire() as conn:
                        sets = await node_store.server_ids_of(conn, [s.node_id for s in chunk])
                except (OSError, asyncpg.PostgresError):
                    log.warning("could not refresh the nodes' servers", exc_info=True)
                    break
                loaded_at = time.monotonic()
                for session in chunk:
                    session.servers = sets[session.node_id]
                    session.servers_loaded_at = loaded_at

    async def _own_server(self, session: AgentSession, server_id: UUID) -> UUID:
        age = time.monotonic() - session.servers_loaded_at
        missing = server_id not in session.servers
        if age > SERVER_SET_MAX_AGE or (missing and age > SERVER_SET_MISS_REFRESH):
            async with self.runtime.pool.acquire() as conn:
                session.servers = await node_store.server_ids(conn, session.node_id)
            session.servers_loaded_at = time.monotonic()
        if server_id not in session.servers:
            raise Refused("UNKNOWN_SERVER", "the server is not registered on this node")
        return server_id

    # --- state, backups, acknowledgements: written now ---

    async def _state(self, session: AgentSession, update: ServerStateUpdate) -> None:
        server_id = update.server()
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            server = await server_store.on_node(conn, server_id, session.node_id)
            if server is None:
                raise Refused("UNKNOWN_SERVER", "the server is not registered on this node")
            if update.state == "suspended":
                if server["suspended_at"] is None:
                    raise Refused("INVALID_STATE", "only an administrator suspends a server")
                return
            previous = server["state"]
            if update.state == previous:
                return
            if not can_transition(previous, update.state):
                raise Refused(
                    "INVALID_TRANSITION", f"a server cannot go from {previous} to {update.state}"
                )
            server = await self._record_state(conn, server, update, session.node_id)
            transfer = None
            if update.state in ("stopped", "crashed"):
                transfer = await self.transfers.after_stop(conn, server)
        if transfer is not None:
            await self.transfers.dispatch(transfer)
        frame = {
            "type": "server_state_update",
            "serverId": str(server_id),
            "state": update.state,
            "previousState": previous,
            "message": update.message,
        }
        await self.link.publish_live(server_id, "server_state_update", encode(frame))

    async def _record_state(
        self,
        conn: asyncpg.Connection,
        server: asyncpg.Record,
        update: ServerStateUpdate,
        node_id: UUID,
    ) -> asyncpg.Record:
        previous, desired = server["state"], server["desired_state"]
        if update.state == "running" and desired == "restarting":
            desired = "running"
        crashed = update.state == "crashed"
        server = await server_store.record_state(
            conn,
            server["id"],
            state=update.state,
            desired=desired,
            crashed=crashed,
            exit_code=update.exit_code,
        )
        await outbox.enqueue(
            conn,
            events.ServerStateChanged(
                server_id=server["id"],
                node_id=node_id,
                previous_state=previous,
                state=update.state,
                exit_code=update.exit_code,
                changed_at=server["state_changed_at"],
            ),
            source=SOURCE,
        )
        decision = after_change(
            previous=previous,
            state=update.state,
            desired=desired,
            policy=server["restart_policy"],
            crash_count=server["crash_count"],
            max_crash_count=server["max_crash_count"],
            suspended=server["suspended_at"] is not None,
        )
        if decision.restart:
            await outbox.enqueue(
                conn,
                events.ServerCommandRequested(
                    request_id=uuid6.uuid7(),
                    server_id=server["id"],
                    node_id=node_id,
                    action="start",
                    requested_by="restart-policy",
                ),
                source=SOURCE,
            )
        if crashed:
            await alerts.raise_server_crashed(
                conn,
                server,
                self.alert_policy,
                limit_reached=decision.crash_limit_reached,
            )
        return server

    async def _backup(self, session: AgentSession, report: BackupComplete) -> None:
        server_id = report.server()
        backup_id = parse_uuid(report.backup_id, "backupId") if report.backup_id else None
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            server = await server_store.on_node(conn, server_id, session.node_id)
            if server is None:
                raise Refused("UNKNOWN_SERVER", "the server is not registered on this node")
            row = await backup_store.complete(
                conn,
                server_id=server_id,
                backup_id=backup_id,
                name=report.backup_name,
                path=report.backup_path,
                size_mb=report.size_mb,
                size_bytes=report.size_bytes,
                checksum=report.checksum,
                success=report.success,
                error=report.error,
                new_id=uuid6.uuid7(),
            )
            await outbox.enqueue(
                conn,
                events.BackupCompleted(
                    backup_id=row["id"],
                    server_id=server_id,
                    size_bytes=_size_bytes(report),
                    success=report.success,
                    completed_at=row["completed_at"],
                ),
                source=SOURCE,
            )
            if report.success:
                await backup_commands.enforce_retention(
                    conn, server, self.settings.backup_limit_per_server
                )

    async def _ack(self, session: AgentSession, ack: CommandAck) -> None:
        try:
            request_id = UUID(ack.request_id)
        except ValueError:
            raise Refused("INVALID_MESSAGE", "requestId is not a valid id") from None
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            if ack.success:
                await command_outcomes.acknowledged(
                    conn, request_id, session.node_id, "agent", self.settings.replica_id
                )
            else:
                reason = f"refused by the agent: {ack.error or 'no reason given'}"
                await command_outcomes.failed(conn, request_id, reason, session.node_id)


def _size_bytes(report: BackupComplete) -> int:
    if report.size_bytes is not None:
        return report.size_bytes
    return round(report.size_mb * 1024 * 1024)
