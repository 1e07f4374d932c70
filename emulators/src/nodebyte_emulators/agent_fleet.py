"""Many reference agents in one process, e.g. a node fleet for a benchmark or a demo."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .agent import SimulatedAgent


class AgentFleet:
    def __init__(
        self, url: str, credentials: Iterable[tuple[str, str]], **agent_options: Any
    ) -> None:
        self.agents = [
            SimulatedAgent(url, node_id, token, seed=n, **agent_options)
            for n, (node_id, token) in enumerate(credentials)
        ]

    async def start(self, per_second: float = 0.0) -> None:
        """Start every agent, at most `per_second` a second (0: all at once)."""
        for agent in self.agents:
            agent.start()
            if per_second > 0:
                await asyncio.sleep(1.0 / per_second)

    async def wait_connected(self, timeout: float) -> int:
        """Wait until all are connected or `timeout` passes; return how many are."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if self.connected() == len(self.agents):
                break
            await asyncio.sleep(0.2)
        return self.connected()

    def connected(self) -> int:
        return sum(1 for agent in self.agents if agent.connected.is_set())

    async def stop(self) -> None:
        await asyncio.gather(*(agent.stop() for agent in self.agents))
