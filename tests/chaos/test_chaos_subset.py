"""A short `make chaos` inside `make test`: one kill, one connection fault, one replica,
each under steady mixed work on a stack of its own, with nothing lost, doubled or failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.faults import amqp_close, second_replicas, sigkill
from chaos.runner import isolated_stack, run_faults
from chaos.tally import summary, totals
from chaos.workload import KINDS

WORK = KINDS


@pytest.mark.timeout(300)
async def test_a_kill_a_closed_connection_and_a_replica_lose_and_double_nothing(
    admin_dsn: str, amqp_url: str, tmp_path: Path
) -> None:
    faults = [sigkill("sync"), amqp_close("notifier"), second_replicas(("node-agent-gateway",))]
    lines: list[str] = []
    stack = isolated_stack(admin_dsn, amqp_url, tmp_path)
    tallies = await run_faults(stack, faults, kinds=WORK, report=lines.append)
    report = "\n".join([*lines, summary(tallies)])
    assert [t.fault for t in tallies] == [f.name for f in faults], report
    for tally in tallies:
        kinds = {marker.split(":", 1)[0] for marker in tally.asked}
        assert kinds == set(WORK), report
    assert totals(tallies) == (0, 0, 0), report
