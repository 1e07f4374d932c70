"""A reference node agent: speaks the agent WebSocket protocol over a simulated runtime.

It connects, sends `node_handshake` first (the token never in the URL), then
heartbeats, health reports and stats for running servers at the cadence the
backend announces, carries out commands on its `SimulatedRuntime` and
acknowledges them (`command_ack`, announced as a feature). When the connection
drops or is refused it reconnects after a growing, jittered delay (honouring
`retryAfterSeconds` of a lockout). Tests and benchmarks drive it in-process:
`crash()`, `go_silent()`, `hold()`, `print_lines()`, `set_usage()`, `send_raw()`.
Server files live under `data_dir` (see `agent_runtime`): file operations,
backups and transfers between nodes act on them for real (agent_files,
agent_archives, agent_transfers; paths confined by agent_disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from .agent_disk import AgentDisk
from .agent_files import AgentFiles
from .agent_runtime import CommandRefused, SimulatedRuntime
from .agent_transfers import FRAMES as TRANSFER_FRAMES
from .agent_transfers import AgentTransfers

log = logging.getLogger(__name__)

AGENT_VERSION = "nodebyte-emulator/0.1"


def reconnect_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: uniform in [½, 1] of base·2^attempt, capped."""
    ceiling = min(cap, base * 2 ** min(attempt, 20))
    return rng.uniform(ceiling / 2, ceiling)


@dataclass
class NodeUsage:
    cpu_percent: float = 12.0
    memory_used_mb: float = 2048.0
    memory_total_mb: float = 16384.0
    disk_used_mb: float = 10240.0
    disk_total_mb: float = 102400.0


@dataclass
class AgentRecord:
    """What happened to the agent, for whoever drives it."""

    handshakes: int = 0
    connects: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    closes: list[tuple[int | None, str]] = field(default_factory=list)
    received_at: dict[str, float] = field(default_factory=dict)  # requestId -> time.time()


class SimulatedAgent:
    def __init__(
        self,
        url: str,
        node_id: str,
        token: str,
        *,
        features: tuple[str, ...] = ("command_ack",),
        heartbeat_seconds: float | None = None,
        step_seconds: float = 0.05,
        reconnect_base: float = 0.2,
        reconnect_cap: float = 10.0,
        record_frames: bool = True,
        seed: int | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.url = url
        self.node_id = node_id
        self.token = token
        self.features = features
        self.heartbeat_override = heartbeat_seconds
        self.heartbeat_seconds = heartbeat_seconds or 30.0
        self.reconnect_base = reconnect_base
        self.reconnect_cap = reconnect_cap
        self.record_frames = record_frames
        self.usage = NodeUsage()
        self.record = AgentRecord()
        self.connected = asyncio.Event()
        self.silent = False
        self._awake = asyncio.Event()  # cleared while silent: a hung agent does not reconnect
        self._awake.set()
        self._taking = asyncio.Event()  # cleared while held: commands wait, unanswered
        self._taking.set()
        self.on_command: Callable[[dict[str, Any]], None] | None = None
        self.runtime = SimulatedRuntime(
            self._send, step_seconds=step_seconds, seed=seed, data_dir=data_dir
        )
        # Each server's files live in <data_dir>/servers/<server uuid>, real files on disk.
        self.servers_dir = self.runtime.data_dir / "servers"
        self.files = AgentFiles(self.servers_dir, self._send, self._send_bytes)
        self.transfers = AgentTransfers(AgentDisk(self.runtime.data_dir), self._send)
        self._rng = random.Random(seed)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._started = time.monotonic()

    # --- running ---

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"agent-{self.node_id}")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        await self.transfers.close()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.runtime.idle()
        self.runtime.close()

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until stopped."""
        attempt = 0
        while not self._stopping:
            retry_after = 0.0
            try:
                retry_after = await self._connect_once()
            except (OSError, InvalidHandshake, InvalidURI, ConnectionClosed, TimeoutError) as exc:
                log.debug("agent connection failed", extra={"error": repr(exc)})
            self.connected.clear()
            if self._stopping:
                return
            attempt = 0 if self._was_long_session() else attempt + 1
            delay = reconnect_delay(
                attempt, base=self.reconnect_base, cap=self.reconnect_cap, rng=self._rng
            )
            await asyncio.sleep(max(delay, retry_after))
            await self._awake.wait()

    def _was_long_session(self) -> bool:
        return self.connected.is_set() and time.monotonic() - self._started > 10.0

    async def _connect_once(self) -> float:
        """One connection; returns a delay the backend asked for (lockout), else 0."""
        ping = max(self.heartbeat_seconds * 3, 5.0)
        async with connect(
            self.url, compression=None, ping_interval=ping, ping_timeout=ping, open_timeout=10
        ) as ws:
            self._ws = ws
            self.record.connects += 1
            await ws.send(
                json.dumps(
                    {
                        "type": "node_handshake",
                        "nodeId": self.node_id,
                        "token": self.token,
                        "features": list(self.features),
                        "agentVersion": AGENT_VERSION,
                    }
                )
            )
            first = json.loads(await ws.recv())
            if first.get("type") != "node_handshake_response":
                self.record.errors.append(first)
                await self._drain_close(ws)
                return float(first.get("retryAfterSeconds") or 0.0)
            self.record.handshakes += 1
            self.transfers.forget_all()
            if self.heartbeat_override is None:
                self.heartbeat_seconds = float(first.get("heartbeatIntervalSeconds", 30.0))
            self._started = time.monotonic()
            self.connected.set()
            beats = asyncio.create_task(self._heartbeats(ws))
            try:
                async for raw in ws:
                    if isinstance(raw, bytes):  # a chunk of a file body
                        await self.files.on_data(raw)
                    else:
                        await self._on_frame(json.loads(raw))
            finally:
                beats.cancel()
                self.files.close_all()
                self.record.closes.append((ws.close_code, ws.close_reason or ""))
        return 0.0

    async def _drain_close(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            await asyncio.wait_for(ws.recv(), 5)
        self.record.closes.append((ws.close_code, ws.close_reason or ""))

    async def _heartbeats(self, ws: ClientConnection) -> None:
        # The first report goes out at once so the node shows its usage straight away.
        while True:
            if not self.silent:
                await self._send({"type": "heartbeat"})
                await self._send(self.health_frame())
                for frame in self.runtime.stats_frames():
                    await self._send(frame)
            await asyncio.sleep(self.heartbeat_seconds)

    def health_frame(self) -> dict[str, Any]:
        u = self.usage
        return {
            "type": "health_report",
            "nodeId": self.node_id,
            "cpuPercent": u.cpu_percent,
            "memoryUsageMb": u.memory_used_mb,
            "memoryTotalMb": u.memory_total_mb,
            "diskUsageMb": u.disk_used_mb,
            "diskTotalMb": u.disk_total_mb,
            "containerCount": len(self.runtime.containers),
            "uptimeSeconds": int(time.monotonic() - self._started),
        }

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        await self._taking.wait()
        request_id = frame.get("requestId")
        if request_id:
            self.record.received_at[request_id] = time.time()  # comparable across processes
        if self.record_frames:
            self.record.received.append(frame)
        if frame.get("type") == "error":
            self.record.errors.append(frame)
            return
        if str(frame.get("type", "")).startswith("file_"):
            await self.files.on_frame(frame)
            return
        if self.on_command is not None:
            self.on_command(frame)
        if frame.get("type") in TRANSFER_FRAMES:
            await self.transfers.on_frame(frame)
            return
        try:
            self.runtime.accept(frame)
            ack: dict[str, Any] = {"type": "command_ack", "requestId": request_id, "success": True}
        except CommandRefused as refused:
            ack = {
                "type": "command_ack",
                "requestId": request_id,
                "success": False,
                "error": str(refused),
            }
        if request_id and "command_ack" in self.features:
            await self._send(ack)

    async def _send(self, frame: dict[str, Any] | str) -> None:
        ws = self._ws
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def _send_bytes(self, data: bytes) -> None:
        ws = self._ws
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(data)

    def server_dir(self, server_id: str) -> Path:
        """Where the agent keeps the files of `server_id`."""
        return self.files.disk(server_id).root

    # --- controls ---

    async def send_raw(self, frame: dict[str, Any] | str) -> None:
        """Send any frame, valid or not (for tests of the backend's validation)."""
        await self._send(frame)

    def go_silent(self) -> None:
        """Hang: no heartbeats or reports, the socket kept open (pings still answered),
        and no reconnection if the backend gives up on it."""
        self.silent = True
        self._awake.clear()

    def speak_again(self) -> None:
        self.silent = False
        self._awake.set()

    def hold(self) -> None:
        """A busy agent: commands that arrive wait (not taken, not acknowledged)."""
        self._taking.clear()

    def release(self) -> None:
        self._taking.set()

    def set_usage(self, **values: float) -> None:
        for name, value in values.items():
            setattr(self.usage, name, value)

    async def crash(self, server_id: str, exit_code: int = 1) -> None:
        await self.runtime.crash(server_id, exit_code)

    async def exit_cleanly(self, server_id: str) -> None:
        await self.runtime.exit_cleanly(server_id)

    async def print_lines(self, server_id: str, lines: list[str], stream: str = "stdout") -> None:
        await self.runtime.print_lines(server_id, lines, stream)

    async def drop_connection(self) -> None:
        """Close the socket from the agent's side; it reconnects as after any drop."""
        if self._ws is not None:
            await self._ws.close()

    def frames(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.record.received if f.get("type") == kind]
