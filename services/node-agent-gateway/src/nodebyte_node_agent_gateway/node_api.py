"""Internal API for nodes: registration, deployment tokens, usage charts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
import uuid6
from litestar import Request, delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, QueryParameter

from nodebyte_common.contracts.envelope import Answer, Nothing, PagedAnswer, Pages
from nodebyte_common.contracts.nodes import (
    DeploymentToken,
    Node,
    NodeCreate,
    NodeCreated,
    NodeUpdate,
    PageNumber,
    PageSize,
    Usage,
)
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_common.server_templates import DeploymentTarget, DeploymentTokenLookup
from nodebyte_node_agent_gateway import deployment_tokens, node_store, usage
from nodebyte_node_agent_gateway.agent_session import CLOSE_NODE_GONE
from nodebyte_node_agent_gateway.command_delivery import CloseNode
from nodebyte_node_agent_gateway.node_link import NodeLink
from nodebyte_node_agent_gateway.protocol import encode
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings
from nodebyte_node_agent_gateway.views import node_fields, node_view


def given_fields(body: msgspec.Struct) -> dict[str, Any]:
    """The fields the caller sent (UNSET ones left out), by attribute name."""
    return {
        f: getattr(body, f) for f in body.__struct_fields__ if getattr(body, f) is not msgspec.UNSET
    }


def parse_date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} is not an ISO-8601 date") from None
    if parsed.tzinfo is None:
        raise ApiError(400, f"{name} needs a time zone (e.g. Z)")
    return parsed


def routes(
    runtime: Runtime, link: NodeLink, settings: NodeAgentGatewaySettings
) -> list[HTTPRouteHandler]:
    async def load(conn: asyncpg.Connection, node_id: UUID) -> asyncpg.Record:
        row = await node_store.get(conn, node_id)
        if row is None:
            raise ApiError(404, "Node not found")
        return row

    @get("/nodes")
    async def list_nodes(page: PageNumber = 1, limit: PageSize = 20) -> PagedAnswer[Node]:
        async with runtime.pool.acquire() as conn:
            rows, total = await node_store.page(conn, (page - 1) * limit, limit)
            servers = await node_store.servers_of(conn, [r["id"] for r in rows])
        return PagedAnswer(
            data=[node_view(r, servers.get(r["id"], ())) for r in rows],
            pagination=Pages.of(page, limit, total),
        )

    @get("/nodes/{node_id:uuid}")
    async def get_node(node_id: FromPath[UUID]) -> Answer[Node]:
        async with runtime.pool.acquire() as conn:
            row = await load(conn, node_id)
            servers = await node_store.servers_of(conn, [node_id])
        return Answer(data=node_view(row, servers.get(node_id, ())))

    @post("/nodes", status_code=201)
    async def create_node(request: Request) -> Answer[NodeCreated]:
        body = decode_body(await request.body(), NodeCreate, empty_ok=False)
        node_id = uuid6.uuid7()
        async with runtime.pool.acquire() as conn, conn.transaction():
            try:
                row = await node_store.insert(conn, node_id, given_fields(body))
            except asyncpg.UniqueViolationError:
                raise ApiError(409, "A node with this name already exists") from None
            token, expires_at = await deployment_tokens.issue(
                conn, node_id, settings.deployment_token_ttl_days
            )
        return Answer(
            data=NodeCreated(**node_fields(row), deployment_token=token, expires_at=expires_at),
            message="Node created; the deployment token is shown only once",
        )

    @put("/nodes/{node_id:uuid}")
    async def update_node(node_id: FromPath[UUID], request: Request) -> Answer[Node]:
        body = decode_body(await request.body(), NodeUpdate)
        fields = given_fields(body)
        for required in ("name", "hostname", "max_memory_mb", "max_cpu_cores"):
            if required in fields and fields[required] is None:
                raise ApiError(400, f"{required} cannot be null")
        async with runtime.pool.acquire() as conn, conn.transaction():
            await load(conn, node_id)
            try:
                row = await node_store.update(conn, node_id, fields)
            except asyncpg.UniqueViolationError:
                raise ApiError(409, "A node with this name already exists") from None
            servers = await node_store.servers_of(conn, [node_id])
        return Answer(data=node_view(row, servers.get(node_id, ())))

    @delete("/nodes/{node_id:uuid}", status_code=200)
    async def delete_node(node_id: FromPath[UUID]) -> Nothing:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await load(conn, node_id)
            if await node_store.has_servers(conn, node_id):
                raise ApiError(400, "Cannot delete node with active servers", "NODE_HAS_SERVERS")
            await node_store.delete(conn, node_id)
        # Its agent, wherever it is connected, is told to go.
        await link.send_to_node(
            node_id, "close", encode(CloseNode(CLOSE_NODE_GONE, "node deleted"))
        )
        return Nothing(message="Node deleted")

    @post("/nodes/{node_id:uuid}/deployment-token", status_code=200)
    async def rotate_token(node_id: FromPath[UUID]) -> Answer[DeploymentToken]:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await load(conn, node_id)
            token, expires_at = await deployment_tokens.issue(
                conn, node_id, settings.deployment_token_ttl_days
            )
        return Answer(
            data=DeploymentToken(node_id=node_id, deployment_token=token, expires_at=expires_at),
            message="New deployment token issued; earlier tokens no longer work",
        )

    @get("/nodes/{node_id:uuid}/usage/{period:str}")
    async def node_usage(
        node_id: FromPath[UUID],
        period: FromPath[str],
        start: Annotated[str | None, QueryParameter(name="startDate")] = None,
        end: Annotated[str | None, QueryParameter(name="endDate")] = None,
    ) -> Answer[Usage]:
        if period not in usage.PERIODS:
            raise ApiError(400, f"period must be one of {', '.join(usage.PERIODS)}")
        async with runtime.pool.acquire() as conn:
            await load(conn, node_id)
            data = await usage.series(
                conn,
                "node",
                node_id,
                period,
                parse_date(start, "startDate"),
                parse_date(end, "endDate"),
            )
        return Answer(data=data)

    @post("/deployment-tokens/lookup", status_code=200)
    async def token_target(request: Request) -> Answer[DeploymentTarget]:
        """Whose token this is (for the gateway's deploy script); the token in the body,
        never in a URL."""
        body = decode_body(await request.body(), DeploymentTokenLookup, empty_ok=False)
        async with runtime.pool.acquire() as conn:
            row = await deployment_tokens.target(conn, body.token)
        if row is None:
            raise ApiError(404, "Deployment token not found")
        target = DeploymentTarget(
            node_id=row["id"], node_name=row["name"], expires_at=row["expires_at"]
        )
        return Answer(data=target)

    return [
        list_nodes,
        get_node,
        create_node,
        update_node,
        delete_node,
        rotate_token,
        node_usage,
        token_target,
    ]
