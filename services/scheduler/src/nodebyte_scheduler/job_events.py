"""The event a job publishes when it fires, built from the job's type and payload.

- `job.fired`: the generic tick; the owning service reacts to its `job_name`.
- `sync.requested`: a fresh `sync_log_id` (UUIDv7) every time, so each
  scheduled sync has its own log (the Go backend reused a fake id).
- `server.command_requested`: a server task; `request_id` is the run's id, so a
  `server.command_failed` names the run it belongs to.
- `sync.logs_cleanup_requested`: built from the payload alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import uuid6

from nodebyte_common import events

REQUESTED_BY = "scheduler"
JOB_EVENT_TYPES = ("job.fired", "sync.requested", "sync.logs_cleanup_requested")
TASK_EVENT_TYPE = events.ServerCommandRequested.TYPE
TASK_ACTIONS = ("restart", "start", "stop", "backup", "command")


class InvalidPayload(ValueError):
    """A payload the job's event cannot carry."""


@dataclass(frozen=True)
class Firing:
    """What one run of a job publishes, and what the run records about it."""

    event: events.Event
    details: dict[str, Any]


def build(job: Mapping[str, Any], run_id: UUID, due_at: datetime, fired_at: datetime) -> Firing:
    """The event of one run of `job` (a jobs row or the same keys)."""
    event_type, payload = job["event_type"], job["payload"] or {}
    if event_type == "job.fired":
        event: events.Event = events.JobFired(
            job_id=job["id"],
            run_id=run_id,
            job_name=job["name"],
            due_at=due_at,
            fired_at=fired_at,
            payload=payload,
        )
        return Firing(event, {})
    if event_type == "sync.requested":
        log_id = uuid6.uuid7()
        event = _convert(
            {
                **payload,
                "sync_log_id": str(log_id),
                "requested_by": REQUESTED_BY,
                "requested_at": fired_at.isoformat(),
            },
            events.SyncRequested,
        )
        return Firing(event, {"syncLogId": str(log_id)})
    if event_type == TASK_EVENT_TYPE:
        event = events.ServerCommandRequested(
            request_id=run_id,
            server_id=job["server_id"],
            action=job["action"],
            payload=payload,
            requested_by=REQUESTED_BY,
        )
        return Firing(event, {})
    if event_type in JOB_EVENT_TYPES:
        return Firing(_convert(payload, events.event_class(event_type)), {})
    raise InvalidPayload(f"A job cannot publish {event_type!r}")


def check(job: Mapping[str, Any]) -> None:
    """Raise InvalidPayload unless `job` can build its event (validation at write time)."""
    now = datetime.now(UTC)
    build(job, uuid6.uuid7(), now, now)


def _convert(data: dict[str, Any], cls: type[events.Event]) -> events.Event:
    known = {field.encode_name for field in msgspec.structs.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidPayload(f"Invalid payload for {cls.TYPE}: unknown field(s) {unknown}")
    try:
        return msgspec.convert(data, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidPayload(f"Invalid payload for {cls.TYPE}: {exc}") from None
