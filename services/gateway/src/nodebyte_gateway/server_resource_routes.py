"""A panel server's live resources (`/api/servers/{id}/resources`), read through the sync
service to the panel's Client API (the reference's `GetServerResources`).

The server is named as the panel names it (id, uuid or 8-character identifier);
the sync service keeps an answer a few seconds and answers 503 while the panel
is down (its circuit open), which this route relays in the envelope.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.params import Parameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.server_resources import (
    SERVER_REF,
    SERVER_RESOURCES,
    ServerResourcesAnswer,
)
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.forwarding import relay


def routes(ctx: GatewayContext) -> list[Any]:
    sync = ctx.client("sync")

    @get(
        "/api/servers/{server_id:str}/resources",
        guards=[ctx.require(catalogue.SERVER_READ)],
        tags=["servers"],
        summary="Live CPU, memory, disk and network use of a panel server (cached a few seconds)",
    )
    async def server_resources(
        server_id: Annotated[str, Parameter(pattern=SERVER_REF, max_length=36)],
    ) -> ServerResourcesAnswer:
        status, body = await sync.call("GET", SERVER_RESOURCES.format(server_ref=server_id))
        if status != 200:
            relay(status, body)  # raises the sync service's refusal in our envelope
        try:
            return msgspec.convert(body, ServerResourcesAnswer)
        except msgspec.ValidationError:
            relay(502, None)  # an answer outside the contract: UPSTREAM_ERROR
            raise

    return [server_resources]
