"""Game servers' databases (`/api/servers/{id}/databases`) and the hosts they live on
(`/api/admin/database-hosts`).

The node-agent-gateway owns both and acts on the MySQL/MariaDB hosts; these
routes check permissions, validate the bodies (the shared contract), relay the
owner's answer and put every change, done or refused, in the audit log. The
audit entry never holds a password: the host's admin password goes in once,
a database user's password comes out once, in the answer only.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

import msgspec
from litestar import Request, delete, get, post
from litestar.params import FromPath, JSONBody

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Empty
from nodebyte_common.contracts.game_databases import (
    DatabaseHostAnswer,
    DatabaseHostCreate,
    DatabaseHostsAnswer,
    DeletedAnswer,
    GameDatabaseCreate,
    GameDatabaseCredentialsAnswer,
    GameDatabasesAnswer,
)
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forwarding import relay
from nodebyte_gateway.routes.node_routes import AGENTS

HOSTS = "/api/admin/database-hosts"
DATABASES = "/api/servers/{server_id:uuid}/databases"
DATABASE = DATABASES + "/{database_id:uuid}"

Answer = TypeVar("Answer", bound=msgspec.Struct)


def routes(ctx: GatewayContext) -> list[Any]:
    return [*_host_routes(ctx), *_database_routes(ctx)]


class Owner:
    """Calls to the node-agent-gateway whose answers are typed and whose changes are audited."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self.client = ctx.client(AGENTS)

    async def read(self, path: str, answer: type[Answer]) -> Answer:
        status, body = await self.client.call("GET", path)
        return _typed(status, body, answer)

    async def change(
        self,
        request: Request,
        action: str,
        target: tuple[str, Any],
        call: tuple[str, str, Any],
        answer: type[Answer],
        noted: dict[str, Any] | None = None,
    ) -> Answer:
        """Ask the owner for a change; note it, done or refused, in the audit log.

        A target without an id (a new host) takes the id of what was made."""
        method, path, body = call
        kind, target_id = target
        try:
            typed = _typed(*await self.client.call(method, path, json=body), answer)
        except ApiError as refused:  # the owner's refusal, or the owner out of reach
            failed = {"outcome": "failed", "code": refused.code, **(noted or {})}
            await self._note(request, action, target, failed)
            raise
        made_id = typed.data.id  # type: ignore[attr-defined]
        done = {"outcome": "succeeded", "resultId": str(made_id), **(noted or {})}
        await self._note(request, action, (kind, target_id or made_id), done)
        return typed

    async def _note(
        self, request: Request, action: str, target: tuple[str, Any], after: dict[str, Any]
    ) -> None:
        async with self.ctx.runtime.pool.acquire() as conn:
            await audit.record(conn, caller(request), action, target, None, after, request)


def _typed(status: int, body: Any, answer: type[Answer]) -> Answer:
    """The owner's success as its contract type; a refusal raised as ours."""
    if not 200 <= status < 300:
        relay(status, body)  # raises the owner's error in our envelope
    try:
        return msgspec.convert(body, answer)
    except msgspec.ValidationError:
        relay(502, None)  # an answer outside the contract: UPSTREAM_ERROR
        raise


def _host_routes(ctx: GatewayContext) -> list[Any]:
    owner = Owner(ctx)
    tags = ["database hosts"]

    @get(
        HOSTS,
        guards=[ctx.require(catalogue.DATABASE_HOST_READ)],
        tags=tags,
        summary="List database hosts (never their admin passwords)",
    )
    async def list_hosts() -> DatabaseHostsAnswer:
        return await owner.read("/database-hosts", DatabaseHostsAnswer)

    @post(
        HOSTS,
        guards=[ctx.require(catalogue.DATABASE_HOST_WRITE)],
        tags=tags,
        status_code=201,
        summary="Register a MySQL/MariaDB host once its admin login is proven (password sealed)",
    )
    async def register_host(
        data: JSONBody[DatabaseHostCreate], request: Request
    ) -> DatabaseHostAnswer:
        return await owner.change(
            request,
            "database_host.created",
            ("database_host", None),
            ("POST", "/database-hosts", data),
            DatabaseHostAnswer,
            {"name": data.name, "host": data.host, "port": data.port},
        )

    @delete(
        HOSTS + "/{host_id:uuid}",
        guards=[ctx.require(catalogue.DATABASE_HOST_WRITE)],
        tags=tags,
        status_code=200,
        summary="Remove a database host that holds no databases",
    )
    async def remove_host(host_id: FromPath[UUID], request: Request) -> DeletedAnswer:
        return await owner.change(
            request,
            "database_host.deleted",
            ("database_host", host_id),
            ("DELETE", f"/database-hosts/{host_id}", None),
            DeletedAnswer,
        )

    return [list_hosts, register_host, remove_host]


def _database_routes(ctx: GatewayContext) -> list[Any]:
    owner = Owner(ctx)
    tags = ["servers"]

    @get(
        DATABASES,
        guards=[ctx.require(catalogue.DATABASE_READ)],
        tags=tags,
        summary="List a server's databases (never their passwords)",
    )
    async def list_databases(server_id: FromPath[UUID]) -> GameDatabasesAnswer:
        return await owner.read(f"/servers/{server_id}/databases", GameDatabasesAnswer)

    @post(
        DATABASES,
        guards=[ctx.require(catalogue.DATABASE_CREATE)],
        tags=tags,
        status_code=201,
        summary="Create a database and its user on a host (the password is shown only here)",
        opt=audit.in_handler(),
    )
    async def create_database(
        server_id: FromPath[UUID], data: JSONBody[GameDatabaseCreate], request: Request
    ) -> GameDatabaseCredentialsAnswer:
        return await owner.change(
            request,
            "database.created",
            ("server", server_id),
            ("POST", f"/servers/{server_id}/databases", data),
            GameDatabaseCredentialsAnswer,
            {"hostId": str(data.host_id), "name": data.name},
        )

    @post(
        [DATABASE + "/rotate-password", DATABASE + "/rotate"],
        guards=[ctx.require(catalogue.DATABASE_ROTATE)],
        tags=tags,
        status_code=200,
        summary="Give a database's user a new password (shown only here; old sessions end)",
        opt=audit.in_handler(),
    )
    async def rotate_password(
        server_id: FromPath[UUID],
        database_id: FromPath[UUID],
        request: Request,
        data: JSONBody[Empty | None] = None,  # takes no input
    ) -> GameDatabaseCredentialsAnswer:
        return await owner.change(
            request,
            "database.password_rotated",
            ("server", server_id),
            ("POST", f"/servers/{server_id}/databases/{database_id}/rotate-password", None),
            GameDatabaseCredentialsAnswer,
            {"databaseId": str(database_id)},
        )

    @delete(
        DATABASE,
        guards=[ctx.require(catalogue.DATABASE_DELETE)],
        tags=tags,
        status_code=200,
        summary="Drop a database and its user from the host",
        opt=audit.in_handler(),
    )
    async def delete_database(
        server_id: FromPath[UUID], database_id: FromPath[UUID], request: Request
    ) -> DeletedAnswer:
        return await owner.change(
            request,
            "database.deleted",
            ("server", server_id),
            ("DELETE", f"/servers/{server_id}/databases/{database_id}", None),
            DeletedAnswer,
            {"databaseId": str(database_id)},
        )

    return [list_databases, create_database, rotate_password, delete_database]
