"""Token-bucket rate limits per route class, shared by every gateway replica.

Buckets live in PostgreSQL (one upsert per request refills and spends in one
statement), keyed by the caller's credential when one is presented and always
by client address too, so guessing keys from one address is limited as well.
The client address is the peer, or the nearest untrusted hop of
X-Forwarded-For when the peer is a trusted proxy: never the proxy itself.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from nodebyte_common.envelope import error_body


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
    "sync": Limit(20, 60),  # commands that start work on the panel
}
ADDRESS_FACTOR = 3  # an address may spend this many credentials' worth


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


SPEND = """
INSERT INTO rate_buckets AS b (key, tokens, updated_at)
SELECT k, cap - 1, now() FROM unnest($1::text[], $2::float8[]) AS v(k, cap)
ON CONFLICT (key) DO UPDATE SET
    tokens = GREATEST(-1, LEAST(excluded.tokens + 1,
             b.tokens + extract(epoch FROM now() - b.updated_at)
                 * (excluded.tokens + 1) / $3) - 1),
    updated_at = now()
RETURNING key, tokens
"""


@dataclass(frozen=True)
class Verdict:
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


class RateLimiter:
    def __init__(
        self, pool_of: Any, trusted_proxies: list[str], limits: dict[str, Limit] | None = None
    ) -> None:
        self.pool_of = pool_of
        self.limits = limits or LIMITS
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    async def check(self, route_class: str, scope: Scope) -> Verdict:
        limit = self.limits.get(route_class, self.limits["default"])
        keys, caps = self._keys(route_class, scope, limit)
        pool: asyncpg.Pool = self.pool_of()
        async with pool.acquire() as conn:
            rows = await conn.fetch(SPEND, keys, caps, limit.per_seconds)
        tightest = min(rows, key=lambda r: r["tokens"] / caps[keys.index(r["key"])])
        cap = caps[keys.index(tightest["key"])]
        tokens = tightest["tokens"]
        rate = cap / limit.per_seconds
        allowed = all(r["tokens"] >= 0 for r in rows)
        return Verdict(
            allowed=allowed,
            limit=int(cap),
            remaining=max(0, math.floor(tokens)),
            reset_epoch=int(time.time() + (cap - max(tokens, 0)) / rate),
            retry_after=max(1, math.ceil((0 - tokens) / rate)) if not allowed else 0,
        )

    def _keys(self, route_class: str, scope: Scope, limit: Limit) -> tuple[list[str], list[float]]:
        # The limit is part of the key: replicas configured alike share buckets.
        prefix = f"{route_class}:{limit.requests}/{limit.per_seconds:g}"
        keys = [f"{prefix}:ip:{self.client_address(scope)}"]
        caps = [float(limit.requests * ADDRESS_FACTOR)]
        credential = _credential(scope)
        if credential:
            digest = hashlib.sha256(credential.encode()).hexdigest()[:24]
            keys.append(f"{prefix}:cred:{digest}")
            caps.append(float(limit.requests))
        else:
            caps[0] = float(limit.requests)
        return keys, caps

    def client_address(self, scope: Scope) -> str:
        peer = (scope.get("client") or ("0.0.0.0", 0))[0]
        if not self._is_trusted(peer):
            return peer
        forwarded = _header(scope, b"x-forwarded-for")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()] if forwarded else []
        for hop in reversed(hops):  # the nearest hop not ours is the client
            if not self._is_trusted(hop):
                return hop
        return peer

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def _credential(scope: Scope) -> str:
    auth = _header(scope, b"authorization")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    key = _header(scope, b"x-api-key")
    if key:
        return key
    query = scope.get("query_string", b"").decode("latin-1")
    for part in query.split("&"):
        if part.startswith("api_key="):
            return part[8:]
    return ""


def rate_limit_middleware(limiter: RateLimiter) -> Any:
    """ASGI middleware: spend from the route's buckets; 429 in the envelope when empty."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            handler = scope.get("route_handler")
            route_class = (getattr(handler, "opt", None) or {}).get("rate_limit", "default")
            if scope["type"] != "http" or route_class == "none":
                await app(scope, receive, send)
                return
            verdict = await limiter.check(route_class, scope)
            if not verdict.allowed:
                await _too_many(send, verdict)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *verdict.headers()]
                await send(message)

            await app(scope, receive, send_with_headers)

        return wrapped

    return middleware


async def _too_many(send: Send, verdict: Verdict) -> None:
    body = msgspec.json.encode(
        error_body(
            f"Too many requests. Try again in {verdict.retry_after} seconds.",
            "RATE_LIMITED",
            {"retryAfter": verdict.retry_after},
        )
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [(b"content-type", b"application/json"), *verdict.headers()],
        }
    )
    await send({"type": "http.response.body", "body": body})
