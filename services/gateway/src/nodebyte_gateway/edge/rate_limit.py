"""Token-bucket rate limits per route class, shared by every gateway replica.

Buckets live in PostgreSQL; each replica leases tokens from them in small,
growing chunks (see Lease), so a busy caller costs a round trip per chunk, not
per request, and the buckets never lend more than they hold. Which buckets a
request spends from is `rate_keys`' business.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import asyncpg
from litestar.types import Scope

from nodebyte_gateway.edge.rate_keys import BucketKeys, Caps, Keys, of_subject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    requests: int
    per_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.per_seconds


# Route classes (a handler names its class with opt={"rate_limit": "<class>"}).
LIMITS: dict[str, Limit] = {
    "default": Limit(300, 60),
    "public": Limit(120, 60),
    "auth": Limit(10, 60),  # register, login, password and magic-link flows (Catalyst)
    "account": Limit(10, 60),  # the same flows, per account (the email they name)
    "mail": Limit(3, 3600),  # account emails a stranger can make us send to one address
    "sync": Limit(20, 60),  # commands that start work on the panel
}


def parse_limits(spec: str) -> dict[str, Limit]:
    """`"sync=20/60,default=300/60"` over the defaults; ValueError when malformed."""
    limits = dict(LIMITS)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, rule = item.partition("=")
        requests, _, seconds = rule.partition("/")
        limit = Limit(int(requests), float(seconds))
        if not name or limit.requests < 1 or limit.per_seconds <= 0:
            raise ValueError(f"bad rate limit {item!r}")
        limits[name.strip()] = limit
    return limits


LEASE = "SELECT * FROM lease_tokens($1::text[], $2::float8[], $3::float8[], $4)"
LEASE_SECONDS = 4.0  # unspent leased tokens lapse after this (the bucket refills anyway)
LEASE_FRACTION = 0.05  # the largest lease, as a share of the bucket


class Verdict(NamedTuple):  # one per request: a tuple is the cheapest immutable record
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_epoch).encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.retry_after).encode()))
        return out


@dataclass
class Lease:
    """Tokens this replica took from one caller's shared buckets, spent locally.

    A lease holds what the caller spent here in half a lease lifetime at its
    recent pace (one token for a slow caller: exact, like spending per request),
    up to a small share of the bucket, so little lapses unspent and a fast
    caller costs a round trip per chunk. A lease of several tokens is renewed
    ahead of need, so its requests never wait for it.
    """

    cap: float
    rate: float
    max_size: int
    size: int = 1
    tokens: int = 0
    spent: int = 0  # since the last renewal
    renewing_ahead: bool = False  # set when scheduled, so one request schedules it
    renewed_at: float = 0.0
    shared_left: float = 0.0  # what the tightest shared bucket held after our lease
    expires_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def usable(self, now: float) -> bool:
        return self.tokens >= 1 and now < self.expires_at

    def take(self) -> None:
        self.tokens -= 1
        self.spent += 1

    def next_size(self, now: float) -> int:
        pace = self.spent / max(now - self.renewed_at, 0.001)
        return max(1, min(math.ceil(pace * LEASE_SECONDS / 2), self.max_size))

    def wants_renewal_ahead(self, now: float) -> bool:
        # Half a lease (a second or more) ahead: a saturated process may take that
        # long to see a database round trip answered.
        running_low = self.tokens <= self.size // 2 or now >= self.expires_at - LEASE_SECONDS / 2
        return self.size >= 4 and running_low and not self.renewing_ahead and not self.lock.locked()

    def add(self, granted: int, now: float) -> None:
        kept = self.tokens if self.usable(now) else 0
        self.tokens = granted + kept
        self.expires_at = now + LEASE_SECONDS
        self.renewed_at = now
        self.spent = 0

    def verdict(self, allowed: bool) -> Verdict:
        # Unspent leased tokens plus a refilled bucket may add up past the cap: never say so.
        remaining = min(int(self.cap), max(0, math.floor(self.shared_left + self.tokens)))
        return Verdict(
            allowed=allowed,
            limit=int(self.cap),
            remaining=remaining,
            reset_epoch=int(time.time() + (self.cap - remaining) / self.rate),
            retry_after=max(1, math.ceil((1 - self.shared_left) / self.rate)),
        )


class RateLimiter:
    MAX_LEASES = 50_000  # callers remembered per replica before lapsed leases are dropped

    def __init__(
        self, pool_of: Any, trusted_proxies: list[str], limits: dict[str, Limit] | None = None
    ) -> None:
        self.pool_of = pool_of
        self.limits = limits or LIMITS
        self.keys = BucketKeys(trusted_proxies)
        self._leases: dict[Keys, Lease] = {}
        self._renewals: set[asyncio.Task[None]] = set()

    def limit_of(self, route_class: str) -> Limit:
        return self.limits.get(route_class, self.limits["default"])

    async def check(self, route_class: str, scope: Scope, *, vouched: bool = False) -> Verdict:
        """Spend one request of `route_class` by this caller (`vouched`: its credential
        checked out, so it has buckets of its own)."""
        limit = self.limit_of(route_class)
        return await self._spend(*self.keys.of(route_class, limit, scope, vouched=vouched), limit)

    async def check_subject(self, route_class: str, subject: str) -> Verdict:
        """Spend one request of `route_class` from the bucket of `subject` (an account)."""
        limit = self.limit_of(route_class)
        return await self._spend(*of_subject(route_class, limit, subject), limit)

    async def _spend(self, keys: Keys, caps: Caps, limit: Limit) -> Verdict:
        lease = self._lease_of(keys, caps, limit)
        if not lease.usable(time.monotonic()):
            async with lease.lock:  # one round trip per caller at a time, not one per request
                if not lease.usable(time.monotonic()):
                    await self._renew(lease, keys, caps, limit)
        if lease.tokens < 1:
            return lease.verdict(allowed=False)
        lease.take()
        if lease.wants_renewal_ahead(time.monotonic()):
            self._renew_ahead(lease, keys, caps, limit)
        return lease.verdict(allowed=True)

    def _renew_ahead(self, lease: Lease, keys: Keys, caps: Caps, limit: Limit) -> None:
        async def renew() -> None:
            try:
                async with lease.lock:
                    await self._renew(lease, keys, caps, limit)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("rate limit lease not renewed ahead", extra={"error": str(exc)})
            finally:
                lease.renewing_ahead = False

        lease.renewing_ahead = True

        task = asyncio.create_task(renew())
        self._renewals.add(task)
        task.add_done_callback(self._renewals.discard)

    def _lease_of(self, group: Keys, caps: Caps, limit: Limit) -> Lease:
        lease = self._leases.get(group)
        if lease is None:
            if len(self._leases) >= self.MAX_LEASES:
                self._forget_lapsed()
            cap = min(caps)
            lease = Lease(cap, cap / limit.per_seconds, max(1, int(cap * LEASE_FRACTION)))
            self._leases[group] = lease
        return lease

    async def _renew(self, lease: Lease, keys: Keys, caps: Caps, limit: Limit) -> None:
        now = time.monotonic()
        lease.size = lease.next_size(now)
        pool: asyncpg.Pool = self.pool_of()
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                LEASE, list(keys), list(caps), [float(lease.size)] * len(keys), limit.per_seconds
            )
        granted = int(min(row["granted_tokens"] for row in rows))
        tightest = min(
            rows, key=lambda row: row["left_tokens"] / caps[keys.index(row["bucket_key"])]
        )
        lease.cap = caps[keys.index(tightest["bucket_key"])]
        lease.rate = lease.cap / limit.per_seconds
        lease.shared_left = tightest["left_tokens"]
        lease.add(granted, time.monotonic())

    def _forget_lapsed(self) -> None:
        now = time.monotonic()
        for group, lease in list(self._leases.items()):
            if not lease.usable(now) and not lease.lock.locked():
                del self._leases[group]
