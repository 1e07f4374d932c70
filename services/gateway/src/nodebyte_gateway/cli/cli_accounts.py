"""CLI commands that work on the gateway's database directly (DATABASE_URL):
create users and admins, create, list and revoke API keys. Each change is
audited with the operating-system user as the actor."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from nodebyte_common.db import create_pool
from nodebyte_common.envelope import ApiError
from nodebyte_common.migrations import migrate
from nodebyte_common.settings import SettingsError, load_settings
from nodebyte_gateway.accounts import account_input, accounts_store, api_keys, audit, permissions
from nodebyte_gateway.accounts.passwords import Passwords
from nodebyte_gateway.schemas import AdminUser, ApiKey

MIGRATIONS = Path(__file__).parent.parent / "migrations"


class CliFailure(Exception):
    """A command could not do what was asked; the message says why."""


class DatabaseSettings(msgspec.Struct, kw_only=True, frozen=True):
    database_url: str
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1


def database_settings() -> DatabaseSettings:
    try:
        return load_settings(DatabaseSettings)
    except SettingsError:
        if os.environ.get("DATABASE_URL"):
            raise
        raise CliFailure(
            "DATABASE_URL is not set and there is no local stack here (.stack/cli.json): "
            "run `make up` in the repository first, or set DATABASE_URL to the gateway's database"
        ) from None


async def check_database() -> None:
    """Fail now, before any prompt, when the gateway database cannot be reached."""
    url = database_settings().database_url
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError) as exc:
        raise CliFailure(
            f"cannot reach the gateway database ({type(exc).__name__}): "
            "is `make up` running, and DATABASE_URL the gateway's database?"
        ) from None
    await conn.close()


def cli_actor() -> audit.Actor:
    user = os.environ.get("USER") or getpass.getuser()
    return audit.Actor("cli", user, f"cli:{user}")


@asynccontextmanager
async def gateway_database(database_url: str | None = None) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the gateway schema, its migrations applied (so the CLI can
    bootstrap a database the gateway has not started on yet); DATABASE_URL's
    database unless told another."""
    url = database_url or database_settings().database_url
    pool = await create_pool(url, "gateway", min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "gateway", MIGRATIONS)
            yield conn
    finally:
        await pool.close()


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliFailure("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise CliFailure("the passwords do not match")
    return first


async def create_user(
    *,
    email: str,
    password: str,
    roles: list[str],
    username: str | None,
    verified: bool,
) -> dict[str, Any]:
    try:
        address = account_input.email(email)
        account_input.new_password(password)
        name = account_input.username(username) if username else None
    except ApiError as exc:  # the same checks as the API
        raise CliFailure(exc.message) from None
    settings = database_settings()
    hasher = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    password_hash = await hasher.hash_async(password)
    async with gateway_database() as conn, conn.transaction():
        known = {row["name"] for row in await accounts_store.roles_catalogue(conn)}
        if unknown := sorted(set(roles) - known):
            raise CliFailure(
                f"unknown roles: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        new = accounts_store.NewUser(
            email=address,
            password_hash=password_hash,
            username=name,
            roles=roles,
            verified=verified,
        )
        try:
            async with conn.transaction():
                user = await accounts_store.insert(conn, new)
        except asyncpg.UniqueViolationError:
            raise CliFailure("a user with this email or username exists already") from None
        view = msgspec.to_builtins(AdminUser.of(user))
        await audit.record(conn, cli_actor(), "user.created", ("user", user["id"]), None, view)
    return view


async def create_key(
    *, name: str, scopes: list[str], expires_days: int | None, database_url: str | None = None
) -> dict[str, Any]:
    """An operator's key: attributed to the operating-system user, no user creator."""
    invalid = [s for s in scopes if not permissions.is_grantable(s)]
    if invalid or not scopes:
        raise CliFailure(
            f"scopes must be catalogue permissions (sync.write, admin.*, *): {invalid}"
        )
    actor = cli_actor()
    async with gateway_database(database_url) as conn, conn.transaction():
        expires_at = None
        if expires_days:
            expires_at = await conn.fetchval(
                "SELECT now() + make_interval(days => $1)", expires_days
            )
        row, key = await api_keys.create(
            conn,
            name=name,
            scopes=sorted(set(scopes)),
            created_by=actor.label or "cli",
            creator_user_id=None,
            expires_at=expires_at,
        )
        view = _key_view(row)
        await audit.record(conn, actor, "api_key.created", ("api_key", row["id"]), None, view)
    return {**view, "key": key}


async def list_keys(include_revoked: bool) -> list[dict[str, Any]]:
    async with gateway_database() as conn:
        rows = await api_keys.list_keys(conn, include_revoked=include_revoked)
    return [_key_view(row) for row in rows]


async def revoke_key(key_id: str) -> dict[str, Any]:
    try:
        ident = UUID(key_id)
    except ValueError:
        raise CliFailure(f"not a key id: {key_id!r} (see `nodebyte api-keys list`)") from None
    async with gateway_database() as conn, conn.transaction():
        row = await api_keys.revoke(conn, ident)
        if row is None:
            found = await api_keys.get(conn, ident)
            raise CliFailure("this key is revoked already" if found else "no such key")
        view = _key_view(row)
        await audit.record(
            conn,
            cli_actor(),
            "api_key.revoked",
            ("api_key", ident),
            {"revokedAt": None},
            {"revokedAt": view["revokedAt"]},
        )
    return view


def _key_view(row: asyncpg.Record) -> dict[str, Any]:
    """A key as the CLI prints it: the API's fields (never the key itself)."""
    return msgspec.to_builtins(ApiKey.of(row))
