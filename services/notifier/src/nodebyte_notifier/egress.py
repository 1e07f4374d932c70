"""The HTTP client that calls webhook URLs: it never reaches a private address.

URL rules (`webhook_url`) decide which hosts may be named; this layer decides
where a connection may go. Each connection resolves the host itself, refuses
any address that is not globally routable (loopback, private, link-local,
CGNAT, reserved, multicast, IPv4-mapped forms of those) unless the host is
allowlisted, and connects to the address it checked, so a DNS answer that
changes between check and connect (rebinding) cannot slip through. Redirects
are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]
# Starts the message of a refused connection: a refusal is permanent, not worth a retry.
REFUSED = "refused:"


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to public addresses, except for allowlisted hosts."""

    def __init__(self, allowed_hosts: Iterable[str], resolver: Resolver = system_resolver) -> None:
        self.allowed = frozenset(h.lower() for h in allowed_hosts)
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    def _allowlisted(self, host: str, port: int) -> bool:
        return host in self.allowed or f"{host}:{port}" in self.allowed

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        host = host.lower().strip("[]")
        target = host
        if not self._allowlisted(host, port):
            addresses = await self.resolver(host, port)
            if not addresses or not all(is_public(a) for a in addresses):
                raise httpcore.ConnectError(f"{REFUSED} {host} resolves to a non-public address")
            target = addresses[0]
        return await self.inner.connect_tcp(
            target,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"{REFUSED} unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses `GuardedBackend`.

    httpx does not expose the network backend, so the pool it builds is replaced
    by one built the same way with ours; a unit test proves the guard holds.
    """

    def __init__(self, backend: GuardedBackend, max_connections: int) -> None:
        super().__init__()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=backend,
        )


def guarded_client(
    allowed_hosts: Iterable[str],
    *,
    timeout: float,
    max_connections: int = 64,
    resolver: Resolver = system_resolver,
) -> httpx.AsyncClient:
    transport = GuardedTransport(GuardedBackend(allowed_hosts, resolver), max_connections)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment between us and the check
    )
