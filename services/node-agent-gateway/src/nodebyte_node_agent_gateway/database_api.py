"""Internal API for database hosts and game servers' databases (bodies: contracts)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, delete, get, post
from litestar.params import FromPath

from nodebyte_common.contracts.game_databases import (
    DatabaseHostAnswer,
    DatabaseHostCreate,
    DatabaseHostsAnswer,
    Deleted,
    DeletedAnswer,
    GameDatabaseCreate,
    GameDatabaseCredentialsAnswer,
    GameDatabasesAnswer,
)
from nodebyte_common.envelope import decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway.database_hosts import DatabaseHosts
from nodebyte_node_agent_gateway.game_databases import GameDatabases

SHOWN_ONCE = "Store this password now: it is not shown again"


def routes(runtime: Runtime, hosts: DatabaseHosts, databases: GameDatabases) -> list[Any]:
    @get("/database-hosts")
    async def list_hosts() -> DatabaseHostsAnswer:
        async with runtime.pool.acquire() as conn:
            return DatabaseHostsAnswer(success=True, data=await hosts.listed(conn))

    @post("/database-hosts", status_code=201)
    async def register_host(request: Request) -> DatabaseHostAnswer:
        body = decode_body(await request.body(), DatabaseHostCreate, empty_ok=False)
        async with runtime.pool.acquire() as conn:
            host = await hosts.register(conn, body)
        return DatabaseHostAnswer(success=True, data=host, message="Database host registered")

    @delete("/database-hosts/{host_id:uuid}", status_code=200)
    async def remove_host(host_id: FromPath[UUID]) -> DeletedAnswer:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await hosts.remove(conn, host_id)
        return DeletedAnswer(
            success=True, data=Deleted(id=host_id), message="Database host removed"
        )

    @get("/servers/{server_id:uuid}/databases")
    async def list_databases(server_id: FromPath[UUID]) -> GameDatabasesAnswer:
        async with runtime.pool.acquire() as conn:
            return GameDatabasesAnswer(success=True, data=await databases.listed(conn, server_id))

    @post("/servers/{server_id:uuid}/databases", status_code=201)
    async def create_database(
        server_id: FromPath[UUID], request: Request
    ) -> GameDatabaseCredentialsAnswer:
        body = decode_body(await request.body(), GameDatabaseCreate, empty_ok=False)
        async with runtime.pool.acquire() as conn:
            made = await databases.create(conn, server_id, body)
        return GameDatabaseCredentialsAnswer(success=True, data=made, message=SHOWN_ONCE)

    @post("/servers/{server_id:uuid}/databases/{database_id:uuid}/rotate-password", status_code=200)
    async def rotate_password(
        server_id: FromPath[UUID], database_id: FromPath[UUID]
    ) -> GameDatabaseCredentialsAnswer:
        async with runtime.pool.acquire() as conn:
            rotated = await databases.rotate(conn, server_id, database_id)
        return GameDatabaseCredentialsAnswer(success=True, data=rotated, message=SHOWN_ONCE)

    @delete("/servers/{server_id:uuid}/databases/{database_id:uuid}", status_code=200)
    async def remove_database(
        server_id: FromPath[UUID], database_id: FromPath[UUID]
    ) -> DeletedAnswer:
        async with runtime.pool.acquire() as conn:
            await databases.remove(conn, server_id, database_id)
        return DeletedAnswer(success=True, data=Deleted(id=database_id), message="Database deleted")

    return [
        list_hosts,
        register_host,
        remove_host,
        list_databases,
        create_database,
        rotate_password,
        remove_database,
    ]
