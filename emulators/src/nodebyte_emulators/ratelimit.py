"""Fixed-window rate limiting, the scheme both Laravel's throttle and Discord buckets use."""

import math
import time
from dataclasses import dataclass


def whole_seconds(seconds: float) -> int:
    """Retry-After is whole seconds on the wire; round up so clients never retry early."""
    return max(1, math.ceil(seconds))


@dataclass(slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the window restarts

    @property
    def reset_after(self) -> float:
        return max(0.0, self.reset_at - time.time())


@dataclass(slots=True)
class _Window:
    hits: int
    reset_at: float


class FixedWindowLimiter:
    """`limit` hits per `period` seconds per key; the window starts at a key's first hit.

    When disabled it never refuses and reports a fresh window, so clients that pace
    themselves on X-RateLimit-Remaining are not slowed down in tests and benchmarks.
    """

    def __init__(self, limit: int, period: float, enabled: bool) -> None:
        self.limit = limit
        self.period = period
        self.enabled = enabled
        self._windows: dict[str, _Window] = {}

    def hit(self, key: str) -> Verdict:
        now = time.time()
        if not self.enabled:
            return Verdict(True, self.limit, self.limit - 1, now + self.period)
        window = self._windows.get(key)
        if window is None or window.reset_at <= now:
            window = self._windows[key] = _Window(0, now + self.period)
        if window.hits >= self.limit:
            return Verdict(False, self.limit, 0, window.reset_at)
        window.hits += 1
        return Verdict(True, self.limit, self.limit - window.hits, window.reset_at)

    def reconfigure(self, limit: int | None, period: float | None, enabled: bool | None) -> None:
        """Apply new settings and forget current windows so they take effect at once."""
        self.limit = self.limit if limit is None else limit
        self.period = self.period if period is None else period
        self.enabled = self.enabled if enabled is None else enabled
        self._windows.clear()
