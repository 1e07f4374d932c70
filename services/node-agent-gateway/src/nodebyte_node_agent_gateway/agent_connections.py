"""Bringing an agent session online and taking it offline again.

Online: this replica holds the session (replacing an older one here), binds
the node's routing key, tells other replicas to drop older sessions of the
node, records the node online with `node.connected` (resolving its open
offline alerts); once the agent has its handshake response, the node's
commands still waiting are sent (see command_delivery.redeliver). Offline: the
binding is released and, if the session was still the node's current one, the
node is recorded offline with `node.disconnected`. The `node_offline` alert
waits for silence (see liveness).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from nodebyte_common import events, outbox
from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import alerts, node_store
from nodebyte_node_agent_gateway.agent_session import CLOSE_REPLACED, AgentSession
from nodebyte_node_agent_gateway.command_delivery import Takeover
from nodebyte_node_agent_gateway.file_streams import FileStreams
from nodebyte_node_agent_gateway.metrics import forget_node
from nodebyte_node_agent_gateway.node_link import NodeLink
from nodebyte_node_agent_gateway.protocol import encode
from nodebyte_node_agent_gateway.session_registry import SessionRegistry

SOURCE = "nodebyte/node-agent-gateway"


class AgentConnections:
    def __init__(
        self,
        runtime: Runtime,
        registry: SessionRegistry,
        link: NodeLink,
        replica_id: str,
        files: FileStreams,
    ) -> None:
        self.runtime = runtime
        self.registry = registry
        self.link = link
        self.replica_id = replica_id
        self.files = files
        # Told when a session of a node ends (its transfers under way roll back).
        self.on_node_left: Callable[[UUID], Awaitable[None]] | None = None
        # Told once a node's agent is greeted here (its waiting commands go out).
        self.on_node_joined: Callable[[UUID], Awaitable[None]] | None = None

    async def attach(self, session: AgentSession) -> None:
        previous = self.registry.put(session)
        if previous is not None:
            await previous.close(CLOSE_REPLACED, "replaced by a newer connection")
        await self.link.hold_node(session.node_id)
        session.bound = True
        await self.link.send_to_node(
            session.node_id, "takeover", encode(Takeover(session.session_id))
        )
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            await node_store.mark_online(
                conn, session.node_id, session.session_id, self.replica_id, session.agent_version
            )
            await outbox.enqueue(
                conn,
                events.NodeConnected(
                    node_id=session.node_id,
                    connected_at=datetime.now(UTC),
                    replica=self.replica_id,
                ),
                source=SOURCE,
            )
            await alerts.resolve_node_offline(conn, session.node_id)
            session.servers = await node_store.server_ids(conn, session.node_id)
        session.servers_loaded_at = time.monotonic()

    async def greeted(self, session: AgentSession) -> None:
        """The agent has its handshake response (the first frame it expects): commands
        may go to it now, and those waiting for the node go first."""
        session.greeted = True
        if self.on_node_joined is not None:
            await self.on_node_joined(session.node_id)

    async def detach(self, session: AgentSession) -> None:
        if self.registry.remove(session):
            forget_node(session.node_key)
            self.files.node_gone(session.node_id)
        if session.bound:
            session.bound = False
            await self.link.release_node(session.node_id)
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            if await node_store.mark_offline(conn, session.node_id, session.session_id):
                await outbox.enqueue(
                    conn,
                    events.NodeDisconnected(
                        node_id=session.node_id,
                        disconnected_at=datetime.now(UTC),
                        reason=session.close_reason,
                    ),
                    source=SOURCE,
                )
        if self.on_node_left is not None:  # even when it reconnected: that stream is broken
            await self.on_node_left(session.node_id)
