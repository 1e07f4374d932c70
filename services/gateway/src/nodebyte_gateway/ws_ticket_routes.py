"""`POST /api/v1/ws-ticket`: a signed-in user's single-use ticket for one live connection."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post

from nodebyte_gateway.auth import signed_in
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.ws_tickets import WsTickets


class WsTicket(msgspec.Struct, rename="camel"):
    ticket: str
    expires_in: int  # seconds
    usage: str


class WsTicketAnswer(msgspec.Struct):
    """The envelope: `{"success": true, "data": {ticket, expiresIn, usage}}`."""

    data: WsTicket
    success: bool = True


def routes(ctx: GatewayContext) -> list[Any]:
    tickets = WsTickets(lambda: ctx.runtime.pool, ctx.settings.ws_ticket_ttl_seconds)

    @post(
        "/api/v1/ws-ticket",
        guards=[ctx.require_user()],
        tags=["auth"],
        status_code=201,
        summary="A ticket (valid 30 s, one use) that opens /ws or a live stream as you",
    )
    async def issue_ticket(request: Request) -> Response[WsTicketAnswer]:
        ticket = await tickets.issue(signed_in(request))
        usage = "?ticket=<ticket> on /ws or a live stream's URL"
        return Response(
            WsTicketAnswer(WsTicket(ticket, tickets.ttl_seconds, usage)), status_code=201
        )

    return [issue_ticket]
