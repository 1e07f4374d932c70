"""Scheduled work (`/api/tasks`, `/api/admin/scheduler`, auto sync): what a caller sends
and what the scheduler answers.

Server tasks (a user's) and system jobs (an admin's) are one kind of definition
in the scheduler; each has its bodies and answer here. The scheduler checks what
a Struct cannot say (a cron expression, a time zone, a payload for its event).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

AUTO_SYNC_MIN_INTERVAL = 60
AUTO_SYNC_MAX_INTERVAL = 7 * 24 * 3600

Name = Annotated[str, Meta(min_length=1, max_length=255)]
JobName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")]
Description = Annotated[str, Meta(max_length=500)]
Cron = Annotated[str, Meta(min_length=1, max_length=200)]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64)]
Interval = Annotated[int, Meta(ge=1, le=31 * 24 * 3600)]
Jitter = Annotated[int, Meta(ge=0, le=3600)]
AutoSyncInterval = Annotated[int, Meta(ge=AUTO_SYNC_MIN_INTERVAL, le=AUTO_SYNC_MAX_INTERVAL)]
CatchUp = Literal["skip", "once"]
TaskAction = Literal["restart", "start", "stop", "backup", "command"]
JobEventType = Literal["job.fired", "sync.requested", "sync.logs_cleanup_requested"]
# What a task's action or a job's event takes: checked by the scheduler per action/event.
Payload = dict[str, Any]


class Body(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    pass


class TaskCreate(Body):
    server_id: UUID
    name: Name
    action: TaskAction
    schedule: Cron
    timezone: TimeZone = "UTC"
    payload: Payload | None = None
    enabled: bool = True
    catch_up: CatchUp = "skip"
    jitter_seconds: Jitter = 0


class TaskUpdate(Body):
    name: Name | UnsetType = UNSET
    action: TaskAction | UnsetType = UNSET
    schedule: Cron | UnsetType = UNSET
    timezone: TimeZone | UnsetType = UNSET
    payload: Payload | UnsetType | None = UNSET
    enabled: bool | UnsetType = UNSET
    catch_up: CatchUp | UnsetType = UNSET
    jitter_seconds: Jitter | UnsetType = UNSET


class JobCreate(Body):
    name: JobName
    description: Description = ""
    schedule: Cron | None = None
    interval_seconds: Interval | None = None
    timezone: TimeZone = "UTC"
    event_type: JobEventType = "job.fired"
    payload: Payload = {}
    enabled: bool = True
    catch_up: CatchUp = "skip"
    jitter_seconds: Jitter = 0


class JobUpdate(Body):
    description: Description | UnsetType = UNSET
    schedule: Cron | UnsetType = UNSET
    interval_seconds: Interval | UnsetType = UNSET
    timezone: TimeZone | UnsetType = UNSET
    payload: Payload | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    catch_up: CatchUp | UnsetType = UNSET
    jitter_seconds: Jitter | UnsetType = UNSET


class AutoSyncUpdate(Body):
    auto_sync_enabled: bool | UnsetType = UNSET
    auto_sync_interval: AutoSyncInterval | UnsetType = UNSET


class TasksQuery(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    server_id: UUID | None = None


class RunsQuery(msgspec.Struct, frozen=True, kw_only=True):
    page: Annotated[int, Meta(ge=1, le=1_000_000)] = 1
    limit: Annotated[int, Meta(ge=1, le=100)] = 20


class Definition(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """What tasks and jobs share: the schedule and how its runs went."""

    id: UUID
    name: str
    schedule: str | None  # cron; None when a job runs at an interval
    timezone: str
    schedule_description: str
    payload: Payload | None
    enabled: bool
    catch_up: CatchUp
    jitter_seconds: int
    last_run_at: datetime | None
    next_run_at: datetime | None
    last_status: str | None
    last_error: str | None
    run_count: int
    overdue: bool
    created_at: datetime
    updated_at: datetime


class Task(Definition, frozen=True, kw_only=True):
    """A server task in Catalyst's shape, with the outcome fields added."""

    server_id: UUID
    action: TaskAction


class Job(Definition, frozen=True, kw_only=True):
    description: str
    builtin: bool
    interval_seconds: int | None
    event_type: str


class OverdueTask(Task, frozen=True, kw_only=True, tag_field="kind", tag="task"):
    pass


class OverdueJob(Job, frozen=True, kw_only=True, tag_field="kind", tag="system"):
    pass


class RunDetails(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """What a run noted: the sync it requested, the node that took its command."""

    sync_log_id: UUID | UnsetType = UNSET
    acknowledged_by: str | UnsetType = UNSET


class Run(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    job_id: UUID
    due_at: datetime
    fired_at: datetime
    trigger: str
    status: str
    missed_count: int
    event_id: UUID | None
    details: RunDetails
    error: str | None
    replica: str
    completed_at: datetime | None


class RunStarted(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """A run asked for now (or the one an earlier request with the same key started)."""

    run_id: UUID
    status: str
    sync_log_id: UUID | UnsetType = UNSET


class Leader(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    replica: str | None
    term: int
    alive: bool
    acquired_at: datetime | None
    last_heartbeat_at: datetime | None
    lease_expires_at: datetime | None
    heartbeat_age_seconds: float | None


class JobCounts(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    enabled: int


class SchedulerStatus(msgspec.Struct, frozen=True, kw_only=True):
    leader: Leader
    replica: str
    now: datetime
    jobs: JobCounts
    overdue: list[OverdueTask | OverdueJob]


class AutoSync(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """The auto-sync job as the sync settings show it."""

    auto_sync_enabled: bool
    auto_sync_interval: int | None
    auto_sync_schedule: str | None
    auto_sync_next_run_at: datetime | None
    auto_sync_last_run_at: datetime | None
    auto_sync_last_status: str | None
