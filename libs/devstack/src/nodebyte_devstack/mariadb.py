"""The MariaDB server of this machine (127.0.0.1:3306, root without a password) as the
tests' database host: logging in as a customer would, and the accounts made for a test.

Everything a test makes there (admin accounts, and what its servers made: databases
`s<8 hex>_*`, users `u<8 hex>*` named after the server) is dropped by `drop_all`.
"""

from __future__ import annotations

import secrets
from typing import Any

import aiomysql

MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306


async def mariadb(
    user: str = "root", password: str = "", db: str | None = None
) -> aiomysql.Connection:
    """A connection to MariaDB, logged in as `user` (root by default)."""
    return await aiomysql.connect(
        host=MARIADB_HOST,
        port=MARIADB_PORT,
        user=user,
        password=password,
        db=db,
        autocommit=True,
        connect_timeout=5,
    )


async def fetch(conn: Any, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall())


async def exists_on_mariadb(root: Any, database: dict[str, Any]) -> tuple[bool, bool]:
    """(the database exists, its user exists) as MariaDB itself says."""
    dbs = await fetch(root, "SHOW DATABASES LIKE %s", (database["name"],))
    users = await fetch(root, "SELECT 1 FROM mysql.user WHERE User = %s", (database["username"],))
    return bool(dbs), bool(users)


class MariaDbAccounts:
    """Admin accounts made for the tests, and what the tests' servers made; dropped after."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.users: list[str] = []
        self.prefixes: list[str] = []

    async def admin(self, *, grant_option: bool = True) -> tuple[str, str]:
        user, password = f"nbt_admin_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
        await fetch(self.conn, "CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
        option = " WITH GRANT OPTION" if grant_option else ""
        privileges = "ALL PRIVILEGES" if grant_option else "SELECT"
        await fetch(self.conn, f"GRANT {privileges} ON *.* TO %s@'%%'{option}", (user,))
        self.users.append(user)
        return user, password

    def server(self, server_id: str) -> None:
        """Whatever the platform names after this server is dropped after the test."""
        self.prefixes.append(server_id.replace("-", "")[-8:])

    async def drop_all(self) -> None:
        for short in self.prefixes:
            for (name,) in await fetch(self.conn, "SHOW DATABASES LIKE %s", (f"s{short}%",)):
                await fetch(self.conn, f"DROP DATABASE `{name}`")
            for user, host in await fetch(
                self.conn, "SELECT User, Host FROM mysql.user WHERE User LIKE %s", (f"u{short}%",)
            ):
                await fetch(self.conn, "DROP USER %s@%s", (user, host))
        for user in self.users:
            await fetch(self.conn, "DROP USER IF EXISTS %s@'%%'", (user,))
