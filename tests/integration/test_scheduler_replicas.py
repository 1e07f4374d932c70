"""Scheduler replicas on compressed time: exactly once per due time, fail-over, catch-up.

Each test runs its own scheduler processes on a database and broker prefix of
their own (they must be killed and restarted, and they read an injected clock
that runs many times faster than the wall clock, the same in every process).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import aio_pika
import asyncpg
import httpx
import msgspec
import pytest

from nodebyte_common import events
from nodebyte_common.bootstrap import bootstrap
from nodebyte_common.topology import exchange_name
from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import StackConfig, free_port
from nodebyte_devstack.publishing import publish_event
from nodebyte_devstack.waiting import eventually
from nodebyte_scheduler.clock import Clock

SPEED = 30.0  # schedule seconds per real second
FIRED_TYPES = ("job.fired", "sync.requested", "server.command_requested")


@dataclass
class Cluster:
    """Scheduler replicas sharing one database, broker prefix and compressed clock."""

    config: StackConfig
    log_dir: Path
    clock: Clock
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def start(self, name: str, **overrides: str) -> None:
        port = free_port()
        env = {
            **os.environ,
            **self.config.service_env("scheduler"),
            **self.clock_env(),
            **self.env,
            "PORT": str(port),
            "REPLICA_ID": name,
            **overrides,
        }
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "nodebyte_scheduler"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ports[name] = port

    def clock_env(self) -> dict[str, str]:
        assert self.clock.start is not None
        return {
            "CLOCK_SPEED": str(self.clock.speed),
            "CLOCK_START": self.clock.start.isoformat(),
            "CLOCK_ORIGIN": repr(self.clock.origin),
        }

    async def healthy(self, name: str, timeout: float = 60) -> None:
        async def ready() -> bool:
            if self.processes[name].poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.tail(name)}")
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    response = await client.get(f"http://127.0.0.1:{self.ports[name]}/health/ready")
                return response.status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout=timeout, interval=0.2)

    def stop(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def tail(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:])

    def api(self, name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.ports[name]}/internal/v1",
            headers={"X-Service-Token": self.config.service_token},
            timeout=10,
        )

    async def wait_until(self, moment: datetime) -> None:
        """Let the compressed clock reach `moment`."""
        await asyncio.sleep(max(0.0, self.clock.real_seconds_until(moment)))

    async def capture(self) -> aio_pika.abc.AbstractConnection:
        """Collect what the replicas publish (the exchange exists once one has started)."""
        connection = await aio_pika.connect(self.config.amqp_url)
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name(self.config.prefix))
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for event_type in FIRED_TYPES:
            await queue.bind(exchange, routing_key=event_type)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                self.events.append((message.routing_key or "", msgspec.json.decode(message.body)))

        await queue.consume(on_message)
        return connection


@pytest.fixture
async def cluster(
    admin_dsn: str, amqp_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Cluster, asyncpg.Connection]]:
    config = StackConfig.isolated(admin_dsn, amqp_url)
    await bootstrap(admin_dsn, config.database)
    clock = Clock(speed=SPEED, start=datetime(2024, 3, 10, 6, 50, tzinfo=UTC), origin=time.time())
    env = {
        "LEADER_LEASE_SECONDS": "2",
        "LEADER_RENEW_SECONDS": "0.4",
        "MAX_TICK_SECONDS": "0.5",
        "MISFIRE_GRACE_SECONDS": "600",
        "OVERDUE_AFTER_SECONDS": "30",
        "TASK_OUTCOME_TIMEOUT_SECONDS": "2",
    }
    running = Cluster(config, tmp_path, clock, env)
    admin = await asyncpg.connect(config.database_dsn, server_settings={"search_path": "scheduler"})
    capture: aio_pika.abc.AbstractConnection | None = None
    try:
        running.start("a")
        await running.healthy("a")
        capture = await running.capture()
        yield running, admin
    finally:
        for name in list(running.processes):
            running.stop(name)
        if capture is not None:
            await capture.close()
        await admin.close()
        await discard_stack(config)


async def create_job(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def runs_of(admin: asyncpg.Connection, job_id: str) -> list[asyncpg.Record]:
    return await admin.fetch(
        "SELECT * FROM runs WHERE job_id = $1 ORDER BY due_at, recorded_at", UUID(job_id)
    )


def fired_events(cluster: Cluster, job_id: str) -> dict[datetime, set[str]]:
    """job.fired events of a job: due time -> the distinct run ids published for it."""
    by_due: dict[datetime, set[str]] = defaultdict(set)
    for event_type, payload in cluster.events:
        if event_type == "job.fired" and payload["job_id"] == job_id:
            by_due[_time(payload["due_at"])].add(payload["run_id"])
    return by_due


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def leader_of(api: httpx.AsyncClient) -> dict[str, Any]:
    async def alive() -> Any:
        leader = (await api.get("/scheduler")).json()["data"]["leader"]
        return leader if leader["alive"] else None

    return await eventually(alive, timeout=20)


async def test_two_replicas_fire_each_due_time_once_across_leader_kill_and_hang(
    cluster: tuple[Cluster, asyncpg.Connection],
) -> None:
    c, admin = cluster
    c.start("b")
    await c.healthy("b")
    async with c.api("a") as api_a, c.api("b") as api_b:
        minutely = await create_job(
            api_a, "/jobs", {"name": "test.minutely", "schedule": "* * * * *"}
        )
        every_45s = await create_job(
            api_b, "/jobs", {"name": "test.interval", "intervalSeconds": 45}
        )
        await c.wait_until(c.clock.now() + timedelta(minutes=3))
        first = await leader_of(api_a)
        survivor = "b" if first["replica"] == "a" else "a"
        c.stop(first["replica"])  # SIGKILL: no hand-over, the lease must run out
        async with c.api(survivor) as api:
            second = await eventually(
                lambda: _new_leader(api, first["term"]), timeout=30, interval=0.2
            )
        assert second["replica"] == survivor
        await c.wait_until(c.clock.now() + timedelta(minutes=3))
        c.start(first["replica"])  # back in the cluster, as a follower
        await c.healthy(first["replica"])
        # Now the leader hangs (SIGSTOP) instead of dying: its lease runs out, the
        # other takes over, and when it wakes up it is fenced.
        os.killpg(c.processes[survivor].pid, signal.SIGSTOP)
        try:
            async with c.api(first["replica"]) as api:
                third = await eventually(
                    lambda: _new_leader(api, second["term"]), timeout=30, interval=0.2
                )
            assert third["replica"] == first["replica"]
            await c.wait_until(c.clock.now() + timedelta(minutes=1))
        finally:
            os.killpg(c.processes[survivor].pid, signal.SIGCONT)
        end = c.clock.now() + timedelta(minutes=1, seconds=30)
        await c.wait_until(end)
        async with c.api(survivor) as api:
            assert (await leader_of(api))["term"] == third["term"]  # the woken one follows

    for job in (minutely, every_45s):
        runs = await runs_of(admin, job["id"])
        dues = [r["due_at"] for r in runs]
        assert len(dues) == len(set(dues))  # one run per due time
        expected = _expected_due_times(job, runs[0]["due_at"], end - timedelta(seconds=30))
        assert dues[: len(expected)] == expected, job["name"]  # none lost across the kill
        assert {r["trigger"] for r in runs} == {"schedule"}
        assert {r["replica"] for r in runs} == {"a", "b"}  # both led at some point

        async def all_published(job: dict[str, Any] = job, expected: list = expected) -> bool:
            return set(expected) <= set(fired_events(c, job["id"]))

        await eventually(all_published, timeout=20)
        published = fired_events(c, job["id"])
        assert all(len(published[due]) == 1 for due in expected)  # never two runs published


def _expected_due_times(job: dict[str, Any], first: datetime, until: datetime) -> list[datetime]:
    step = timedelta(minutes=1) if job["schedule"] else timedelta(seconds=job["intervalSeconds"])
    times, due = [], first
    while due <= until:
        times.append(due)
        due += step
    return times


async def _new_leader(api: httpx.AsyncClient, old_term: int) -> Any:
    leader = (await api.get("/scheduler")).json()["data"]["leader"]
    return leader if leader["alive"] and leader["term"] > old_term else None


async def test_catch_up_policies_after_downtime(
    cluster: tuple[Cluster, asyncpg.Connection],
) -> None:
    c, admin = cluster
    async with c.api("a") as api:
        skip = await create_job(
            api, "/jobs", {"name": "test.skip", "schedule": "* * * * *", "catchUp": "skip"}
        )
        once = await create_job(
            api, "/jobs", {"name": "test.once", "schedule": "* * * * *", "catchUp": "once"}
        )
        await c.wait_until(c.clock.now() + timedelta(minutes=2, seconds=10))
    c.stop("a", signal.SIGTERM)
    down_at = c.clock.now()
    # Back three hours later (schedule time): the same clock, jumped forward.
    c.clock = Clock(speed=SPEED, start=down_at + timedelta(hours=3), origin=time.time())
    c.start("a", MISFIRE_GRACE_SECONDS="120")
    await c.healthy("a")
    await c.wait_until(c.clock.now() + timedelta(minutes=2))

    skipped = await runs_of(admin, skip["id"])
    caught_up = await runs_of(admin, once["id"])
    for runs in (skipped, caught_up):
        catch_up, *stalls = sorted(
            (r for r in runs if r["trigger"] == "catch_up"), key=lambda r: r["due_at"]
        )
        # The grace is 4 s of real time at this clock speed: a replica starved of CPU
        # that long (a loaded CI machine) rightly catches up again, a few minutes' worth.
        assert all(r["missed_count"] < 10 for r in stalls), stalls
        earlier = [r for r in runs if r["due_at"] < catch_up["due_at"]]
        later = [r for r in runs if r["due_at"] > catch_up["due_at"] and r not in stalls]
        assert earlier
        assert later  # regular firing resumes after it
        # Every minute from the last run before the downtime to the catch-up is counted:
        # three hours, less the grace (its two minutes fire on their own, late) and a minute.
        gap = catch_up["due_at"] - max(r["due_at"] for r in earlier)
        assert catch_up["missed_count"] == gap // timedelta(minutes=1)
        assert catch_up["missed_count"] >= 3 * 60 - 3
        assert all(r["trigger"] == "schedule" for r in earlier + later)
        assert max(r["due_at"] for r in earlier) < down_at  # nothing fired while down
        assert later[0]["due_at"] - catch_up["due_at"] <= timedelta(minutes=1)
    (skip_run,) = [r for r in skipped if r["trigger"] == "catch_up"]
    (once_run,) = [r for r in caught_up if r["trigger"] == "catch_up"]
    assert skip_run["status"] == "skipped"
    assert skip_run["event_id"] is None
    assert once_run["status"] == "fired"

    async def published() -> bool:
        return once_run["due_at"] in fired_events(c, once["id"])

    await eventually(published, timeout=20)
    assert skip_run["due_at"] not in fired_events(c, skip["id"])
    auto_sync = await admin.fetchrow(
        "SELECT r.* FROM runs r JOIN jobs j ON j.id = r.job_id "
        "WHERE j.name = 'sync.auto' AND r.trigger = 'catch_up'"
    )
    assert auto_sync["missed_count"] == 3  # hourly: three missed, fired once
    assert auto_sync["status"] == "fired"


async def test_auto_sync_fires_on_time_with_a_fresh_sync_log_id(
    cluster: tuple[Cluster, asyncpg.Connection],
) -> None:
    c, admin = cluster
    async with c.api("a") as api:
        response = await api.put("/auto-sync", json={"autoSyncInterval": 60})
        assert response.status_code == 200, response.text
        first_due = _time(response.json()["data"]["autoSyncNextRunAt"])
        await c.wait_until(first_due + timedelta(minutes=2, seconds=30))

    async def three_syncs() -> Any:
        found = [p for t, p in c.events if t == "sync.requested"]
        return found if len(found) >= 3 else None

    requested = (await eventually(three_syncs, timeout=20))[:3]
    log_ids = [UUID(p["sync_log_id"]) for p in requested]
    assert len(set(log_ids)) == 3
    assert all(log_id.version == 7 for log_id in log_ids)
    assert all(p["requested_by"] == "scheduler" for p in requested)
    assert all(p["kind"] == "full" for p in requested)
    runs = await admin.fetch(
        "SELECT r.* FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.name = 'sync.auto' "
        "ORDER BY due_at LIMIT 3"
    )
    assert [r["due_at"] for r in runs] == [first_due + timedelta(minutes=n) for n in range(3)]
    assert [UUID(msgspec.json.decode(r["details"])["syncLogId"]) for r in runs] == log_ids


async def test_task_runs_are_sent_acknowledged_or_failed_never_succeeded(
    cluster: tuple[Cluster, asyncpg.Connection],
) -> None:
    c, admin = cluster
    server = UUID("01a2099a-2501-7ae0-8736-94fb2af01e2a")
    async with c.api("a") as api:
        task = await create_job(
            api,
            "/tasks",
            {
                "serverId": str(server),
                "name": "Backup",
                "action": "backup",
                "schedule": "* * * * *",
            },
        )

    async def run_status(run_id: UUID, wanted: str) -> Any:
        row = await admin.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)
        return row if row["status"] == wanted else None

    async def settled() -> Any:
        runs = await runs_of(admin, task["id"])
        return runs if runs and runs[0]["status"] != "pending" else None

    (first, *_) = await eventually(settled, timeout=30)
    assert first["status"] == "sent"  # nobody reported anything in time
    assert first["error"] is None
    await _publish(
        c,
        events.ServerCommandFailed(
            request_id=first["id"], server_id=server, action="backup", reason="node offline"
        ),
    )
    failed = await eventually(lambda: run_status(first["id"], "failed"), timeout=15)
    assert failed["error"] == "node offline"  # a late failure still wins

    async def second_run() -> Any:
        runs = await runs_of(admin, task["id"])
        return runs[1] if len(runs) > 1 else None

    second = await eventually(second_run, timeout=30)
    await _publish(
        c,
        events.ServerCommandAcknowledged(
            request_id=second["id"],
            server_id=server,
            node_id=uuid4(),
            action="backup",
            acknowledged_by="agent",
            acknowledged_at=datetime.now(UTC),
        ),
    )
    acknowledged = await eventually(lambda: run_status(second["id"], "acknowledged"), timeout=15)
    assert msgspec.json.decode(acknowledged["details"]) == {"acknowledgedBy": "agent"}
    await asyncio.sleep(3)  # past the outcome timeout: still acknowledged, not "sent"
    assert await run_status(second["id"], "acknowledged")
    commands = [p for t, p in c.events if t == "server.command_requested"]
    assert {str(first["id"]), str(second["id"])} <= {p["request_id"] for p in commands}
    assert all(p["action"] == "backup" for p in commands)


async def _publish(c: Cluster, event: events.Event) -> None:
    """Publish as the node-agent gateway would."""
    await publish_event(c.config, event, source="test/node-agent-gateway")


async def test_a_lease_held_elsewhere_fences_firing_and_shows_overdue_jobs(
    cluster: tuple[Cluster, asyncpg.Connection],
) -> None:
    c, admin = cluster
    async with c.api("a") as api:
        job = await create_job(api, "/jobs", {"name": "test.fenced", "schedule": "* * * * *"})
        await leader_of(api)
        # Another holder (a hung leader, say) owns an unexpired lease.
        await admin.execute(
            "UPDATE leadership SET holder = 'ghost', term = term + 1, "
            "heartbeat_at = clock_timestamp(), expires_at = clock_timestamp() + interval '1 hour'"
        )
        held_at = c.clock.now()
        await c.wait_until(held_at + timedelta(minutes=3))
        fired_while_held = await admin.fetchval(
            "SELECT count(*) FROM runs WHERE job_id = $1 "
            "AND due_at > $2::timestamptz + interval '5 seconds'",
            UUID(job["id"]),
            held_at,
        )
        assert fired_while_held == 0
        status = (await api.get("/scheduler")).json()["data"]
        assert status["leader"]["replica"] == "ghost"
        assert status["leader"]["alive"] is True
        assert job["id"] in {j["id"] for j in status["overdue"]}

        await admin.execute("UPDATE leadership SET expires_at = clock_timestamp()")
        released_at = c.clock.now()
        await leader_of(api)

        async def caught_up() -> Any:
            status = (await api.get("/scheduler")).json()["data"]
            return status if not status["overdue"] else None

        status = await eventually(caught_up, timeout=20)
        assert status["leader"]["replica"] == "a"
        first_due = (await runs_of(admin, job["id"]))[0]["due_at"]
        held = [d for d in _expected_due_times(job, first_due, released_at) if d > held_at]
        assert len(held) >= 2

        # "Overdue" has a grace, so the last held due time may still be firing.
        async def all_held_fired() -> Any:
            dues = [r["due_at"] for r in await runs_of(admin, job["id"])]
            return dues if set(held) <= set(dues) else None

        dues = await eventually(all_held_fired, timeout=20)  # fired late, but none lost
        assert dues == _expected_due_times(job, dues[0], dues[-1])
