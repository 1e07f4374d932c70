"""The egress policy: which URLs may be called and which addresses a connection may reach."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from nodebyte_common.egress.addresses import AllowedHosts, ip_literal, is_public

Resolver = Callable[[str, int], Awaitable[list[str]]]
DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressRefused(ValueError):
    """The URL or the address it resolves to may not be reached. Permanent: never retried."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_form(url: str) -> tuple[str, int | None]:
    """The host and port of an http(s) URL that names a host and carries no credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        raise EgressRefused("the URL is malformed") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise EgressRefused("only http and https URLs can be called")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise EgressRefused("a URL may not carry credentials")
    host = (parts.hostname or "").lower()
    if not host:
        raise EgressRefused("the URL names no host")
    return host, port


class EgressPolicy:
    def __init__(
        self, allowed: AllowedHosts | None = None, resolver: Resolver = system_resolver
    ) -> None:
        self.allowed = allowed or AllowedHosts()
        self.resolver = resolver

    def check_url(self, url: str) -> None:
        """What can be told from the URL alone: its form (`check_form`), and a literal
        address only if public or allowed. A name is checked when it is resolved."""
        host, port = check_form(url)
        if self.allowed.allows(host, port):
            return
        literal = ip_literal(host)
        if literal is not None and not is_public(literal):
            raise EgressRefused(f"{host} is not a public address")

    async def addresses(self, host: str, port: int) -> list[str] | None:
        """The checked addresses to connect to; None when the host is allowed as named
        (the system connects to it as it resolves it). Raises EgressRefused."""
        host = host.lower().strip("[]")
        if self.allowed.allows(host, port):
            return None
        try:
            resolved = await self.resolver(host, port)
        except OSError:
            raise ConnectionError(f"{host} does not resolve") from None
        if not resolved or not all(is_public(a) for a in resolved):
            raise EgressRefused(f"{host} resolves to a non-public address")
        return resolved
