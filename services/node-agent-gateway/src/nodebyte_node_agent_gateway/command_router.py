"""Route `server.command_requested` from the shared queue to the replica holding the node.

Any replica may take a command off the shared durable queue. It checks the
command against the server (exists, not suspended, a sensible state, a valid
payload), records it as `routed` (committed), then publishes it to the node's
routing key (see `node_link`). The broker returns it when no replica holds
the node: the command fails at once with "node offline". A refused command is
recorded as failed, with `server.command_failed`. Either record is keyed by
the request id, which is what makes a redelivered command harmless: one still
routed is published again (this replica, or one that died, may not have
published it), and the holder's claim (see command_delivery) sends it once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import msgspec

from nodebyte_common import events, inbox
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import (
    allocation_store,
    backup_commands,
    backup_store,
    command_outcomes,
    command_store,
    server_store,
    template_store,
)
from nodebyte_node_agent_gateway.agent_commands import (
    BACKUP_ACTIONS,
    BINDING_ACTIONS,
    InvalidPayload,
    agent_frame,
    backup_id,
)
from nodebyte_node_agent_gateway.lifecycle import DESIRED_AFTER, ActionRefused, admit
from nodebyte_node_agent_gateway.metrics import COMMANDS
from nodebyte_node_agent_gateway.node_link import NodeLink
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

log = logging.getLogger(__name__)

LINK_WAIT_SECONDS = 5.0


class RoutedCommand(msgspec.Struct, frozen=True, rename="camel"):
    """What travels to the holding replica: the agent frame and whom it concerns."""

    request_id: UUID
    node_id: UUID
    server_id: UUID
    action: str
    frame: dict[str, object]
    routed_at: float  # epoch seconds: a replica never delivers a command past its timeout


@dataclass(frozen=True)
class _Refusal:
    reason: str
    node_id: UUID | None


class CommandRouter:
    def __init__(
        self, runtime: Runtime, link: NodeLink, settings: NodeAgentGatewaySettings
    ) -> None:
        self.runtime = runtime
        self.link = link
        self.settings = settings
        self.consumer_name = ""

    def register(self) -> None:
        consumer = self.runtime.consumer("commands")
        self.consumer_name = consumer.name
        consumer.on_long(events.ServerCommandRequested)(self.route)

    async def route(self, event: events.ServerCommandRequested, meta: EventMeta) -> None:
        # A replica that is starting takes commands before its node link is up: wait for
        # it, or hand the command back (retried, maybe by another replica), never fail it.
        if not await self.link.wait_ready(LINK_WAIT_SECONDS):
            raise ConnectionError("the node link is not ready")
        async with self.runtime.pool.acquire() as conn:
            server = await server_store.get(conn, event.server_id)
            bindings = []
            if server is not None and event.action in BINDING_ACTIONS:
                bindings = await allocation_store.of_server(conn, event.server_id)
            template = None
            if server is not None and server["template_id"] is not None:
                template = await template_store.get(conn, server["template_id"])
            backup = await self._backup_of(conn, event)
            decision = self._decide(event, server, bindings, template, backup)
            if isinstance(decision, _Refusal):
                await self._refuse(conn, event, meta, decision)
                return
            if not await self._record(conn, event, decision) and not (
                await command_store.is_routed(conn, event.request_id)
            ):
                return
        await self._publish(decision)

    async def _backup_of(
        self, conn: asyncpg.Connection, event: events.ServerCommandRequested
    ) -> asyncpg.Record | None:
        """The backup a restore or delete names, when it is one of the server's."""
        if event.action not in BACKUP_ACTIONS:
            return None
        try:
            return await backup_store.get(conn, event.server_id, backup_id(event.payload))
        except InvalidPayload:
            return None  # refused by agent_frame

    def _decide(
        self,
        event: events.ServerCommandRequested,
        server: asyncpg.Record | None,
        bindings: list[asyncpg.Record],
        template: asyncpg.Record | None,
        backup: asyncpg.Record | None,
    ) -> RoutedCommand | _Refusal:
        if server is None:
            return _Refusal("server not found", None)
        node_id = server["node_id"]
        try:
            admit(event.action, server["state"], server["suspended_at"] is not None)
            frame = agent_frame(
                event.action,
                server,
                event.payload,
                event.request_id,
                server_dir=self.settings.agent_server_dir,
                backup_dir=self.settings.agent_backup_dir,
                allocations=bindings,
                template=template,
                backup=backup,
            )
        except ActionRefused as refused:
            return _Refusal(refused.reason, node_id)
        except InvalidPayload as invalid:
            return _Refusal(f"invalid payload: {invalid}", node_id)
        return RoutedCommand(
            event.request_id, node_id, server["id"], event.action, frame, time.time()
        )

    async def _record(
        self,
        conn: asyncpg.Connection,
        event: events.ServerCommandRequested,
        command: RoutedCommand,
    ) -> bool:
        """Record the command (and its frame) before it leaves; False when it was
        recorded before or refused.

        The request id makes this idempotent (a redelivery, or the same command
        under another event id, records nothing), so the common case is one
        statement, no transaction and no inbox row.
        """
        fields = {
            "request_id": command.request_id,
            "server_id": command.server_id,
            "node_id": command.node_id,
            "action": command.action,
            "requested_by": event.requested_by,
            "desired": DESIRED_AFTER.get(command.action),
            "frame": command.frame,
        }
        if command.action not in backup_commands.PREPARED:
            return await command_store.record_routed(conn, **fields)
        async with conn.transaction():
            if not await command_store.record_routed(conn, **fields):
                return False
            refusal = await backup_commands.on_routed(
                conn, command.request_id, command.server_id, command.action, event.payload
            )
            if refusal is None:
                return True
            # nothing was prepared: undoing would touch what another command prepared
            await command_outcomes.failed(conn, command.request_id, refusal, undo=False)
            return False

    async def _refuse(
        self,
        conn: asyncpg.Connection,
        event: events.ServerCommandRequested,
        meta: EventMeta,
        refusal: _Refusal,
    ) -> None:
        async with conn.transaction():
            if refusal.node_id is None:  # no server to keep the command on: the inbox de-dups
                fresh = await inbox.claim(conn, self.consumer_name, meta.id)
            else:
                fresh = await command_store.record_refused(
                    conn,
                    request_id=event.request_id,
                    server_id=event.server_id,
                    node_id=refusal.node_id,
                    action=event.action,
                    requested_by=event.requested_by,
                    reason=refusal.reason,
                )
            if fresh:
                await command_outcomes.announce_failure(
                    conn,
                    request_id=event.request_id,
                    server_id=event.server_id,
                    node_id=refusal.node_id,
                    action=event.action,
                    reason=refusal.reason,
                    requested_by=event.requested_by,
                )

    async def _publish(self, command: RoutedCommand) -> None:
        """Hand the command to the replica holding the node. While nobody holds it but its
        agent was heard from lately (a gateway restart, a blip), it stays routed: the
        replica the agent reconnects to sends it (see command_delivery.redeliver), or its
        deadline fails it. A node not heard from lately fails it now ("node offline")."""
        delivered, reason = await self._send(command)
        if delivered:
            COMMANDS.labels(command.action, "routed").inc()
            return
        if reason == "node offline" and await self._lately_heard(command):
            COMMANDS.labels(command.action, "waiting").inc()
            return
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await command_outcomes.failed(conn, command.request_id, reason)

    async def _send(self, command: RoutedCommand) -> tuple[bool, str]:
        try:
            delivered = await self.link.send_to_node(
                command.node_id,
                "command",
                msgspec.json.encode(command),
                expiration=self.settings.command_timeout_seconds,
            )
        except Exception:
            log.warning("could not publish a command", exc_info=True)
            return False, "command routing unavailable"
        return delivered, "node offline"

    async def _lately_heard(self, command: RoutedCommand) -> bool:
        """Whether the node's agent spoke within the silence that makes a node offline
        (plus the wait): it is probably reconnecting, not gone."""
        s = self.settings
        recent = s.offline_after_seconds + s.command_reconnect_wait_seconds
        async with self.runtime.pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    """SELECT last_seen_at > now() - make_interval(secs => $2)
                       FROM nodes WHERE id = $1""",
                    command.node_id,
                    recent,
                )
            )
