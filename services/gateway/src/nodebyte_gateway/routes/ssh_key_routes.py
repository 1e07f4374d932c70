"""`/api/v1/dashboard/account/ssh-keys`: the signed-in user's SSH public keys (for SFTP)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, delete, get, post
from litestar.params import FromPath, JSONBody

from nodebyte_common.contracts.envelope import Answer, Deleted
from nodebyte_common.contracts.sftp import SshKey, SshKeyCreate
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import audit, ssh_keys
from nodebyte_gateway.accounts.auth import signed_in_user
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import refusals

PATH = "/api/v1/dashboard/account/ssh-keys"


def target(row: Any) -> tuple[str, UUID]:
    return ("ssh_key", row["id"])


def routes(ctx: GatewayContext) -> list[Any]:
    runtime = ctx.runtime
    user_only = [ctx.require_user()]
    tags = ["dashboard"]

    @get(PATH, guards=user_only, tags=tags, summary="Your SSH public keys (SFTP sign-in)")
    async def list_keys(request: Request) -> Answer[list[SshKey]]:
        async with runtime.pool.acquire() as conn:
            rows = await ssh_keys.list_of(conn, signed_in_user(request))
        return Answer(data=[ssh_keys.view(row) for row in rows])

    @post(
        PATH,
        guards=user_only,
        tags=tags,
        status_code=201,
        summary='Add an SSH public key: {"name", "publicKey"} (an OpenSSH line)',
        responses=refusals(
            {409: "The key is registered already, or the account keeps the most keys it may"}
        ),
    )
    async def add_key(data: JSONBody[SshKeyCreate], request: Request) -> Answer[SshKey]:
        body = data
        key = ssh_keys.parse(body.public_key)
        async with runtime.pool.acquire() as conn, conn.transaction():
            row = await ssh_keys.add(conn, signed_in_user(request), body.name, key)
            view = ssh_keys.view(row)
            after = {"name": view.name, "fingerprint": view.fingerprint}
            await audit.record(conn, None, "ssh_key.added", target(row), None, after, request)
        return Answer(data=view, message="SSH key added")

    @delete(
        PATH + "/{key_id:uuid}",
        guards=user_only,
        tags=tags,
        status_code=200,
        summary="Remove one of your SSH keys",
    )
    async def remove_key(request: Request, key_id: FromPath[UUID]) -> Answer[Deleted]:
        async with runtime.pool.acquire() as conn, conn.transaction():
            removed = await ssh_keys.remove(conn, signed_in_user(request), key_id)
            if removed is None:
                raise ApiError(404, "No such SSH key")
            before = {"name": removed["name"], "fingerprint": removed["fingerprint"]}
            gone = target(removed)
            await audit.record(conn, None, "ssh_key.removed", gone, before, None, request)
        return Answer(data=Deleted(id=key_id), message="SSH key removed")

    return [list_keys, add_key, remove_key]
