"""Firing due jobs: run rows, events and the jobs' next due times, in one transaction.

Each batch commits only while this replica holds the lease of its term (the
fencing check), and a run is inserted once per (job, due time) by a unique
index, so even two replicas that both believe they lead cannot fire a due time
twice: the loser's insert does nothing, and it publishes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import uuid6

from nodebyte_common import outbox
from nodebyte_common.envelope import ApiError
from nodebyte_scheduler import job_events, store
from nodebyte_scheduler.clock import Clock
from nodebyte_scheduler.decisions import decide, upcoming
from nodebyte_scheduler.job_events import InvalidPayload
from nodebyte_scheduler.metrics import FIRE_LAG, RUNS_RECORDED
from nodebyte_scheduler.schedule import InvalidSchedule, schedule_of

log = logging.getLogger(__name__)

SOURCE = "nodebyte/scheduler"


class LostLease(Exception):
    """This replica no longer holds the lease it fired under."""


def run_status(job: Any) -> str:
    """A task waits for its outcome; any other job is done once its event is out."""
    return "pending" if job["event_type"] == job_events.TASK_EVENT_TYPE else "fired"


def first_due(job: Any, now: datetime) -> tuple[datetime, datetime, datetime]:
    """(anchor, next due time, next fire time) of a job scheduled from `now`."""
    anchor = job["anchor_at"] or now
    schedule = schedule_of(job["cron"], job["timezone"], job["interval_seconds"], anchor)
    due, fire = upcoming(schedule, now, job["id"], job["jitter_seconds"])
    return anchor, due, fire


@dataclass
class Firer:
    pool: asyncpg.Pool
    clock: Clock
    replica: str
    grace: timedelta
    batch_size: int = 1000
    idle_transaction_limit: float = 5.0  # seconds; the lease's length

    async def schedule_new(self) -> None:
        """Give enabled jobs that have no due time yet (seeded ones) their first."""
        async with self.pool.acquire() as conn:
            for job in await store.unscheduled_jobs(conn):
                try:
                    anchor, due, fire = first_due(job, self.clock.now())
                except InvalidSchedule as exc:
                    await store.disable_broken(conn, job["id"], str(exc))
                    continue
                await store.set_first_due(conn, job["id"], anchor, due, fire)

    async def fire_due(self, term: int) -> int:
        """Fire every job due now, batch by batch; return how many runs were recorded."""
        recorded = 0
        while True:
            count, full = await self._fire_batch(term)
            recorded += count
            if not full:
                return recorded

    async def _fire_batch(self, term: int) -> tuple[int, bool]:
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            if not await store.fence(conn, self.replica, term, self.idle_transaction_limit):
                raise LostLease
            jobs = await store.due_jobs(conn, now, self.batch_size)
            advances, firings = [], {}
            for job in jobs:
                try:
                    advance, firing = self._plan(job, now)
                except (InvalidSchedule, InvalidPayload) as exc:
                    log.warning("job cannot fire; disabled", extra={"job": job["name"]})
                    await store.disable_broken(conn, job["id"], str(exc))
                    continue
                advances.append(advance)
                if firing is not None:
                    firings[advance.run.id] = firing  # type: ignore[union-attr]
            runs = [a.run for a in advances if a.run is not None]
            inserted = await store.insert_runs(conn, runs, self.replica)
            await outbox.enqueue_many(
                conn,
                [
                    (run.event_id, firings[run.id].event)
                    for run in runs
                    if run.id in inserted and run.event_id is not None
                ],
                source=SOURCE,
            )
            await store.advance_jobs(
                conn,
                [_without_run(a) if a.run and a.run.id not in inserted else a for a in advances],
            )
        _observe([run for run in runs if run.id in inserted])
        return len(inserted), len(jobs) == self.batch_size

    def _plan(
        self, job: asyncpg.Record, now: datetime
    ) -> tuple[store.Advance, job_events.Firing | None]:
        """The advance of one due job and the event it publishes (None when skipped)."""
        schedule = schedule_of(
            job["cron"], job["timezone"], job["interval_seconds"], job["anchor_at"] or now
        )
        decision = decide(
            job_id=job["id"],
            schedule=schedule,
            due_at=job["next_run_at"],
            now=now,
            grace=self.grace,
            catch_up=job["catch_up"],
            jitter_seconds=job["jitter_seconds"],
        )
        run_id = uuid6.uuid7()
        firing = job_events.build(job, run_id, decision.due_at, now) if decision.fire else None
        run = store.NewRun(
            id=run_id,
            job_id=job["id"],
            due_at=decision.due_at,
            trigger=decision.trigger,
            status=run_status(job) if decision.fire else "skipped",
            fired_at=now,
            missed_count=decision.missed_count,
            event_id=run_id if firing else None,  # a command's id is the id of its run
            details=firing.details if firing else {},
        )
        advance = store.Advance(
            job["id"], job["next_run_at"], decision.next_run_at, decision.next_fire_at, run
        )
        return advance, firing


def _observe(runs: list[store.NewRun]) -> None:
    for (trigger, status), count in Counter((r.trigger, r.status) for r in runs).items():
        RUNS_RECORDED.labels(trigger, status).inc(count)
    for run in runs:
        if run.trigger == "schedule":
            FIRE_LAG.observe((run.fired_at - run.due_at).total_seconds())


def _without_run(advance: store.Advance) -> store.Advance:
    """The run was already recorded by another leader: move the job on, note nothing."""
    return store.Advance(
        advance.job_id, advance.previous_due, advance.next_run_at, advance.next_fire_at, None
    )


async def fire_now(
    conn: asyncpg.Connection,
    job: asyncpg.Record,
    now: datetime,
    replica: str,
    idempotency_key: str | None = None,
) -> store.NewRun:
    """A run requested by hand ("execute now"): its own run, whatever the schedule."""
    run_id = uuid6.uuid7()
    firing = job_events.build(job, run_id, now, now)
    run = store.NewRun(
        id=run_id,
        job_id=job["id"],
        due_at=now,
        trigger="manual",
        status=run_status(job),
        fired_at=now,
        missed_count=0,
        event_id=run_id,
        details=firing.details,
    )
    if not await store.insert_runs(conn, [run], replica):
        # Only another run of this job asked for at the same microsecond gets here.
        raise ApiError(409, "This job was just run; try again", "CONFLICT")
    if idempotency_key is not None:
        await store.keep_run_key(conn, run.id, idempotency_key)
    await outbox.enqueue(conn, firing.event, source=SOURCE, event_id=run.event_id)
    await store.note_manual_run(conn, run)
    RUNS_RECORDED.labels(run.trigger, run.status).inc()
    return run
