"""The whole stack, started as `make up` starts it, once per test session."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pymysql
import pytest

from nodebyte_common import events
from nodebyte_common.bootstrap import bootstrap
from nodebyte_devstack.accounts import Mailbox, SignedInUser, create_signed_in_user
from nodebyte_devstack.agent_harness import unique
from nodebyte_devstack.cleanup import discard_topology, drop_database
from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.event_tap import EventTap
from nodebyte_devstack.mariadb import MARIADB_HOST, MARIADB_PORT, MariaDbAccounts, mariadb
from nodebyte_devstack.pgbouncer import PgBouncer
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.publishing import publish_event
from nodebyte_devstack.sync_runs import SMALLEST_PAGE_SIZE
from nodebyte_emulators.agent import SimulatedAgent

T = TypeVar("T")


def aside(work: Coroutine[object, object, T]) -> T:
    """Run `work` on a loop of its own thread: the tests' loop is left as it is."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result()


def check_tap(tap: EventTap, when: str) -> None:
    problems = aside(tap.drain())
    if problems:
        listed = "\n  ".join(problems[:20])
        pytest.fail(f"{when}: a service published events the catalogue refuses:\n  {listed}")


@pytest.fixture(scope="session")
def event_tap(amqp_url: str, amqp_prefix: str) -> Iterator[EventTap]:
    """Every event the shared stack's services publish, checked after each test that uses
    the stack (`published_events_match_the_catalogue`)."""
    tap = EventTap(amqp_url, amqp_prefix)
    aside(tap.open())
    yield tap
    try:
        check_tap(tap, "at the end of the session")
    finally:
        aside(tap.close())


@pytest.fixture(autouse=True)
def published_events_match_the_catalogue(request: pytest.FixtureRequest) -> Iterator[None]:
    """Producer-side validation: what the stack published during a test decodes strictly
    into the catalogue, from a service that declares it (`nodebyte_devstack.event_tap`)."""
    uses_stack = "stack" in request.fixturenames
    tap = request.getfixturevalue("event_tap") if uses_stack else None
    yield
    if tap is not None:
        check_tap(tap, request.node.nodeid)


@pytest.fixture(scope="session")
def stack(
    admin_dsn: str,
    amqp_url: str,
    run_tag: str,
    database: str,
    amqp_prefix: str,
    logs_dir: Path,
    pgbouncer: PgBouncer | None,
    event_tap: EventTap,
) -> Iterator[Stack]:
    config = StackConfig.isolated(admin_dsn, amqp_url, run_tag)
    # `make up` announces the reference's 30 s heartbeat; these tests watch nodes go
    # offline (3 silent intervals) and so announce a short one.
    config.extra_env["node-agent-gateway"] = {"AGENT_HEARTBEAT_INTERVAL_SECONDS": "2"}
    if pgbouncer is not None:
        config.pooler_dsn = pgbouncer.through(database)
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
        headers={"X-API-Key": stack.config.admin_api_key},
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
async def agents() -> AsyncIterator[list[SimulatedAgent]]:
    """The reference agents a test connects (`agent_harness.connect_agent`), stopped after."""
    started: list[SimulatedAgent] = []
    yield started
    await asyncio.gather(*(agent.stop() for agent in started))


@pytest.fixture
async def panel(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The panel emulator's control API; faults are cleared after each test."""
    async with httpx.AsyncClient(base_url=stack.config.url("pterodactyl"), timeout=10) as client:
        yield client
        await client.delete("/_emulator/faults")


@pytest.fixture
async def fresh_panel(panel: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The panel emulator's generated dataset, restored after the test's mutations."""
    await panel.post("/_emulator/reset")
    yield panel
    await panel.delete("/_emulator/faults")
    await panel.post("/_emulator/reset")


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
            stack.config.admin_api_key,
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
async def hytale(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The Hytale emulator's control API; settings, injected errors and faults reset after."""
    async with httpx.AsyncClient(base_url=stack.config.url("hytale"), timeout=10) as client:
        yield client
        await client.delete("/_emulator/faults")
        await client.delete("/_emulator/errors")
        await client.delete("/_emulator/settings")


@pytest.fixture
async def hytale_auth(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """hytale-auth's internal API, called as the gateway calls it (service token)."""
    async with httpx.AsyncClient(
        base_url=stack.config.url("hytale-auth") + "/internal/v1",
        headers={"X-Service-Token": stack.config.service_token},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
def mailbox(admin_conn: asyncpg.Connection, stack: Stack) -> Mailbox:
    """The account emails: as queued in the gateway's outbox and as delivered to the mail sink."""
    return Mailbox(admin_conn, stack.config.encryption_keys, stack.config.url("mail"))


@pytest.fixture
async def hytale_account(
    hytale: httpx.AsyncClient, hytale_auth: httpx.AsyncClient
) -> AsyncIterator[Callable[..., Awaitable[dict[str, Any]]]]:
    """Authorise a new emulator account through the device flow; removed after the test."""
    made: list[str] = []

    async def authorise(profiles: int = 1, session_limit: int | None = None) -> dict[str, Any]:
        spec = {"profiles": profiles, "session_limit": session_limit}
        account = (await hytale.post("/_emulator/accounts", json=spec)).json()
        flow = (await hytale_auth.post("/hytale/oauth/device-code", json={})).json()["data"]
        approve = {"account_id": account["account_id"]}
        await hytale.post(f"/_emulator/device-codes/{flow['user_code']}/approve", json=approve)
        poll = await hytale_auth.post(
            "/hytale/oauth/token", json={"device_code": flow["device_code"]}
        )
        assert poll.status_code == 200, poll.text
        made.append(account["account_id"])
        return account

    yield authorise
    for account_id in made:
        await hytale_auth.delete(f"/hytale/accounts/{account_id}")


@pytest.fixture
async def hytale_server(panel: httpx.AsyncClient) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """Add a running server of the panel's Hytale egg (egg 1); removed afterwards."""
    made: list[int] = []

    async def add() -> int:
        response = await panel.post(
            "/_emulator/servers", json={"egg": 1, "status": None, "name": "hytale-test"}
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        return made[-1]

    yield add
    for server_id in made:
        await panel.delete(f"/_emulator/servers/{server_id}")


@pytest.fixture
def publish(stack: Stack) -> Callable[[events.Event], Awaitable[None]]:
    """Publish an event on the stack's exchange, as another service's relay would."""

    async def send(event: events.Event) -> None:
        await publish_event(stack.config, event)

    return send


# --- MariaDB as a database host (nodebyte_devstack.mariadb) --------------------


@pytest.fixture(scope="module")
async def root() -> AsyncIterator[Any]:
    """MariaDB as root; unreachable is a failure, never a skip."""
    try:
        conn = await mariadb()
    except (OSError, pymysql.MySQLError) as exc:
        pytest.fail(
            f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT} (root, no password) is needed: {exc}"
        )
    yield conn
    conn.close()


@pytest.fixture
async def accounts(root: Any) -> AsyncIterator[MariaDbAccounts]:
    """MariaDB accounts and the servers' databases made by the test; dropped after."""
    made = MariaDbAccounts(root)
    yield made
    await made.drop_all()


@pytest.fixture
async def db_host(
    gateway: httpx.AsyncClient, accounts: MariaDbAccounts
) -> AsyncIterator[dict[str, Any]]:
    """A database host registered through the API with an admin account of its own."""
    user, password = await accounts.admin()
    body = {
        "name": unique("mariadb"),
        "host": MARIADB_HOST,
        "port": MARIADB_PORT,
        "username": user,
        "password": password,
    }
    response = await gateway.post("/api/admin/database-hosts", json=body)
    assert response.status_code == 201, response.text
    yield {**response.json()["data"], "adminPassword": password}
    await gateway.delete(f"/api/admin/database-hosts/{response.json()['data']['id']}")


@pytest.fixture(scope="module")
def own_stack(
    admin_dsn: str, amqp_url: str, logs_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    """A whole stack of the module's own (database, broker prefix, ports): for tests whose
    administrator writes (fuzzed settings, jobs, users) would change what the shared
    stack's other tests rely on."""
    tag = "own" + secrets.token_hex(3)
    config = StackConfig.isolated(admin_dsn, amqp_url, tag)
    asyncio.run(bootstrap(admin_dsn, config.database))
    running = Stack(config, logs_dir / tag)
    tap = EventTap(amqp_url, config.prefix)
    aside(tap.open())
    try:
        running.start_all()
        yield running
        check_tap(tap, f"the stack of {request.node.nodeid}")
    finally:
        running.stop_all()
        aside(tap.close())
        asyncio.run(drop_database(admin_dsn, config.database))
        asyncio.run(discard_topology(amqp_url, config.prefix))


@pytest.fixture
async def small_pages(gateway: httpx.AsyncClient) -> AsyncIterator[None]:
    """The sync asks the panel for the smallest pages its settings take, for this test."""
    before = (await gateway.get("/api/admin/sync/settings")).json()["data"]["pageSize"]
    size = {"pageSize": SMALLEST_PAGE_SIZE}
    changed = await gateway.post("/api/admin/sync/settings", json=size)
    assert changed.status_code == 200, changed.text
    yield
    await gateway.post("/api/admin/sync/settings", json={"pageSize": before})
