"""API-key authentication for service callers: `X-API-Key` or `?api_key=`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

import asyncpg
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from nodebyte_common.envelope import ApiError

KEY_PREFIX = "nbk_"


def hash_key(key: str) -> bytes:
    # Keys are 256-bit random strings: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def presented_key(connection: ASGIConnection) -> str | None:
    return connection.headers.get("x-api-key") or connection.query_params.get("api_key")


def permission_guard(api_key: ApiKeyGuard) -> Callable[[str], ApiKeyGuard]:
    """`require(permission)`: today API-key callers hold every permission."""

    def require(permission: str) -> ApiKeyGuard:
        return api_key

    return require


class ApiKeyGuard:
    """Accepts the bootstrap key from the environment or a stored, unrevoked key."""

    def __init__(self, bootstrap_key: str, pool_of: object) -> None:
        self.bootstrap_key = bootstrap_key.encode()
        self.pool_of = pool_of  # callable returning the pool once the service started

    async def __call__(self, connection: ASGIConnection, _: BaseRouteHandler) -> None:
        key = presented_key(connection)
        if not key:
            raise ApiError(401, "An API key is required (X-API-Key header)", "UNAUTHORIZED")
        if self.bootstrap_key and hmac.compare_digest(key.encode(), self.bootstrap_key):
            return
        if len(key) > 256 or not await self._stored_key_valid(key):
            raise ApiError(401, "The API key is not valid", "INVALID_API_KEY")

    async def _stored_key_valid(self, key: str) -> bool:
        pool: asyncpg.Pool = self.pool_of()  # type: ignore[operator]
        async with pool.acquire() as conn:
            found = await conn.fetchval(
                """UPDATE api_keys SET last_used_at = now()
                   WHERE key_hash = $1 AND revoked_at IS NULL RETURNING true""",
                hash_key(key),
            )
        return bool(found)
