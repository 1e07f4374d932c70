"""A PgBouncer in transaction mode in front of one database, as production's Pooler runs it.

The tests start one (NB_TEST_PGBOUNCER=1) and point the services and the bus harness at it,
so whatever keeps session state across transactions (a session advisory lock, a named
prepared statement, a SET) breaks there as it would behind the CloudNativePG Pooler.
Needs the `pgbouncer` binary (Debian package `pgbouncer`).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from nodebyte_devstack.config import free_port

# What production's Pooler allows each (role, database) pair (deploy/k8s/overlays/prod).
DEFAULT_POOL_SIZE = 20
MAX_CLIENT_CONN = 1000


class PgBouncerError(RuntimeError):
    pass


class PgBouncer:
    """`with PgBouncer(admin_dsn, database) as bouncer:` … `bouncer.dsn(role)`."""

    def __init__(self, admin_dsn: str, database: str) -> None:
        server = urlsplit(admin_dsn)
        self.server_host = server.hostname or "127.0.0.1"
        self.server_port = server.port or 5432
        self.admin_user = server.username or "postgres"
        self.admin_dsn = admin_dsn
        self.database = database
        # Its own directory in /tmp: when run as root, pgbouncer's user must reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="nodebyte-pgbouncer-"))
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._users_mtime = 0.0

    def dsn(self, role: str) -> str:
        """`role`'s URL of the database through the bouncer."""
        return urlunsplit(
            ("postgresql", f"{role}@127.0.0.1:{self.port}", f"/{self.database}", "", "")
        )

    def through(self, direct_dsn: str) -> str:
        """The same URL (role, database), through the bouncer."""
        parts = urlsplit(direct_dsn)
        return self.dsn(parts.username or self.admin_user)

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> PgBouncer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise PgBouncerError("pgbouncer is not installed (Debian package `pgbouncer`)")
        self._write_users(asyncio.run(self._login_roles()))
        (self.directory / "pgbouncer.ini").write_text(self._config())
        command = [binary, str(self.directory / "pgbouncer.ini")]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            user = _unprivileged_user()
            command[1:1] = ["-u", user]
            shutil.chown(self.directory, user)
            self.directory.chmod(0o755)
        self._process = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_listening()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)  # stop at once, closing server connections
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)

    async def allow_new_role(self, role: str, timeout: float = 10.0) -> None:
        """Re-read the login roles (after `role` was created) into the bouncer's user list,
        and return once the bouncer lets `role` in (it reloads on a loop turn of its own)."""
        self._write_users(await self._login_roles())
        assert self._process is not None
        self._process.send_signal(signal.SIGHUP)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await (await asyncpg.connect(self.dsn(role), statement_cache_size=0)).close()
                return
            except asyncpg.PostgresError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)

    # --- files -------------------------------------------------------------------------

    def _config(self) -> str:
        d = self.directory
        return f"""[databases]
{self.database} = host={self.server_host} port={self.server_port} dbname={self.database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {d / "userlist.txt"}
admin_users = {self.admin_user}
pool_mode = transaction
default_pool_size = {DEFAULT_POOL_SIZE}
max_client_conn = {MAX_CLIENT_CONN}
; asyncpg sends search_path (the role's default applies instead)
ignore_startup_parameters = extra_float_digits,search_path
server_lifetime = 3600
logfile = {d / "pgbouncer.log"}
pidfile = {d / "pgbouncer.pid"}
"""

    def _write_users(self, roles: list[str]) -> None:
        lines = [f'"{role}" ""' for role in sorted({*roles, self.admin_user})]
        path = self.directory / "userlist.txt"
        path.write_text("\n".join(lines) + "\n")
        # PgBouncer re-reads the file on a reload only when its mtime (in whole seconds)
        # moved: two roles created within one second would leave the second one out.
        self._users_mtime = max(time.time(), self._users_mtime + 1)
        os.utime(path, (self._users_mtime, self._users_mtime))

    async def _login_roles(self) -> list[str]:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            rows = await conn.fetch("SELECT rolname FROM pg_roles WHERE rolcanlogin")
        finally:
            await conn.close()
        return [r["rolname"] for r in rows]

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self.directory / "pgbouncer.log").read_text(errors="replace")
                raise PgBouncerError(f"pgbouncer exited:\n{log[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise PgBouncerError(f"pgbouncer did not listen on {self.port} within {timeout}s")


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PgBouncerError("running as root and no unprivileged user to run pgbouncer as")
