"""What the platform does on a MySQL/MariaDB host, as the admin account registered for it.

Each act opens one connection and closes it (they are rare, and a pool would
hold sessions open on hosts far away), bounded in time. Database names are
checked against a strict pattern and quoted; user names, user hosts and
passwords travel as bound string literals. Failures come out as `HostError`s
whose message is ours, never the server's (it may quote names back).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiomysql
import pymysql

IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")
ANY_HOST = "%"  # the database user may connect from anywhere; its password guards it
NEEDED_PRIVILEGES = frozenset({"CREATE", "DROP", "CREATE USER"})
GLOBAL_GRANT = re.compile(r"^GRANT (?P<privileges>.+?) ON \*\.\* TO ")

ACCESS_DENIED = 1045
DATABASE_EXISTS = 1007
USER_OPERATION_FAILED = 1396  # CREATE USER of a user that exists, ALTER of one that does not
UNKNOWN_THREAD = 1094  # KILL of a session that ended meanwhile


@dataclass(frozen=True)
class HostAccount:
    host: str
    port: int
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Timeouts:
    connect_seconds: float
    operation_seconds: float


class HostError(Exception):
    """A host could not do what was asked; `str()` is safe to show."""


class HostUnreachable(HostError):
    pass


class HostLoginRefused(HostError):
    pass


class HostLacksPrivileges(HostError):
    pass


class NameTaken(HostError):
    pass


class HostFailed(HostError):
    pass


def quoted(identifier: str) -> str:
    """A database name as a quoted identifier; anything outside the pattern is refused."""
    if not IDENTIFIER.match(identifier):
        raise ValueError("not a database name this platform makes")
    return f"`{identifier}`"


def grant_target(database: str) -> str:
    """`db`.* for a GRANT: `_` is a wildcard in a database-level grant, so it is escaped,
    else `s1_a` would also grant `s1xa`."""
    return quoted(database).replace("_", r"\_") + ".*"


@asynccontextmanager
async def _cursor(account: HostAccount, timeouts: Timeouts) -> AsyncIterator[aiomysql.Cursor]:
    try:
        conn = await aiomysql.connect(
            host=account.host,
            port=account.port,
            user=account.username,
            password=account.password,
            connect_timeout=timeouts.connect_seconds,
            autocommit=True,
        )
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] == ACCESS_DENIED:
            raise HostLoginRefused("The database host refused the admin login") from None
        raise HostUnreachable("The database host cannot be reached") from None
    except (OSError, TimeoutError, pymysql.MySQLError):
        raise HostUnreachable("The database host cannot be reached") from None
    try:
        async with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


@asynccontextmanager
async def session(account: HostAccount, timeouts: Timeouts) -> AsyncIterator[aiomysql.Cursor]:
    """A cursor on the host for one act; its time is bounded, its errors are HostErrors."""
    try:
        async with asyncio.timeout(timeouts.operation_seconds), _cursor(account, timeouts) as cur:
            yield cur
    except TimeoutError:
        raise HostUnreachable("The database host did not answer in time") from None
    except pymysql.err.OperationalError as exc:
        if exc.args and exc.args[0] >= 2000:  # client-side: the connection was lost
            raise HostUnreachable("The database host connection was lost") from None
        raise HostFailed("The database host refused the operation") from None
    except pymysql.MySQLError:
        raise HostFailed("The database host refused the operation") from None


def _error_code(exc: BaseException) -> int | None:
    return exc.args[0] if isinstance(exc, pymysql.MySQLError) and exc.args else None


def lacking_privileges(grants: list[str]) -> set[str]:
    """What the account lacks on *.* to make databases and users and grant on them."""
    held: set[str] = set()
    can_grant = False
    for line in grants:
        found = GLOBAL_GRANT.match(line)
        if found:
            held |= {p.strip().upper() for p in found["privileges"].split(",")}
            can_grant = can_grant or line.rstrip().endswith("WITH GRANT OPTION")
    lacking = set() if "ALL PRIVILEGES" in held else set(NEEDED_PRIVILEGES - held)
    if not can_grant:
        lacking.add("GRANT OPTION")
    return lacking


async def verify(account: HostAccount, timeouts: Timeouts) -> None:
    """The account logs in and may create databases and users and grant on them."""
    async with session(account, timeouts) as cur:
        await cur.execute("SHOW GRANTS FOR CURRENT_USER()")
        grants = [str(row[0]) for row in await cur.fetchall()]
    lacking = lacking_privileges(grants)
    if lacking:
        raise HostLacksPrivileges(
            "The admin account lacks global privileges: " + ", ".join(sorted(lacking))
        )


async def create_database(
    account: HostAccount, timeouts: Timeouts, database: str, user: str, password: str
) -> None:
    """The database and a user that may do anything in it and nothing elsewhere.

    A name that exists on the host already is NameTaken and is left alone; what
    this call made before a later step failed is dropped again."""
    async with session(account, timeouts) as cur:
        made_database = made_user = False
        try:
            await cur.execute(f"CREATE DATABASE {quoted(database)}")
            made_database = True
            await cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, ANY_HOST, password))
            made_user = True
            await cur.execute(
                f"GRANT ALL PRIVILEGES ON {grant_target(database)} TO %s@%s", (user, ANY_HOST)
            )
        except pymysql.MySQLError as exc:
            if made_user:
                await cur.execute("DROP USER IF EXISTS %s@%s", (user, ANY_HOST))
            if made_database:
                await cur.execute(f"DROP DATABASE IF EXISTS {quoted(database)}")
            if _error_code(exc) in (DATABASE_EXISTS, USER_OPERATION_FAILED):
                raise NameTaken("The database or its user already exists on the host") from None
            raise


async def set_password(account: HostAccount, timeouts: Timeouts, user: str, password: str) -> None:
    """A new password for the user; sessions opened with the old one are ended."""
    async with session(account, timeouts) as cur:
        await cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, ANY_HOST, password))
        await _end_sessions(cur, user)


async def drop_database(account: HostAccount, timeouts: Timeouts, database: str, user: str) -> None:
    """The user (and its open sessions) and the database gone; either may be gone already."""
    async with session(account, timeouts) as cur:
        await cur.execute("DROP USER IF EXISTS %s@%s", (user, ANY_HOST))
        await _end_sessions(cur, user)
        await cur.execute(f"DROP DATABASE IF EXISTS {quoted(database)}")


async def _end_sessions(cur: aiomysql.Cursor, user: str) -> None:
    await cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))
    for (thread_id,) in await cur.fetchall():
        try:
            await cur.execute("KILL CONNECTION %s", (int(thread_id),))
        except pymysql.MySQLError as exc:
            if _error_code(exc) != UNKNOWN_THREAD:
                raise
