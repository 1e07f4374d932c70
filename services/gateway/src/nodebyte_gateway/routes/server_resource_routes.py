"""A panel server's live resources (`/api/servers/{id}/resources`), read through the sync
service to the panel's Client API (the reference's `GetServerResources`).

The server is named as the panel names it (id, uuid or 8-character identifier,
checked by the sync service); it keeps an answer a few seconds and answers 503
while the panel is down (its circuit open), relayed here in the envelope.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import Parameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.contracts.server_resources import (
    SERVER_REF,
    SERVER_RESOURCES,
    ServerResources,
)
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes


def routes(ctx: GatewayContext) -> list[Any]:
    table = [
        Forward(
            "GET",
            "/api/servers/{server_id:str}/resources",
            SERVER_RESOURCES,
            catalogue.SERVER_READ,
            Answer[ServerResources],
            "Live CPU, memory, disk and network use of a panel server (kept 3 s)",
            path_types={"server_id": Annotated[str, Parameter(pattern=SERVER_REF)]},
        ),
    ]
    return forward_routes(ctx, "sync", ["servers"], table)
