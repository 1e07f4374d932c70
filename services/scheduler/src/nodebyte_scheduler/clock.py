"""The schedule's clock: the wall clock, or a compressed one that tests inject.

Every replica must read the same time, so a compressed clock is defined by
numbers alone (where it starts, when, how fast) and computed from the shared
wall clock: two processes given the same settings agree to the microsecond.
Only due times, fire times and lateness use this clock; leases and outcome
timeouts are about real processes and use PostgreSQL's clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from nodebyte_common.settings import SettingsError


@dataclass(frozen=True)
class Clock:
    speed: float = 1.0  # schedule seconds per real second
    start: datetime | None = None  # schedule time at `origin`; None: the wall clock
    origin: float = 0.0  # wall-clock epoch seconds at which the schedule reads `start`

    def now(self) -> datetime:
        if self.start is None:
            return datetime.now(UTC)
        return datetime.fromtimestamp(self._schedule_epoch(time.time()), UTC)

    def _schedule_epoch(self, wall: float) -> float:
        assert self.start is not None
        return self.start.timestamp() + (wall - self.origin) * self.speed

    def real_seconds_until(self, moment: datetime) -> float:
        """How long to sleep, in real seconds, until the schedule reads `moment`."""
        return (moment - self.now()).total_seconds() / self.speed

    def real_seconds(self, schedule_seconds: float) -> float:
        return schedule_seconds / self.speed

    def wall_time_of(self, moment: datetime) -> float:
        """The wall-clock epoch at which the schedule reads `moment`."""
        if self.start is None:
            return moment.timestamp()
        return self.origin + (moment.timestamp() - self.start.timestamp()) / self.speed


def clock_from_settings(speed: float, start: str, origin: float) -> Clock:
    """`start` empty: the wall clock; else an ISO time the clock reads at `origin`."""
    if not start:
        return Clock()
    try:
        parsed = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError("environment variable CLOCK_START is not an ISO time") from None
    if speed <= 0:
        raise SettingsError("environment variable CLOCK_SPEED must be positive")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return Clock(speed=speed, start=parsed, origin=origin or time.time())
