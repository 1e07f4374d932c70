"""Which addresses a user's URL may reach, and the hosts an operator allowed anyway."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from nodebyte_common.settings import csv


def is_public(address: str) -> bool:
    """Globally routable: not loopback, private, link-local (cloud metadata), CGNAT,
    unspecified, reserved or multicast, nor an IPv6 form that embeds such an IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


def ip_literal(host: str) -> str | None:
    """`host` as an address when it is one (brackets and zone stripped), else None."""
    bare = host.strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return None
    return bare


@dataclass(frozen=True)
class AllowedHosts:
    """Hosts ("host" or "host:port") the operator allowed to be private (emulators, LAN)."""

    entries: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, spec: str | Iterable[str]) -> AllowedHosts:
        items = csv(spec) if isinstance(spec, str) else spec
        return cls(frozenset(item.strip().lower() for item in items if item.strip()))

    def allows(self, host: str, port: int | None) -> bool:
        host = host.lower().strip("[]")
        return host in self.entries or (port is not None and f"{host}:{port}" in self.entries)
