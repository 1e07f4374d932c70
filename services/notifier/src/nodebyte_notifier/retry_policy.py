"""What an attempt to deliver came to, and what the delivery does next.

Failures are retried with a growing delay until `max_attempts`; a rate limit
(429) waits exactly as long as the upstream asked and does not use up an
attempt, up to `MAX_THROTTLES` so a webhook that always answers 429 still ends.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_THROTTLES = 50
MAX_DELAY_SECONDS = 300.0


def jitter() -> float:
    """±25%, so deliveries that failed together do not retry together."""
    return random.uniform(0.75, 1.25)


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """Keyword-only: a positional `True` once meant `permanent` and was read as `retry_after`."""

    sent: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # the upstream asked us to wait this long (a 429)
    permanent: bool = False  # retrying cannot help (4xx, refused address, bad template)
    message_id: str | None = None  # what the upstream called the message it accepted
    gone: bool = False  # the webhook no longer exists or its token is wrong (404/401)


@dataclass(frozen=True)
class Settlement:
    status: str  # "sent", "queued" (retry) or "failed"
    delay: float = 0.0  # before the next attempt, when queued
    throttled: bool = False  # this attempt was a rate limit: it gives the attempt back


@dataclass(frozen=True)
class RetryPolicy:
    """Failure n (1-based) waits base·2^(n-1), capped at MAX_DELAY_SECONDS, times `spread()`."""

    max_attempts: int
    base_delay: float
    spread: Callable[[], float] = field(default=jitter, compare=False)

    def settle(self, attempts: int, throttles: int, attempt: Attempt) -> Settlement:
        """`attempts` counts this one; `throttles` the 429s before it."""
        if attempt.sent:
            return Settlement("sent")
        if attempt.permanent:
            return Settlement("failed")
        if attempt.retry_after is not None:
            if throttles + 1 >= MAX_THROTTLES:
                return Settlement("failed", throttled=True)
            return Settlement("queued", min(attempt.retry_after, MAX_DELAY_SECONDS), throttled=True)
        if attempts >= self.max_attempts:
            return Settlement("failed")
        delay = min(MAX_DELAY_SECONDS, self.base_delay * 2 ** max(0, attempts - 1))
        return Settlement("queued", delay * self.spread())
