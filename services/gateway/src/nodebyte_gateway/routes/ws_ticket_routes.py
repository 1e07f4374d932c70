"""`POST /api/v1/ws-ticket`: a signed-in user's single-use ticket for one live connection."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody

from nodebyte_common.contracts.envelope import Answer, Empty
from nodebyte_gateway.accounts.auth import signed_in
from nodebyte_gateway.accounts.ws_tickets import WsTickets
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.schemas import WsTicket

USAGE = "?ticket=<ticket> on /ws or a live stream's URL"


def routes(ctx: GatewayContext) -> list[Any]:
    tickets = WsTickets(lambda: ctx.runtime.pool, ctx.settings.ws_ticket_ttl_seconds)

    @post(
        "/api/v1/ws-ticket",
        guards=[ctx.require_user()],
        tags=["auth"],
        status_code=201,
        summary="A ticket (valid 30 s, one use) that opens /ws or a live stream as you",
    )
    async def issue_ticket(
        request: Request, data: JSONBody[Empty | None] = None
    ) -> Answer[WsTicket]:
        ticket = await tickets.issue(signed_in(request))
        return Answer(data=WsTicket(ticket=ticket, expires_in=tickets.ttl_seconds, usage=USAGE))

    return [issue_ticket]
