"""What the panel says about the servers we work with: identifier, uuid and egg.

The Client API addresses a server by its 8-character identifier and the egg
decides which variables carry a session, so both are read once from the
Application API and kept for an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from nodebyte_common.pterodactyl import PanelClient

CACHE_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class PanelServer:
    server_id: int
    identifier: str
    uuid: UUID
    egg_id: int


@dataclass(frozen=True)
class VariableNames:
    session: str
    identity: str


class ServerDirectory:
    def __init__(self, pool_of: object, panel: PanelClient, defaults: VariableNames) -> None:
        self._pool_of = pool_of
        self.panel = panel
        self.defaults = defaults

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool_of()  # type: ignore[operator]

    async def server(self, server_id: int, *, fresh: bool = False) -> PanelServer:
        """The server as last read from the panel; PanelError when the panel does not know it."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM panel_servers WHERE server_id = $1", server_id)
        if row is not None and not fresh and datetime.now(UTC) - row["fetched_at"] < CACHE_FOR:
            return PanelServer(row["server_id"], row["identifier"], row["uuid"], row["egg_id"])
        attributes = (await self.panel.application(f"/servers/{server_id}"))["attributes"]
        server = PanelServer(
            server_id, attributes["identifier"], UUID(attributes["uuid"]), int(attributes["egg"])
        )
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO panel_servers (server_id, identifier, uuid, egg_id)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (server_id) DO UPDATE SET identifier = $2, uuid = $3,
                       egg_id = $4, fetched_at = now()""",
                server.server_id,
                server.identifier,
                server.uuid,
                server.egg_id,
            )
        return server

    async def variable_names(self, egg_id: int) -> VariableNames:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT session_variable, identity_variable FROM egg_variables WHERE egg_id = $1",
                egg_id,
            )
        return VariableNames(*row) if row is not None else self.defaults

    async def forget(self, server_id: int) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("DELETE FROM panel_servers WHERE server_id = $1", server_id)
