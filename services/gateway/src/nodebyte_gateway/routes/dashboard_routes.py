"""`/api/v1/dashboard/{stats,servers}`: the signed-in user's own panel servers.

An account stands for a panel user through its linked `pterodactyl_id` (panel_links.py),
else, until the sync's link arrives, through its email (signing in requires a verified
one; not for an account an admin unlinked); the sync service,
which owns the mirror, resolves that and answers with that user's servers only.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from nodebyte_common.contracts.envelope import Answer, SizedPagedAnswer
from nodebyte_common.contracts.panel_mirror import (
    MirrorServer,
    OwnerStats,
    PanelIdentity,
    ServersQuery,
)
from nodebyte_common.contracts.query import takes_query, wire_params
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import accounts_store
from nodebyte_gateway.accounts.auth import signed_in_user
from nodebyte_gateway.context import GatewayContext

TAGS = ["dashboard"]


def routes(ctx: GatewayContext) -> list[Any]:
    sync = ctx.client("sync")
    user_only = [ctx.require_user()]

    async def panel_identity(request: Request) -> PanelIdentity:
        """What the sync service needs to find the caller's panel user."""
        async with ctx.runtime.pool.acquire() as conn:
            user = await accounts_store.by_id(conn, signed_in_user(request))
        if user is None:
            raise ApiError(401, "This account no longer exists", "UNAUTHORIZED")
        # An account an admin unlinked owns nothing until linked again, whatever its email.
        email = None if user["panel_unlinked_id"] is not None else user["email"]
        return PanelIdentity(panel_user_id=user["pterodactyl_id"], email=email)

    @get("/api/v1/dashboard/stats", guards=user_only, tags=TAGS, summary="Your servers in numbers")
    async def dashboard_stats(request: Request) -> Answer[OwnerStats]:
        params = wire_params(await panel_identity(request))
        return await sync.call_as(Answer[OwnerStats], "GET", "/mirror/owners/stats", params=params)

    @get("/api/v1/dashboard/servers", guards=user_only, tags=TAGS, summary="Your servers")
    @takes_query(ServersQuery)
    async def dashboard_servers(
        request: Request, query: ServersQuery
    ) -> SizedPagedAnswer[MirrorServer]:
        params = wire_params(query) | wire_params(await panel_identity(request))
        return await sync.call_as(
            SizedPagedAnswer[MirrorServer], "GET", "/mirror/owners/servers", params=params
        )

    return [dashboard_stats, dashboard_servers]
