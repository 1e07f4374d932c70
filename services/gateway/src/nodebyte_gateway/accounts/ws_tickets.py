"""Short-lived, single-use tickets for the WebSocket and event-stream routes.

Browsers cannot set headers on a WebSocket or an EventSource, and a key or
token in a URL ends up in logs and histories. A signed-in user trades their
Bearer token for a ticket (`POST /api/v1/ws-ticket`), valid for one connection
within `WS_TICKET_TTL_SECONDS` (30 s): `?ticket=` is taken (deleted) on first
use, by whichever replica sees it. Only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any
from uuid import UUID

import asyncpg
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import ws_ticket_store
from nodebyte_gateway.accounts.auth import PRINCIPAL_STATE, Guard, Principal
from nodebyte_gateway.accounts.raw_headers import query_value

TICKET_PARAMETER = "ticket"
# Long-lived credentials a WebSocket URL may not carry (they would be logged).
CREDENTIAL_PARAMETERS = ("api_key", "token", "access_token", "apiKey", "key")


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


class WsTickets:
    def __init__(self, pool_of: Callable[[], asyncpg.Pool], ttl_seconds: int) -> None:
        self._pool_of = pool_of
        self.ttl_seconds = ttl_seconds

    async def issue(self, principal: Principal) -> str:
        ticket = secrets.token_urlsafe(32)
        async with self._pool_of().acquire() as conn:
            await ws_ticket_store.purge_expired(conn)
            await ws_ticket_store.insert(
                conn,
                _digest(ticket),
                UUID(principal.id),
                principal.label,
                principal.permissions,
                principal.roles,
                principal.session_id,
                self.ttl_seconds,
            )
        return ticket

    async def redeem(self, ticket: str) -> Principal:
        """The user the ticket was issued to; 401 when it is unknown, used or expired."""
        async with self._pool_of().acquire() as conn:
            row = await ws_ticket_store.take(conn, _digest(ticket))
        if row is None or not row["valid"]:
            raise ApiError(401, "The ticket is invalid, used or expired", "INVALID_TICKET")
        return Principal(
            kind="user",
            id=str(row["user_id"]),
            label=row["label"],
            permissions=tuple(row["permissions"]),
            roles=tuple(row["roles"]),
            session_id=row["session_id"],
        )

    def guard(self, permission: str, otherwise: Guard) -> Guard:
        """`?ticket=` when given (a user holding `permission`), else the `otherwise` guard."""

        async def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
            ticket = query_value(connection.scope, TICKET_PARAMETER)
            if ticket is None:
                await otherwise(connection, handler)
                return
            principal = await self.redeem(ticket)
            state: dict[str, Any] = connection.scope.setdefault("state", {})  # type: ignore[typeddict-item]
            state[PRINCIPAL_STATE] = principal
            if not principal.can(permission):
                raise ApiError(403, f"Missing permission: {permission}", "FORBIDDEN")

        guard.__qualname__ = f"ticket_or_require({permission})"
        guard.openapi_security = getattr(otherwise, "openapi_security", None)  # type: ignore[attr-defined]
        return guard


def refuse_credentials_in_url(connection: ASGIConnection) -> None:
    """401 for a WebSocket URL carrying a key or token: they belong in headers or a ticket."""
    for name in CREDENTIAL_PARAMETERS:
        if query_value(connection.scope, name) is not None:
            raise ApiError(
                401,
                f"Credentials in the URL (?{name}=) are refused here: "
                "use a ticket from POST /api/v1/ws-ticket",
                "CREDENTIALS_IN_URL",
            )
