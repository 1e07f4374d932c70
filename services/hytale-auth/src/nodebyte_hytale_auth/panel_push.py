"""Pushing each new session token pair to the linked server's startup variables.

A refresh bumps the session's `token_generation`; this worker pushes whatever
generation is current and records it as pushed only if no newer one arrived
meanwhile. The Client API's `PUT …/startup/variable` is tried first; a variable
the egg keeps read-only or hidden is written through the Application API's
`PATCH …/startup` with the whole environment instead. A 409 (server suspended,
installing, node in maintenance) and any other failure are logged and retried
with a growing delay: a push never fails a refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from nodebyte_common.circuit_breaker import CircuitOpenError
from nodebyte_common.pterodactyl import PanelError, relationship
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_hytale_auth.metrics import PANEL_PUSHES
from nodebyte_hytale_auth.panel_servers import PanelServer, ServerDirectory, VariableNames
from nodebyte_hytale_auth.sealed import identity_context, session_context

log = logging.getLogger(__name__)

LEASE_SECONDS = 120  # a claimed push is someone's for this long
IDLE_POLL_SECONDS = 5.0
NOT_CLIENT_EDITABLE = ("read-only", "does not exist")


class PanelBusy(Exception):
    """The panel answered 409: the server cannot change now (suspended, installing…)."""


class PushFailed(Exception):
    """The push did not happen; the reason is safe to log."""


@dataclass(frozen=True)
class _Due:
    session_id: UUID
    server_id: int
    generation: int
    attempts: int
    session_sealed: str
    identity_sealed: str


class SessionPusher:
    def __init__(
        self,
        pool_of: object,
        directory: ServerDirectory,
        sealer: Sealer,
        *,
        retry_base: float = 5.0,
        retry_max: float = 600.0,
    ) -> None:
        self._pool_of = pool_of
        self.directory = directory
        self.panel = directory.panel
        self.sealer = sealer
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._wake = asyncio.Event()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool_of()  # type: ignore[operator]

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            pushed = await self.push_due()
            if pushed == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)

    async def push_due(self, limit: int = 20) -> int:
        """Push every session whose newest tokens the panel has not taken; return how many."""
        due = await self._claim(limit)
        await asyncio.gather(*(self._push(d) for d in due))
        return len(due)

    async def _claim(self, limit: int) -> list[_Due]:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """UPDATE game_sessions SET push_next_at = now() + make_interval(secs => $2)
                   WHERE id IN (
                       SELECT id FROM game_sessions
                       WHERE status = 'active' AND server_id IS NOT NULL
                         AND pushed_generation < token_generation AND push_next_at <= now()
                       ORDER BY push_next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                   RETURNING id, server_id, token_generation, push_attempts,
                             session_token_sealed, identity_token_sealed""",
                limit,
                LEASE_SECONDS,
            )
        return [_Due(*row) for row in rows]

    async def _push(self, due: _Due) -> None:
        try:
            session_token = self.sealer.open(due.session_sealed, session_context(due.session_id))
            identity_token = self.sealer.open(due.identity_sealed, identity_context(due.session_id))
            via = await self.write(due.server_id, session_token, identity_token)
        except PanelBusy:
            await self._retry_later(due, "the server is busy (409); will retry")
            return
        except (
            PushFailed,
            PanelError,
            CircuitOpenError,
            SealingError,
            KeyError,
            ValueError,
        ) as exc:
            await self._retry_later(due, f"push failed: {type(exc).__name__}: {exc}"[:500])
            return
        PANEL_PUSHES.labels(via, "ok").inc()
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE game_sessions SET pushed_generation = GREATEST(pushed_generation, $2),
                       pushed_at = now(), push_attempts = 0, push_last_error = NULL,
                       push_next_at = now()
                   WHERE id = $1""",
                due.session_id,
                due.generation,
            )
        log.info(
            "session pushed to the panel",
            extra={"session_id": str(due.session_id), "server_id": due.server_id, "via": via},
        )

    async def _retry_later(self, due: _Due, reason: str) -> None:
        PANEL_PUSHES.labels("any", "retry").inc()
        delay = min(self.retry_max, self.retry_base * 2 ** min(due.attempts, 16))
        log.warning(
            "panel push not done; retrying later",
            extra={
                "session_id": str(due.session_id),
                "server_id": due.server_id,
                "reason": reason,
                "retry_in": delay,
            },
        )
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE game_sessions SET push_attempts = push_attempts + 1,
                       push_last_error = $2, push_next_at = now() + make_interval(secs => $3)
                   WHERE id = $1""",
                due.session_id,
                reason,
                delay,
            )

    async def write(self, server_id: int, session_token: str, identity_token: str) -> str:
        """Set the server's session variables; return which API did it."""
        server = await self.directory.server(server_id)
        names = await self.directory.variable_names(server.egg_id)
        values = {names.session: session_token, names.identity: identity_token}
        try:
            await self._through_client_api(server, values)
            return "client"
        except PanelError as exc:
            if exc.status == 409:
                raise PanelBusy from None
            if exc.status == 404:
                await self.directory.forget(server_id)  # renamed or moved: read it again
                raise PushFailed("the panel does not know the server (404)") from None
            if exc.status != 400 or not any(m in str(exc) for m in NOT_CLIENT_EDITABLE):
                raise
        await self._through_application_api(server, names, values)
        return "application"

    async def _through_client_api(self, server: PanelServer, values: dict[str, str]) -> None:
        path = f"/api/client/servers/{server.identifier}/startup/variable"
        for key, value in values.items():
            await self.panel.send(
                "PUT", path, json={"key": key, "value": value}, use_client_key=True
            )

    async def _through_application_api(
        self, server: PanelServer, names: VariableNames, values: dict[str, str]
    ) -> None:
        """PATCH …/startup with every egg variable (a key left out would be emptied)."""
        document = await self.panel.application(
            f"/servers/{server.server_id}", {"include": "variables"}
        )
        attributes: dict[str, Any] = document["attributes"]
        environment = {
            v["env_variable"]: v["server_value"]
            if v.get("server_value") is not None
            else v.get("default_value")
            for v in relationship(attributes, "variables")
        }
        missing = [name for name in (names.session, names.identity) if name not in environment]
        if missing:
            raise PushFailed(f"egg {server.egg_id} has no variable {', '.join(missing)}")
        environment.update(values)
        container = attributes["container"]
        try:
            await self.panel.send(
                "PATCH",
                f"/api/application/servers/{server.server_id}/startup",
                json={
                    "startup": container["startup_command"],
                    "environment": environment,
                    "egg": attributes["egg"],
                    "image": container["image"],
                    "skip_scripts": True,
                },
            )
        except PanelError as exc:
            if exc.status == 409:
                raise PanelBusy from None
            raise
