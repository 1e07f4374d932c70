"""Machine-readable descriptions: the AsyncAPI document of the event catalogue."""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from nodebyte_common.asyncapi import asyncapi_document
from nodebyte_gateway.context import GatewayContext


def routes(ctx: GatewayContext) -> list[Any]:
    document = asyncapi_document(ctx.settings.amqp_prefix)

    @get(
        "/asyncapi",
        tags=["docs"],
        summary="AsyncAPI document of every event",
        opt={"rate_limit": "public"},
        sync_to_thread=False,
    )
    def asyncapi() -> Response[dict[str, Any]]:
        return Response(document)

    return [asyncapi]
