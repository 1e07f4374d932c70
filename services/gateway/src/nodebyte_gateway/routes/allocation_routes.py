"""Allocations (`/api/servers/{id}/allocations`) and nodes' IP pools (`/api/nodes/{id}/ip-pool`).

The node-agent-gateway owns both and picks free ip:port allocations; these
routes check the caller, validate the body against the shared contract
(`nodebyte_common.allocations`) and forward it. Every change asked for, done or
refused, is in the audit log with its outcome (the audit trail's).
"""

from __future__ import annotations

from typing import Any

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.allocations import (
    AllocationCreate,
    AllocationView,
    IpPoolUpdate,
    IpPoolView,
    PrimaryView,
)
from nodebyte_common.contracts.envelope import Answer, Nothing
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes
from nodebyte_gateway.routes.node_routes import AGENTS


def routes(ctx: GatewayContext) -> list[Any]:
    allocations = "/api/servers/{server_id:uuid}/allocations"
    allocation = allocations + "/{allocation_id:uuid}"
    internal = "/servers/{server_id}/allocations"
    pool, internal_pool = "/api/nodes/{node_id:uuid}/ip-pool", "/nodes/{node_id}/ip-pool"
    servers = [
        Forward(
            "GET",
            allocations,
            internal,
            catalogue.SERVER_READ,
            Answer[list[AllocationView]],
            "A server's allocations (ip:port bindings), the primary one first",
        ),
        Forward(
            "POST",
            allocations,
            internal,
            catalogue.SERVER_UPDATE,
            Answer[AllocationView],
            "Allocate another ip:port from the node's pool (server stopped)",
            body=AllocationCreate,
            audit=audit.action("server.allocation.create", keep=("ip", "port")),
        ),
        Forward(
            "DELETE",
            allocation,
            internal + "/{allocation_id}",
            catalogue.SERVER_UPDATE,
            Nothing,
            "Release a secondary allocation (server stopped; never the primary)",
            audit=audit.action("server.allocation.delete"),
        ),
        Forward(
            "POST",
            allocation + "/primary",
            internal + "/{allocation_id}/primary",
            catalogue.SERVER_UPDATE,
            Answer[PrimaryView],
            "Make an allocation the server's primary (server stopped)",
            audit=audit.action("server.allocation.primary"),
        ),
    ]
    nodes = [
        Forward("GET", pool, internal_pool, catalogue.NODE_READ, Answer[IpPoolView],
                "A node's IP pool and port ranges, with its capacity and allocations"),
        Forward("PUT", pool, internal_pool, catalogue.NODE_WRITE, Answer[IpPoolView],
                "Replace a node's IP pool (IPs or CIDR blocks) and port ranges",
                body=IpPoolUpdate, audit=audit.action("node.ip_pool.update")),
    ]  # fmt: skip
    return [
        *forward_routes(ctx, AGENTS, ["servers"], servers),
        *forward_routes(ctx, AGENTS, ["nodes"], nodes),
    ]
