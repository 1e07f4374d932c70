"""When to renew something that expires: early enough that a missed tick cannot lose it.

Renewal is due `lead + slack` before expiry (5 minutes as the reference asks,
plus the time a silent scheduler takes to be replaced by the fallback timer),
but never earlier than half-way through the lifetime, so short-lived tokens
are not renewed on every tick.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def renew_at(issued_at: datetime, expires_at: datetime, lead: float, slack: float) -> datetime:
    lifetime = max(0.0, (expires_at - issued_at).total_seconds())
    return expires_at - timedelta(seconds=min(lead + slack, lifetime / 2))


def retry_delay(failures: int, *, base: float = 15.0, cap: float = 300.0) -> timedelta:
    """How long to wait before renewing again after `failures` failed tries in a row."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, failures - 1)))
