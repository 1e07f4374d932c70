"""Apply a service's SQL migrations in order, each once, in a transaction.

Why not dbmate: it takes no lock, so replicas starting together race on the
catalogue; it needs its own URL and a subprocess. This runner holds a Postgres
advisory lock per schema for the whole run, records each file with a checksum
(an applied file that was edited afterwards is an error), and applies the
shared outbox/inbox migrations of `nodebyte_common` before the service's own.
"""

from __future__ import annotations

import hashlib
import logging
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
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"nodebyte.migrate.{schema}")
    try:
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = dict(await conn.fetch("SELECT version, checksum FROM schema_migrations"))
        done = [m.version for m in pending if await _apply(conn, m, applied)]
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"nodebyte.migrate.{schema}")
    if done:
        log.info("migrations applied", extra={"schema": schema, "versions": done})
    return done


async def _apply(conn: asyncpg.Connection, migration: Migration, applied: dict) -> bool:
    recorded = applied.get(migration.version)
    if recorded is not None:
        if recorded != migration.checksum:
            raise MigrationError(f"migration {migration.version} changed after it was applied")
        return False
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                migration.version,
                migration.checksum,
            )
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"migration {migration.version} failed: {exc}") from exc
    return True
