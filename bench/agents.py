"""Many node agents on one node-agent-gateway process: memory, CPU, command round trips.

N reference agents (a child process) connect to one node-agent-gateway process
and heartbeat and report health at the reference's cadence (every 30 s). Every
server is started (a burst of N commands), then for the measured window
commands (`server.command_requested`, action `command`, as the scheduler or the
gateway publishes them) go to random servers at a steady rate, and for each:

- delivery: published → the agent has the frame (router, node routing key,
  replica, socket);
- round trip: published → `server.command_acknowledged` is back on the bus
  (the agent's `command_ack`, recorded in the store, relayed from the outbox).

Sampled meanwhile: the service process's RSS and CPU. Baselines of the same
run: the idle service's RSS before any agent connects (so RSS per agent), and
a bare aio-pika publish → consume round trip at the same rate (one broker hop,
the floor under any bus round trip).

With `--replicas R` there are R node-agent-gateway processes on the same
database and broker, and the agents are spread round-robin over their ports
(as a TCP balancer in front of them would spread them). Commands are still
published once, on the event exchange: whichever replica takes one off the
shared queue routes it to the replica holding the node's socket. RSS and CPU
are then the sum over the replicas.

Per unit of work (wall clock is noisy on a shared machine): the service's
CPU-seconds per 1,000 agent frames in the window (frames counted by the
replicas' `nodebyte_agent_messages_total`), and the agent simulator's own CPU
share (it must not be the bottleneck). `--profile FILE` records the first
replica with py-spy over the window (speedscope format).

    .venv/bin/python bench/agents.py [--agents 2000] [--window 60] [--rate 10] [--replicas 1]
                                     [--profile profile.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import aio_pika
import asyncpg
import httpx
import uuid6

from nodebyte_common import events
from nodebyte_common.bootstrap import bootstrap
from nodebyte_common.cloudevents import event_headers
from nodebyte_common.topology import exchange_name
from nodebyte_devstack.agent_harness import agent_url
from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually
from nodebyte_emulators.agent_fleet import AgentFleet
from nodebyte_node_agent_gateway.deployment_tokens import hash_token

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
SERVICE = "node-agent-gateway"
REFERENCE_CADENCE = {  # the reference's intervals, not the dev stack's short ones
    "AGENT_HEARTBEAT_INTERVAL_SECONDS": "30",
    "ALERT_EVALUATION_INTERVAL_SECONDS": "30",
    "USAGE_ROLLUP_INTERVAL_SECONDS": "300",
    "TELEMETRY_FLUSH_SECONDS": "1",
    "COMMAND_TIMEOUT_SECONDS": "15",
    "ALERT_COOLDOWN_SECONDS": "300",
}


# --- the service process ---------------------------------------------------


class ProcessGauge:
    """RSS and CPU of some processes (the replicas), summed, from /proc."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.ticks = os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        return sum(self._rss_mb(pid) for pid in self.pids)

    @staticmethod
    def _rss_mb(pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        return sum(self._cpu_seconds(pid) for pid in self.pids)

    def _cpu_seconds(self, pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks


async def agent_frames(bases: list[str]) -> float:
    """Agent frames the replicas have taken so far (every type and outcome)."""
    total = 0.0
    async with httpx.AsyncClient(timeout=30) as client:
        for base in bases:
            text = (await client.get(f"{base}/metrics")).text
            for line in text.splitlines():
                if line.startswith("nodebyte_agent_messages_total{"):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def start_profile(pid: int, path: str, seconds: float) -> asyncio.Task[int]:
    """py-spy over `pid` for `seconds` (it must be installed next to this Python)."""
    py_spy = str(Path(sys.executable).with_name("py-spy"))

    async def run() -> int:
        process = await asyncio.create_subprocess_exec(
            py_spy,
            "record",
            "-p",
            str(pid),
            "-o",
            path,
            "--format",
            "speedscope",
            "-d",
            str(int(seconds)),
            "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await process.wait()

    return asyncio.create_task(run())


# --- nodes, servers, commands ----------------------------------------------


async def seed_fleet(database: str, count: int) -> list[dict[str, str]]:
    """count nodes with one server and a deployment token each, written straight into
    the service's tables (COPY): registering 10,000 through the API takes minutes on a
    busy machine and is not what is measured. Their credentials and server ids."""
    fleet = []
    nodes, servers, tokens = [], [], []
    for n in range(count):
        node_id, server_id, token = (
            uuid6.uuid7(),
            uuid6.uuid7(),
            f"nbdt_{secrets.token_urlsafe(32)}",
        )
        nodes.append((node_id, f"bench-{n:05d}", f"n{n}.bench", 65536, 32))
        servers.append((server_id, f"srv-{n:05d}", node_id, "img", 1024, 1, 1024, 25565))
        expires = datetime.now(UTC) + timedelta(days=30)
        tokens.append((uuid6.uuid7(), node_id, hash_token(token), expires))
        fleet.append({"nodeId": str(node_id), "token": token, "serverId": str(server_id)})
    conn = await asyncpg.connect(database)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "nodes",
                schema_name="agents",
                records=nodes,
                columns=["id", "name", "hostname", "max_memory_mb", "max_cpu_cores"],
            )
            await conn.copy_records_to_table(
                "servers",
                schema_name="agents",
                records=servers,
                columns=[
                    "id",
                    "name",
                    "node_id",
                    "docker_image",
                    "allocated_memory_mb",
                    "allocated_cpu_cores",
                    "allocated_disk_mb",
                    "primary_port",
                ],
            )
            await conn.copy_records_to_table(
                "deployment_tokens",
                schema_name="agents",
                records=tokens,
                columns=["id", "node_id", "token_hash", "expires_at"],
            )
    finally:
        await conn.close()
    return fleet


class CommandBus:
    """Publishes commands as another service would; times their acknowledgements."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.sent: dict[str, float] = {}
        self.acked: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def open(self) -> None:
        self._connection = await aio_pika.connect_robust(AMQP)
        channel = await self._connection.channel(publisher_confirms=False)
        self._exchange = await channel.get_exchange(exchange_name(self.prefix))
        listen = await self._connection.channel()
        queue = await listen.declare_queue(exclusive=True, auto_delete=True)
        for kind in ("server.command_acknowledged", "server.command_failed"):
            await queue.bind(self._exchange.name, routing_key=kind)
        await queue.consume(self._on_outcome, no_ack=True)

    async def _on_outcome(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        now = time.time()
        body = json.loads(message.body)
        if message.routing_key == "server.command_acknowledged":
            self.acked[body["request_id"]] = now
        else:
            self.failed[body["request_id"]] = body["reason"]

    async def send(self, server_id: str, action: str, payload: dict[str, Any]) -> str:
        assert self._exchange is not None
        request_id = uuid6.uuid7()
        event = events.ServerCommandRequested(
            request_id=request_id,
            server_id=UUID(server_id),
            action=action,  # type: ignore[arg-type]
            payload=payload,
            requested_by="bench",
        )
        headers = event_headers(event, request_id, "bench")
        self.sent[str(request_id)] = time.time()
        await self._exchange.publish(
            aio_pika.Message(
                events.encode(event),
                headers=headers,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=event.TYPE,
        )
        return str(request_id)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


async def bare_round_trip(rate: float, count: int) -> list[float]:
    """Baseline: one aio-pika publish → consume hop at the same rate (seconds)."""
    connection = await aio_pika.connect(AMQP)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    latencies: list[float] = []
    done = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        latencies.append(time.time() - float(message.headers["sent"]))  # type: ignore[arg-type]
        if len(latencies) == count:
            done.set()

    await queue.consume(on_message, no_ack=True)
    for _ in range(count):
        await channel.default_exchange.publish(
            aio_pika.Message(
                b"{}",
                headers={"sent": str(time.time())},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=queue.name,
        )
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(done.wait(), 60)
    await connection.close()
    return latencies


# --- the fleet (a child process) -------------------------------------------


async def run_fleet(urls: list[str], credentials_file: str, per_second: float) -> None:
    """Child: connect every agent (round-robin over `urls`), say how many, serve until
    told, report receipts."""
    with open(credentials_file) as file:  # noqa: ASYNC230 - once, before anything runs
        credentials = json.load(file)
    fleets = [
        AgentFleet(
            url,
            [(c["nodeId"], c["token"]) for c in credentials[i :: len(urls)]],
            record_frames=False,
            step_seconds=0.05,
        )
        for i, url in enumerate(urls)
    ]
    fleet = AgentFleet(urls[0], [])
    fleet.agents = [agent for part in fleets for agent in part.agents]
    await fleet.start(per_second)
    connected = await fleet.wait_connected(timeout=300)
    print(f"connected {connected}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    received = {k: v for a in fleet.agents for k, v in a.record.received_at.items()}
    still = fleet.connected()
    reconnects = sum(a.record.connects for a in fleet.agents) - len(fleet.agents)
    print(
        json.dumps({"received": received, "connected": still, "reconnects": reconnects}), flush=True
    )
    await fleet.stop()


# --- the run ---------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def running_servers(database: str) -> int:
    conn = await asyncpg.connect(database)
    try:
        return await conn.fetchval("SELECT count(*) FROM agents.servers WHERE state = 'running'")
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    tag = secrets.token_hex(4)
    config = StackConfig.isolated(ADMIN, AMQP, f"bench{tag}")
    config.extra_env[SERVICE] = dict(REFERENCE_CADENCE)
    logs = Path(tempfile.mkdtemp(prefix="bench-agents-"))
    stack = Stack(config, logs)
    await bootstrap(config.admin_dsn, config.database)
    figures: dict[str, Any] = {}
    fleet: asyncio.subprocess.Process | None = None
    commands = CommandBus(config.prefix)
    try:
        stack.start_service(SERVICE)
        stack.wait_healthy([SERVICE], 120)
        base = config.url(SERVICE)
        bases = [base]
        for n in range(1, args.replicas):
            env = {"REPLICA_ID": f"{config.prefix}-agents-{n}"}  # names its own queue
            port = stack.start_extra_replica(SERVICE, env, timeout=120)
            bases.append(f"http://127.0.0.1:{port}")
        replicas = [p for n, p in stack.processes.items() if n.startswith(SERVICE)]
        gauge = ProcessGauge([p.popen.pid for p in replicas])
        credentials = await seed_fleet(config.database_dsn, args.agents)
        await asyncio.sleep(2)
        figures["rss_idle_mb"] = gauge.rss_mb()

        creds_file = logs / "credentials.json"
        creds_file.write_text(json.dumps(credentials))
        started = time.perf_counter()
        fleet = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--fleet",
            ",".join(agent_url(b) for b in bases),
            str(creds_file),
            str(args.per_second),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # the final report is one line with every receipt
        )
        assert fleet.stdout is not None
        assert fleet.stdin is not None
        line = (await fleet.stdout.readline()).decode().split()
        figures["agents_connected"] = int(line[1])
        figures["connect_seconds"] = time.perf_counter() - started
        print(f"{line[1]} agents connected in {figures['connect_seconds']:.1f}s", file=sys.stderr)

        await commands.open()
        targets = credentials[: args.warm or len(credentials)]
        started = time.perf_counter()
        for c in targets:
            await commands.send(c["serverId"], "start", {})
        await _wait_all_running(config.database_dsn, len(targets), commands, targets)
        figures["warmup_starts_per_s"] = len(targets) / (time.perf_counter() - started)
        print(f"all servers running ({figures['warmup_starts_per_s']:.0f}/s)", file=sys.stderr)
        commands.sent.clear()
        commands.acked.clear()

        fleet_gauge = ProcessGauge([fleet.pid])
        profile = start_profile(gauge.pids[0], args.profile, args.window) if args.profile else None
        frames_before = await agent_frames(bases)
        fleet_before = fleet_gauge.cpu_seconds()
        cpu_before, wall_before = gauge.cpu_seconds(), time.perf_counter()
        rss_peak = 0.0
        sent_ids: list[str] = []
        deadline = wall_before + args.window
        next_sample = 0.0
        while time.perf_counter() < deadline:
            target = random.choice(targets)["serverId"]
            sent_ids.append(await commands.send(target, "command", {"command": "say bench"}))
            if time.perf_counter() >= next_sample:
                rss_peak = max(rss_peak, gauge.rss_mb())
                next_sample = time.perf_counter() + 1.0
            await asyncio.sleep(1 / args.rate)
        cpu_used = gauge.cpu_seconds() - cpu_before
        wall = time.perf_counter() - wall_before
        figures["fleet_cpu_percent"] = 100 * (fleet_gauge.cpu_seconds() - fleet_before) / wall
        figures["load"] = os.getloadavg()[0]
        await eventually(lambda: _settled(commands, sent_ids), timeout=30, interval=0.2)
        # Frames counted once the last commands settled: a scrape is work of its own.
        cpu_to_settled, wall_to_settled = gauge.cpu_seconds(), time.perf_counter()
        frames = max(1.0, await agent_frames(bases) - frames_before)
        figures["frames_per_s"] = frames / (wall_to_settled - wall_before)
        figures["cpu_s_per_1000_frames"] = 1000 * (cpu_to_settled - cpu_before) / frames
        if profile is not None:
            await profile
        figures["rss_mb"] = max(rss_peak, gauge.rss_mb())
        figures["cpu_percent"] = 100 * cpu_used / wall

        fleet.stdin.write(b"stop\n")
        await fleet.stdin.drain()
        report = json.loads((await fleet.stdout.readline()).decode())
        figures["agents_still_connected"] = report["connected"]
        figures["agent_reconnects"] = report["reconnects"]
        delivery = [
            report["received"][r] - commands.sent[r] for r in sent_ids if r in report["received"]
        ]
        round_trip = [commands.acked[r] - commands.sent[r] for r in sent_ids if r in commands.acked]
        figures["commands_sent"] = len(sent_ids)
        figures["commands_acknowledged"] = len(round_trip)
        figures["commands_failed"] = sum(1 for r in sent_ids if r in commands.failed)
        figures["delivery"] = delivery
        figures["round_trip"] = round_trip
        figures["bare"] = await bare_round_trip(args.rate, min(300, len(sent_ids)))
    finally:
        await commands.close()
        if fleet is not None and fleet.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                fleet.kill()
            await fleet.wait()
        stack.stop_all()
        await discard_stack(config)
    _print(figures, args.agents, args.replicas)


async def _wait_all_running(
    database: str, count: int, commands: CommandBus, credentials: list[dict[str, str]]
) -> None:
    """Until every server runs; a start that failed (e.g. timed out) is sent again."""
    deadline = time.monotonic() + 600
    retried: set[str] = set()
    by_request = {}
    while (running := await running_servers(database)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {running} of {count} servers running")
        for request_id, _reason in list(commands.failed.items()):
            if request_id in retried:
                continue
            retried.add(request_id)
            server_id = by_request.get(request_id) or await _server_of(database, request_id)
            if server_id:
                by_request[await commands.send(server_id, "start", {})] = server_id
        print(
            f"  {running} running, {len(commands.acked)} acknowledged, "
            f"{len(commands.failed)} failed",
            file=sys.stderr,
        )
        await asyncio.sleep(5)


async def _server_of(database: str, request_id: str) -> str | None:
    conn = await asyncpg.connect(database)
    try:
        found = await conn.fetchval(
            "SELECT server_id::text FROM agents.server_commands WHERE request_id = $1::uuid",
            request_id,
        )
    finally:
        await conn.close()
    return found


async def _settled(commands: CommandBus, ids: list[str]) -> bool:
    return all(r in commands.acked or r in commands.failed for r in ids)


def _print(f: dict[str, Any], agents: int, replicas: int) -> None:
    ms = 1000.0
    bare_p50, bare_p99 = percentile(f["bare"], 50) * ms, percentile(f["bare"], 99) * ms
    rt_p50, rt_p99 = percentile(f["round_trip"], 50) * ms, percentile(f["round_trip"], 99) * ms
    lines = {
        "agents": agents,
        "replicas": replicas,
        "agents_connected": f["agents_connected"],
        "agents_still_connected": f["agents_still_connected"],
        "agent_reconnects": f["agent_reconnects"],
        "connect_seconds": f"{f['connect_seconds']:.1f}",
        "warmup_start_commands_per_s": f"{f['warmup_starts_per_s']:.0f}",
        "rss_idle_mb": f"{f['rss_idle_mb']:.0f}",
        "rss_mb": f"{f['rss_mb']:.0f}",
        "rss_per_agent_kb": f"{(f['rss_mb'] - f['rss_idle_mb']) * 1024 / agents:.0f}",
        "cpu_percent": f"{f['cpu_percent']:.1f}",
        "agent_frames_per_s": f"{f['frames_per_s']:.0f}",
        "cpu_s_per_1000_agent_frames": f"{f['cpu_s_per_1000_frames']:.3f}",
        "simulator_cpu_percent": f"{f['fleet_cpu_percent']:.1f}",
        "load_1min": f"{f['load']:.2f}",
        "commands_sent": f["commands_sent"],
        "commands_acknowledged": f["commands_acknowledged"],
        "commands_failed": f["commands_failed"],
        "command_delivery_p50_ms": f"{percentile(f['delivery'], 50) * ms:.1f}",
        "command_delivery_p99_ms": f"{percentile(f['delivery'], 99) * ms:.1f}",
        "command_round_trip_p50_ms": f"{rt_p50:.1f}",
        "command_round_trip_p99_ms": f"{rt_p99:.1f}",
        "command_round_trip_mean_ms": f"{statistics.fmean(f['round_trip']) * ms:.1f}"
        if f["round_trip"]
        else "nan",
        "bare_amqp_hop_p50_ms": f"{bare_p50:.1f}",
        "bare_amqp_hop_p99_ms": f"{bare_p99:.1f}",
        "round_trip_p99_over_bare_hop_p99": f"{rt_p99 / bare_p99:.1f}",
    }
    for name, value in lines.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--fleet":
        asyncio.run(run_fleet(sys.argv[2].split(","), sys.argv[3], float(sys.argv[4])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--window", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--rate", type=float, default=10.0, help="commands per second")
    parser.add_argument("--per-second", type=float, default=100.0, help="agent connect ramp")
    parser.add_argument("--replicas", type=int, default=1, help="node-agent-gateway processes")
    parser.add_argument("--profile", default="", help="py-spy speedscope output of replica 1")
    parser.add_argument(
        "--warm", type=int, default=0, help="servers started and commanded (0: every agent's)"
    )
    asyncio.run(main(parser.parse_args()))
