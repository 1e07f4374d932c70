"""Route `server.command_requested` from the shared queue to the replica holding the node.

Any replica may take a command off the shared durable queue. It checks the
command against the server (exists, not suspended, a sensible state, a valid
payload), records it as `routed` and commits, then publishes it to the node's
routing key (see `node_link`). The broker returns it when no replica holds
the node: the command fails at once with "node offline". The commit comes
before the publish so the holding replica always finds the row it updates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import msgspec

from nodebyte_common import events, inbox
from nodebyte_common.cloudevents import EventMeta
from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import backup_store, command_outcomes, command_store, server_store
from nodebyte_node_agent_gateway.agent_commands import InvalidPayload, agent_frame, backup_name
from nodebyte_node_agent_gateway.lifecycle import DESIRED_AFTER, ActionRefused, admit
from nodebyte_node_agent_gateway.metrics import COMMANDS
from nodebyte_node_agent_gateway.node_link import NodeLink
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings

log = logging.getLogger(__name__)


class RoutedCommand(msgspec.Struct, frozen=True, rename="camel"):
    """What travels to the holding replica: the agent frame and whom it concerns."""

    request_id: UUID
    node_id: UUID
    server_id: UUID
    action: str
    frame: dict[str, object]


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
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            if not await inbox.claim(conn, self.consumer_name, meta.id):
                return
            outcome = await self._admit(conn, event)
            if outcome is None:
                return  # the same request id came before under another event
            if isinstance(outcome, _Refusal):
                await command_outcomes.announce_failure(
                    conn,
                    request_id=event.request_id,
                    server_id=event.server_id,
                    node_id=outcome.node_id,
                    action=event.action,
                    reason=outcome.reason,
                    requested_by=event.requested_by,
                )
                return
        await self._publish(outcome)

    async def _admit(
        self, conn: asyncpg.Connection, event: events.ServerCommandRequested
    ) -> RoutedCommand | _Refusal | None:
        server = await server_store.get(conn, event.server_id, for_update=True)
        if server is None:
            return _Refusal("server not found", None)
        if await command_store.exists(conn, event.request_id):
            return None
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
            )
        except ActionRefused as refused:
            return _Refusal(refused.reason, node_id)
        except InvalidPayload as invalid:
            return _Refusal(f"invalid payload: {invalid}", node_id)
        if event.action == "backup" and not await backup_store.start(
            conn, event.request_id, server["id"], backup_name(event.payload)
        ):
            return _Refusal("a backup with this name already exists", node_id)
        await command_store.insert_routed(
            conn,
            request_id=event.request_id,
            server_id=server["id"],
            node_id=node_id,
            action=event.action,
            requested_by=event.requested_by,
        )
        if (desired := DESIRED_AFTER.get(event.action)) is not None:
            await server_store.set_desired(conn, server["id"], desired)
        return RoutedCommand(event.request_id, node_id, server["id"], event.action, frame)

    async def _publish(self, command: RoutedCommand) -> None:
        try:
            delivered = await self.link.send_to_node(
                command.node_id,
                "command",
                msgspec.json.encode(command),
                expiration=self.settings.command_timeout_seconds,
            )
            reason = "node offline"
        except Exception:
            log.warning("could not publish a command", exc_info=True)
            delivered, reason = False, "command routing unavailable"
        if delivered:
            COMMANDS.labels(command.action, "routed").inc()
            return
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await command_outcomes.failed(conn, command.request_id, reason)
