"""Game servers' databases: made, re-keyed and dropped on their host, recorded here.

Each act on the host happens inside the transaction that records it, so a
failure on the host leaves no row and a row never outlives its database; if
the record fails after the host acted, the host's work is undone. The database
is named `s<server short id>_<name>` and its user `u<server short id>_<random>`,
both from a strict alphabet; the user may do anything in its database and
nothing elsewhere. Its password is made here, answered once and kept nowhere.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable
from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common.contracts.game_databases import (
    GameDatabase,
    GameDatabaseCreate,
    GameDatabaseCredentials,
)
from nodebyte_common.envelope import ApiError
from nodebyte_node_agent_gateway import (
    database_host_store,
    game_database_store,
    mysql_admin,
    server_store,
)
from nodebyte_node_agent_gateway.database_hosts import DatabaseHosts, use_failed
from nodebyte_node_agent_gateway.mysql_admin import HostError


def database_name(server_id: UUID, name: str) -> str:
    return f"s{server_store.short_id(server_id)}_{name}"


def new_username(server_id: UUID) -> str:
    """16 characters: within MySQL's 32 (MariaDB allows 80)."""
    return f"u{server_store.short_id(server_id)}_{secrets.token_hex(3)}"


def new_password() -> str:
    return secrets.token_urlsafe(24)


def database_view(row: asyncpg.Record) -> GameDatabase:
    return GameDatabase(**_view_fields(row))


def credentials_view(row: asyncpg.Record, password: str) -> GameDatabaseCredentials:
    return GameDatabaseCredentials(**_view_fields(row), password=password)


def _view_fields(row: asyncpg.Record) -> dict[str, object]:
    return {
        "id": row["id"],
        "server_id": row["server_id"],
        "name": row["name"],
        "username": row["username"],
        "host": row["host"],
        "port": row["port"],
        "host_id": row["host_id"],
        "host_name": row["host_name"],
        "created_at": row["created_at"],
        "password_rotated_at": row["password_rotated_at"],
    }


async def on_host(act: Awaitable[None]) -> None:
    try:
        await act
    except HostError as exc:
        raise use_failed(exc) from None


class GameDatabases:
    def __init__(self, hosts: DatabaseHosts) -> None:
        self.hosts = hosts
        self.timeouts = hosts.timeouts

    async def listed(self, conn: asyncpg.Connection, server_id: UUID) -> list[GameDatabase]:
        if await server_store.get(conn, server_id) is None:
            raise ApiError(404, "Server not found")
        return [database_view(r) for r in await game_database_store.of_server(conn, server_id)]

    async def create(
        self, conn: asyncpg.Connection, server_id: UUID, body: GameDatabaseCreate
    ) -> GameDatabaseCredentials:
        name, username = database_name(server_id, body.name), new_username(server_id)
        password, database_id = new_password(), uuid6.uuid7()
        made: mysql_admin.HostAccount | None = None
        try:
            async with conn.transaction():
                host = await self._record(
                    conn, database_id, server_id, body.host_id, name, username
                )
                account = self.hosts.account(host)
                await on_host(
                    mysql_admin.create_database(account, self.timeouts, name, username, password)
                )
                made = account
                row = await game_database_store.get(conn, database_id)
        except BaseException:
            if made is not None:  # the host made it but the record did not stick
                with contextlib.suppress(HostError):
                    await mysql_admin.drop_database(made, self.timeouts, name, username)
            raise
        return credentials_view(row, password)

    async def _record(
        self,
        conn: asyncpg.Connection,
        database_id: UUID,
        server_id: UUID,
        host_id: UUID,
        name: str,
        username: str,
    ) -> asyncpg.Record:
        """The row, its server and host kept from going until the transaction ends."""
        if await server_store.get(conn, server_id) is None:
            raise ApiError(404, "Server not found")
        host = await database_host_store.get_for_use(conn, host_id)
        if host is None:
            raise ApiError(400, "hostId names no database host", "DATABASE_HOST_NOT_FOUND")
        if await game_database_store.taken(conn, host_id, name, username):
            raise ApiError(409, "The server has a database of this name", "DATABASE_EXISTS")
        try:
            await game_database_store.insert(conn, database_id, server_id, host_id, name, username)
        except asyncpg.UniqueViolationError:
            raise ApiError(
                409, "The server has a database of this name", "DATABASE_EXISTS"
            ) from None
        except asyncpg.ForeignKeyViolationError:  # the server went meanwhile
            raise ApiError(404, "Server not found") from None
        return host

    async def rotate(
        self, conn: asyncpg.Connection, server_id: UUID, database_id: UUID
    ) -> GameDatabaseCredentials:
        password = new_password()
        async with conn.transaction():
            row = await self._locked(conn, server_id, database_id)
            account = await self._account(conn, row)
            await on_host(
                mysql_admin.set_password(account, self.timeouts, row["username"], password)
            )
            await game_database_store.mark_rotated(conn, database_id)
            row = await game_database_store.get(conn, database_id)
        return credentials_view(row, password)

    async def remove(self, conn: asyncpg.Connection, server_id: UUID, database_id: UUID) -> None:
        async with conn.transaction():
            await self._drop(conn, await self._locked(conn, server_id, database_id))

    async def remove_all(self, conn: asyncpg.Connection, server_id: UUID) -> None:
        """Every database of a server dropped, in the caller's transaction (server deletion)."""
        for row in await game_database_store.of_server(conn, server_id, lock=True):
            await self._drop(conn, row)

    async def _drop(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        account = await self._account(conn, row)
        await on_host(
            mysql_admin.drop_database(account, self.timeouts, row["name"], row["username"])
        )
        await game_database_store.delete(conn, row["id"])

    async def _locked(
        self, conn: asyncpg.Connection, server_id: UUID, database_id: UUID
    ) -> asyncpg.Record:
        if not await game_database_store.lock(conn, server_id, database_id):
            raise ApiError(404, "Database not found")
        return await game_database_store.get(conn, database_id)

    async def _account(
        self, conn: asyncpg.Connection, row: asyncpg.Record
    ) -> mysql_admin.HostAccount:
        host = await database_host_store.get_for_use(conn, row["host_id"])
        return self.hosts.account(host)
