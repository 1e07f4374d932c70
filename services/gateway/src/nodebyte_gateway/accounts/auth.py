"""Who is calling, and may they: the guards behind `ctx.require(permission)`.

Two kinds of caller:
- service callers present an API key (`X-API-Key` header or `?api_key=`); the
  key's scopes are its permissions, bounded by its creator's permissions now
  when a user made it. `BACKEND_API_KEY` holds only what the frontend's server
  uses it for: queue and follow syncs, read statistics (`BOOTSTRAP_SCOPES`);
- users present `Authorization: Bearer <access JWT>`; the token names the
  session, and the session's liveness and the user's permissions are those of
  now (`live_sessions`), never the token's snapshot.

A request with an Authorization header is judged by it alone. No credentials,
or credentials that do not check out: 401. Valid credentials without the
permission: 403. Routes may only require catalogue permissions
(`nodebyte_common.permission_catalogue`): anything else fails at start-up.
In a handler, `caller(request)` is the admitted Principal (`signed_in(request)`
on `require_user()` routes; `principal_of` may be None).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import SecurityScheme
from litestar.types import Scope

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError
from nodebyte_gateway.accounts import api_keys, permissions
from nodebyte_gateway.accounts.live_sessions import LiveSessions
from nodebyte_gateway.accounts.passwords import Passwords
from nodebyte_gateway.accounts.raw_headers import credential_headers, query_value
from nodebyte_gateway.accounts.tokens import JwtKeys, TokenError

Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]
PRINCIPAL_STATE = "nodebyte_principal"
BOOTSTRAP_KEY_ID = "bootstrap"
# What the reference's frontend integration does with BACKEND_API_KEY; an
# operator who needs more mints a scoped key (`nodebyte api-keys create`).
BOOTSTRAP_SCOPES = (catalogue.SYNC_READ, catalogue.SYNC_WRITE, catalogue.STATS_READ)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="nodebyte"'}

# OpenAPI: how callers authenticate; `document_security` marks guarded routes.
SECURITY_SCHEMES = {
    "BearerAuth": SecurityScheme(
        type="http", scheme="bearer", bearer_format="JWT", description="A user's access token"
    ),
    "ApiKeyHeader": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
    "ApiKeyQuery": SecurityScheme(type="apiKey", name="api_key", security_scheme_in="query"),
}
_ANY_CALLER = [{"BearerAuth": []}, {"ApiKeyHeader": []}, {"ApiKeyQuery": []}]
_USERS_ONLY = [{"BearerAuth": []}]


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "api_key"]
    id: str  # the user's id, the key's id, or "bootstrap"
    label: str  # the user's email or the key's name, for the audit log
    permissions: tuple[str, ...]
    roles: tuple[str, ...] = ()
    session_id: UUID | None = None
    # an API key's creator and the creator's permissions now, which bound the key's
    creator_user_id: UUID | None = None
    creator_permissions: tuple[str, ...] | None = None

    def can(self, permission: str) -> bool:
        if self.creator_permissions is not None and not permissions.grants(
            self.creator_permissions, permission
        ):
            return False
        return permissions.grants(self.permissions, permission)

    def may_grant(self, granted: list[str]) -> bool:
        """Whether this caller holds everything it would hand out (no escalation)."""
        if self.creator_permissions is not None and not permissions.covers(
            self.creator_permissions, granted
        ):
            return False
        return permissions.covers(self.permissions, granted)

    @property
    def accountable_user_id(self) -> UUID | None:
        """The user whose permissions bound what this caller does and makes."""
        return self.user_id if self.kind == "user" else self.creator_user_id

    @property
    def user_id(self) -> UUID | None:
        return UUID(self.id) if self.kind == "user" else None


def principal_of(connection: ASGIConnection) -> Principal | None:
    """The caller a guard admitted (None on public routes)."""
    return connection.scope.get("state", {}).get(PRINCIPAL_STATE)


def caller(connection: ASGIConnection) -> Principal:
    """The caller behind a guarded route (401 should a route forget its guard)."""
    principal = principal_of(connection)
    if principal is None:
        raise _unauthorized("Authentication required")
    return principal


def signed_in(connection: ASGIConnection) -> Principal:
    """The user behind a `require_user()` route (403 for any other caller)."""
    principal = principal_of(connection)
    if principal is None or principal.kind != "user":
        raise ApiError(403, "This route is for signed-in users", "FORBIDDEN")
    return principal


def signed_in_user(connection: ASGIConnection) -> UUID:
    return UUID(signed_in(connection).id)


def presented_key(scope: Scope) -> str | None:
    """The API key a request presents: its X-API-Key header, else `?api_key=`."""
    return credential_headers(scope)[1] or query_value(scope, "api_key")


def _unauthorized(message: str, code: str = "UNAUTHORIZED") -> ApiError:
    return ApiError(401, message, code, headers=_CHALLENGE)


class Authenticator:
    def __init__(
        self,
        *,
        keys: JwtKeys,
        passwords: Passwords,
        bootstrap_key: str,
        pool_of: Callable[[], asyncpg.Pool],
    ) -> None:
        self.keys = keys
        self.passwords = passwords
        self._bootstrap_key = bootstrap_key.encode()
        self._bootstrap = Principal(
            "api_key", BOOTSTRAP_KEY_ID, "BACKEND_API_KEY", BOOTSTRAP_SCOPES
        )
        self._pool_of = pool_of  # the pool exists once the service has started
        self.sessions = LiveSessions(pool_of)

    async def authenticate(self, connection: ASGIConnection) -> Principal:
        authorization = credential_headers(connection.scope)[0]
        if authorization is not None:
            return await self._bearer(authorization)
        key = presented_key(connection.scope)
        if key:
            return await self._api_key(key)
        raise _unauthorized("Authentication required: a Bearer token or an X-API-Key")

    async def _bearer(self, authorization: str) -> Principal:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized(
                "The Authorization header must be 'Bearer <token>'", "INVALID_TOKEN"
            )
        try:
            claims = self.keys.verify_access(token.strip())
        except TokenError:
            raise _unauthorized("The access token is invalid or expired", "INVALID_TOKEN") from None
        access = await self.sessions.access(claims.session_id, claims.user_id)
        if access is None:
            raise _unauthorized("The session has ended: sign in again", "INVALID_TOKEN")
        return Principal(
            kind="user",
            id=str(claims.user_id),
            label=access.email,
            permissions=access.permissions,
            roles=access.roles,
            session_id=claims.session_id,
        )

    async def _api_key(self, key: str) -> Principal:
        if self._bootstrap_key and hmac.compare_digest(key.encode(), self._bootstrap_key):
            return self._bootstrap
        async with self._pool_of().acquire() as conn:
            row = await api_keys.find_active(conn, key)
        if row is None:
            raise _unauthorized("The API key is not valid", "INVALID_API_KEY")
        bound = row["creator_permissions"]
        return Principal(
            "api_key",
            str(row["id"]),
            row["name"],
            tuple(row["scopes"]),
            creator_user_id=row["creator_user_id"],
            creator_permissions=None if bound is None else tuple(bound),
        )

    def require(self, permission: str) -> Guard:
        """A guard admitting callers that hold `permission` (a catalogue name)."""
        catalogue.required(permission)

        async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
            principal = await self.authenticate(connection)
            _remember(connection, principal)
            if not principal.can(permission):
                raise ApiError(403, f"Missing permission: {permission}", "FORBIDDEN")

        guard.__qualname__ = f"require({permission})"
        guard.openapi_security = _ANY_CALLER  # type: ignore[attr-defined]
        return guard

    def require_user(self) -> Guard:
        """A guard admitting any signed-in user (their own account's routes)."""

        async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
            principal = await self.authenticate(connection)
            _remember(connection, principal)
            if principal.kind != "user":
                raise ApiError(403, "This route is for signed-in users", "FORBIDDEN")

        guard.__qualname__ = "require_user()"
        guard.openapi_security = _USERS_ONLY  # type: ignore[attr-defined]
        return guard


def _remember(connection: ASGIConnection, principal: Principal) -> None:
    state: dict[str, Any] = connection.scope.setdefault("state", {})  # type: ignore[typeddict-item]
    state[PRINCIPAL_STATE] = principal


def document_security(handlers: list[Any]) -> None:
    """Give each route guarded by `require` its OpenAPI security requirement."""
    for handler in handlers:
        for guard in getattr(handler, "guards", None) or ():
            requirement = getattr(guard, "openapi_security", None)
            if requirement and not getattr(handler, "security", None):
                handler.security = requirement
