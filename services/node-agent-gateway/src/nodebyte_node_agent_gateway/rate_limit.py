"""Token buckets: how many messages a node connection, and each server in it, may send."""

from __future__ import annotations

import time


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; one message costs one token."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now > self.stamp:  # a moment before the last one (an earlier arrival) adds nothing
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
