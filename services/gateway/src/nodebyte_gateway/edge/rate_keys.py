"""Which shared buckets a request spends from, and the client address behind it.

Keyed by the caller's credential when it checked out (`vouched`) and always by
client address too. A credential that did not check out counts for nothing: its
caller spends from the address's anonymous bucket, so a junk key neither raises
an anonymous caller's limit nor creates buckets of its own. Account flows also
spend from a bucket per account (`of_subject`: the email they name). The client
address is the peer, or the nearest untrusted hop of X-Forwarded-For when the
peer is a trusted proxy: never the proxy itself.

A caller sends many requests, so what is derived from its address and
credential (a digest, parsed addresses) is remembered, in bounded tables.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING

from litestar.types import Scope

from nodebyte_gateway.accounts.auth import presented_key
from nodebyte_gateway.accounts.raw_headers import credential_headers, header

if TYPE_CHECKING:
    from nodebyte_gateway.edge.rate_limit import Limit

ADDRESS_FACTOR = 3  # an address may spend this many credentials' worth
MAX_REMEMBERED = 10_000  # callers (and addresses) remembered before the tables start over

# The buckets of one caller: their keys and their capacities, in the same order.
Keys = tuple[str, ...]
Caps = tuple[float, ...]
Buckets = tuple[Keys, Caps]


class BucketKeys:
    def __init__(self, trusted_proxies: list[str]) -> None:
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self._buckets: dict[tuple[str, str, str], Buckets] = {}
        self._trusted_addresses: dict[str, bool] = {}

    def of(self, route_class: str, limit: Limit, scope: Scope, *, vouched: bool) -> Buckets:
        """The buckets a request of `route_class` (limited by `limit`) spends from;
        `vouched` when its credential checked out."""
        credential = _credential(scope) if vouched else ""
        caller = (route_class, self.client_address(scope), credential)
        buckets = self._buckets.get(caller)
        if buckets is None:
            if len(self._buckets) >= MAX_REMEMBERED:
                self._buckets.clear()
            buckets = self._buckets[caller] = _buckets(*caller, limit)
        return buckets

    def client_address(self, scope: Scope) -> str:
        peer = (scope.get("client") or ("0.0.0.0", 0))[0]
        if not self._is_trusted(peer):
            return peer
        forwarded = header(scope, b"x-forwarded-for")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()] if forwarded else []
        for hop in reversed(hops):  # the nearest hop not ours is the client
            if not self._is_trusted(hop):
                return hop
        return peer

    def _is_trusted(self, address: str) -> bool:
        if not self.trusted:
            return False
        trusted = self._trusted_addresses.get(address)
        if trusted is None:
            if len(self._trusted_addresses) >= MAX_REMEMBERED:
                self._trusted_addresses.clear()
            trusted = self._trusted_addresses[address] = self._in_trusted_networks(address)
        return trusted

    def _in_trusted_networks(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)


def of_subject(route_class: str, limit: Limit, subject: str) -> Buckets:
    """The bucket of one account (by its email) in `route_class`, whoever asks for it."""
    digest = hashlib.sha256(subject.encode()).hexdigest()[:24]
    return (f"{_prefix(route_class, limit)}:acct:{digest}",), (float(limit.requests),)


def _prefix(route_class: str, limit: Limit) -> str:
    # The limit is part of the key: replicas configured alike share buckets, and the
    # purge reads the window from it (`rate_bucket_store`).
    return f"{route_class}:{limit.requests}/{limit.per_seconds:g}"


def _buckets(route_class: str, address: str, credential: str, limit: Limit) -> Buckets:
    prefix = _prefix(route_class, limit)
    by_address = f"{prefix}:ip:{address}"
    if not credential:
        return (by_address,), (float(limit.requests),)
    digest = hashlib.sha256(credential.encode()).hexdigest()[:24]
    # The address's credentialed callers share a bucket apart from its anonymous ones:
    # one key never has two capacities.
    return (
        (f"{prefix}:ip-cred:{address}", f"{prefix}:cred:{digest}"),
        (float(limit.requests * ADDRESS_FACTOR), float(limit.requests)),
    )


def _credential(scope: Scope) -> str:
    auth = credential_headers(scope)[0] or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return presented_key(scope) or ""
