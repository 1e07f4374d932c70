"""`nodebyte db …`: every service's schema in one database, from a shell.

    nodebyte db list                          every migration of every schema (no database)
    nodebyte db status                        applied, pending and changed, per schema
    nodebyte db init                          database, roles, schemas, then every migration
    nodebyte db migrate [--schema sync]       pending migrations of every (or one) schema
    nodebyte db reset [--confirm <database>]  drop every schema, then init (asks first)

The database is `--database <url>`, else DATABASE_URL: a role that may create
roles and schemas (init, reset) and act as each service's role (`SET ROLE`), so
every table belongs to the service that owns its schema, as when the service
migrates at start. Migrations run through the same runner as the services
(nodebyte_common.migrations: one transaction and lock per schema, checksums).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from nodebyte_common import bootstrap
from nodebyte_common.migrations import (
    COMMON_MIGRATIONS,
    Migration,
    MigrationError,
    discover,
    migrate,
)
from nodebyte_gateway.cli.cli_accounts import CliFailure

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Schema:
    service: str
    name: str
    directory: Path

    def migrations(self) -> list[Migration]:
        return discover("common", COMMON_MIGRATIONS) + discover("service", self.directory)


def schemas(only: str | None = None) -> list[Schema]:
    """Every service's schema (or the one named), with its migrations folder."""
    found = [
        Schema(service, schema, _migrations_dir(service))
        for service, schema in bootstrap.SERVICE_SCHEMAS.items()
    ]
    if only is None:
        return found
    chosen = [s for s in found if only in (s.name, s.service)]
    if not chosen:
        names = ", ".join(s.name for s in found)
        raise CliFailure(f"no schema {only!r}; the schemas are {names}")
    return chosen


def _migrations_dir(service: str) -> Path:
    package = "nodebyte_" + service.replace("-", "_")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CliFailure(f"the {service} service ({package}) is not installed here")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def listing(only: str | None) -> list[dict[str, str]]:
    return [{"schema": s.name, "version": m.version} for s in schemas(only) for m in s.migrations()]


async def _connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise CliFailure(f"cannot connect to {_safe(url)}: {exc}") from None


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


async def status(url: str, only: str | None) -> list[dict[str, object]]:
    conn = await _connect(url)
    try:
        return [await _schema_status(conn, s) for s in schemas(only)]
    finally:
        await conn.close()


async def _schema_status(conn: asyncpg.Connection, schema: Schema) -> dict[str, object]:
    table = await conn.fetchval("SELECT to_regclass($1)", f"{schema.name}.schema_migrations")
    applied: dict[str, str] = {}
    if table is not None:
        rows = await conn.fetch(f"SELECT version, checksum FROM {table}")  # a regclass: quoted
        applied = {r["version"]: r["checksum"] for r in rows}
    files = schema.migrations()
    return {
        "schema": schema.name,
        "applied": sum(1 for m in files if m.version in applied),
        "pending": [m.version for m in files if m.version not in applied],
        "changed": [m.version for m in files if applied.get(m.version, m.checksum) != m.checksum],
        "unknown": sorted(set(applied) - {m.version for m in files}),
    }


async def migrate_schemas(
    url: str, only: str | None, echo: Echo, role_prefix: str = "nb"
) -> dict[str, list[str]]:
    """Apply what is pending, schema by schema, as each schema's own role."""
    targets = schemas(only)
    conn = await _connect(url)
    done: dict[str, list[str]] = {}
    try:
        for number, schema in enumerate(targets, start=1):
            pending = (await _schema_status(conn, schema))["pending"]
            echo(f"[{number}/{len(targets)}] {schema.name}: {len(pending)} pending")  # type: ignore[arg-type]
            started = time.monotonic()
            role = bootstrap.role_name(schema.service, role_prefix)
            await conn.execute(f"SET ROLE {_ident(role)}")
            try:
                done[schema.name] = await migrate(conn, schema.name, schema.directory)
            except MigrationError as exc:
                raise CliFailure(str(exc)) from None
            finally:
                await conn.execute("RESET ROLE")
            for version in done[schema.name]:
                echo(f"    applied {version}")
            echo(f"    {schema.name} up to date ({time.monotonic() - started:.2f} s)")
    except asyncpg.PostgresError as exc:
        raise CliFailure(f"migrating failed: {exc}") from None
    finally:
        await conn.close()
    return done


async def init(url: str, echo: Echo, role_prefix: str = "nb") -> dict[str, list[str]]:
    """The database (created when missing), a role and schema per service, every migration."""
    database = urlsplit(url).path.lstrip("/")
    if not database:
        raise CliFailure("the database URL names no database")
    try:
        await bootstrap.ensure_database(bootstrap.with_database(url, "postgres"), database)
        echo(f"database {database} ready")
        await bootstrap.ensure_roles_and_schemas(url, role_prefix)
    except (OSError, asyncpg.PostgresError) as exc:
        raise CliFailure(f"cannot prepare {_safe(url)}: {exc}") from None
    echo(f"roles and schemas ready ({len(bootstrap.SERVICE_SCHEMAS)} services)")
    return await migrate_schemas(url, None, echo, role_prefix)


async def reset(
    url: str, confirmation: str, echo: Echo, role_prefix: str = "nb"
) -> dict[str, list[str]]:
    """Drop every service's schema (all their data), then init. `confirmation` must be
    the database's name."""
    database = urlsplit(url).path.lstrip("/")
    if confirmation != database:
        raise CliFailure(f"not confirmed: type the database name ({database}) to reset it")
    conn = await _connect(url)
    try:
        for schema in schemas():
            await conn.execute(f"DROP SCHEMA IF EXISTS {_ident(schema.name)} CASCADE")
            echo(f"dropped schema {schema.name}")
    except asyncpg.PostgresError as exc:
        raise CliFailure(f"resetting failed: {exc}") from None
    finally:
        await conn.close()
    return await init(url, echo, role_prefix)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
