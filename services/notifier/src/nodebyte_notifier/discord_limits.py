"""Per-webhook pacing learned from Discord's rate-limit answers.

Discord tells a client how many requests a webhook's bucket has left
(`X-RateLimit-Remaining`) and when it refills (`X-RateLimit-Reset-After`); a
429 says how long to wait (`retry_after`, and `global` when the whole
application is limited). The worker asks `room(target)` before it starts a
request, so it rarely meets a 429 at all; when it does, it waits as told.
State is per process: replicas each learn the buckets from their own answers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

UNKNOWN_LIMIT = 1  # requests in flight to a webhook before its limit is known
EDGE_MARGIN = 0.05  # seconds added to a reset, so we never arrive a moment early


@dataclass
class _Bucket:
    limit: int = UNKNOWN_LIMIT
    remaining: int | None = None
    reset_at: float = 0.0
    blocked_until: float = 0.0
    in_flight: int = 0


def _number(headers: Mapping[str, str], name: str) -> float | None:
    with contextlib.suppress(KeyError, ValueError):
        return float(headers[name])
    return None


class WebhookBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._global_until = 0.0

    def _bucket(self, target: str) -> _Bucket:
        return self._buckets.setdefault(target, _Bucket())

    def room(self, target: str) -> int:
        """How many more requests to `target` may start now."""
        now = self.clock()
        b = self._bucket(target)
        if now < self._global_until or now < b.blocked_until:
            return 0
        budget = b.limit if b.remaining is None or now >= b.reset_at else b.remaining
        return max(0, budget - b.in_flight)

    def blocked(self) -> list[str]:
        """Targets that may not start a request now (skipped when claiming)."""
        return [t for t in self._buckets if self.room(t) == 0]

    def wait_seconds(self) -> float:
        """Until the earliest block ends (0 when nothing is blocked)."""
        now = self.clock()
        ends = [b.blocked_until for b in self._buckets.values() if b.blocked_until > now]
        ends += [self._global_until] if self._global_until > now else []
        return max(0.0, min(ends) - now) if ends else 0.0

    def started(self, target: str) -> None:
        self._bucket(target).in_flight += 1

    def finished(
        self,
        target: str,
        headers: Mapping[str, str] | None,
        retry_after: float | None = None,
        is_global: bool = False,
    ) -> None:
        """Learn from an answer (headers are case-insensitive in httpx)."""
        b = self._bucket(target)
        b.in_flight = max(0, b.in_flight - 1)
        now = self.clock()
        if headers is not None:
            self._learn(b, headers, now)
        if retry_after is not None:
            until = now + retry_after + EDGE_MARGIN
            if is_global:
                self._global_until = max(self._global_until, until)
            else:
                b.blocked_until = max(b.blocked_until, until)

    def _learn(self, b: _Bucket, headers: Mapping[str, str], now: float) -> None:
        limit = _number(headers, "x-ratelimit-limit")
        remaining = _number(headers, "x-ratelimit-remaining")
        reset_after = _number(headers, "x-ratelimit-reset-after")
        if limit is None or remaining is None or reset_after is None:
            return
        reset_at = now + reset_after + EDGE_MARGIN
        new_window = b.remaining is None or reset_at > b.reset_at + 0.5 or now >= b.reset_at
        b.limit = max(1, int(limit))
        b.remaining = int(remaining) if new_window else min(b.remaining or 0, int(remaining))
        b.reset_at = reset_at
        if b.remaining <= 0:
            b.blocked_until = max(b.blocked_until, reset_at)
