"""Internal API of the panel mirror: the admin browsers (servers, nodes,
allocations, locations, nests, eggs), node maintenance and one panel user's
servers for the dashboard (reached only by the gateway)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Request, get, patch
from litestar.params import FromQuery, Parameter

from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_common.page_query import (
    LocationId,
    NestId,
    NodeId,
    PageNumber,
    PageRequest,
    PageSize,
    PanelId,
    PanelUserId,
    Search,
    SortOrder,
)
from nodebyte_common.runtime import Runtime
from nodebyte_sync import mirror_queries as q
from nodebyte_sync import node_maintenance
from nodebyte_sync.panel_connection import PanelConnection

Email = Annotated[str | None, Parameter(max_length=320)]


class MaintenanceBody(msgspec.Struct, forbid_unknown_fields=True):
    maintenance: bool


async def _page(
    runtime: Runtime,
    query: q.ListQuery,
    where: q.Conditions,
    view: Callable[[asyncpg.Record], dict[str, Any]],
    request: PageRequest,
    sort: str = "id",
    order: str = "asc",
) -> Any:
    async with runtime.pool.acquire() as conn:
        rows, total = await q.fetch_page(conn, query, where, request, sort, order)
    return ok([view(r) for r in rows], pagination=request.pagination(total))


def mirror_routes(runtime: Runtime, panel: PanelConnection) -> list[Any]:
    @get("/servers")
    async def list_servers(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        sort: FromQuery[Literal["id", "name", "createdAt", "status", "node"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        where = q.server_conditions(search)
        return await _page(
            runtime, q.SERVERS, where, q.server_view, PageRequest(page, page_size), sort, order
        )

    @get("/mirror/nodes")
    async def list_nodes(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        location_id: LocationId = None,
        maintenance: FromQuery[bool | None] = None,
        sort: FromQuery[Literal["id", "name", "fqdn", "createdAt"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        where = q.node_conditions(search, location_id, maintenance)
        return await _page(
            runtime, q.NODES, where, q.node_view, PageRequest(page, page_size), sort, order
        )

    @get("/mirror/nodes/{node_id:int}/allocations")
    async def node_allocations(
        node_id: PanelId,
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        assigned: FromQuery[bool | None] = None,
        sort: FromQuery[Literal["id", "ip", "port"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        async with runtime.pool.acquire() as conn:
            if await conn.fetchval("SELECT 1 FROM nodes WHERE id = $1", node_id) is None:
                raise ApiError(404, "Node not found", "NOT_FOUND")
        where = q.allocation_conditions(search, node_id, assigned)
        return await _page(
            runtime,
            q.ALLOCATIONS,
            where,
            q.allocation_view,
            PageRequest(page, page_size),
            sort,
            order,
        )

    @patch("/mirror/nodes/{node_id:int}/maintenance")
    async def set_maintenance(node_id: PanelId, request: Request) -> Any:
        body = decode_body(await request.body(), MaintenanceBody, empty_ok=False)
        before, node = await node_maintenance.set_maintenance(
            runtime.pool, panel, node_id, body.maintenance
        )
        state = "on" if node["maintenanceMode"] else "off"
        return ok(
            {"before": {"maintenanceMode": before}, "node": node},
            message=f"Maintenance mode is {state}",
        )

    @get("/mirror/allocations")
    async def list_allocations(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        node_id: NodeId = None,
        assigned: FromQuery[bool | None] = None,
        sort: FromQuery[Literal["id", "ip", "port"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        where = q.allocation_conditions(search, node_id, assigned)
        return await _page(
            runtime,
            q.ALLOCATIONS,
            where,
            q.allocation_view,
            PageRequest(page, page_size),
            sort,
            order,
        )

    @get("/mirror/locations")
    async def list_locations(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        sort: FromQuery[Literal["id", "short", "createdAt"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        where = q.location_conditions(search)
        return await _page(
            runtime,
            q.LOCATIONS,
            where,
            q.location_view,
            PageRequest(page, page_size),
            sort,
            order,
        )

    @get("/mirror/nests")
    async def list_nests(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        sort: FromQuery[Literal["id", "name"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        where = q.nest_conditions(search)
        return await _page(
            runtime, q.NESTS, where, q.nest_view, PageRequest(page, page_size), sort, order
        )

    @get("/mirror/eggs")
    async def list_eggs(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        nest_id: NestId = None,
        sort: FromQuery[Literal["id", "name"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        where = q.egg_conditions(search, nest_id)
        return await _page(
            runtime, q.EGGS, where, q.egg_view, PageRequest(page, page_size), sort, order
        )

    @get("/mirror/owners/stats")
    async def owner_stats(
        panel_user_id: PanelUserId = None,
        email: Email = None,
    ) -> Any:
        async with runtime.pool.acquire() as conn:
            owner = await q.panel_owner(conn, panel_user_id, email)
            return ok(await q.owner_stats(conn, owner))

    @get("/mirror/owners/servers")
    async def owner_servers(
        panel_user_id: PanelUserId = None,
        email: Email = None,
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        sort: FromQuery[Literal["id", "name", "createdAt", "status", "node"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        async with runtime.pool.acquire() as conn:
            owner = await q.panel_owner(conn, panel_user_id, email)
        where = q.owned_server_conditions(search, owner)
        return await _page(
            runtime, q.SERVERS, where, q.server_view, PageRequest(page, page_size), sort, order
        )

    return [
        list_servers,
        list_nodes,
        node_allocations,
        set_maintenance,
        list_allocations,
        list_locations,
        list_nests,
        list_eggs,
        owner_stats,
        owner_servers,
    ]
