"""SFTP on `SFTP_PORT`: `<username>.<server short id>` signs in to one server's files.

The account's password or one of its registered public keys is checked by the
gateway (internal `SFTP_ACCESS`, which counts failed passwords against the
HTTP sign-in's lockout); the server is found here by its short id (the last
8 hex digits of its id, as its databases are named). A session needs
`file.read` at least; `sftp_files` checks each operation. Only the SFTP
subsystem is offered: no shell, exec or port forwarding.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import asyncssh
import msgspec

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts import sftp as contracts
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.envelope import ApiError
from nodebyte_common.internal_client import ServiceClient
from nodebyte_common.runtime import Runtime
from nodebyte_node_agent_gateway import server_store
from nodebyte_node_agent_gateway.file_api import ServerFiles
from nodebyte_node_agent_gateway.settings import NodeAgentGatewaySettings
from nodebyte_node_agent_gateway.sftp_files import ServerSftp, SftpAccess

log = logging.getLogger(__name__)

ACCESS_INFO = "nodebyte_sftp"  # the connection's extra info naming its SftpAccess


def split_login(login: str) -> tuple[str, str] | None:
    """(username, short id) of `<username>.<short id>` (usernames may hold dots)."""
    username, dot, short = login.rpartition(".")
    if not dot or not username or len(short) != server_store.SHORT_ID:
        return None
    try:
        int(short, 16)
    except ValueError:
        return None
    return username, short.lower()


class SignIns:
    """Whether a login and a proof open a session on a server, and with what access."""

    def __init__(self, runtime: Runtime, gateway: ServiceClient) -> None:
        self.runtime = runtime
        self.gateway = gateway

    async def check(self, login: str, credentials: dict[str, str]) -> SftpAccess | None:
        parsed = split_login(login)
        if parsed is None:
            return None
        username, short = parsed
        server_id = await self._server(short)
        if server_id is None:
            return None
        body = contracts.SftpCredentials(username=username, **credentials)
        try:
            answer = await self.gateway.call_as(
                Answer[contracts.SftpAccess],
                "POST",
                contracts.SFTP_ACCESS,
                json=msgspec.to_builtins(body),
            )
        except ApiError as exc:  # refused; or the gateway is down: nobody signs in meanwhile
            if exc.status >= 500:
                log.warning("SFTP sign-in could not be checked", extra={"error": exc.message})
            return None
        access = answer.data
        if catalogue.FILE_READ not in access.permissions:
            return None
        return SftpAccess(server_id, access.user_id, frozenset(access.permissions))

    async def _server(self, short: str) -> UUID | None:
        async with self.runtime.pool.acquire() as conn:
            found = await server_store.ids_by_short_id(conn, short)
        return found[0] if len(found) == 1 else None


class _Connection(asyncssh.SSHServer):
    """One client's connection: passwords and keys, each checked by `SignIns`."""

    def __init__(self, sign_ins: SignIns) -> None:
        self.sign_ins = sign_ins
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        return await self._admit(username, {"password": password})

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        line = key.export_public_key("openssh").decode().strip()
        return await self._admit(username, {"public_key": line})

    async def _admit(self, username: str, credentials: dict[str, str]) -> bool:
        access = await self.sign_ins.check(username, credentials)
        if access is None or self.conn is None:
            return False
        self.conn.set_extra_info(**{ACCESS_INFO: access})
        return True


class SftpServer:
    def __init__(
        self, runtime: Runtime, files: ServerFiles, settings: NodeAgentGatewaySettings
    ) -> None:
        self.files = files
        self.settings = settings
        gateway = ServiceClient(
            "gateway",
            settings.gateway_url,
            settings.service_token,
            timeout=settings.sftp_login_timeout_seconds,
        )
        runtime.on_stop(gateway.aclose)
        self.sign_ins = SignIns(runtime, gateway)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.sftp_host_key.strip())

    async def serve_forever(self) -> None:
        # One line with literal \n where an environment file cannot hold newlines (compose).
        host_key = asyncssh.import_private_key(self.settings.sftp_host_key.replace("\\n", "\n"))
        server = await asyncssh.create_server(
            lambda: _Connection(self.sign_ins),
            self.settings.host,
            self.settings.sftp_port,
            server_host_keys=[host_key],
            sftp_factory=lambda chan: ServerSftp(chan, self.files),
            allow_scp=False,
            login_timeout=self.settings.sftp_login_timeout_seconds * 6,
            # asyncssh's own keep-alive finds half-open clients
            keepalive_interval=30,
        )
        try:
            await asyncio.Future()  # until the service stops
        finally:
            server.close()
            await server.wait_closed()
