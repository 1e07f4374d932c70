"""Discord's rate limits, as Discord states them, for every request the notifier makes.

One limiter per process; deliveries, webhook tests, alert-rule webhooks and the
system webhook all take a slot from it before they send (`acquire`) and hand
the answer back (`learn`), so no request is sent while its bucket is known to
be empty or the global limit is in force.

- Buckets come from `X-RateLimit-Bucket`: a route (a webhook) is mapped to the
  bucket Discord names, and routes that share one share its state.
- `X-RateLimit-Remaining` and `X-RateLimit-Reset-After` describe the bucket
  after that request. Requests still in flight may not be counted in it yet,
  so they are subtracted; answers of one window (same `X-RateLimit-Reset`)
  only ever lower what remains. After the reset, the whole limit minus the
  requests in flight may start; before a route's first answer, one request.
- A 429 waits `retry_after` (body, else `Retry-After`): the whole process
  when it is global (`X-RateLimit-Global`, `"global": true`), else the bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

EDGE_MARGIN = 0.05  # seconds added to a reset, so we never arrive a moment early
PROBES = 1  # requests in flight to a route before its bucket is known


@dataclass
class _Bucket:
    limit: int | None = None  # None until Discord's first answer
    remaining: int = 0
    window: float | None = None  # X-RateLimit-Reset of the window `remaining` is about
    reset_at: float = 0.0  # local clock
    blocked_until: float = 0.0  # a 429's retry_after
    in_flight: int = 0
    name: str | None = None  # X-RateLimit-Bucket


@dataclass(frozen=True)
class RateLimitAnswer:
    """What one answer says about the limits (headers are case-insensitive in httpx)."""

    headers: Mapping[str, str]
    retry_after: float | None = None  # a 429's
    is_global: bool = False


def _number(headers: Mapping[str, str], name: str) -> float | None:
    with contextlib.suppress(KeyError, ValueError):
        return float(headers[name])
    return None


class DiscordLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._routes: dict[str, _Bucket] = {}  # route (delivery target) -> its bucket
        self._named: dict[str, _Bucket] = {}  # X-RateLimit-Bucket -> bucket
        self._global_until = 0.0
        self._changed = asyncio.Event()

    def _bucket(self, route: str) -> _Bucket:
        return self._routes.setdefault(route, _Bucket())

    def room(self, route: str) -> int:
        """How many more requests to `route` may start now."""
        now = self.clock()
        b = self._bucket(route)
        if now < self._global_until or now < b.blocked_until:
            return 0
        if b.limit is None:
            budget = PROBES
        elif now >= b.reset_at:
            budget = b.limit
        else:
            budget = b.remaining
        return max(0, budget - b.in_flight)

    def blocked(self) -> list[str]:
        """Routes that may not start a request now (skipped when claiming)."""
        return [route for route in self._routes if self.room(route) == 0]

    def wait_seconds(self) -> float:
        """Until the earliest wait ends (0 when nothing waits for the clock)."""
        now = self.clock()
        ends = [self._global_until]
        for b in self._routes.values():
            ends.append(b.blocked_until)
            if b.limit is not None and b.remaining - b.in_flight <= 0:
                ends.append(b.reset_at)
        future = [end - now for end in ends if end > now]
        return min(future) if future else 0.0

    def route_wait(self, route: str) -> float:
        """Until `route` may have room again (0 when it has room now)."""
        if self.room(route) > 0:
            return 0.0
        now = self.clock()
        b = self._bucket(route)
        ends = [self._global_until, b.blocked_until]
        if b.limit is not None and now < b.reset_at:
            ends.append(b.reset_at)
        return max(0.0, max(ends) - now)

    def try_acquire(self, route: str) -> bool:
        """Take a slot for one request to `route` if one is free now."""
        if self.room(route) <= 0:
            return False
        self._bucket(route).in_flight += 1
        return True

    async def acquire(self, route: str, max_wait: float) -> bool:
        """Take a slot, waiting up to `max_wait` seconds for one; False if none came."""
        deadline = self.clock() + max_wait
        while not self.try_acquire(route):
            left = deadline - self.clock()
            if left <= 0:
                return False
            changed = self._changed
            # Woken by an answer (a slot freed, a limit learnt) or when a wait ends.
            timeout = min(left, self.wait_seconds() or left)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        return True

    def abandon(self, route: str) -> None:
        """Give a slot back with no answer (a connection error): it may have counted."""
        b = self._bucket(route)
        b.in_flight = max(0, b.in_flight - 1)
        b.remaining = max(0, b.remaining - 1)
        self._notify()

    def learn(self, route: str, answer: RateLimitAnswer) -> None:
        """Give a slot back with what Discord's answer says."""
        now = self.clock()
        b = self._adopt(route, answer.headers.get("x-ratelimit-bucket"))
        b.in_flight = max(0, b.in_flight - 1)
        self._learn_bucket(b, answer.headers, now)
        if answer.retry_after is not None:
            until = now + answer.retry_after + EDGE_MARGIN
            if answer.is_global:
                self._global_until = max(self._global_until, until)
            else:
                b.blocked_until = max(b.blocked_until, until)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _adopt(self, route: str, name: str | None) -> _Bucket:
        """The bucket Discord names for `route`, shared with other routes in it."""
        current = self._bucket(route)
        if not name or current.name == name:
            return current
        shared = self._named.get(name)
        if shared is None:
            current.name = name
            self._named[name] = current
            return current
        shared.in_flight += current.in_flight  # our requests in flight move with the route
        current.in_flight = 0
        self._routes[route] = shared
        return shared

    def _learn_bucket(self, b: _Bucket, headers: Mapping[str, str], now: float) -> None:
        limit = _number(headers, "x-ratelimit-limit")
        remaining = _number(headers, "x-ratelimit-remaining")
        reset_after = _number(headers, "x-ratelimit-reset-after")
        window = _number(headers, "x-ratelimit-reset")
        if limit is None or remaining is None or reset_after is None:
            return
        b.limit = max(1, int(limit))
        if b.window is not None and window is not None and window < b.window:
            return  # a late answer from a window that is over
        reset_at = now + reset_after + EDGE_MARGIN
        if b.window is None or window is None or window > b.window:  # a new window
            b.remaining, b.reset_at = int(remaining), reset_at
        else:
            b.remaining, b.reset_at = min(b.remaining, int(remaining)), max(b.reset_at, reset_at)
        b.window = window
