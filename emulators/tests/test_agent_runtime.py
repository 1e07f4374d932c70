"""The reference agent's simulated runtime and its reconnect delays."""

from __future__ import annotations

import random
from typing import Any

import pytest

from nodebyte_emulators.agent import reconnect_delay
from nodebyte_emulators.agent_runtime import CommandRefused, SimulatedRuntime

SERVER = "8fec71a3-9d19-45f7-8362-900674cde45c"


class Sink:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def __call__(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)

    def states(self) -> list[str]:
        return [f["state"] for f in self.frames if f["type"] == "server_state_update"]


async def test_commands_walk_the_lifecycle() -> None:
    sink = Sink()
    runtime = SimulatedRuntime(sink, step_seconds=0.001)
    for kind in (
        "install_server",
        "start_server",
        "stop_server",
        "start_server",
        "restart_server",
        "kill_server",
    ):
        runtime.accept({"type": kind, "serverUuid": SERVER, "template": {"dockerImage": "img"}})
        await runtime.idle()
    assert sink.states() == [
        "installing",
        "stopped",
        "starting",
        "running",
        "stopping",
        "stopped",
        "starting",
        "running",
        "stopping",
        "stopped",
        "starting",
        "running",
        "stopped",
    ]
    assert any(f.get("data") == "Pulling image img\n" for f in sink.frames)


async def test_commands_out_of_turn_are_refused() -> None:
    runtime = SimulatedRuntime(Sink(), step_seconds=0.001)
    with pytest.raises(CommandRefused):
        runtime.accept({"type": "stop_server", "serverId": SERVER})
    with pytest.raises(CommandRefused):
        runtime.accept({"type": "execute_command", "serverId": SERVER, "command": "x"})
    with pytest.raises(CommandRefused):
        runtime.accept({"type": "launch_rockets", "serverId": SERVER})
    with pytest.raises(CommandRefused):
        runtime.accept({"type": "start_server"})


async def test_crashes_on_demand_and_on_next_start() -> None:
    sink = Sink()
    runtime = SimulatedRuntime(sink, step_seconds=0.001)
    runtime.accept({"type": "start_server", "serverId": SERVER})
    await runtime.idle()
    await runtime.crash(SERVER, exit_code=9)
    runtime.crash_on_next_start(SERVER)
    runtime.accept({"type": "start_server", "serverId": SERVER})
    await runtime.idle()
    assert sink.states() == ["starting", "running", "crashed", "starting", "crashed"]
    crash = next(f for f in sink.frames if f.get("state") == "crashed")
    assert crash["exitCode"] == 9


async def test_stats_only_for_running_servers_and_backups_report_back() -> None:
    sink = Sink()
    runtime = SimulatedRuntime(sink, step_seconds=0.001, seed=1)
    assert runtime.stats_frames() == []
    runtime.accept({"type": "start_server", "serverId": SERVER})
    await runtime.idle()
    (stats,) = runtime.stats_frames()
    assert stats["serverUuid"] == SERVER
    assert 0 <= stats["cpuPercent"] <= 100
    runtime.accept(
        {
            "type": "create_backup",
            "serverId": SERVER,
            "backupName": "b1",
            "backupId": "id-1",
            "backupPath": "/b/b1.tar.gz",
        }
    )
    await runtime.idle()
    backup = sink.frames[-1]
    assert (backup["type"], backup["backupName"], backup["backupId"]) == (
        "backup_complete",
        "b1",
        "id-1",
    )
    assert backup["checksum"].startswith("sha256:")


def test_reconnect_delays_grow_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    delays = [reconnect_delay(n, base=0.5, cap=8.0, rng=rng) for n in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not lockstep
