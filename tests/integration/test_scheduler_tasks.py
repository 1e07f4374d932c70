"""Server tasks, system jobs, auto-sync settings and liveness, through the gateway."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import aio_pika
import httpx
import msgspec
import pytest

from nodebyte_common import events
from nodebyte_common.topology import exchange_name
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.publishing import publish_event
from nodebyte_devstack.waiting import eventually


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@contextlib.asynccontextmanager
async def captured(stack: Stack, *event_types: str) -> AsyncIterator[list[tuple[str, Any]]]:
    """Every event of these types published while the block runs: (type, payload)."""
    connection = await aio_pika.connect(stack.config.amqp_url)
    received: list[tuple[str, Any]] = []
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name(stack.config.prefix))
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for event_type in event_types:
            await queue.bind(exchange, routing_key=event_type)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                received.append((message.routing_key or "", msgspec.json.decode(message.body)))

        await queue.consume(on_message)
        yield received
    finally:
        await connection.close()


async def publish(stack: Stack, event: events.Event) -> None:
    await publish_event(stack.config, event, source="test/node-agent-gateway")


def task_body(server_id: UUID, **overrides: Any) -> dict[str, Any]:
    return {
        "serverId": str(server_id),
        "name": "Daily Restart",
        "action": "restart",
        "schedule": "0 3 * * *",
        "enabled": True,
        **overrides,
    }


async def create_task(gateway: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await gateway.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_task_lifecycle(gateway: httpx.AsyncClient) -> None:
    server = uuid4()
    before = datetime.now(UTC)
    task = await create_task(gateway, task_body(server, timezone="Europe/London"))
    for field in ("id", "serverId", "name", "action", "schedule", "payload", "enabled"):
        assert field in task
    assert task["serverId"] == str(server)
    assert (task["action"], task["schedule"]) == ("restart", "0 3 * * *")
    assert task["runCount"] == 0
    assert task["lastRunAt"] is None
    next_run = parse_time(task["nextRunAt"])
    assert before < next_run <= before + timedelta(days=1, hours=1)
    assert next_run.astimezone(ZoneInfo("Europe/London")).hour == 3

    listed = (await gateway.get("/api/tasks", params={"serverId": str(server)})).json()
    assert [t["id"] for t in listed["data"]] == [task["id"]]
    assert (await gateway.get("/api/tasks", params={"serverId": str(uuid4())})).json()["data"] == []

    disabled = await gateway.put(f"/api/tasks/{task['id']}", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["data"]["enabled"] is False
    assert disabled.json()["data"]["nextRunAt"] is None

    moved = await gateway.put(
        f"/api/tasks/{task['id']}", json={"enabled": True, "schedule": "*/30 * * * *"}
    )
    data = moved.json()["data"]
    assert data["schedule"] == "*/30 * * * *"
    next_run = parse_time(data["nextRunAt"])
    assert next_run.minute in (0, 30)
    assert next_run - datetime.now(UTC) <= timedelta(minutes=30)

    history = await gateway.get(f"/api/tasks/{task['id']}/runs")
    assert history.json()["data"] == []
    assert history.json()["pagination"]["total"] == 0

    deleted = await gateway.delete(f"/api/tasks/{task['id']}")
    assert deleted.status_code == 200, deleted.text
    trail = await gateway.get("/api/admin/audit-logs", params={"targetId": task["id"]})
    actions = {entry["action"] for entry in trail.json()["data"]}
    assert {"task.created", "task.updated", "task.deleted"} <= actions
    gone = await gateway.get(f"/api/tasks/{task['id']}")
    assert gone.status_code == 404
    assert gone.json() == {"success": False, "error": "Task not found", "code": "NOT_FOUND"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schedule": "61 * * * *"}, "Invalid cron expression '61 * * * *'"),
        ({"schedule": "* * * *"}, "expected 5 fields"),
        ({"schedule": "* * * * * *"}, "expected 5 fields"),
        ({"schedule": "0 0 30 2 *"}, "Invalid cron expression"),
        ({"schedule": "@reboot"}, "Invalid cron expression"),
        ({"timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"action": "explode"}, "Invalid request body"),
        ({"action": "command"}, "A command task needs payload"),
        ({"action": "command", "payload": {"command": "  "}}, "A command task needs payload"),
        ({"payload": {"command": "say hi"}}, "A restart task takes no payload"),
        ({"serverId": "server123"}, "Invalid request body"),
        ({"jitterSeconds": -1}, "Invalid request body"),
        ({"surprise": True}, "Invalid request body"),
    ],
)
async def test_bad_tasks_are_refused_and_change_nothing(
    gateway: httpx.AsyncClient, overrides: dict[str, Any], message: str
) -> None:
    server = uuid4()
    response = await gateway.post("/api/tasks", json=task_body(server, **overrides))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "VALIDATION_ERROR"
    assert message in body["error"]
    listed = await gateway.get("/api/tasks", params={"serverId": str(server)})
    assert listed.json()["data"] == []


async def test_bad_updates_are_refused_and_change_nothing(gateway: httpx.AsyncClient) -> None:
    task = await create_task(gateway, task_body(uuid4()))
    for body in ({"schedule": "0 25 * * *"}, {"enabled": "yes"}, [], {"serverId": str(uuid4())}):
        response = await gateway.put(f"/api/tasks/{task['id']}", json=body)
        assert response.status_code == 400, response.text
    assert (await gateway.put(f"/api/tasks/{task['id']}", content=b"{nope")).status_code == 400
    unchanged = (await gateway.get(f"/api/tasks/{task['id']}")).json()["data"]
    assert unchanged == task
    assert (await gateway.put(f"/api/tasks/{uuid4()}", json={"enabled": False})).status_code == 404
    assert (await gateway.post(f"/api/tasks/{uuid4()}/execute")).status_code == 404


async def test_tasks_need_credentials(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as anonymous:
        assert (await anonymous.get("/api/tasks")).status_code == 401
        assert (await anonymous.get("/api/admin/scheduler")).status_code == 401
        response = await anonymous.post("/api/tasks", json=task_body(uuid4()))
        assert response.status_code == 401


async def test_a_task_whose_node_is_offline_records_the_failure(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    server = uuid4()
    task = await create_task(
        gateway,
        task_body(server, name="Announce", action="command", payload={"command": "say hi"}),
    )
    async with captured(stack, "server.command_requested") as sent:
        response = await gateway.post(f"/api/tasks/{task['id']}/execute")
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Task execution queued"
        run_id = response.json()["data"]["runId"]

        async def command_sent() -> Any:
            return [p for _, p in sent if p["request_id"] == run_id]

        (command,) = await eventually(command_sent, timeout=15)
    assert command["server_id"] == str(server)
    assert command["action"] == "command"
    assert command["payload"] == {"command": "say hi"}
    assert command["requested_by"] == "scheduler"

    runs = (await gateway.get(f"/api/tasks/{task['id']}/runs")).json()["data"]
    assert [(r["id"], r["trigger"]) for r in runs] == [(run_id, "manual")]
    # The node-agent-gateway knows no such server and may already have refused the
    # command; otherwise the refusal a node gateway would send is published here.
    if runs[0]["status"] == "pending":
        failure = events.ServerCommandFailed(
            request_id=UUID(run_id), server_id=server, action="command", reason="node offline"
        )
        await publish(stack, failure)
    else:
        assert runs[0]["status"] == "failed"

    async def failed() -> Any:
        runs = (await gateway.get(f"/api/tasks/{task['id']}/runs")).json()["data"]
        return runs if runs[0]["status"] == "failed" else None

    (run,) = await eventually(failed, timeout=15)
    assert run["error"]
    assert run["completedAt"] is not None
    task_now = (await gateway.get(f"/api/tasks/{task['id']}")).json()["data"]
    assert task_now["lastStatus"] == "failed"
    assert task_now["lastError"] == run["error"]
    assert task_now["runCount"] == 1
    assert task_now["lastRunAt"] is not None


async def test_auto_sync_settings(gateway: httpx.AsyncClient) -> None:
    settings = (await gateway.get("/api/admin/sync/settings")).json()["data"]
    assert settings["autoSyncEnabled"] is True
    assert settings["autoSyncInterval"] == 3600
    try:
        off = await gateway.post("/api/admin/sync/settings", json={"autoSyncEnabled": False})
        assert off.status_code == 200, off.text
        assert off.json()["message"] == "Sync settings updated"
        assert off.json()["data"]["autoSyncEnabled"] is False
        assert off.json()["data"]["autoSyncNextRunAt"] is None

        changed_at = datetime.now(UTC)
        on = await gateway.post(
            "/api/admin/sync/settings", json={"autoSyncEnabled": True, "autoSyncInterval": 900}
        )
        data = on.json()["data"]
        assert (data["autoSyncEnabled"], data["autoSyncInterval"]) == (True, 900)
        next_run = parse_time(data["autoSyncNextRunAt"])
        assert abs((next_run - changed_at - timedelta(seconds=900)).total_seconds()) < 30

        for bad in (
            {"autoSyncInterval": 5},
            {"autoSyncInterval": "hourly"},
            {"autoSyncEnabled": "yes"},
            {"autoSyncInterval": 120, "noSuchSetting": 1},
            {},
        ):
            response = await gateway.post("/api/admin/sync/settings", json=bad)
            assert response.status_code == 400, (bad, response.text)
        unchanged = (await gateway.get("/api/admin/sync/settings")).json()["data"]
        assert unchanged["autoSyncInterval"] == 900
        assert unchanged["autoSyncNextRunAt"] == data["autoSyncNextRunAt"]
    finally:
        await gateway.post(
            "/api/admin/sync/settings", json={"autoSyncEnabled": True, "autoSyncInterval": 3600}
        )


async def test_scheduler_status_and_jobs(gateway: httpx.AsyncClient) -> None:
    async def led() -> Any:
        status = (await gateway.get("/api/admin/scheduler")).json()["data"]
        return status if status["leader"]["alive"] else None

    status = await eventually(led, timeout=15)
    assert status["leader"]["replica"] == "scheduler-1"
    assert status["leader"]["heartbeatAgeSeconds"] < 10
    assert status["overdue"] == []

    jobs = {j["name"]: j for j in (await gateway.get("/api/admin/scheduler/jobs")).json()["data"]}
    assert {
        "sync.auto",
        "hytale.refresh",
        "hytale.cleanup",
        "hytale.server_logs",
        "sync.logs_cleanup",
        "console.logs_cleanup",
        "alerts.evaluate",
    } <= set(jobs)
    refresh = jobs["hytale.refresh"]
    assert (refresh["schedule"], refresh["eventType"], refresh["builtin"]) == (
        "*/5 * * * *",
        "job.fired",
        True,
    )
    assert parse_time(refresh["nextRunAt"]) - datetime.now(UTC) <= timedelta(minutes=5)
    assert jobs["hytale.cleanup"]["schedule"] == "0 2 * * *"
    assert jobs["sync.auto"]["eventType"] == "sync.requested"
    assert jobs["hytale.server_logs"]["schedule"] == "*/5 * * * *"
    assert jobs["console.logs_cleanup"]["enabled"] is False  # nobody consumes it yet

    refused = await gateway.delete(f"/api/admin/scheduler/jobs/{refresh['id']}")
    assert refused.status_code == 409
    bad_payload = await gateway.post(
        "/api/admin/scheduler/jobs",
        json={
            "name": "test.bad",
            "intervalSeconds": 60,
            "eventType": "sync.requested",
            "payload": {"kind": "everything"},
        },
    )
    assert bad_payload.status_code == 400, bad_payload.text
    both = await gateway.post(
        "/api/admin/scheduler/jobs",
        json={"name": "test.both", "intervalSeconds": 60, "schedule": "* * * * *"},
    )
    assert both.status_code == 400
    names = {j["name"] for j in (await gateway.get("/api/admin/scheduler/jobs")).json()["data"]}
    assert "test.bad" not in names
    assert "test.both" not in names


async def test_a_retried_run_now_with_its_idempotency_key_runs_once(
    gateway: httpx.AsyncClient,
) -> None:
    """A client that lost the answer to "run now" retries with the same key: one run."""
    task = await create_task(gateway, task_body(uuid4()))
    path = f"/api/tasks/{task['id']}/execute"
    first = await gateway.post(path, headers={"Idempotency-Key": "retry-me-1"})
    again = await gateway.post(path, headers={"Idempotency-Key": "retry-me-1"})
    other = await gateway.post(path, headers={"Idempotency-Key": "retry-me-2"})
    assert first.status_code == again.status_code == other.status_code == 200, first.text
    assert again.json()["data"]["runId"] == first.json()["data"]["runId"]
    assert other.json()["data"]["runId"] != first.json()["data"]["runId"]
    runs = (await gateway.get(f"{path.removesuffix('/execute')}/runs")).json()
    assert runs["pagination"]["total"] == 2

    bad = await gateway.post(path, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400, bad.text
    assert bad.json()["code"] == "INVALID_IDEMPOTENCY_KEY"
    runs = (await gateway.get(f"{path.removesuffix('/execute')}/runs")).json()
    assert runs["pagination"]["total"] == 2
