"""What to do with a job whose due time has come: fire it, or apply its catch-up policy.

A due time later than the grace is missed (the scheduler was down or had no
leader). All the job's missed due times then count as one: with `once` it fires
once for the latest of them, with `skip` that one is recorded as skipped; either
way the run says how many were missed, and the job goes on from the next due
time after them. Pure functions: no clock, no database.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from nodebyte_scheduler.schedule import Schedule


@dataclass(frozen=True)
class Decision:
    due_at: datetime  # the due time the run is for
    trigger: str  # "schedule" or "catch_up"
    fire: bool  # False: the run is recorded as skipped
    missed_count: int
    next_run_at: datetime
    next_fire_at: datetime


def jitter(job_id: UUID, due_at: datetime, jitter_seconds: int) -> timedelta:
    """A delay in [0, jitter_seconds) that every replica computes alike for this due time."""
    if jitter_seconds <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{job_id}/{due_at.timestamp()}".encode()).digest()
    return timedelta(milliseconds=int.from_bytes(digest[:8], "big") % (jitter_seconds * 1000))


def upcoming(
    schedule: Schedule, after: datetime, job_id: UUID, jitter_seconds: int
) -> tuple[datetime, datetime]:
    """The next due time strictly after `after`, and when it fires (with jitter)."""
    due = schedule.next_after(after)
    return due, due + jitter(job_id, due, jitter_seconds)


def decide(
    *,
    job_id: UUID,
    schedule: Schedule,
    due_at: datetime,
    now: datetime,
    grace: timedelta,
    catch_up: str,
    jitter_seconds: int,
) -> Decision:
    lateness = now - (due_at + jitter(job_id, due_at, jitter_seconds))
    if lateness <= grace:
        following = upcoming(schedule, due_at, job_id, jitter_seconds)
        return Decision(due_at, "schedule", True, 0, *following)
    # Missed: every due time up to the grace horizon collapses into one run.
    latest = max(schedule.latest_at_or_before(now - grace), due_at)
    missed = max(schedule.count_between(due_at, latest), 1)
    following = upcoming(schedule, latest, job_id, jitter_seconds)
    return Decision(latest, "catch_up", catch_up == "once", missed, *following)
