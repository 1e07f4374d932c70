"""The whole stack, started as `make up` starts it, once per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from nodebyte_devstack.accounts import OutboxMailbox, SignedInUser, create_signed_in_user
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


# --- users and their tokens (nodebyte_devstack.accounts) ----------------------
# A fresh user per test, created through the admin API with the stack's key and
# signed in through /api/v1/auth/login; tokens are minted per test, so a long
# session never outlives an access token.


@pytest.fixture
async def user_factory(stack: Stack) -> Callable[..., Awaitable[SignedInUser]]:
    """`await user_factory(roles=["ADMINISTRATOR"])` → a signed-in user."""

    async def make(roles: list[str] | None = None, email: str | None = None) -> SignedInUser:
        return await create_signed_in_user(
            stack.config.url("gateway"),
            stack.config.api_key,
            roles=roles or ["MEMBER"],
            email=email,
        )

    return make


@pytest.fixture
async def admin_user(user_factory: Callable[..., Awaitable[SignedInUser]]) -> SignedInUser:
    """A SUPER_ADMIN (every permission), signed in."""
    return await user_factory(["SUPER_ADMIN"])


@pytest.fixture
async def member_user(user_factory: Callable[..., Awaitable[SignedInUser]]) -> SignedInUser:
    """A MEMBER (no permissions, only their own account), signed in."""
    return await user_factory(["MEMBER"])


@pytest.fixture
async def anonymous(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway without any credentials."""
    async with httpx.AsyncClient(base_url=stack.config.url("gateway"), timeout=20) as client:
        yield client


@pytest.fixture
def mailbox(admin_conn: asyncpg.Connection, stack: Stack) -> OutboxMailbox:
    """The account emails queued through the gateway's outbox."""
    return OutboxMailbox(admin_conn, stack.config.encryption_keys)
