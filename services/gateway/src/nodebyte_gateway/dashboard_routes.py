"""`/api/v1/dashboard/{stats,servers}`: the signed-in user's own panel servers.

An account stands for a panel user through its linked `pterodactyl_id` (panel_links.py),
else, until the sync's link arrives, through its email (signing in requires a verified
one; not for an account an admin unlinked); the sync service,
which owns the mirror, resolves that and answers with that user's servers only.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, get
from litestar.params import FromQuery

from nodebyte_common.envelope import ApiError
from nodebyte_common.page_query import PageNumber, PageSize, Search, SortOrder
from nodebyte_gateway import accounts_store
from nodebyte_gateway.auth import signed_in_user
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.forwarding import query

TAGS = ["dashboard"]


def routes(ctx: GatewayContext) -> list[Any]:
    sync = ctx.client("sync")
    user_only = [ctx.require_user()]

    async def panel_identity(request: Request) -> dict[str, Any]:
        """What the sync service needs to find the caller's panel user."""
        async with ctx.runtime.pool.acquire() as conn:
            user = await accounts_store.by_id(conn, signed_in_user(request))
        if user is None:
            raise ApiError(401, "This account no longer exists", "UNAUTHORIZED")
        # An account an admin unlinked owns nothing until linked again, whatever its email.
        email = None if user["panel_unlinked_id"] is not None else user["email"]
        return {"panelUserId": user["pterodactyl_id"], "email": email}

    @get("/api/v1/dashboard/stats", guards=user_only, tags=TAGS, summary="Your servers in numbers")
    async def dashboard_stats(request: Request) -> Any:
        return await query(sync, "/mirror/owners/stats", await panel_identity(request))

    @get("/api/v1/dashboard/servers", guards=user_only, tags=TAGS, summary="Your servers")
    async def dashboard_servers(
        request: Request,
        page: PageNumber = 1,
        page_size: PageSize = 25,
        search: Search = None,
        sort: FromQuery[Literal["id", "name", "createdAt", "status", "node"]] = "id",
        order: SortOrder = "asc",
    ) -> Any:
        params = {"page": page, "pageSize": page_size, "search": search, "sort": sort}
        identity = await panel_identity(request)
        return await query(sync, "/mirror/owners/servers", {**params, "order": order, **identity})

    return [dashboard_stats, dashboard_servers]
