"""Jobs, tasks and runs as the API shows them: the contract's Structs from stored rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from nodebyte_common.contracts import scheduler as c
from nodebyte_scheduler.schedule import CronSchedule, IntervalSchedule


def _describe(job: Any) -> str:
    if job["cron"] is not None:
        return CronSchedule(job["cron"], job["timezone"]).describe()
    return IntervalSchedule(job["interval_seconds"], job["created_at"]).describe()


def _common(job: Any, overdue_before: datetime) -> dict[str, Any]:
    """The fields tasks and jobs share, by attribute name."""
    return {
        "id": job["id"],
        "name": job["name"],
        "schedule": job["cron"],
        "timezone": job["timezone"],
        "schedule_description": _describe(job),
        "payload": job["payload"] or None,
        "enabled": job["enabled"],
        "catch_up": job["catch_up"],
        "jitter_seconds": job["jitter_seconds"],
        "last_run_at": job["last_run_at"],
        "next_run_at": job["next_run_at"],
        "last_status": job["last_status"],
        "last_error": job["last_error"],
        "run_count": job["run_count"],
        "overdue": bool(
            job["enabled"] and job["next_fire_at"] and job["next_fire_at"] < overdue_before
        ),
        "created_at": job["created_at"],
        "updated_at": job["updated_at"],
    }


def task_view(job: Any, overdue_before: datetime, as_type: type[c.Task] = c.Task) -> c.Task:
    """A server task in Catalyst's shape, with the outcome fields added."""
    return as_type(**_common(job, overdue_before), server_id=job["server_id"], action=job["action"])


def job_view(job: Any, overdue_before: datetime, as_type: type[c.Job] = c.Job) -> c.Job:
    return as_type(
        **{
            **_common(job, overdue_before),
            "description": job["description"],
            "builtin": job["builtin"],
            "interval_seconds": job["interval_seconds"],
            "event_type": job["event_type"],
            "payload": job["payload"],
        }
    )


def overdue_view(job: Any, overdue_before: datetime) -> c.OverdueTask | c.OverdueJob:
    """A task or job named by its kind, for the scheduler's status."""
    if job["kind"] == "task":
        return task_view(job, overdue_before, c.OverdueTask)  # type: ignore[return-value]
    return job_view(job, overdue_before, c.OverdueJob)  # type: ignore[return-value]


def run_view(run: Any) -> c.Run:
    return c.Run(
        id=run["id"],
        job_id=run["job_id"],
        due_at=run["due_at"],
        fired_at=run["fired_at"],
        trigger=run["trigger"],
        status=run["status"],
        missed_count=run["missed_count"],
        event_id=run["event_id"],
        details=msgspec.convert(run["details"], c.RunDetails),
        error=run["error"],
        replica=run["replica"],
        completed_at=run["completed_at"],
    )


def leader_view(row: Any) -> c.Leader:
    return c.Leader(
        replica=row["holder"],
        term=row["term"],
        alive=bool(row["holder"]) and row["alive"],
        acquired_at=row["acquired_at"],
        last_heartbeat_at=row["heartbeat_at"],
        lease_expires_at=row["expires_at"] if row["holder"] else None,
        heartbeat_age_seconds=(
            round((row["db_now"] - row["heartbeat_at"]).total_seconds(), 3)
            if row["heartbeat_at"]
            else None
        ),
    )


def auto_sync_view(job: Any) -> c.AutoSync:
    return c.AutoSync(
        auto_sync_enabled=job["enabled"],
        auto_sync_interval=job["interval_seconds"],
        auto_sync_schedule=job["cron"],
        auto_sync_next_run_at=job["next_run_at"],
        auto_sync_last_run_at=job["last_run_at"],
        auto_sync_last_status=job["last_status"],
    )
