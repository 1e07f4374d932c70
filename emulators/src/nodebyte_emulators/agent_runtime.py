"""A simulated container runtime for the reference agent: state transitions, console, stats.

Each server is a container that moves through the reference's lifecycle in
small steps (`step_seconds`), prints console lines as it goes, reports usage
while running, and crashes when told to (or on its next start when armed).
Everything it reports goes through `emit`, the agent's send.

Its files are real: each server has a directory under `data_dir` (a temporary
one unless given), an install writes the template's config files into it
(confined to it like any file operation), backups are tar.gz archives of it
(`agent_archives`), restores replace its contents, and what is typed into the
console is kept as the container's stdin.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import agent_archives
from .agent_disk import FileRefused, ServerDisk

Emit = Callable[[dict[str, Any]], Awaitable[None]]


class CommandRefused(Exception):
    """The runtime cannot do what was asked in the container's current state."""


@dataclass
class Container:
    server_id: str
    state: str = "stopped"
    installed: bool = False
    crash_on_next_start: bool = False
    cpu: float = 0.0
    memory_mb: float = 0.0
    network_sent: int = 0
    network_received: int = 0
    disk_mb: float = 128.0
    console: list[str] = field(default_factory=list)
    # "ip:port->containerPort" the container was last created/started with
    bindings: list[str] = field(default_factory=list)
    stdin: list[str] = field(default_factory=list)  # console_input data, as it arrived


class SimulatedRuntime:
    def __init__(
        self,
        emit: Emit,
        *,
        step_seconds: float = 0.05,
        seed: int | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.emit = emit
        self.step = step_seconds
        self.containers: dict[str, Container] = {}
        self._random = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._owns_data_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="nodebyte-agent-"))

    def server_dir(self, server_id: str) -> Path:
        return self.data_dir / "servers" / server_id

    def backup_file(self, server_id: str, frame: dict[str, Any]) -> Path:
        """Where this agent keeps the archive a frame's `backupPath` names (by file name)."""
        name = PurePosixPath(str(frame.get("backupPath") or "")).name
        if not name.endswith(".tar.gz") or name.startswith("."):
            raise CommandRefused("backupPath does not name a .tar.gz archive")
        return self.data_dir / "backups" / server_id / name

    def close(self) -> None:
        """Remove the temporary data directory this runtime made for itself."""
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def container(self, server_id: str) -> Container:
        if server_id not in self.containers:
            self.containers[server_id] = Container(server_id)
        return self.containers[server_id]

    # --- commands from the backend ---

    def accept(self, frame: dict[str, Any]) -> None:
        """Check a command and start carrying it out; CommandRefused when it cannot be."""
        kind = frame.get("type")
        server_id = str(frame.get("serverUuid") or frame.get("serverId") or "")
        if not server_id:
            raise CommandRefused("the frame names no server")
        commands: dict[str, tuple[tuple[str, ...], Callable[..., Awaitable[None]]]] = {
            "install_server": (("stopped", "crashed"), self._install),
            "start_server": (("stopped", "crashed"), self._start),
            "stop_server": (("starting", "running"), self._stop),
            "restart_server": ((), self._restart),
            "kill_server": (("starting", "running", "stopping"), self._kill),
            "execute_command": (("starting", "running"), self._execute),
            "console_input": (("starting", "running"), self._stdin),
            "create_backup": ((), self._backup),
            "restore_backup": (("stopped", "crashed"), self._restore),
        }
        if kind == "delete_backup":  # at once: the acknowledgement means it is gone
            agent_archives.delete(self.backup_file(server_id, frame))
            return
        if kind not in commands:
            raise CommandRefused(f"unsupported command {kind!r}")
        states, work = commands[kind]
        c = self.container(server_id)
        if states and c.state not in states:
            raise CommandRefused(f"server is {c.state}")
        if kind == "restore_backup" and not self.backup_file(server_id, frame).is_file():
            raise CommandRefused("no such backup on this node")
        self._spawn(work(c, frame))

    async def idle(self) -> None:
        """Wait until every command in progress has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- on demand (tests, benchmarks) ---

    async def crash(self, server_id: str, exit_code: int = 1) -> None:
        c = self.container(server_id)
        await self._print(c, "stderr", f"Fatal error: simulated crash (exit code {exit_code})")
        await self._set(c, "crashed", exit_code=exit_code)

    async def exit_cleanly(self, server_id: str) -> None:
        """The game server stops by itself (exit code 0), as after an in-game /stop."""
        c = self.container(server_id)
        c.cpu = c.memory_mb = 0.0
        await self._print(c, "stdout", "[INFO] Stopping server")
        await self._set(c, "stopped", exit_code=0)

    def crash_on_next_start(self, server_id: str) -> None:
        self.container(server_id).crash_on_next_start = True

    async def print_lines(self, server_id: str, lines: list[str], stream: str = "stdout") -> None:
        c = self.container(server_id)
        for line in lines:
            await self._print(c, stream, line)

    def stats_frames(self) -> list[dict[str, Any]]:
        """resource_stats for every running container (wobbling usage)."""
        frames = []
        for c in self.containers.values():
            if c.state != "running":
                continue
            c.cpu = max(0.0, min(100.0, c.cpu + self._random.uniform(-5, 5)))
            c.network_sent += self._random.randint(1_000, 50_000)
            c.network_received += self._random.randint(1_000, 50_000)
            frames.append(
                {
                    "type": "resource_stats",
                    "serverUuid": c.server_id,
                    "cpuPercent": round(c.cpu, 1),
                    "memoryMb": round(c.memory_mb, 1),
                    "networkSent": c.network_sent,
                    "networkReceived": c.network_received,
                    "diskUsageMb": c.disk_mb,
                }
            )
        return frames

    def running_count(self) -> int:
        return sum(1 for c in self.containers.values() if c.state == "running")

    # --- the lifecycle ---

    async def _set(self, c: Container, state: str, *, exit_code: int | None = None) -> None:
        c.state = state
        frame: dict[str, Any] = {
            "type": "server_state_update",
            "serverId": c.server_id,
            "state": state,
        }
        if exit_code is not None:
            frame["exitCode"] = exit_code
        await self.emit(frame)

    async def _print(self, c: Container, stream: str, line: str) -> None:
        c.console.append(line)
        await self.emit(
            {
                "type": "console_output",
                "serverId": c.server_id,
                "stream": stream,
                "data": line + "\n",
            }
        )

    async def _bind(self, c: Container, frame: dict[str, Any] | None) -> None:
        """Take the frame's port bindings (allocations) and say what is published."""
        allocations = (frame or {}).get("allocations")
        if not isinstance(allocations, list):
            return
        c.bindings = [
            f"{a.get('ip')}:{a.get('port')}->{a.get('containerPort')}"
            for a in allocations
            if isinstance(a, dict)
        ]
        for binding in c.bindings:
            await self._print(c, "system", f"Publishing {binding}/tcp")

    async def _install(self, c: Container, frame: dict[str, Any]) -> None:
        image = (frame.get("template") or {}).get("dockerImage", "unknown")
        await self._set(c, "installing")
        await self._print(c, "system", f"Pulling image {image}")
        await asyncio.sleep(self.step)
        await self._bind(c, frame)
        for config in (frame.get("template") or {}).get("configFiles") or []:
            self._write_config(c, str(config.get("path", "")), str(config.get("content", "")))
            await self._print(c, "system", f"Wrote {config.get('path')}")
        await self._print(c, "system", "Container created")
        c.installed = True
        await self._set(c, "stopped")

    def _write_config(self, c: Container, path: str, content: str) -> None:
        """A config file in the server's directory; a path leaving it is not written."""
        try:
            ServerDisk(self.server_dir(c.server_id)).writable(path).write_text(content)
        except FileRefused:
            return

    async def _start(self, c: Container, frame: dict[str, Any] | None = None) -> None:
        await self._set(c, "starting")
        await self._bind(c, frame)
        await asyncio.sleep(self.step)
        if c.crash_on_next_start:
            c.crash_on_next_start = False
            await self.crash(c.server_id)
            return
        c.cpu, c.memory_mb = 20.0, 512.0
        await self._print(c, "stdout", "[INFO] Server started")
        await self._set(c, "running")

    async def _stop(self, c: Container, frame: dict[str, Any] | None = None) -> None:
        await self._set(c, "stopping")
        await asyncio.sleep(self.step)
        c.cpu = c.memory_mb = 0.0
        await self._print(c, "system", "Server stopped")
        await self._set(c, "stopped", exit_code=0)

    async def _restart(self, c: Container, frame: dict[str, Any]) -> None:
        if c.state in ("starting", "running"):
            await self._stop(c)
        await self._start(c, frame)

    async def _kill(self, c: Container, frame: dict[str, Any]) -> None:
        c.cpu = c.memory_mb = 0.0
        await self._print(c, "system", "Server killed")
        await self._set(c, "stopped", exit_code=137)

    async def _execute(self, c: Container, frame: dict[str, Any]) -> None:
        await self._print(c, "stdout", f"> {frame.get('command', '')}")

    async def _stdin(self, c: Container, frame: dict[str, Any]) -> None:
        data = str(frame.get("data", ""))
        c.stdin.append(data)
        await self._print(c, "stdout", f"> {data.rstrip(chr(10))}")  # the terminal's echo

    async def _backup(self, c: Container, frame: dict[str, Any]) -> None:
        name = str(frame.get("backupName", "backup"))
        report: dict[str, Any] = {
            "type": "backup_complete",
            "serverId": c.server_id,
            "backupId": frame.get("backupId"),
            "backupName": name,
            "backupPath": frame.get("backupPath"),
        }
        try:
            target = self.backup_file(c.server_id, frame)
            archive = await asyncio.to_thread(
                agent_archives.create, self.server_dir(c.server_id), target
            )
        except (OSError, CommandRefused) as exc:
            await self.emit({**report, "success": False, "error": str(exc)})
            return
        await self.emit(
            {
                **report,
                "sizeMb": round(archive.size_mb, 3),
                "sizeBytes": archive.size_bytes,
                "checksum": archive.checksum,
            }
        )

    async def _restore(self, c: Container, frame: dict[str, Any]) -> None:
        await self._set(c, "restoring")
        name = frame.get("backupName", "backup")
        try:
            archive = self.backup_file(c.server_id, frame)
            await asyncio.to_thread(agent_archives.restore, archive, self.server_dir(c.server_id))
            await self._print(c, "system", f"Backup {name} restored")
        except (OSError, CommandRefused, FileRefused) as exc:
            await self._print(c, "stderr", f"Restoring backup {name} failed: {exc}")
        await self._set(c, "stopped")
