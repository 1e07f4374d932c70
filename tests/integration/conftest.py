"""The whole stack, started as `make up` starts it, once per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.processes import Stack


@pytest.fixture(scope="session")
def stack(
    admin_dsn: str, amqp_url: str, run_tag: str, database: str, amqp_prefix: str, logs_dir: Path
) -> Iterator[Stack]:
    config = StackConfig.isolated(admin_dsn, amqp_url, run_tag)
    assert config.prefix == amqp_prefix  # the session fixtures clean these up
    running = Stack(config, logs_dir)
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.config.url("gateway"),
        headers={"X-API-Key": stack.config.api_key},
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
async def panel(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The panel emulator's control API; faults are cleared after each test."""
    async with httpx.AsyncClient(base_url=stack.config.url("pterodactyl"), timeout=10) as client:
        yield client
        await client.delete("/_emulator/faults")


@pytest.fixture
async def discord(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.config.url("discord"), timeout=10) as client:
        yield client
        await client.delete("/_emulator/faults")
