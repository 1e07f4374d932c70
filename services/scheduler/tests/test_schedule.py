"""Due times: cron in a time zone across DST and month ends, and intervals."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from nodebyte_scheduler.schedule import CronSchedule, IntervalSchedule, InvalidSchedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_next_after_is_strictly_after() -> None:
    every_minute = CronSchedule("* * * * *")
    assert every_minute.next_after(utc(2024, 1, 1, 12, 0)) == utc(2024, 1, 1, 12, 1)
    assert every_minute.next_after(utc(2024, 1, 1, 12, 0, 59)) == utc(2024, 1, 1, 12, 1)


def test_daily_job_in_a_zone_is_stored_in_utc_across_dst() -> None:
    daily = CronSchedule("0 3 * * *", "Europe/London")
    assert daily.next_after(utc(2024, 3, 30, 12)) == utc(2024, 3, 31, 2)  # BST begins that night
    assert daily.next_after(utc(2024, 3, 29, 12)) == utc(2024, 3, 30, 3)  # still GMT


def test_a_time_skipped_by_spring_forward_fires_once_just_after() -> None:
    at_0230 = CronSchedule("30 2 * * *", "America/New_York")
    first = at_0230.next_after(utc(2024, 3, 9, 17))  # 2024-03-10 02:30 does not exist there
    assert first == utc(2024, 3, 10, 7)  # 03:00 EDT
    assert at_0230.next_after(first) == utc(2024, 3, 11, 6, 30)  # 02:30 EDT the day after


def test_a_time_repeated_by_fall_back_fires_once() -> None:
    at_0130 = CronSchedule("30 1 * * *", "America/New_York")
    first = at_0130.next_after(utc(2024, 11, 2, 16))
    assert first == utc(2024, 11, 3, 5, 30)  # 01:30 EDT
    assert at_0130.next_after(first) == utc(2024, 11, 4, 6, 30)  # not 01:30 EST as well


def test_every_quarter_hour_keeps_real_time_spacing_through_fall_back() -> None:
    quarterly = CronSchedule("*/15 * * * *", "America/New_York")
    moment, fires = utc(2024, 11, 3, 4, 50), []
    for _ in range(12):
        moment = quarterly.next_after(moment)
        fires.append(moment)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(fires))


def test_month_ends() -> None:
    on_31st = CronSchedule("0 0 31 * *")
    assert on_31st.next_after(utc(2024, 1, 31)) == utc(2024, 3, 31)  # February has none
    last_day = CronSchedule("0 0 L * *")
    assert last_day.next_after(utc(2024, 2, 1)) == utc(2024, 2, 29)  # leap year
    assert last_day.next_after(utc(2023, 2, 1)) == utc(2023, 2, 28)
    leap_day = CronSchedule("0 12 29 2 *")
    assert leap_day.next_after(utc(2024, 3, 1)) == utc(2028, 2, 29, 12)


def test_latest_and_count_of_cron_due_times() -> None:
    hourly = CronSchedule("0 * * * *")
    assert hourly.latest_at_or_before(utc(2024, 1, 1, 5)) == utc(2024, 1, 1, 5)
    assert hourly.latest_at_or_before(utc(2024, 1, 1, 5, 59)) == utc(2024, 1, 1, 5)
    assert hourly.count_between(utc(2024, 1, 1, 1), utc(2024, 1, 1, 5)) == 5
    assert hourly.count_between(utc(2024, 1, 1, 1), utc(2024, 1, 1, 0)) == 0


def test_interval_due_times_are_anchored() -> None:
    every_90s = IntervalSchedule(90, utc(2024, 1, 1))
    assert every_90s.next_after(utc(2024, 1, 1)) == utc(2024, 1, 1, 0, 1, 30)
    assert every_90s.next_after(utc(2024, 1, 1, 0, 2)) == utc(2024, 1, 1, 0, 3)
    assert every_90s.latest_at_or_before(utc(2024, 1, 1, 0, 4)) == utc(2024, 1, 1, 0, 3)
    assert every_90s.count_between(utc(2024, 1, 1, 0, 1, 30), utc(2024, 1, 1, 0, 4)) == 2


@pytest.mark.parametrize(
    "expression",
    [
        "* * * *",  # four fields
        "* * * * * *",  # six (seconds)
        "61 * * * *",
        "* 24 * * *",
        "0 0 30 2 *",  # never matches
        "@reboot",
        "@daily",
        "",
        "every minute",
        "0 0 * * 8",
        "*/0 * * * *",
    ],
)
def test_bad_cron_expressions_are_refused(expression: str) -> None:
    with pytest.raises(InvalidSchedule):
        CronSchedule(expression)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "UTC+25"])
def test_unknown_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(InvalidSchedule, match="time zone"):
        CronSchedule("* * * * *", zone)


@pytest.mark.parametrize("seconds", [0, -5, 31 * 24 * 3600 + 1])
def test_bad_intervals_are_refused(seconds: int) -> None:
    with pytest.raises(InvalidSchedule):
        IntervalSchedule(seconds, utc(2024, 1, 1))
