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

    asyncpg still rolls back an open transaction first. No session state may
    outlive a transaction (locks and settings are transaction-scoped), so the
    pool works the same through a transaction-pooling PgBouncer.
    """


async def create_pool(
    dsn: str,
    schema: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_cache_size: int = 100,
) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified names in `schema` only.

    Behind a transaction-pooling PgBouncer the `search_path` startup parameter is ignored
    (`ignore_startup_parameters`) and the role's own default, which the bootstrap sets to
    its schema, applies; `statement_cache_size=0` then keeps asyncpg to unnamed statements.
    """
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        statement_cache_size=statement_cache_size,
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
