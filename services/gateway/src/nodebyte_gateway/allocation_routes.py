"""Allocations (`/api/servers/{id}/allocations`) and nodes' IP pools (`/api/nodes/{id}/ip-pool`).

The node-agent-gateway owns both and picks free ip:port allocations; these
routes check the caller, validate the body against the shared contract
(`nodebyte_common.allocations`), forward it, and note every change asked for,
done or refused, in the audit log with its outcome.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.allocations import AllocationCreate, IpPoolUpdate
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_gateway import audit
from nodebyte_gateway.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.node_routes import AGENTS, forward

TAGS = ["servers"]


def routes(ctx: GatewayContext) -> list[Any]:
    agents = ctx.client(AGENTS)
    require = ctx.require

    async def audited(
        request: Request, action: str, target: tuple[str, UUID], call: Any, asked: Any = None
    ) -> Response[Any]:
        """Forward the change; the audit log gets its outcome either way."""
        try:
            response = await call
        except ApiError as exc:
            outcome = {"outcome": "refused", "status": exc.status, "code": exc.code}
            await _record(request, action, target, asked, {**outcome, "error": exc.message})
            raise
        data = response.content.get("data") if isinstance(response.content, dict) else None
        await _record(request, action, target, asked, {"outcome": "succeeded", "result": data})
        return response

    async def _record(
        request: Request, action: str, target: tuple[str, UUID], asked: Any, after: Any
    ) -> None:
        async with ctx.runtime.pool.acquire() as conn:
            await audit.record(conn, caller(request), action, target, asked, after, request)

    @get(
        "/api/servers/{server_id:uuid}/allocations",
        guards=[require(catalogue.SERVER_READ)],
        tags=TAGS,
        summary="A server's allocations (ip:port bindings), the primary one first",
    )
    async def list_allocations(server_id: FromPath[UUID]) -> Any:
        return await forward(agents, "GET", f"/servers/{server_id}/allocations")

    @post(
        "/api/servers/{server_id:uuid}/allocations",
        guards=[require(catalogue.SERVER_UPDATE)],
        tags=TAGS,
        status_code=200,
        summary="Allocate another ip:port from the node's pool (server stopped)",
        opt=audit.in_handler(),
    )
    async def add_allocation(server_id: FromPath[UUID], request: Request) -> Any:
        body = msgspec.to_builtins(decode_body(await request.body(), AllocationCreate))
        call = forward(agents, "POST", f"/servers/{server_id}/allocations", json=body)
        return await audited(request, "server.allocation.create", ("server", server_id), call, body)

    @delete(
        "/api/servers/{server_id:uuid}/allocations/{allocation_id:uuid}",
        guards=[require(catalogue.SERVER_UPDATE)],
        tags=TAGS,
        status_code=200,
        summary="Release a secondary allocation (server stopped; never the primary)",
        opt=audit.in_handler(),
    )
    async def delete_allocation(
        server_id: FromPath[UUID], allocation_id: FromPath[UUID], request: Request
    ) -> Any:
        path = f"/servers/{server_id}/allocations/{allocation_id}"
        asked = {"allocationId": str(allocation_id)}
        call = forward(agents, "DELETE", path)
        return await audited(
            request, "server.allocation.delete", ("server", server_id), call, asked
        )

    @post(
        "/api/servers/{server_id:uuid}/allocations/{allocation_id:uuid}/primary",
        guards=[require(catalogue.SERVER_UPDATE)],
        tags=TAGS,
        status_code=200,
        summary="Make an allocation the server's primary (server stopped)",
        opt=audit.in_handler(),
    )
    async def set_primary(
        server_id: FromPath[UUID], allocation_id: FromPath[UUID], request: Request
    ) -> Any:
        path = f"/servers/{server_id}/allocations/{allocation_id}/primary"
        asked = {"allocationId": str(allocation_id)}
        call = forward(agents, "POST", path)
        return await audited(
            request, "server.allocation.primary", ("server", server_id), call, asked
        )

    @get(
        "/api/nodes/{node_id:uuid}/ip-pool",
        guards=[require(catalogue.NODE_READ)],
        tags=["nodes"],
        summary="A node's IP pool and port ranges, with its capacity and allocations",
    )
    async def get_pool(node_id: FromPath[UUID]) -> Any:
        return await forward(agents, "GET", f"/nodes/{node_id}/ip-pool")

    @put(
        "/api/nodes/{node_id:uuid}/ip-pool",
        guards=[require(catalogue.NODE_WRITE)],
        tags=["nodes"],
        summary="Replace a node's IP pool (IPs or CIDR blocks) and port ranges",
        opt=audit.in_handler(),
    )
    async def put_pool(node_id: FromPath[UUID], request: Request) -> Any:
        body = msgspec.to_builtins(decode_body(await request.body(), IpPoolUpdate, empty_ok=False))
        call = forward(agents, "PUT", f"/nodes/{node_id}/ip-pool", json=body)
        return await audited(request, "node.ip_pool.update", ("node", node_id), call, body)

    return [list_allocations, add_allocation, delete_allocation, set_primary, get_pool, put_pool]
