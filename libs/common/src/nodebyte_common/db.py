"""The asyncpg pool, confined to one service's schema."""

from __future__ import annotations

import asyncpg
import msgspec

JSONB_VERSION = b"\x01"  # the binary jsonb format is a version byte, then JSON text


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python values, through msgspec (fast, strict); binary
    # format so COPY can carry jsonb columns too.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: JSONB_VERSION + msgspec.json.encode(value),
        decoder=lambda data: msgspec.json.decode(data[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on release: it is one more round trip per use.

    asyncpg still rolls back an open transaction first. Session state is ours to
    keep clean: advisory locks are released in `finally`, listeners remove
    themselves, and `search_path` is a startup parameter nobody changes.
    """


async def create_pool(
    dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified names in `schema` only."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"search_path": schema, "application_name": f"nodebyte-{schema}"},
    )


async def ping(pool: asyncpg.Pool) -> bool:
    try:
        async with pool.acquire(timeout=2) as conn:
            return await conn.fetchval("SELECT 1", timeout=2) == 1
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
