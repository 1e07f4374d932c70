"""An aiohttp resolver that obeys an egress policy.

aiohttp asks its resolver once per new connection and connects to the address
it returns, keeping the URL's name for Host and SNI: checking here pins the
connection to the checked address. aiohttp does not ask about a literal IP, so
callers check the URL first (`EgressPolicy.check_url`).
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from nodebyte_common.egress.addresses import ip_literal
from nodebyte_common.egress.policy import EgressPolicy

_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class GuardedResolver(AbstractResolver):
    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.system = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        checked = await self.policy.addresses(host, port)
        if checked is None:  # allowed by name: resolved as the system does
            return await self.system.resolve(host, port, family)
        return [_result(host, address, port) for address in checked]

    async def close(self) -> None:
        await self.system.close()


def _result(host: str, address: str, port: int) -> ResolveResult:
    bare = ip_literal(address) or address
    v6 = ":" in bare
    return ResolveResult(
        hostname=host,
        host=bare,
        port=port,
        family=socket.AF_INET6 if v6 else socket.AF_INET,
        proto=0,
        flags=_NUMERIC,
    )
