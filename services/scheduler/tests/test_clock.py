"""The injectable clock: replicas given the same settings read the same time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from nodebyte_scheduler.clock import Clock, clock_from_settings


def test_wall_clock_by_default() -> None:
    clock = clock_from_settings(1.0, "", 0.0)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 1


def test_compressed_clock_runs_fast_from_its_start() -> None:
    origin = time.time()
    clock = clock_from_settings(60.0, "2024-03-10T06:00:00Z", origin)
    twin = Clock(speed=60.0, start=datetime(2024, 3, 10, 6, tzinfo=UTC), origin=origin)
    a, b = clock.now(), twin.now()
    assert abs((a - b).total_seconds()) < 0.5  # both computed from the shared wall clock
    assert timedelta(0) <= a - datetime(2024, 3, 10, 6, tzinfo=UTC) < timedelta(minutes=5)
    target = a + timedelta(minutes=1)
    assert 0.9 < clock.real_seconds_until(target) <= 1.0
    assert abs(clock.wall_time_of(target) - (time.time() + 1.0)) < 0.2
