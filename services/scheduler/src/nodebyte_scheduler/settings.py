from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from nodebyte_common.contracts.scheduler import AUTO_SYNC_MAX_INTERVAL, AUTO_SYNC_MIN_INTERVAL
from nodebyte_common.settings import CommonSettings, SettingsError


class SchedulerSettings(CommonSettings, kw_only=True, frozen=True):
    port: int = 8084
    # Names this process in the leader lease and on the runs it fires; empty: host:pid.
    replica_id: str = ""
    # A leader that has not renewed for this long is replaced (real seconds).
    leader_lease_seconds: float = 5.0
    leader_renew_seconds: float = 1.0
    # A due time later than this is missed (schedule seconds): its job's
    # catch-up policy decides whether it fires once or is skipped.
    misfire_grace_seconds: float = 60.0
    # A job this late is listed as overdue by the status endpoint (schedule seconds).
    overdue_after_seconds: float = 30.0
    # A task run with no failure reported within this long is recorded `sent` (real seconds).
    task_outcome_timeout_seconds: float = 60.0
    fire_batch_size: int = 1000
    # Longest sleep of the leader between looks at the jobs (real seconds).
    max_tick_seconds: float = 1.0
    # Injectable clock: empty start means the wall clock. Tests compress time with
    # a start (ISO time), an origin (wall epoch seconds at which it reads start)
    # and a speed (schedule seconds per real second).
    clock_start: str = ""
    # Tests only: wall-clock epoch seconds at which the clock reads CLOCK_START.
    clock_origin: float = 0.0
    # Tests only: schedule seconds per real second.
    clock_speed: float = 1.0
    # Runs older than this are deleted (each job keeps its latest run).
    run_retention_days: int = 90
    # The auto-sync job's initial state and interval (seconds, 60 to a week), taken on
    # the first start; afterwards the admin API (/api/admin/settings) changes them.
    auto_sync_enabled: bool = True
    auto_sync_interval: Annotated[
        int, Meta(ge=AUTO_SYNC_MIN_INTERVAL, le=AUTO_SYNC_MAX_INTERVAL)
    ] = 3600

    def __post_init__(self) -> None:
        if self.leader_renew_seconds <= 0 or self.leader_lease_seconds <= 0:
            raise SettingsError("LEADER_LEASE_SECONDS and LEADER_RENEW_SECONDS must be positive")
        if self.leader_renew_seconds * 2 > self.leader_lease_seconds:
            raise SettingsError(
                "LEADER_RENEW_SECONDS must be at most half of LEADER_LEASE_SECONDS, "
                "or a live leader could lose its lease between two renewals"
            )
