"""Create the database, one role and one schema per service.

Run with an administrator's URL. Each service's role owns its schema and is
granted nothing else, so a service cannot read or write another's tables: the
rule of DESIGN.md is enforced by PostgreSQL, not merely agreed.

    python -m nodebyte_common.bootstrap postgresql://postgres@127.0.0.1/postgres nodebyte
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from urllib.parse import urlsplit, urlunsplit

import asyncpg

# service name -> schema it owns
SERVICE_SCHEMAS: dict[str, str] = {
    "gateway": "gateway",
    "sync": "sync",
    "hytale-auth": "hytale_auth",
    "notifier": "notifier",
    "scheduler": "scheduler",
    "node-agent-gateway": "agents",
}


def role_name(service: str, prefix: str = "nb") -> str:
    return f"{prefix}_{SERVICE_SCHEMAS[service]}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(admin_dsn: str, database: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Another bootstrap may win the race; its database is as good as ours.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f"CREATE DATABASE {_ident(database)}")
    finally:
        await conn.close()


async def ensure_roles_and_schemas(database_dsn: str, role_prefix: str = "nb") -> None:
    """Idempotent; safe when several bootstraps run at once (advisory lock)."""
    conn = await asyncpg.connect(database_dsn)
    database = await conn.fetchval("SELECT current_database()")
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('nodebyte.bootstrap'))")
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for service, schema in SERVICE_SCHEMAS.items():
            role = role_name(service, role_prefix)
            await _ensure_role(conn, role, _role_password(service))
            await conn.execute(
                f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)} AUTHORIZATION {_ident(role)}"
            )
            await conn.execute(f"ALTER SCHEMA {_ident(schema)} OWNER TO {_ident(role)}")
            await conn.execute(f"REVOKE ALL ON SCHEMA {_ident(schema)} FROM PUBLIC")
            # The role's default: what a PgBouncer (which drops the search_path startup
            # parameter the services send) leaves in place.
            await conn.execute(
                f"ALTER ROLE {_ident(role)} IN DATABASE {_ident(database)} "
                f"SET search_path TO {_ident(schema)}"
            )
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext('nodebyte.bootstrap'))")
        await conn.close()


def _role_password(service: str) -> str | None:
    """`NB_ROLE_PASSWORD_SYNC` etc.; none means trust/peer auth (local dev)."""
    key = "NB_ROLE_PASSWORD_" + SERVICE_SCHEMAS[service].upper()
    return os.environ.get(key) or None


async def _ensure_role(conn: asyncpg.Connection, role: str, password: str | None) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    if not exists:
        # Roles are cluster-wide: a parallel run may have made it meanwhile.
        with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            await conn.execute(f"CREATE ROLE {_ident(role)} LOGIN")
    if password is not None:
        await conn.execute(f"ALTER ROLE {_ident(role)} PASSWORD {_literal(password)}")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def service_dsn(admin_dsn_for_db: str, service: str, role_prefix: str = "nb") -> str:
    """The same server and database, connecting as the service's role."""
    parts = urlsplit(admin_dsn_for_db)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role_name(service, role_prefix)}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


async def bootstrap(admin_dsn: str, database: str, role_prefix: str = "nb") -> None:
    await ensure_database(admin_dsn, database)
    await ensure_roles_and_schemas(with_database(admin_dsn, database), role_prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("admin_url", help="a superuser's URL (any database)")
    parser.add_argument("database", help="the database to create and prepare")
    parser.add_argument("--role-prefix", default="nb")
    args = parser.parse_args()
    asyncio.run(bootstrap(args.admin_url, args.database, args.role_prefix))
    print(f"database {args.database}: roles and schemas ready")


if __name__ == "__main__":
    main()
