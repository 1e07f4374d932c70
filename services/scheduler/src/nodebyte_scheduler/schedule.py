"""When a job is due: 5-field cron in a time zone (through cronsim), or a fixed interval.

Cron due times are computed by cronsim in the job's zone, so DST gaps and
overlaps and short months follow cron's rules (a time skipped by a spring-forward
fires at the first valid minute after; a time repeated in the autumn fires
once); they are stored in UTC. Interval due times are `anchor + k * interval`,
so a late fire never shifts the ones after it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

MAX_CRON_LENGTH = 200
MAX_INTERVAL_SECONDS = 31 * 24 * 3600
MISSED_COUNT_CAP = 100_000  # counting stops here: enough to say "a lot"


class InvalidSchedule(ValueError):
    """A cron expression, time zone or interval that cannot be scheduled."""


def zone(name: str) -> ZoneInfo:
    if not name or len(name) > 64:
        raise InvalidSchedule(f"Unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"Unknown time zone {name!r}") from None


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        fields = self.expression.split()
        if len(self.expression) > MAX_CRON_LENGTH or len(fields) != 5:
            raise InvalidSchedule(
                f"Invalid cron expression {self.expression!r}: expected 5 fields "
                "(minute hour day-of-month month day-of-week)"
            )
        tz = zone(self.timezone)
        try:
            next(CronSim(self.expression, datetime(2000, 1, 1, tzinfo=tz)))
        except CronSimError as exc:
            raise InvalidSchedule(f"Invalid cron expression {self.expression!r}: {exc}") from None
        except StopIteration:
            raise InvalidSchedule(f"Cron expression {self.expression!r} never matches") from None

    def next_after(self, moment: datetime) -> datetime:
        """The first due time strictly after `moment`."""
        return _cron_next(self.expression, self.timezone, moment)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        local = (moment + timedelta(microseconds=1)).astimezone(zone(self.timezone))
        return next(CronSim(self.expression, local, reverse=True)).astimezone(UTC)

    def count_between(self, first: datetime, last: datetime) -> int:
        """Due times in [first, last], where `first` is a due time; capped."""
        if last < first:
            return 0
        times = CronSim(self.expression, first.astimezone(zone(self.timezone)))
        count = 1
        for due in times:
            if due > last or count >= MISSED_COUNT_CAP:
                break
            count += 1
        return count

    def describe(self) -> str:
        try:
            return CronSim(self.expression, datetime.now(zone(self.timezone))).explain()
        except Exception:  # explain() covers most but not all expressions
            return self.expression


@functools.lru_cache(maxsize=4096)
def _cron_next(expression: str, timezone: str, moment: datetime) -> datetime:
    # Jobs sharing an expression and a due time (every "0 3 * * *" task) share the answer.
    return next(CronSim(expression, moment.astimezone(zone(timezone)))).astimezone(UTC)


@functools.lru_cache(maxsize=1024)
def cron_schedule(expression: str, timezone: str) -> CronSchedule:
    """A validated cron schedule; each distinct one is parsed and checked once."""
    return CronSchedule(expression, timezone)


@dataclass(frozen=True)
class IntervalSchedule:
    seconds: int
    anchor: datetime  # due times are anchor + k * seconds

    def __post_init__(self) -> None:
        if not 1 <= self.seconds <= MAX_INTERVAL_SECONDS:
            raise InvalidSchedule(
                f"Invalid interval {self.seconds}: between 1 and {MAX_INTERVAL_SECONDS} seconds"
            )

    def next_after(self, moment: datetime) -> datetime:
        steps = math.floor((moment - self.anchor).total_seconds() / self.seconds) + 1
        return self.anchor + timedelta(seconds=steps * self.seconds)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        steps = math.floor((moment - self.anchor).total_seconds() / self.seconds)
        return self.anchor + timedelta(seconds=steps * self.seconds)

    def count_between(self, first: datetime, last: datetime) -> int:
        if last < first:
            return 0
        return math.floor((last - first).total_seconds() / self.seconds) + 1

    def describe(self) -> str:
        return f"Every {self.seconds} seconds"


Schedule = CronSchedule | IntervalSchedule


def schedule_of(
    cron: str | None, timezone: str, interval_seconds: int | None, anchor: datetime
) -> Schedule:
    """The schedule of a stored job (`anchor`: where its interval counts from)."""
    if cron is not None:
        return cron_schedule(cron, timezone)
    if interval_seconds is None:
        raise InvalidSchedule("A job needs a cron expression or an interval")
    return IntervalSchedule(interval_seconds, anchor)
