"""Firing decisions: on time, late within the grace, missed with each catch-up policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from nodebyte_scheduler.decisions import decide, jitter
from nodebyte_scheduler.schedule import CronSchedule, IntervalSchedule

GRACE = timedelta(seconds=60)
MINUTELY = CronSchedule("* * * * *")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_due_job_fires_for_its_due_time_and_moves_on() -> None:
    d = decide(
        job_id=uuid4(),
        schedule=MINUTELY,
        due_at=utc(2024, 1, 1, 12, 0),
        now=utc(2024, 1, 1, 12, 0, 0, 5000),
        grace=GRACE,
        catch_up="skip",
        jitter_seconds=0,
    )
    assert (d.due_at, d.trigger, d.fire, d.missed_count) == (
        utc(2024, 1, 1, 12, 0),
        "schedule",
        True,
        0,
    )
    assert d.next_run_at == d.next_fire_at == utc(2024, 1, 1, 12, 1)


def test_late_within_the_grace_still_fires_each_due_time() -> None:
    d = decide(
        job_id=uuid4(),
        schedule=MINUTELY,
        due_at=utc(2024, 1, 1, 12, 0),
        now=utc(2024, 1, 1, 12, 0, 50),
        grace=GRACE,
        catch_up="skip",
        jitter_seconds=0,
    )
    assert d.fire
    assert d.trigger == "schedule"
    assert d.next_run_at == utc(2024, 1, 1, 12, 1)


def test_downtime_with_catch_up_once_fires_once_for_the_latest_missed() -> None:
    d = decide(
        job_id=uuid4(),
        schedule=MINUTELY,
        due_at=utc(2024, 1, 1, 12, 0),
        now=utc(2024, 1, 1, 14, 0, 30),
        grace=GRACE,
        catch_up="once",
        jitter_seconds=0,
    )
    # Missed: 12:00 .. 13:59 (14:00 is within the grace and fires on its own next).
    assert (d.trigger, d.fire, d.missed_count) == ("catch_up", True, 120)
    assert d.due_at == utc(2024, 1, 1, 13, 59)
    assert d.next_run_at == utc(2024, 1, 1, 14, 0)


def test_downtime_with_skip_records_a_skipped_run() -> None:
    d = decide(
        job_id=uuid4(),
        schedule=IntervalSchedule(3600, utc(2024, 1, 1)),
        due_at=utc(2024, 1, 1, 1),
        now=utc(2024, 1, 2, 0, 30),
        grace=GRACE,
        catch_up="skip",
        jitter_seconds=0,
    )
    assert (d.trigger, d.fire, d.missed_count) == ("catch_up", False, 24)
    assert d.due_at == utc(2024, 1, 2, 0)
    assert d.next_run_at == utc(2024, 1, 2, 1)


def test_jitter_is_bounded_and_the_same_on_every_replica() -> None:
    job = uuid4()
    due = utc(2024, 1, 1, 12)
    offsets = {jitter(job, due + timedelta(minutes=n), 30) for n in range(50)}
    assert all(timedelta(0) <= o < timedelta(seconds=30) for o in offsets)
    assert len(offsets) > 10  # spread, not constant
    assert jitter(job, due, 30) == jitter(job, due, 30)
    d = decide(
        job_id=job,
        schedule=MINUTELY,
        due_at=due,
        now=due,
        grace=GRACE,
        catch_up="skip",
        jitter_seconds=30,
    )
    assert d.next_fire_at == d.next_run_at + jitter(job, d.next_run_at, 30)
