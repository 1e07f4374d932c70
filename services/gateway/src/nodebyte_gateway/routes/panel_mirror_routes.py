"""Admin browsers of the panel mirror (`/api/admin/{servers, nodes, locations,
allocations, nests, eggs}`) and a node's maintenance mode.

The sync service owns the mirror and the panel connection: reads are forwarded
to its internal API with the contract's queries; maintenance is applied on the
panel by it (so a later sync keeps it) and audited here once it has been.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, patch
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts import panel_mirror as c
from nodebyte_common.contracts.envelope import Answer, SizedPagedAnswer
from nodebyte_common.envelope import ApiError
from nodebyte_common.page_query import PanelId
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes

SYNC = "sync"
TAGS = ["admin"]


def routes(ctx: GatewayContext) -> list[Any]:
    read = catalogue.ADMIN_READ
    node = "/api/admin/nodes/{node_id:int}"
    table = [
        Forward("GET", "/api/admin/servers", "/servers", read,
                SizedPagedAnswer[c.MirrorServer], "Servers of the panel mirror",
                query=c.ServersQuery),
        Forward("GET", "/api/admin/nodes", "/mirror/nodes", read,
                SizedPagedAnswer[c.MirrorNode], "Nodes of the panel mirror", query=c.NodesQuery),
        Forward("GET", node + "/allocations", "/mirror/nodes/{node_id}/allocations", read,
                SizedPagedAnswer[c.Allocation], "Allocations of one node of the panel mirror",
                query=c.NodeAllocationsQuery, path_types={"node_id": PanelId}),
        Forward("GET", "/api/admin/locations", "/mirror/locations", read,
                SizedPagedAnswer[c.Location], "Locations of the panel mirror",
                query=c.LocationsQuery),
        Forward("GET", "/api/admin/allocations", "/mirror/allocations", read,
                SizedPagedAnswer[c.Allocation], "Allocations of the panel mirror",
                query=c.AllocationsQuery),
        Forward("GET", "/api/admin/nests", "/mirror/nests", read,
                SizedPagedAnswer[c.Nest], "Nests of the panel mirror", query=c.NestsQuery),
        Forward("GET", "/api/admin/eggs", "/mirror/eggs", read,
                SizedPagedAnswer[c.Egg], "Eggs of the panel mirror", query=c.EggsQuery),
    ]  # fmt: skip
    return [*forward_routes(ctx, SYNC, TAGS, table), _maintenance_route(ctx)]


def _maintenance_route(ctx: GatewayContext) -> HTTPRouteHandler:
    sync = ctx.client(SYNC)

    @patch(
        "/api/admin/nodes/{node_id:int}/maintenance",
        guards=[ctx.require(catalogue.ADMIN_WRITE)],
        tags=TAGS,
        summary="Turn a node's maintenance mode on or off, on the panel",
    )
    async def admin_node_maintenance(
        node_id: PanelId, data: JSONBody[c.MaintenanceBody], request: Request
    ) -> Answer[c.MirrorNode]:
        enabled = _maintenance(data)
        answer = await sync.call_as(
            Answer[c.MaintenanceChanged],
            "PATCH",
            f"/mirror/nodes/{node_id}/maintenance",
            json=c.MaintenanceChange(maintenance=enabled),
        )
        changed = answer.data
        async with ctx.runtime.pool.acquire() as conn:
            await audit.record(
                conn,
                None,
                "panel_node.maintenance_updated",
                ("panel_node", node_id),
                {"maintenanceMode": changed.before.maintenance_mode},
                {"maintenanceMode": changed.node.maintenance_mode},
                request,
            )
        return Answer(data=changed.node, message=answer.message)

    return admin_node_maintenance


def _maintenance(body: c.MaintenanceBody) -> bool:
    given = [v for v in (body.maintenance, body.maintenance_mode) if v is not msgspec.UNSET]
    if len(given) != 1:
        raise ApiError(400, "Give `maintenance` as true or false", "VALIDATION_ERROR")
    return given.pop()
