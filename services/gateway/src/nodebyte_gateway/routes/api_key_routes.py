"""`/api/admin/api-keys`: list, create (the key is shown once) and revoke API keys.

A caller can only create keys whose scopes it holds itself, so an `admin.write`
key cannot mint a `*` key. A key names the user accountable for it (the user
who made it, or the creator of the key that made it) and never holds more than
that user holds now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import api_keys, audit, permissions
from nodebyte_gateway.accounts.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.schemas import ApiKey, CreateKeyBody, NewApiKey


def checked_scopes(scopes: list[str]) -> list[str]:
    invalid = [s for s in scopes if not permissions.is_grantable(s)]
    if invalid:
        raise ApiError(
            400,
            "Scopes are catalogue permissions such as sync.write, admin.*, or *",
            "INVALID_SCOPE",
            details={"invalid": invalid},
        )
    return sorted(set(scopes))


def routes(ctx: GatewayContext) -> list[Any]:
    runtime = ctx.runtime
    tags = ["admin"]

    @get(
        "/api/admin/api-keys",
        guards=[ctx.require(catalogue.ADMIN_READ)],
        tags=tags,
        summary="List API keys (never the keys themselves)",
    )
    async def list_keys(
        include_revoked: Annotated[bool, QueryParameter(name="includeRevoked")] = False,
    ) -> Answer[list[ApiKey]]:
        async with runtime.pool.acquire() as conn:
            rows = await api_keys.list_keys(conn, include_revoked=include_revoked)
        return Answer(data=[ApiKey.of(row) for row in rows])

    @post(
        "/api/admin/api-keys",
        guards=[ctx.require(catalogue.ADMIN_WRITE)],
        tags=tags,
        status_code=201,
        summary="Create an API key; the response is the only time it is shown",
    )
    async def create_key(data: JSONBody[CreateKeyBody], request: Request) -> Answer[NewApiKey]:

        principal = caller(request)
        scopes = checked_scopes(data.scopes)
        if not principal.may_grant(scopes):
            raise ApiError(403, "You cannot create a key with scopes you do not hold", "FORBIDDEN")
        expires_at = (
            datetime.now(UTC) + timedelta(days=data.expiresInDays) if data.expiresInDays else None
        )
        async with runtime.pool.acquire() as conn, conn.transaction():
            row, key = await api_keys.create(
                conn,
                name=data.name.strip(),
                scopes=scopes,
                created_by=f"{principal.kind}:{principal.label}",
                creator_user_id=principal.accountable_user_id,
                expires_at=expires_at,
            )
            view = ApiKey.of(row)
            await audit.record(
                conn,
                principal,
                "api_key.created",
                ("api_key", row["id"]),
                None,
                msgspec.to_builtins(view),
                request,
            )
        created = NewApiKey(**msgspec.structs.asdict(view), key=key)
        return Answer(data=created, message="Store this key now: it is not shown again")

    @delete(
        "/api/admin/api-keys/{key_id:uuid}",
        guards=[ctx.require(catalogue.ADMIN_WRITE)],
        tags=tags,
        status_code=200,
        summary="Revoke an API key",
        responses=refusals({409: "This API key is already revoked (ALREADY_REVOKED)"}),
    )
    async def revoke_key(key_id: FromPath[UUID], request: Request) -> Answer[ApiKey]:
        principal = caller(request)
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await api_keys.revoke(conn, key_id)
            if row is None:
                if await api_keys.get(conn, key_id) is None:
                    raise ApiError(404, "API key not found")
                raise ApiError(409, "This API key is already revoked", "ALREADY_REVOKED")
            view = ApiKey.of(row)
            await audit.record(
                conn,
                principal,
                "api_key.revoked",
                ("api_key", key_id),
                {"revokedAt": None},
                {"revokedAt": msgspec.to_builtins(view.revokedAt)},
                request,
            )
        return Answer(data=view, message="API key revoked")

    return [list_keys, create_key, revoke_key]
