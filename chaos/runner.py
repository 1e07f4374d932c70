"""Run faults one after another on an isolated stack and tally each one's work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from chaos.faults import Fault
from chaos.tally import Tally
from chaos.workload import KINDS, Workload
from nodebyte_devstack.agent_harness import event_tap
from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.processes import Stack

WORK_SECONDS = 3.0  # of asking, per fault
FAULT_AFTER_SECONDS = 1.0  # into the work, the fault strikes
SETTLE_SECONDS = 60.0  # for the effects to arrive after the fault is over
TAPPED = ["sync.completed", "sync.failed", "server.command_failed"]


def isolated_stack(admin_dsn: str, amqp_url: str, log_dir: Path) -> Stack:
    return Stack(StackConfig.isolated(admin_dsn, amqp_url), log_dir)


async def run_faults(
    stack: Stack,
    faults: list[Fault],
    *,
    kinds: tuple[str, ...] = KINDS,
    report: Callable[[str], None] = print,
) -> list[Tally]:
    """Start `stack`, put each fault under work, tally it; stop and remove the stack after."""
    try:
        await asyncio.to_thread(stack.start_all, 90.0)
        config = stack.config
        async with event_tap(config.amqp_url, config.prefix, TAPPED) as tap:
            workload = Workload(stack, tap)
            try:
                await workload.prepare()
                tallies = []
                for fault in faults:
                    tally = await phase(workload, fault, kinds)
                    report(tally.line())
                    for refusal in tally.refusals:
                        report(f"  refused {refusal}")
                    tallies.append(tally)
                return tallies
            finally:
                await workload.aclose()
    finally:
        await asyncio.to_thread(stack.stop_all)
        await discard_stack(stack.config)


async def phase(workload: Workload, fault: Fault, kinds: tuple[str, ...] = KINDS) -> Tally:
    tally = Tally(fault.name)
    work = asyncio.create_task(workload.drive(tally, WORK_SECONDS, kinds=kinds))
    await asyncio.sleep(FAULT_AFTER_SECONDS)
    await fault.inject(workload.stack)
    healed = time.monotonic()
    tally.asked += fault.marks
    await work
    await settle(workload, tally)
    tally.recovery_s = max(0.0, time.monotonic() - healed)
    await asyncio.sleep(1.5)  # late duplicates show up in the count
    await workload.count(tally)
    await workload.discard_poison(tally)
    return tally


async def settle(workload: Workload, tally: Tally) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        await workload.count(tally)
        if tally.settled():
            return
        await asyncio.sleep(0.5)
