"""Task and job definitions: validation, and when an edit moves the next due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import msgspec
import pytest

from nodebyte_common.contracts.scheduler import JobCreate, TaskCreate, TaskUpdate
from nodebyte_common.envelope import ApiError
from nodebyte_scheduler import definitions

NOW = datetime(2024, 6, 1, 12, 0, 30, tzinfo=UTC)


def task(**fields: Any) -> dict[str, Any]:
    body = msgspec.convert(
        {"serverId": str(uuid4()), "name": "t", "action": "restart", "schedule": "0 3 * * *"}
        | fields,
        TaskCreate,
    )
    stored = definitions.new_task(body, uuid4(), NOW)
    return stored | {"builtin": False, "last_run_at": None}


def test_a_new_task_is_due_at_its_next_cron_time() -> None:
    stored = task()
    assert stored["next_run_at"] == datetime(2024, 6, 2, 3, tzinfo=UTC)
    assert stored["event_type"] == "server.command_requested"


def test_a_disabled_task_has_no_next_run() -> None:
    assert task(enabled=False)["next_run_at"] is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "command"}, "command task needs payload"),
        ({"action": "command", "payload": {"command": "x" * 1025}}, "longer than"),
        ({"action": "command", "payload": {"command": "say", "extra": 1}}, "needs payload"),
        ({"action": "backup", "payload": {"name": 5}}, "backup task"),
        ({"action": "stop", "payload": {"force": True}}, "stop task takes no payload"),
        ({"schedule": "0 0 32 * *"}, "Invalid cron"),
    ],
)
def test_task_payloads_and_schedules_are_checked(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiError, match=message) as raised:
        task(**fields)
    assert raised.value.status == 400


def edit(stored: dict[str, Any], **fields: Any) -> dict[str, Any]:
    update = msgspec.convert(fields, TaskUpdate)
    return definitions.changed(stored, definitions.given(update), NOW + timedelta(hours=1))


def test_renaming_keeps_the_next_due_time() -> None:
    assert edit(task(), name="renamed") == {"name": "renamed"}


def test_a_new_schedule_moves_the_next_due_time() -> None:
    changes = edit(task(), schedule="30 * * * *")
    assert changes["cron"] == "30 * * * *"
    assert changes["next_run_at"] == datetime(2024, 6, 1, 13, 30, tzinfo=UTC)


def test_disabling_then_enabling_counts_from_the_moment_of_enabling() -> None:
    stored = task()
    assert edit(stored, enabled=False)["next_run_at"] is None
    off = stored | edit(stored, enabled=False)
    on = edit(off, enabled=True, schedule="*/10 * * * *")
    assert on["next_run_at"] == datetime(2024, 6, 1, 13, 10, tzinfo=UTC)


def test_a_job_needs_exactly_one_kind_of_schedule() -> None:
    for fields in ({}, {"schedule": "* * * * *", "intervalSeconds": 60}):
        body = msgspec.convert({"name": "x.y"} | fields, JobCreate)
        with pytest.raises(ApiError, match="exactly one"):
            definitions.new_job(body, uuid4(), NOW)


def test_an_interval_job_counts_from_its_creation() -> None:
    body = msgspec.convert({"name": "x.y", "intervalSeconds": 90}, JobCreate)
    stored = definitions.new_job(body, uuid4(), NOW)
    assert stored["anchor_at"] == NOW
    assert stored["next_run_at"] == NOW + timedelta(seconds=90)


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("sync.requested", {"kind": "everything"}),
        ("sync.requested", {"sync_log_id": "fixed", "bogus": 1}),
        ("sync.logs_cleanup_requested", {"retention_days": "thirty"}),
    ],
)
def test_job_payloads_must_fit_their_event(event_type: str, payload: dict[str, Any]) -> None:
    body = msgspec.convert(
        {"name": "x.y", "intervalSeconds": 60, "eventType": event_type, "payload": payload},
        JobCreate,
    )
    with pytest.raises(ApiError, match="payload"):
        definitions.new_job(body, uuid4(), NOW)
