"""Game sessions and panel servers: the account pool, pushes, pruned servers, console logs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx

from nodebyte_common import events
from nodebyte_devstack.config import PANEL_APP_KEY
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

Authorise = Callable[..., Awaitable[dict[str, Any]]]
AddServer = Callable[[], Awaitable[int]]
Publish = Callable[[events.Event], Awaitable[None]]


def data_of(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


async def environment(panel: httpx.AsyncClient, server_id: int) -> dict[str, Any]:
    response = await panel.get(
        f"/api/application/servers/{server_id}",
        headers={"Authorization": f"Bearer {PANEL_APP_KEY}", "Accept": "application/json"},
    )
    return response.json()["attributes"]["container"]["environment"]


async def new_session(hytale_auth: httpx.AsyncClient, **wanted: Any) -> dict[str, Any]:
    return data_of(await hytale_auth.post("/hytale/oauth/game-session/new", json=wanted), 201)


async def session(hytale_auth: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    return data_of(await hytale_auth.get(f"/hytale/sessions/{session_id}"))


def tick(job_name: str) -> events.JobFired:
    now = datetime.now(UTC)
    return events.JobFired(
        job_id=uuid4(), run_id=uuid4(), job_name=job_name, due_at=now, fired_at=now
    )


async def test_the_pool_spreads_sessions_and_moves_past_full_accounts(
    stack: Stack,
    gateway: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    hytale_account: Authorise,
) -> None:
    others = data_of(await hytale_auth.get("/hytale/accounts"))["accounts"]
    for other in others:  # left behind by an earlier failure: keep them out of the way
        await hytale_auth.patch(f"/hytale/accounts/{other['account_id']}", json={"in_pool": False})
    refused = await hytale_account(session_limit=0)  # Hytale refuses it any session
    b = await hytale_account(session_limit=2)
    c = await hytale_account(session_limit=2)
    placed = [(await new_session(hytale_auth))["account_id"] for _ in range(4)]
    assert placed == [b["account_id"], c["account_id"], b["account_id"], c["account_id"]]
    full = await hytale_auth.post("/hytale/oauth/game-session/new", json={})
    assert full.status_code == 403, full.text
    assert full.json()["code"] == "SESSION_LIMIT_EXCEEDED"
    assert full.json()["details"]["accounts_tried"] == 2

    pool = data_of(await gateway.get("/api/admin/hytale/accounts"))
    views = {a["account_id"]: a for a in pool["accounts"]}
    assert views[refused["account_id"]]["limit_reached_at"] is not None
    assert views[refused["account_id"]]["usable"] is False
    assert views[b["account_id"]]["active_sessions"] == 2
    assert views[b["account_id"]]["free_sessions"] == 98

    async def exported() -> bool:
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(stack.config.url("hytale-auth") + "/metrics")).text
        line = f'nodebyte_hytale_account_sessions{{account_id="{c["account_id"]}"}} 2.0'
        return line in metrics

    await eventually(exported, timeout=30, interval=1)
    for other in others:
        await hytale_auth.patch(f"/hytale/accounts/{other['account_id']}", json={"in_pool": True})


async def test_a_pruned_server_loses_its_session_upstream(
    hytale: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    hytale_account: Authorise,
    hytale_server: AddServer,
    publish: Publish,
) -> None:
    account = await hytale_account()
    server_id = await hytale_server()
    created = await new_session(hytale_auth, account_id=account["account_id"], server_id=server_id)
    await publish(events.ServerPruned(server_id=server_id, pruned_at=datetime.now(UTC)))

    async def ended() -> dict[str, Any] | None:
        view = await session(hytale_auth, created["session_id"])
        return view if view["status"] == "ended" else None

    view = await eventually(ended, timeout=20)
    assert view["end_reason"] == "server_pruned"
    upstream = await hytale.get("/_emulator/sessions", params={"account_id": account["account_id"]})
    assert [s["active"] for s in upstream.json()] == [False]


async def test_a_read_only_variable_is_pushed_through_the_application_api(
    panel: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    hytale_account: Authorise,
    hytale_server: AddServer,
) -> None:
    variables = (await panel.get("/_emulator/dataset")).json()["variables"]
    identity = next(
        v
        for v in variables
        if v["egg_id"] == 1 and v["env_variable"] == "HYTALE_SERVER_IDENTITY_TOKEN"
    )
    await panel.patch(f"/_emulator/variables/{identity['id']}", json={"user_editable": False})
    try:
        account = await hytale_account()
        server_id = await hytale_server()
        created = await new_session(
            hytale_auth, account_id=account["account_id"], server_id=server_id
        )

        async def pushed() -> bool:
            view = await session(hytale_auth, created["session_id"])
            return view["panel"]["pushed_generation"] == 1

        await eventually(pushed, timeout=20)
        env = await environment(panel, server_id)
        assert env["HYTALE_SERVER_SESSION_TOKEN"].endswith(created["session_token"][-4:])
        assert env["HYTALE_SERVER_IDENTITY_TOKEN"].endswith(created["identity_token"][-4:])
        assert env["HYTALE_PATCHLINE"] == "release"  # the rest of the environment is kept
        stats = (await panel.get("/_emulator/stats")).json()["paths"]
        assert stats.get(f"/api/application/servers/{server_id}/startup", 0) >= 1
    finally:
        await panel.patch(f"/_emulator/variables/{identity['id']}", json={"user_editable": True})


async def test_a_busy_server_gets_its_session_once_it_can_take_it(
    panel: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    hytale_account: Authorise,
    hytale_server: AddServer,
) -> None:
    account = await hytale_account()
    server_id = await hytale_server()
    await panel.patch(f"/_emulator/servers/{server_id}", json={"status": "installing"})
    created = await new_session(hytale_auth, account_id=account["account_id"], server_id=server_id)

    async def refused() -> bool:
        view = await session(hytale_auth, created["session_id"])
        return "409" in (view["panel"]["last_error"] or "")

    await eventually(refused, timeout=20)
    assert (await environment(panel, server_id))["HYTALE_SERVER_SESSION_TOKEN"] == ""
    await panel.patch(f"/_emulator/servers/{server_id}", json={"status": None})

    async def pushed() -> bool:
        view = await session(hytale_auth, created["session_id"])
        return view["panel"]["pushed_generation"] == 1 and view["panel"]["last_error"] is None

    await eventually(pushed, timeout=30)
    assert (await environment(panel, server_id))["HYTALE_SERVER_SESSION_TOKEN"] != ""


async def test_variable_names_are_chosen_per_egg(
    gateway: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    hytale_account: Authorise,
    hytale_server: AddServer,
) -> None:
    added = []
    for name in ("HYTALE_SESSION_TOKEN", "HYTALE_IDENTITY_TOKEN"):
        variable = {
            "egg_id": 1,
            "name": name,
            "env_variable": name,
            "default_value": "",
            "user_viewable": True,
            "user_editable": True,
            "rules": "nullable|string",
        }
        added.append((await panel.post("/_emulator/variables", json=variable)).json()["id"])
    names = {
        "session_variable": "HYTALE_SESSION_TOKEN",
        "identity_variable": "HYTALE_IDENTITY_TOKEN",
    }
    saved = await gateway.put("/api/admin/hytale/eggs/1", json=names)
    assert data_of(saved)["session_variable"] == "HYTALE_SESSION_TOKEN"
    bad = await gateway.put("/api/admin/hytale/eggs/1", json={**names, "session_variable": "a b"})
    assert bad.status_code == 400
    try:
        account = await hytale_account()
        server_id = await hytale_server()
        await new_session(hytale_auth, account_id=account["account_id"], server_id=server_id)

        async def pushed() -> dict[str, Any] | None:
            env = await environment(panel, server_id)
            both = env.get("HYTALE_SESSION_TOKEN") and env.get("HYTALE_IDENTITY_TOKEN")
            return env if both else None

        env = await eventually(pushed, timeout=20)
        assert env["HYTALE_SERVER_SESSION_TOKEN"] == ""  # the default names were left alone
    finally:
        await gateway.delete("/api/admin/hytale/eggs/1")
        for variable_id in added:
            await panel.delete(f"/_emulator/variables/{variable_id}")
    listed = data_of(await gateway.get("/api/admin/hytale/eggs"))
    assert listed["eggs"] == []
    assert listed["defaults"]["session_variable"] == "HYTALE_SERVER_SESSION_TOKEN"


async def test_console_logs_are_kept_once_each_and_read_back_in_pages(
    gateway: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    hytale_account: Authorise,
    hytale_server: AddServer,
    publish: Publish,
) -> None:
    account = await hytale_account()
    server_id = await hytale_server()
    await new_session(hytale_auth, account_id=account["account_id"], server_id=server_id)

    async def write(path: str, **change: str) -> None:
        response = await panel.post(f"/_emulator/files/{server_id}", json={"path": path, **change})
        assert response.status_code == 200, response.text

    async def collected(expected: int) -> list[str]:
        await publish(tick("hytale.server_logs"))

        async def counted() -> bool:
            response = await gateway.get(
                "/api/v1/hytale/server-logs/count", params={"server_id": server_id}
            )
            return data_of(response)["count"] == expected

        await eventually(counted, timeout=20, interval=0.2)
        response = await gateway.get(
            "/api/v1/hytale/server-logs", params={"server_id": server_id, "limit": 100}
        )
        return [entry["line"] for entry in data_of(response)]

    await write("/logs/latest.log", append="[INFO] one\n[INFO] two\n")
    assert await collected(2) == ["[INFO] two", "[INFO] one"]
    await write("/logs/latest.log", append="three\npart")
    assert (await collected(3))[0] == "three"  # the unfinished line waits
    await write("/logs/latest.log", append="ial\n")
    assert (await collected(4))[0] == "partial"
    await publish(tick("hytale.server_logs"))  # nothing new: nothing stored twice
    await asyncio.sleep(1.0)
    assert len(await collected(4)) == 4

    await write("/logs/latest.log", append="four\n")
    await asyncio.sleep(1.1)  # the panel dates files to the second
    await write("/logs/next.log", content="five\n")
    assert (await collected(6))[:2] == ["five", "four"]
    await write("/logs/next.log", content="six\n")  # rotated in place: shorter than before
    assert (await collected(7))[0] == "six"

    page = await gateway.get(
        "/api/v1/hytale/server-logs", params={"server_id": server_id, "limit": 2, "offset": 2}
    )
    assert [e["line"] for e in data_of(page)] == ["four", "partial"]
    assert page.json()["pagination"] == {"total": 7, "limit": 2, "offset": 2, "has_more": True}
    count = data_of(
        await gateway.get("/api/v1/hytale/server-logs/count", params={"server_id": server_id})
    )
    assert count["sync"]["file_name"] == "next.log"
    missing = await gateway.get("/api/v1/hytale/server-logs")
    assert missing.status_code == 400


async def test_the_daily_cleanup_expires_lapsed_sessions_and_drops_old_console_lines(
    hytale_auth: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    hytale_account: Authorise,
    hytale_server: AddServer,
    publish: Publish,
) -> None:
    account = await hytale_account()
    server_id = await hytale_server()
    created = await new_session(hytale_auth, account_id=account["account_id"], server_id=server_id)
    session_id = UUID(created["session_id"])
    # A session nobody could refresh for a while (its refresh keeps failing) and a line
    # older than the retention: moved into the past rather than waited for.
    await admin_conn.execute(
        """UPDATE hytale_auth.game_sessions
           SET expires_at = now() - interval '1 minute', refresh_at = now() + interval '1 hour'
           WHERE id = $1""",
        session_id,
    )
    await admin_conn.execute(
        """INSERT INTO hytale_auth.server_logs (server_id, file_name, generation, byte_offset,
               line, logged_at)
           VALUES ($1, 'old.log', 999, 0, 'ancient', now() - interval '31 days'),
                  ($1, 'old.log', 999, 10, 'recent', now() - interval '29 days')""",
        server_id,
    )
    await publish(tick("hytale.cleanup"))

    async def cleaned() -> bool:
        view = await session(hytale_auth, created["session_id"])
        lines = await admin_conn.fetch(
            "SELECT line FROM hytale_auth.server_logs WHERE server_id = $1", server_id
        )
        return view["status"] == "expired" and [r["line"] for r in lines] == ["recent"]

    await eventually(cleaned, timeout=20)
    assert (await session(hytale_auth, created["session_id"]))["end_reason"] == "expired"
