"""Sessions kept alive unattended, refresh-token rotation across replicas, secrets kept secret."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from nodebyte_common import events
from nodebyte_devstack.config import PANEL_APP_KEY, free_port
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

Authorise = Callable[..., Awaitable[dict[str, Any]]]
AddServer = Callable[[], Awaitable[int]]
Publish = Callable[[events.Event], Awaitable[None]]


def tick() -> events.JobFired:
    now = datetime.now(UTC)
    return events.JobFired(
        job_id=uuid4(), run_id=uuid4(), job_name="hytale.refresh", due_at=now, fired_at=now
    )


async def panel_tokens(panel: httpx.AsyncClient, server_id: int) -> tuple[str, str]:
    response = await panel.get(
        f"/api/application/servers/{server_id}",
        headers={"Authorization": f"Bearer {PANEL_APP_KEY}", "Accept": "application/json"},
    )
    env = response.json()["attributes"]["container"]["environment"]
    return env["HYTALE_SERVER_SESSION_TOKEN"], env["HYTALE_SERVER_IDENTITY_TOKEN"]


async def upstream_sessions(hytale: httpx.AsyncClient, account_id: str) -> list[dict[str, Any]]:
    """The account's sessions at Hytale, oldest first (a refresh starts a successor)."""
    response = await hytale.get("/_emulator/sessions", params={"account_id": account_id})
    return list(response.json())


async def upstream_session(hytale: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    """The account's one current session at Hytale (the last of its refresh chain)."""
    current = [s for s in await upstream_sessions(hytale, account_id) if not s["superseded_by"]]
    assert len(current) == 1, current
    return current[0]


async def test_ticks_keep_a_short_lived_session_alive_and_push_each_token(
    gateway: httpx.AsyncClient,
    hytale: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    hytale_account: Authorise,
    hytale_server: AddServer,
    publish: Publish,
) -> None:
    await hytale.post("/_emulator/settings", json={"session_ttl": 8, "access_ttl": 8})
    account = await hytale_account()
    account_id = account["account_id"]
    server_id = await hytale_server()
    wanted = {"account_id": account_id, "server_id": server_id}
    created = await hytale_auth.post("/hytale/oauth/game-session/new", json=wanted)
    assert created.status_code == 201, created.text
    session_id = created.json()["data"]["session_id"]
    pushed: set[str] = set()
    cycles = 5
    deadline = asyncio.get_running_loop().time() + 90
    while (await upstream_session(hytale, account_id))["refreshes"] < cycles:
        assert asyncio.get_running_loop().time() < deadline, "the session was not kept alive"
        await publish(tick())
        token, _ = await panel_tokens(panel, server_id)
        if token:
            pushed.add(token)
        await asyncio.sleep(1.0)

    # Far past the first token's 8 s lifetime, the session is alive at Hytale and here.
    assert (await upstream_session(hytale, account_id))["active"] is True
    view = (await hytale_auth.get(f"/hytale/sessions/{session_id}")).json()["data"]
    assert view["status"] == "active"

    async def latest_pushed() -> bool:
        view = (await hytale_auth.get(f"/hytale/sessions/{session_id}")).json()["data"]
        panel_view = view["panel"]
        return panel_view["pushed_generation"] == panel_view["token_generation"]

    await eventually(latest_pushed, timeout=15)
    session_token, identity_token = await panel_tokens(panel, server_id)
    pushed.add(session_token)
    assert len(pushed) >= cycles  # each refresh's token reached the server
    for token, kind in ((session_token, "session"), (identity_token, "identity")):
        checked = await gateway.post(
            "/api/v1/hytale/tokens/validate", json={"token": token, "type": kind}
        )
        assert checked.status_code == 200, checked.text
    upstream_account = (await hytale.get(f"/_emulator/accounts/{account_id}")).json()
    assert (
        upstream_account["valid_refresh_tokens"] == 1
    )  # rotated on each access refresh, none lost


async def test_a_refresh_gives_back_the_session_it_superseded(
    gateway: httpx.AsyncClient,
    hytale: httpx.AsyncClient,
    hytale_account: Authorise,
    hytale_server: AddServer,
) -> None:
    """Hytale keeps a refreshed session's predecessor open until it is deleted: left
    there, each refresh would hold one more of the account's concurrent sessions."""
    account = await hytale_account(session_limit=2)
    account_id = account["account_id"]
    first_server, second_server = await hytale_server(), await hytale_server()
    new = {"account_id": account_id, "server_id": first_server}
    created = await gateway.post("/api/v1/hytale/oauth/game-session/new", json=new)
    assert created.status_code == 201, created.text
    ref = {"session_id": created.json()["data"]["session_id"]}
    for _ in range(2):
        refreshed = await gateway.post("/api/v1/hytale/oauth/game-session/refresh", json=ref)
        assert refreshed.status_code == 200, refreshed.text

    chain = await upstream_sessions(hytale, account_id)
    assert [(s["active"], s["refreshes"]) for s in chain] == [(False, 0), (False, 1), (True, 2)]
    for before, after in itertools.pairwise(chain):
        assert before["superseded_by"] == after["session_id"]
        assert before["deleted_at"] is not None  # deleted with its own token, not lapsed
    # The account's second slot is free for another server.
    other = {"account_id": account_id, "server_id": second_server}
    second = await gateway.post("/api/v1/hytale/oauth/game-session/new", json=other)
    assert second.status_code == 201, second.text
    assert len([s for s in await upstream_sessions(hytale, account_id) if s["active"]]) == 2


@pytest.fixture
async def second_replica(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """Another hytale-auth process on the same database and broker (stopped afterwards)."""
    port = free_port()
    env = {**os.environ, **stack.config.service_env("hytale-auth"), "PORT": str(port)}
    log = (stack.log_dir / "hytale-auth-replica.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nodebyte_hytale_auth",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(
            base_url=base + "/internal/v1",
            headers={"X-Service-Token": stack.config.service_token},
            timeout=30,
        ) as client:

            async def ready() -> bool:
                try:
                    return (await client.get(base + "/health/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=60, interval=0.2)
            yield client
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)
        log.close()


async def test_two_replicas_refreshing_at_once_keep_exactly_one_valid_refresh_token(
    hytale: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    second_replica: httpx.AsyncClient,
    hytale_account: Authorise,
    publish: Publish,
) -> None:
    account = await hytale_account()
    account_id = account["account_id"]
    body = {"account_id": account_id}
    replicas = [hytale_auth, second_replica] * 4
    answers = await asyncio.gather(*(r.post("/hytale/oauth/refresh", json=body) for r in replicas))
    assert [a.status_code for a in answers] == [200] * len(replicas), [a.text for a in answers]
    upstream = (await hytale.get(f"/_emulator/accounts/{account_id}")).json()
    assert upstream["valid_refresh_tokens"] == 1

    # Both replicas sweeping at once, with tokens due on every tick.
    await hytale.post("/_emulator/settings", json={"access_ttl": 4})
    await hytale_auth.post("/hytale/oauth/refresh", json=body)
    before = (await hytale.get("/_emulator/stats")).json()["paths"].get("/oauth2/token", 0)
    for _ in range(8):
        await asyncio.gather(publish(tick()), publish(tick()))
        await asyncio.sleep(0.5)

    async def renewed_by_sweeps() -> bool:
        stats = (await hytale.get("/_emulator/stats")).json()["paths"]
        return stats.get("/oauth2/token", 0) - before >= 1

    await eventually(renewed_by_sweeps, timeout=15)
    upstream = (await hytale.get(f"/_emulator/accounts/{account_id}")).json()
    assert upstream["valid_refresh_tokens"] == 1
    last = await second_replica.post("/hytale/oauth/refresh", json=body)
    assert last.status_code == 200, last.text  # the stored token is the live one


async def test_tokens_are_unreadable_in_the_database_logs_and_events(
    stack: Stack,
    hytale: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    hytale_account: Authorise,
    hytale_server: AddServer,
) -> None:
    account = await hytale_account()
    account_id = account["account_id"]
    server_id = await hytale_server()
    wanted = {"account_id": account_id, "server_id": server_id}
    session_id = (await hytale_auth.post("/hytale/oauth/game-session/new", json=wanted)).json()[
        "data"
    ]["session_id"]
    await hytale_auth.post("/hytale/oauth/game-session/refresh", json={"session_id": session_id})
    await hytale_auth.post("/hytale/oauth/refresh", json={"account_id": account_id})

    async def pushed() -> tuple[str, str] | None:
        tokens = await panel_tokens(panel, server_id)
        view = (await hytale_auth.get(f"/hytale/sessions/{session_id}")).json()["data"]
        return tokens if view["panel"]["pushed_generation"] == 2 else None

    session_token, identity_token = await eventually(pushed, timeout=15)
    live = (await hytale.get(f"/_emulator/accounts/{account_id}/tokens")).json()
    secrets = [session_token, identity_token, live["access_token"], *live["refresh_tokens"]]
    assert all(secrets)

    tables = await admin_conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'hytale_auth'"
    )
    dump = []
    for table in tables:
        rows = await admin_conn.fetch(
            f'SELECT row_to_json(t)::text AS row FROM hytale_auth."{table["tablename"]}" t'
        )
        dump += [r["row"] for r in rows]
    payloads = await admin_conn.fetch("SELECT payload FROM hytale_auth.outbox")
    dump += [bytes(r["payload"]).decode() for r in payloads]
    everything = "\n".join(dump)
    sealed = await admin_conn.fetchrow(
        "SELECT * FROM hytale_auth.accounts WHERE account_id = $1", UUID(account_id)
    )
    assert sealed["refresh_token_sealed"].startswith("nbs1.")
    logs = "\n".join(p.read_text(errors="replace") for p in stack.log_dir.glob("*.log"))
    for secret in secrets:
        assert secret not in everything
        assert secret[-24:] not in everything  # not even a recognisable piece
        assert secret not in logs
