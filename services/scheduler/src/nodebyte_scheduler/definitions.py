"""Job and task definitions as users send them: decoding, validation, stored columns.

Every check happens before anything is written: a bad cron expression, time
zone, interval or payload is an `ApiError(400)` naming the fault.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from msgspec import UNSET

from nodebyte_common.contracts.scheduler import AutoSyncUpdate, JobCreate, TaskCreate
from nodebyte_common.envelope import ApiError
from nodebyte_scheduler import job_events
from nodebyte_scheduler.firing import first_due
from nodebyte_scheduler.job_events import InvalidPayload
from nodebyte_scheduler.schedule import CronSchedule, IntervalSchedule, InvalidSchedule

MAX_PAYLOAD_BYTES = 4096
MAX_COMMAND_LENGTH = 1024
AUTO_SYNC_JOB = "sync.auto"


def given(struct: msgspec.Struct) -> dict[str, Any]:
    """The fields a partial update actually carries (column names)."""
    return {
        _column(name): value
        for name in struct.__struct_fields__
        if (value := getattr(struct, name)) is not UNSET
    }


def _column(field: str) -> str:
    return {"schedule": "cron"}.get(field, field)


def new_task(body: TaskCreate, job_id: UUID, now: datetime) -> dict[str, Any]:
    values = {
        "id": job_id,
        "kind": "task",
        "name": body.name,
        "cron": body.schedule,
        "timezone": body.timezone,
        "interval_seconds": None,
        "anchor_at": None,
        "event_type": job_events.TASK_EVENT_TYPE,
        "payload": body.payload or {},
        "server_id": body.server_id,
        "action": body.action,
        "enabled": body.enabled,
        "catch_up": body.catch_up,
        "jitter_seconds": body.jitter_seconds,
    }
    return _validated(values, now, reschedule=True)


def new_job(body: JobCreate, job_id: UUID, now: datetime) -> dict[str, Any]:
    if (body.schedule is None) == (body.interval_seconds is None):
        raise ApiError(400, "Give exactly one of schedule (cron) or intervalSeconds")
    values = {
        "id": job_id,
        "kind": "system",
        "name": body.name,
        "description": body.description,
        "cron": body.schedule,
        "timezone": body.timezone,
        "interval_seconds": body.interval_seconds,
        "anchor_at": None,
        "event_type": body.event_type,
        "payload": body.payload,
        "server_id": None,
        "action": None,
        "enabled": body.enabled,
        "catch_up": body.catch_up,
        "jitter_seconds": body.jitter_seconds,
    }
    return _validated(values, now, reschedule=True)


SCHEDULE_FIELDS = ("cron", "timezone", "interval_seconds", "jitter_seconds")


def changed(current: Any, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The columns to write for a partial update of the stored job `current`."""
    if "cron" in changes and "interval_seconds" in changes:
        raise ApiError(400, "Give schedule (cron) or intervalSeconds, not both")
    if "payload" in changes and changes["payload"] is None:
        changes["payload"] = {}
    if changes.get("cron") is not None:
        changes["interval_seconds"] = None
    if changes.get("interval_seconds") is not None:
        changes["cron"] = None
    values = {**dict(current), **changes}
    turned_on = changes.get("enabled") is True and not current["enabled"]
    reschedule = (
        turned_on
        or any(field in changes and changes[field] != current[field] for field in SCHEDULE_FIELDS)
        or current["next_run_at"] is None
    )
    validated = _validated(values, now, reschedule=reschedule)
    return {k: v for k, v in validated.items() if k not in dict(current) or v != current[k]}


def _validated(values: dict[str, Any], now: datetime, *, reschedule: bool) -> dict[str, Any]:
    """Check schedule and payload; compute the next due time when the schedule changed."""
    try:
        if values["cron"] is not None:
            CronSchedule(values["cron"], values["timezone"])
        else:
            IntervalSchedule(values["interval_seconds"], now)
    except InvalidSchedule as exc:
        raise ApiError(400, str(exc)) from None
    _check_payload(values)
    if not values["enabled"]:
        return {**values, "next_run_at": None, "next_fire_at": None}
    if not reschedule:
        return values
    # A new or changed schedule counts from now (an interval's anchor included).
    values = {**values, "anchor_at": now if values["interval_seconds"] is not None else None}
    _, due, fire = first_due(values, now)
    return {**values, "next_run_at": due, "next_fire_at": fire}


def _check_payload(values: dict[str, Any]) -> None:
    payload = values["payload"]
    if len(msgspec.json.encode(payload)) > MAX_PAYLOAD_BYTES:
        raise ApiError(400, f"The payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    if values["kind"] == "task":
        _check_task_payload(values["action"], payload)
    try:
        job_events.check(values)
    except InvalidPayload as exc:
        raise ApiError(400, str(exc)) from None


def _check_task_payload(action: str, payload: dict[str, Any]) -> None:
    if action == "command":
        command = payload.get("command")
        if set(payload) != {"command"} or not isinstance(command, str) or not command.strip():
            raise ApiError(400, 'A command task needs payload {"command": "<console command>"}')
        if len(command) > MAX_COMMAND_LENGTH:
            raise ApiError(400, f"The command is longer than {MAX_COMMAND_LENGTH} characters")
    elif action == "backup":
        if set(payload) - {"name"} or not isinstance(payload.get("name", ""), str):
            raise ApiError(400, 'A backup task takes no payload, or {"name": "<backup name>"}')
    elif payload:
        raise ApiError(400, f"A {action} task takes no payload")


def auto_sync_changes(body: AutoSyncUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if body.auto_sync_enabled is not UNSET:
        changes["enabled"] = body.auto_sync_enabled
    if body.auto_sync_interval is not UNSET:
        changes["interval_seconds"] = body.auto_sync_interval
    return changes
