"""Admin browsers of the panel mirror (`/api/admin/{nodes, locations, allocations,
nests, eggs}`) and a node's maintenance mode.

The sync service owns the mirror and the panel connection: reads are relayed
to its internal API; maintenance is applied on the panel by it (so a later sync
keeps it) and audited here once it has been.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, get, patch
from litestar.params import FromQuery

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_common.page_query import (
    LocationId,
    NestId,
    NodeId,
    PageNumber,
    PageSize,
    PanelId,
    Search,
    SortOrder,
)
from nodebyte_gateway import audit
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.forwarding import query, relay

TAGS = ["admin"]


class MaintenanceBody(msgspec.Struct, forbid_unknown_fields=True):
    maintenance: bool | None = None
    maintenance_mode: bool | None = None  # the panel's own name for it

    def value(self) -> bool:
        given = {v for v in (self.maintenance, self.maintenance_mode) if v is not None}
        if len(given) != 1:
            raise ApiError(400, "Give `maintenance` as true or false", "VALIDATION_ERROR")
        return given.pop()


def _paging(page: int, page_size: int, search: str | None, sort: str, order: str) -> dict:
    return {"page": page, "pageSize": page_size, "search": search, "sort": sort, "order": order}


def routes(ctx: GatewayContext) -> list[Any]:
    sync = ctx.client("sync")
    pool_of = lambda: ctx.runtime.pool  # noqa: E731 - the pool exists once the app started
    read, write = [ctx.require(catalogue.ADMIN_READ)], [ctx.require(catalogue.ADMIN_WRITE)]

    @get("/api/admin/nodes", guards=read, tags=TAGS, summary="Nodes of the panel mirror")
    async def admin_nodes(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        location_id: LocationId = None,
        maintenance: FromQuery[bool | None] = None,
        sort: FromQuery[Literal["id", "name", "fqdn", "createdAt"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        params = _paging(page, page_size, search, sort, order)
        return await query(
            sync, "/mirror/nodes", {**params, "locationId": location_id, "maintenance": maintenance}
        )

    @get(
        "/api/admin/nodes/{node_id:int}/allocations",
        guards=read,
        tags=TAGS,
        summary="Allocations of one node of the panel mirror",
    )
    async def admin_node_allocations(
        node_id: PanelId,
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        assigned: FromQuery[bool | None] = None,
        sort: FromQuery[Literal["id", "ip", "port"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        params = _paging(page, page_size, search, sort, order)
        return await query(
            sync, f"/mirror/nodes/{node_id}/allocations", {**params, "assigned": assigned}
        )

    @patch(
        "/api/admin/nodes/{node_id:int}/maintenance",
        guards=write,
        tags=TAGS,
        summary="Turn a node's maintenance mode on or off, on the panel",
    )
    async def admin_node_maintenance(node_id: PanelId, request: Request) -> Any:
        enabled = decode_body(await request.body(), MaintenanceBody, empty_ok=False).value()
        status, body = await sync.call(
            "PATCH", f"/mirror/nodes/{node_id}/maintenance", json={"maintenance": enabled}
        )
        if status != 200:
            return relay(status, body)
        data = body["data"]
        async with pool_of().acquire() as conn:
            await audit.record(
                conn,
                None,
                "panel_node.maintenance_updated",
                ("panel_node", node_id),
                data["before"],
                {"maintenanceMode": data["node"]["maintenanceMode"]},
                request,
            )
        return ok(data["node"], message=body.get("message"))

    @get("/api/admin/locations", guards=read, tags=TAGS, summary="Locations of the panel mirror")
    async def admin_locations(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        sort: FromQuery[Literal["id", "short", "createdAt"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        return await query(sync, "/mirror/locations", _paging(page, page_size, search, sort, order))

    @get(
        "/api/admin/allocations", guards=read, tags=TAGS, summary="Allocations of the panel mirror"
    )
    async def admin_allocations(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        node_id: NodeId = None,
        assigned: FromQuery[bool | None] = None,
        sort: FromQuery[Literal["id", "ip", "port"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        params = _paging(page, page_size, search, sort, order)
        return await query(
            sync, "/mirror/allocations", {**params, "nodeId": node_id, "assigned": assigned}
        )

    @get("/api/admin/nests", guards=read, tags=TAGS, summary="Nests of the panel mirror")
    async def admin_nests(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        sort: FromQuery[Literal["id", "name"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        return await query(sync, "/mirror/nests", _paging(page, page_size, search, sort, order))

    @get("/api/admin/eggs", guards=read, tags=TAGS, summary="Eggs of the panel mirror")
    async def admin_eggs(
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        nest_id: NestId = None,
        sort: FromQuery[Literal["id", "name"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        params = _paging(page, page_size, search, sort, order)
        return await query(sync, "/mirror/eggs", {**params, "nestId": nest_id})

    return [
        admin_nodes,
        admin_node_allocations,
        admin_node_maintenance,
        admin_locations,
        admin_allocations,
        admin_nests,
        admin_eggs,
    ]
