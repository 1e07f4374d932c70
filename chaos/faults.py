"""The faults, each injected into a running stack and healed again.

`Fault.inject` returns once the fault is over (the process restarted or resumed,
the upstream healthy again); the phase measures recovery from that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import httpx

from nodebyte_common.bootstrap import role_name
from nodebyte_common.topology import SUBSCRIPTIONS
from nodebyte_devstack.config import SERVICES
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.publishing import publish_raw

STOP_SECONDS = 20.0
AMQP_PORT = 5672


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[Stack], Awaitable[None]]
    # Work the fault itself asks for (a poison message's marker), counted with the phase's.
    marks: list[str] = field(default_factory=list)


async def restart(stack: Stack, service: str) -> None:
    stack.start_service(service)
    await asyncio.to_thread(stack.wait_healthy, [service], 90.0)


def sigkill(service: str) -> Fault:
    async def inject(stack: Stack) -> None:
        await asyncio.to_thread(stack.kill, service, signal.SIGKILL)
        await restart(stack, service)

    return Fault(f"sigkill-{service}", inject)


def sigstop(service: str) -> Fault:
    async def inject(stack: Stack) -> None:
        pgid = stack.processes[service].popen.pid
        os.killpg(pgid, signal.SIGSTOP)
        try:
            await asyncio.sleep(STOP_SECONDS)
        finally:
            os.killpg(pgid, signal.SIGCONT)

    return Fault(f"sigstop-{service}", inject)


# While a service's sessions are terminated, its upstream answers slowly, so work is in
# flight (a Discord request running, a delivery leased) when its connection dies.
SLOW_UPSTREAM_DURING_PG_TERMINATE = {"notifier": "discord"}


def pg_terminate(service: str) -> Fault:
    """Terminate every database session of the service's role, lock holders first."""

    async def inject(stack: Stack) -> None:
        slow = SLOW_UPSTREAM_DURING_PG_TERMINATE.get(service)
        async with _slowed(stack, slow):
            await _terminate_sessions(stack, service)

    return Fault(f"pg-terminate-{service}", inject)


@contextlib.asynccontextmanager
async def _slowed(stack: Stack, emulator: str | None) -> AsyncIterator[None]:
    if emulator is None:
        yield
        return
    async with httpx.AsyncClient(base_url=stack.config.url(emulator)) as client:
        (await client.post("/_emulator/faults", json={"latency_ms": 2500})).raise_for_status()
        await asyncio.sleep(1.0)
        try:
            yield
        finally:
            await client.delete("/_emulator/faults")


async def _terminate_sessions(stack: Stack, service: str) -> None:
    conn = await asyncpg.connect(stack.config.admin_dsn)
    try:
        for _ in range(2):  # again once the pool reconnected
            await conn.execute(
                """SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
                       WHERE a.datname = $1 AND a.usename = $2
                       ORDER BY EXISTS (SELECT 1 FROM pg_locks l
                                        WHERE l.pid = a.pid AND l.granted) DESC""",
                stack.config.database,
                role_name(service),
            )
            await asyncio.sleep(1.5)
    finally:
        await conn.close()


def amqp_close(service: str) -> Fault:
    """The broker closes every AMQP connection of the service's process."""

    async def inject(stack: Stack) -> None:
        ports = broker_client_ports(stack.processes[service].popen.pid)
        names = {f"127.0.0.1:{port} -> 127.0.0.1:{AMQP_PORT}" for port in ports}
        pids = [pid for name, pid in await broker_connections() if name in names]
        if not pids:
            raise RuntimeError(f"{service} has no broker connection to close")
        for pid in pids:  # a fault that could not be injected stops the run
            await _rabbitmqctl("close_connection", pid, "chaos: connection closed")

    return Fault(f"amqp-close-{service}", inject)


async def broker_connections() -> list[tuple[str, str]]:
    """(name, connection pid) of every connection the broker has."""
    listing = await _rabbitmqctl("list_connections", "--no-table-headers", "name", "pid")
    rows = [line.split("\t") for line in listing.splitlines()]
    return [(row[0], row[1]) for row in rows if len(row) == 2]


async def _rabbitmqctl(*args: str) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        ["rabbitmqctl", "-q", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def broker_client_ports(pid: int) -> list[int]:
    """Local ports of the process's TCP connections to the broker (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    with open(f"/proc/{pid}/net/tcp") as table:
        for row in list(table)[1:]:
            cols = row.split()
            local, remote, state, inode = cols[1], cols[2], cols[3], cols[9]
            if inode in inodes and state == "01" and int(remote.split(":")[1], 16) == AMQP_PORT:
                ports.append(int(local.split(":")[1], 16))
    return ports


def second_replicas(services: tuple[str, ...] = SERVICES) -> Fault:
    """A second process of each service on the same database and broker, then gone."""

    async def inject(stack: Stack) -> None:
        before = set(stack.processes)
        try:
            await asyncio.gather(
                *(
                    asyncio.to_thread(
                        stack.start_extra_replica, s, {"REPLICA_ID": f"{s}-chaos-2"}, 120.0
                    )
                    for s in services
                )
            )
            await asyncio.sleep(6.0)  # both replicas take work
        finally:
            for name in set(stack.processes) - before:
                await asyncio.to_thread(stack.kill, name, signal.SIGTERM)

    which = "all" if services == SERVICES else "-".join(services)
    return Fault(f"second-replica-{which}", inject)


def poison() -> Fault:
    """Undecodable messages of every type each queue consumes; each must be dead-lettered."""
    marks: list[str] = []

    async def inject(stack: Stack) -> None:
        for sub in SUBSCRIPTIONS:
            for event_type in sub.event_types:
                letter_id = f"poison-{os.urandom(6).hex()}"
                headers = {"cloudEvents:id": letter_id, "cloudEvents:type": event_type}
                await publish_raw(stack.config, event_type, b'{"poison": true', headers)
                marks.append(f"dlq:{sub.service}.{sub.purpose}:{letter_id}")

    return Fault("poison-messages", inject, marks)


UPSTREAM_FAULTS = {
    "429": {"rate_limit_next": 3, "retry_after": 1},
    "5xx": {"error_next": 3, "error_status": 503},
    "hang": {"hang_next": 2, "hang_seconds": 20},
}
UPSTREAMS = {"panel": "pterodactyl", "discord": "discord", "mail": "mail"}


def upstream(which: str, kind: str) -> Fault:
    async def inject(stack: Stack) -> None:
        async with httpx.AsyncClient(base_url=stack.config.url(UPSTREAMS[which])) as emulator:
            response = await emulator.post("/_emulator/faults", json=UPSTREAM_FAULTS[kind])
            response.raise_for_status()
            await asyncio.sleep(6.0)  # the work meets the faults
            await emulator.delete("/_emulator/faults")

    return Fault(f"upstream-{which}-{kind}", inject)


def all_faults() -> list[Fault]:
    faults = [sigkill(s) for s in SERVICES]
    faults += [sigstop(s) for s in SERVICES]
    faults += [pg_terminate(s) for s in SERVICES]
    faults += [amqp_close(s) for s in SERVICES]
    faults += [second_replicas(), poison()]
    faults += [upstream(w, k) for w in UPSTREAMS for k in UPSTREAM_FAULTS]
    return faults
