"""Internal API of the panel mirror: the admin browsers (servers, nodes,
allocations, locations, nests, eggs), node maintenance and one panel user's
servers for the dashboard (reached only by the gateway).

Each browser takes its query as the contract's Struct (`contracts.panel_mirror`),
the same one the gateway forwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Request, get, patch
from litestar.params import Parameter

from nodebyte_common.contracts import panel_mirror as c
from nodebyte_common.contracts.envelope import Answer, SizedPagedAnswer, SizedPages
from nodebyte_common.contracts.query import takes_query
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.page_query import PageRequest, PanelId, PanelUserId
from nodebyte_common.runtime import Runtime
from nodebyte_sync import mirror_queries as q
from nodebyte_sync import node_maintenance
from nodebyte_sync.panel_connection import PanelConnection

Email = Annotated[str | None, Parameter(max_length=320)]


async def _page(
    runtime: Runtime,
    query: q.ListQuery,
    where: q.Conditions,
    view: Callable[[asyncpg.Record], msgspec.Struct],
    asked: c.MirrorQuery,
    sort: str,
) -> SizedPagedAnswer[Any]:
    request = PageRequest(asked.page, asked.page_size)
    async with runtime.pool.acquire() as conn:
        rows, total = await q.fetch_page(conn, query, where, request, sort, asked.order)
    return SizedPagedAnswer(
        data=[view(r) for r in rows],
        pagination=SizedPages.of(asked.page, asked.page_size, total),
    )


def mirror_routes(runtime: Runtime, panel: PanelConnection) -> list[Any]:
    @get("/servers")
    @takes_query(c.ServersQuery)
    async def list_servers(query: c.ServersQuery) -> SizedPagedAnswer[c.MirrorServer]:
        where = q.server_conditions(query.search)
        return await _page(runtime, q.SERVERS, where, q.server_view, query, query.sort)

    @get("/mirror/nodes")
    @takes_query(c.NodesQuery)
    async def list_nodes(query: c.NodesQuery) -> SizedPagedAnswer[c.MirrorNode]:
        where = q.node_conditions(query.search, query.location_id, query.maintenance)
        return await _page(runtime, q.NODES, where, q.node_view, query, query.sort)

    @get("/mirror/nodes/{node_id:int}/allocations")
    @takes_query(c.NodeAllocationsQuery)
    async def node_allocations(
        node_id: PanelId, query: c.NodeAllocationsQuery
    ) -> SizedPagedAnswer[c.Allocation]:
        async with runtime.pool.acquire() as conn:
            if await conn.fetchval("SELECT 1 FROM nodes WHERE id = $1", node_id) is None:
                raise ApiError(404, "Node not found", "NOT_FOUND")
        where = q.allocation_conditions(query.search, node_id, query.assigned)
        return await _page(runtime, q.ALLOCATIONS, where, q.allocation_view, query, query.sort)

    @patch("/mirror/nodes/{node_id:int}/maintenance")
    async def set_maintenance(node_id: PanelId, request: Request) -> Answer[c.MaintenanceChanged]:
        body = decode_body(await request.body(), c.MaintenanceChange, empty_ok=False)
        before, node = await node_maintenance.set_maintenance(
            runtime.pool, panel, node_id, body.maintenance
        )
        state = "on" if node.maintenance_mode else "off"
        changed = c.MaintenanceChanged(
            before=c.MaintenanceBefore(maintenance_mode=before), node=node
        )
        return Answer(data=changed, message=f"Maintenance mode is {state}")

    @get("/mirror/allocations")
    @takes_query(c.AllocationsQuery)
    async def list_allocations(query: c.AllocationsQuery) -> SizedPagedAnswer[c.Allocation]:
        where = q.allocation_conditions(query.search, query.node_id, query.assigned)
        return await _page(runtime, q.ALLOCATIONS, where, q.allocation_view, query, query.sort)

    @get("/mirror/locations")
    @takes_query(c.LocationsQuery)
    async def list_locations(query: c.LocationsQuery) -> SizedPagedAnswer[c.Location]:
        where = q.location_conditions(query.search)
        return await _page(runtime, q.LOCATIONS, where, q.location_view, query, query.sort)

    @get("/mirror/nests")
    @takes_query(c.NestsQuery)
    async def list_nests(query: c.NestsQuery) -> SizedPagedAnswer[c.Nest]:
        where = q.nest_conditions(query.search)
        return await _page(runtime, q.NESTS, where, q.nest_view, query, query.sort)

    @get("/mirror/eggs")
    @takes_query(c.EggsQuery)
    async def list_eggs(query: c.EggsQuery) -> SizedPagedAnswer[c.Egg]:
        where = q.egg_conditions(query.search, query.nest_id)
        return await _page(runtime, q.EGGS, where, q.egg_view, query, query.sort)

    @get("/mirror/owners/stats")
    @takes_query(c.PanelIdentity)
    async def owner_stats(query: c.PanelIdentity) -> Answer[c.OwnerStats]:
        async with runtime.pool.acquire() as conn:
            owner = await q.panel_owner(conn, query.panel_user_id, query.email)
            return Answer(data=await q.owner_stats(conn, owner))

    @get("/mirror/owners/servers")
    @takes_query(c.ServersQuery)
    async def owner_servers(
        query: c.ServersQuery,
        panel_user_id: PanelUserId = None,
        email: Email = None,
    ) -> SizedPagedAnswer[c.MirrorServer]:
        async with runtime.pool.acquire() as conn:
            owner = await q.panel_owner(conn, panel_user_id, email)
        where = q.owned_server_conditions(query.search, owner)
        return await _page(runtime, q.SERVERS, where, q.server_view, query, query.sort)

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
