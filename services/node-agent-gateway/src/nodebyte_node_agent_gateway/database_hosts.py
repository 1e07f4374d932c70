"""Database hosts: registered only once their admin account is proven, its password sealed.

The password is sealed bound to the host's id, opened only to act on the host,
and never answered, logged or put in an event. A host is removed only when no
game database remains on it (they are dropped through their servers first).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
import uuid6

from nodebyte_common.contracts.game_databases import DatabaseHost, DatabaseHostCreate
from nodebyte_common.dependency_failure import dependency_failure
from nodebyte_common.envelope import ApiError
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_node_agent_gateway import database_host_store, mysql_admin, node_store
from nodebyte_node_agent_gateway.mysql_admin import HostAccount, HostError, Timeouts

REGISTRATION_CODES: dict[type[HostError], str] = {
    mysql_admin.HostLoginRefused: "DATABASE_HOST_LOGIN_FAILED",
    mysql_admin.HostUnreachable: "DATABASE_HOST_UNREACHABLE",
    mysql_admin.HostLacksPrivileges: "DATABASE_HOST_PRIVILEGES",
}


def seal_context(host_id: UUID) -> str:
    return f"database_host:{host_id}"


def host_view(row: asyncpg.Record) -> DatabaseHost:
    return DatabaseHost(
        id=row["id"],
        name=row["name"],
        host=row["host"],
        port=row["port"],
        username=row["username"],
        node_id=row["node_id"],
        location_id=row["location_id"],
        database_count=row["database_count"],
        created_at=row["created_at"],
    )


def registration_refused(exc: HostError) -> ApiError:
    """Why a host was not registered: the caller's input, so a 400 naming the cause."""
    code = REGISTRATION_CODES.get(type(exc), "DATABASE_HOST_ERROR")
    return ApiError(400, str(exc), code)


def use_failed(exc: HostError) -> ApiError:
    """A registered host failing to act: 503 (or 409 for a name the host has already)."""
    if isinstance(exc, mysql_admin.NameTaken):
        return ApiError(409, str(exc), "DATABASE_EXISTS")
    if isinstance(exc, mysql_admin.HostLoginRefused):
        return dependency_failure(503, str(exc), "DATABASE_HOST_LOGIN_FAILED")
    if isinstance(exc, mysql_admin.HostUnreachable):
        return dependency_failure(503, "Database host unavailable", "DATABASE_HOST_UNAVAILABLE")
    return dependency_failure(502, str(exc), "DATABASE_HOST_ERROR")


class DatabaseHosts:
    def __init__(self, sealer: Sealer | None, timeouts: Timeouts) -> None:
        self.sealer = sealer
        self.timeouts = timeouts

    def _keys(self) -> Sealer:
        if self.sealer is None:
            raise dependency_failure(
                503, "Database hosts need ENCRYPTION_KEYS configured", "ENCRYPTION_NOT_CONFIGURED"
            )
        return self.sealer

    async def register(self, conn: asyncpg.Connection, body: DatabaseHostCreate) -> DatabaseHost:
        sealer = self._keys()
        if body.node_id is not None and await node_store.get(conn, body.node_id) is None:
            raise ApiError(400, "nodeId names no node", "NODE_NOT_FOUND")
        if await database_host_store.name_taken(conn, body.name):
            raise ApiError(409, "A database host with this name exists", "DATABASE_HOST_EXISTS")
        account = HostAccount(body.host, body.port, body.username, body.password)
        try:
            await mysql_admin.verify(account, self.timeouts)
        except HostError as exc:
            raise registration_refused(exc) from None
        host_id = uuid6.uuid7()
        fields = {
            "name": body.name,
            "host": body.host,
            "port": body.port,
            "username": body.username,
            "password_sealed": sealer.seal(body.password, seal_context(host_id)),
            "node_id": body.node_id,
            "location_id": body.location_id,
        }
        try:
            await database_host_store.insert(conn, host_id, fields)
        except asyncpg.UniqueViolationError:
            raise ApiError(
                409, "A database host with this name exists", "DATABASE_HOST_EXISTS"
            ) from None
        return host_view(await database_host_store.get(conn, host_id))

    async def listed(self, conn: asyncpg.Connection) -> list[DatabaseHost]:
        return [host_view(row) for row in await database_host_store.all_hosts(conn)]

    async def remove(self, conn: asyncpg.Connection, host_id: UUID) -> None:
        outcome = await database_host_store.delete_unused(conn, host_id)
        if outcome == "missing":
            raise ApiError(404, "Database host not found")
        if outcome == "in_use":
            raise ApiError(
                409,
                "Databases remain on this host: delete them (or their servers) first",
                "DATABASE_HOST_IN_USE",
            )

    def account(self, row: asyncpg.Record) -> HostAccount:
        """The host's admin account, its password opened for one act."""
        try:
            password = self._keys().open(row["password_sealed"], seal_context(row["id"]))
        except SealingError:
            raise dependency_failure(
                503,
                "The database host's password does not open with the configured keys",
                "SEALING_ERROR",
            ) from None
        return HostAccount(row["host"], row["port"], row["username"], password)
