"""Apply a service's SQL migrations in order, each once, in a transaction.

Why not dbmate: it takes no lock, so replicas starting together race on the
catalogue; it needs its own URL and a subprocess. This runner applies every
pending file in one transaction holding a transaction-scoped advisory lock per
schema (all or nothing; it also runs through PgBouncer in transaction mode),
records each file with a checksum (an applied file that was edited afterwards
is an error), and applies the shared outbox/inbox migrations of
`nodebyte_common` before the service's own. A file must therefore not need to
run outside a transaction (no CREATE INDEX CONCURRENTLY).

Releases follow expand/contract (deploy/README.md): a release's migrations
must work with the previous release's code; tests/deploy/test_migrations_compatible.py
refuses a DROP or RENAME that is not a marked contract step.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

COMMON_MIGRATIONS = Path(__file__).parent / "migrations"


class MigrationError(RuntimeError):
    """An applied migration changed, or a migration failed."""


@dataclass(frozen=True)
class Migration:
    version: str  # "<source>:<file name>", unique within a schema
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(source: str, directory: Path) -> list[Migration]:
    files = sorted(p for p in directory.glob("*.sql") if p.is_file())
    return [Migration(f"{source}:{p.name}", p.read_text()) for p in files]


async def migrate(conn: asyncpg.Connection, schema: str, service_dir: Path) -> list[str]:
    """Bring `schema` up to date; return the versions applied now."""
    pending = discover("common", COMMON_MIGRATIONS) + discover("service", service_dir)
    async with _locked(conn, schema):
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
    try:
        async with _locked(conn, schema):
            applied = dict(await conn.fetch("SELECT version, checksum FROM schema_migrations"))
            done = [m.version for m in pending if await _apply(conn, m, applied)]
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"migrations of {schema} failed: {exc}") from exc
    if done:
        log.info("migrations applied", extra={"schema": schema, "versions": done})
    return done


@asynccontextmanager
async def _locked(conn: asyncpg.Connection, schema: str) -> AsyncIterator[None]:
    """A transaction holding the schema's migration lock, resolving names in `schema`.

    Transaction-scoped lock and search_path: nothing outlives the transaction, so this
    works through a transaction-pooling PgBouncer, where consecutive transactions of a
    client may run on different server connections.
    """
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"nodebyte.migrate.{schema}"
        )
        await conn.execute("SELECT set_config('search_path', quote_ident($1), true)", schema)
        yield


async def _apply(conn: asyncpg.Connection, migration: Migration, applied: dict) -> bool:
    recorded = applied.get(migration.version)
    if recorded is not None:
        if recorded != migration.checksum:
            raise MigrationError(f"migration {migration.version} changed after it was applied")
        return False
    try:
        await conn.execute(migration.sql)
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"migration {migration.version} failed: {exc}") from exc
    await conn.execute(
        "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
        migration.version,
        migration.checksum,
    )
    return True
