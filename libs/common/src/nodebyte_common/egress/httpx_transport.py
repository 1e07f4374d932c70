"""An httpx client whose every connection obeys an egress policy.

httpx does not expose its network backend, so the connection pool it builds is
replaced by one built the same way over `GuardedBackend`, which resolves the
host once, checks every answer and connects to the checked address (the URL's
name still goes in Host and SNI). A refused connection is an
`httpx.ConnectError` whose message starts with `REFUSED`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from nodebyte_common.egress.addresses import AllowedHosts
from nodebyte_common.egress.policy import EgressPolicy, EgressRefused, Resolver, system_resolver

REFUSED = "refused:"


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.policy.addresses(host, port)
        except EgressRefused as exc:
            raise httpcore.ConnectError(f"{REFUSED} {exc}") from None
        except ConnectionError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        return await self.inner.connect_tcp(
            addresses[0] if addresses else host,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"{REFUSED} unix sockets are not egress targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
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
    allowed_hosts: Iterable[str] | AllowedHosts,
    *,
    timeout: float,
    max_connections: int = 64,
    resolver: Resolver = system_resolver,
) -> httpx.AsyncClient:
    allowed = allowed_hosts if isinstance(allowed_hosts, AllowedHosts) else None
    policy = EgressPolicy(allowed or AllowedHosts.parse(allowed_hosts), resolver)  # type: ignore[arg-type]
    transport = GuardedTransport(GuardedBackend(policy), max_connections)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment between us and the check
    )
