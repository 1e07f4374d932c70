"""Jobs, tasks and runs as the API shows them (camelCase, ISO times in UTC)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nodebyte_scheduler.schedule import CronSchedule, IntervalSchedule


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _describe(job: Any) -> str:
    if job["cron"] is not None:
        return CronSchedule(job["cron"], job["timezone"]).describe()
    return IntervalSchedule(job["interval_seconds"], job["created_at"]).describe()


def _common(job: Any, overdue_before: datetime) -> dict[str, Any]:
    return {
        "id": str(job["id"]),
        "name": job["name"],
        "schedule": job["cron"],
        "timezone": job["timezone"],
        "scheduleDescription": _describe(job),
        "payload": job["payload"] or None,
        "enabled": job["enabled"],
        "catchUp": job["catch_up"],
        "jitterSeconds": job["jitter_seconds"],
        "lastRunAt": iso(job["last_run_at"]),
        "nextRunAt": iso(job["next_run_at"]),
        "lastStatus": job["last_status"],
        "lastError": job["last_error"],
        "runCount": job["run_count"],
        "overdue": bool(
            job["enabled"] and job["next_fire_at"] and job["next_fire_at"] < overdue_before
        ),
        "createdAt": iso(job["created_at"]),
        "updatedAt": iso(job["updated_at"]),
    }


def task_view(job: Any, overdue_before: datetime) -> dict[str, Any]:
    """A server task in Catalyst's shape, with the outcome fields added."""
    return {
        **_common(job, overdue_before),
        "serverId": str(job["server_id"]),
        "action": job["action"],
    }


def job_view(job: Any, overdue_before: datetime) -> dict[str, Any]:
    return {
        **_common(job, overdue_before),
        "description": job["description"],
        "builtin": job["builtin"],
        "intervalSeconds": job["interval_seconds"],
        "eventType": job["event_type"],
        "payload": job["payload"],
    }


def run_view(run: Any) -> dict[str, Any]:
    return {
        "id": str(run["id"]),
        "jobId": str(run["job_id"]),
        "dueAt": iso(run["due_at"]),
        "firedAt": iso(run["fired_at"]),
        "trigger": run["trigger"],
        "status": run["status"],
        "missedCount": run["missed_count"],
        "eventId": str(run["event_id"]) if run["event_id"] else None,
        "details": run["details"],
        "error": run["error"],
        "replica": run["replica"],
        "completedAt": iso(run["completed_at"]),
    }


def leader_view(row: Any) -> dict[str, Any]:
    return {
        "replica": row["holder"],
        "term": row["term"],
        "alive": bool(row["holder"]) and row["alive"],
        "acquiredAt": iso(row["acquired_at"]),
        "lastHeartbeatAt": iso(row["heartbeat_at"]),
        "leaseExpiresAt": iso(row["expires_at"]) if row["holder"] else None,
        "heartbeatAgeSeconds": (
            round((row["db_now"] - row["heartbeat_at"]).total_seconds(), 3)
            if row["heartbeat_at"]
            else None
        ),
    }


def auto_sync_view(job: Any) -> dict[str, Any]:
    return {
        "autoSyncEnabled": job["enabled"],
        "autoSyncInterval": job["interval_seconds"],
        "autoSyncSchedule": job["cron"],
        "autoSyncNextRunAt": iso(job["next_run_at"]),
        "autoSyncLastRunAt": iso(job["last_run_at"]),
        "autoSyncLastStatus": job["last_status"],
    }
