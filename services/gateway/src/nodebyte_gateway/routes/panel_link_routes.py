"""`/api/admin/users/{id}/pterodactyl`: an admin links an account to a panel user, or
unlinks it, by hand.

A link names a panel user the sync has announced (its admin flag comes along) and
no other account holds. An unlink is remembered: the sync does not link the pair
again by email, until an admin links the account again.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request, delete, put
from litestar.params import FromPath, JSONBody

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import accounts_store, audit
from nodebyte_gateway.accounts import panel_link_store as store
from nodebyte_gateway.context import GatewayContext

PATH = "/api/admin/users/{user_id:uuid}/pterodactyl"
TAGS = ["admin"]
PanelId = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]


class PanelLinkBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pterodactylId: PanelId


class PanelLink(msgspec.Struct, kw_only=True, frozen=True):
    userId: UUID
    pterodactylId: int | None
    isPterodactylAdmin: bool
    isMigrated: bool


class PanelLinkAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: PanelLink
    message: str


def link_view(row: asyncpg.Record) -> PanelLink:
    return PanelLink(
        userId=row["id"],
        pterodactylId=row["pterodactyl_id"],
        isPterodactylAdmin=row["is_pterodactyl_admin"],
        isMigrated=row["is_migrated"],
    )


def _held_by_another(holder: UUID) -> ApiError:
    return ApiError(
        409,
        "Another account is linked to this panel user; unlink it first",
        "PANEL_USER_LINKED",
        details={"userId": str(holder)},
    )


def routes(ctx: GatewayContext) -> list[Any]:
    pool_of = lambda: ctx.runtime.pool  # noqa: E731
    write = ctx.require(catalogue.USER_WRITE)

    async def existing(conn: asyncpg.Connection, user_id: UUID) -> None:
        if await accounts_store.by_id(conn, user_id, for_update=True) is None:
            raise ApiError(404, "User not found")

    @put(
        PATH,
        guards=[write],
        tags=TAGS,
        summary="Link an account to a panel user",
        opt=audit.action("user.panel_link", keep=("pterodactylId",)),
    )
    async def link(
        user_id: FromPath[UUID], data: JSONBody[PanelLinkBody], request: Request
    ) -> PanelLinkAnswer:
        body = data
        async with pool_of().acquire() as conn, conn.transaction():
            await existing(conn, user_id)
            panel_user = await store.identity(conn, body.pterodactylId)
            if panel_user is None:
                raise ApiError(
                    400,
                    f"No panel user {body.pterodactylId} is known; run a users sync first",
                    "UNKNOWN_PANEL_USER",
                )
            holder = await store.holder_of(conn, body.pterodactylId)
            if holder is not None and holder != user_id:
                raise _held_by_another(holder)
            try:
                async with conn.transaction():
                    row = await store.set_link(
                        conn, user_id, body.pterodactylId, panel_user["root_admin"]
                    )
            except asyncpg.UniqueViolationError:  # linked by someone else meanwhile
                raise _held_by_another(await store.holder_of(conn, body.pterodactylId)) from None
        return PanelLinkAnswer(success=True, data=link_view(row), message="Account linked")

    @delete(
        PATH,
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Unlink an account from its panel user",
        opt=audit.action("user.panel_unlink"),
    )
    async def unlink(user_id: FromPath[UUID]) -> PanelLinkAnswer:
        async with pool_of().acquire() as conn, conn.transaction():
            await existing(conn, user_id)
            row = await store.clear_link(conn, user_id)
        return PanelLinkAnswer(success=True, data=link_view(row), message="Account unlinked")

    return [link, unlink]
