"""The sync service against the panel emulator: a complete, resumable mirror."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from nodebyte_devstack.processes import Stack
from nodebyte_devstack.sync_runs import run_sync, wait_for
from nodebyte_devstack.waiting import eventually


def _norm(value: Any) -> Any:
    """Panel values and mirror values in one comparable form."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return value.replace(".000000Z", "+00:00").replace("Z", "+00:00")[:19]
    if hasattr(value, "isoformat"):
        return value.isoformat()[:19]
    if hasattr(value, "hex") and not isinstance(value, bytes | int | float):
        return str(value)
    return value


async def mirror(admin: asyncpg.Connection, table: str, columns: str) -> list[tuple]:
    rows = await admin.fetch(f"SELECT {columns} FROM sync.{table} ORDER BY 1")
    return [tuple(_norm(v) for v in r) for r in rows]


def panel_rows(items: list[dict], *keys: str) -> list[tuple]:
    return sorted(tuple(_norm(item.get(k)) for k in keys) for item in items)


async def assert_mirror_matches(admin: asyncpg.Connection, dataset: dict[str, Any]) -> None:
    checks = [
        (
            "locations",
            "id, short, long, created_at",
            dataset["locations"],
            ("id", "short", "long", "created_at"),
        ),
        (
            "nodes",
            "id, uuid, name, location_id, fqdn, maintenance_mode, memory, disk",
            dataset["nodes"],
            ("id", "uuid", "name", "location_id", "fqdn", "maintenance_mode", "memory", "disk"),
        ),
        (
            "allocations",
            "id, node_id, ip, port, assigned, server_id",
            dataset["allocations"],
            ("id", "node_id", "ip", "port", "assigned", "server_id"),
        ),
        ("nests", "id, uuid, name", dataset["nests"], ("id", "uuid", "name")),
        (
            "eggs",
            "id, nest_id, name, docker_image, startup",
            dataset["eggs"],
            ("id", "nest", "name", "docker_image", "startup"),
        ),
        (
            "egg_variables",
            "id, egg_id, env_variable, default_value, user_editable, rules",
            dataset["variables"],
            ("id", "egg_id", "env_variable", "default_value", "user_editable", "rules"),
        ),
        (
            "servers",
            "id, uuid, identifier, name, status, suspended, owner_id, node_id, "
            "allocation_id, egg_id",
            dataset["servers"],
            (
                "id",
                "uuid",
                "identifier",
                "name",
                "status",
                "suspended",
                "user",
                "node",
                "allocation",
                "egg",
            ),
        ),
        (
            "server_databases",
            "id, server_id, database, username, max_connections",
            dataset["databases"],
            ("id", "server", "database", "username", "max_connections"),
        ),
        (
            "panel_users",
            "id, uuid, username, email, root_admin",
            dataset["users"],
            ("id", "uuid", "username", "email", "root_admin"),
        ),
    ]
    for table, columns, items, keys in checks:
        assert await mirror(admin, table, columns) == panel_rows(items, *keys), table
    servers = await admin.fetch("SELECT id, limits, container FROM sync.servers ORDER BY id")
    for row, item in zip(servers, sorted(dataset["servers"], key=lambda s: s["id"]), strict=True):
        assert json.loads(row["limits"]) == item["limits"]
        container = json.loads(row["container"])
        assert container["environment"] == item["container"]["environment"]
    await _assert_subusers(admin, dataset)


async def _assert_subusers(admin: asyncpg.Connection, dataset: dict[str, Any]) -> None:
    users = {u["id"]: u for u in dataset["users"]}
    expected = {(s["server_id"], users[s["user_id"]]["uuid"], False) for s in dataset["subusers"]}
    expected |= {(s["id"], users[s["user"]]["uuid"], True) for s in dataset["servers"]}
    rows = await admin.fetch(
        "SELECT server_id, user_uuid::text, is_owner FROM sync.server_subusers"
    )
    assert {tuple(r) for r in rows} == expected


async def test_full_sync_mirrors_every_entity_and_relation(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    done = await run_sync(gateway)
    dataset = (await fresh_panel.get("/_emulator/dataset")).json()
    await assert_mirror_matches(admin_conn, dataset)
    assert done["metadata"]["percentage"] == 100.0
    assert done["itemsSynced"] == done["itemsTotal"]


async def test_unchanged_resync_writes_no_row(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    await run_sync(gateway)
    before = await admin_conn.fetchval("SELECT max(synced_at) FROM sync.servers")
    again = await run_sync(gateway)
    assert again["metadata"]["rowsWritten"] == 0
    assert await admin_conn.fetchval("SELECT max(synced_at) FROM sync.servers") == before


async def test_one_changed_item_on_a_full_page_writes_exactly_one_row(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    """The page changed, so it is written; of its rows only the changed one is."""
    await run_sync(gateway)
    page = (await fresh_panel.get("/_emulator/dataset")).json()["users"]
    assert len(page) > 10
    await fresh_panel.patch("/_emulator/users/2", json={"email": "one-change@nodebyte.test"})
    again = await run_sync(gateway, "users")
    assert again["metadata"]["rowsWritten"] == 1
    assert await admin_conn.fetchval("SELECT email FROM sync.panel_users WHERE id = 2") == (
        "one-change@nodebyte.test"
    )


async def test_partial_syncs_touch_only_their_entities(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    await run_sync(gateway)
    await fresh_panel.patch("/_emulator/locations/1", json={"long": "Renamed location"})
    await fresh_panel.patch("/_emulator/users/2", json={"email": "renamed@nodebyte.test"})
    await run_sync(gateway, "locations")
    assert await admin_conn.fetchval("SELECT long FROM sync.locations WHERE id = 1") == (
        "Renamed location"
    )
    assert await admin_conn.fetchval("SELECT email FROM sync.panel_users WHERE id = 2") != (
        "renamed@nodebyte.test"
    )
    await run_sync(gateway, "users")
    assert await admin_conn.fetchval("SELECT email FROM sync.panel_users WHERE id = 2") == (
        "renamed@nodebyte.test"
    )


async def test_things_deleted_on_the_panel_are_pruned(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    await run_sync(gateway)
    for kind, item_id in [
        ("servers", 3),
        ("nodes", 5),
        ("users", 25),
        ("eggs", 10),
        ("locations", 3),
    ]:
        response = await fresh_panel.delete(f"/_emulator/{kind}/{item_id}")
        assert response.status_code in (200, 204), response.text
    # A server created outside the panel is not the sync's to prune.
    await admin_conn.execute(
        """INSERT INTO sync.servers (id, uuid, identifier, name, panel_type)
           VALUES (999999, gen_random_uuid(), 'local001', 'local server', 'local')"""
    )
    await run_sync(gateway)
    dataset = (await fresh_panel.get("/_emulator/dataset")).json()
    survivor = await admin_conn.fetchval("SELECT name FROM sync.servers WHERE id = 999999")
    assert survivor == "local server"  # outside the prune's scope
    await admin_conn.execute("DELETE FROM sync.servers WHERE id = 999999")
    await assert_mirror_matches(admin_conn, dataset)


async def test_pages_back_as_they_were_after_a_prune_are_written_again(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    """An unchanged page is skipped only while the mirror still holds what it gave."""
    await run_sync(gateway)
    for kind, item_id in [("nodes", 5), ("servers", 3), ("users", 25)]:
        response = await fresh_panel.delete(f"/_emulator/{kind}/{item_id}")
        assert response.status_code in (200, 204), response.text
    await run_sync(gateway)
    await fresh_panel.post("/_emulator/reset")  # the first panel again, page for page
    again = await run_sync(gateway)
    assert again["metadata"]["rowsWritten"] > 0
    dataset = (await fresh_panel.get("/_emulator/dataset")).json()
    await assert_mirror_matches(admin_conn, dataset)


async def test_panel_throttling_errors_and_timeouts_mid_sync_still_complete(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    await fresh_panel.post("/_emulator/faults", json={"rate_limit_next": 2, "retry_after": 1})
    await run_sync(gateway)
    await fresh_panel.post("/_emulator/faults", json={"error_next": 3, "error_status": 503})
    await run_sync(gateway)
    await fresh_panel.post("/_emulator/faults", json={"hang_next": 1, "hang_seconds": 5})
    await run_sync(gateway, timeout=90)
    dataset = (await fresh_panel.get("/_emulator/dataset")).json()
    await assert_mirror_matches(admin_conn, dataset)


async def test_cancel_mid_sync_stops_within_a_page(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, discord: httpx.AsyncClient
) -> None:
    await fresh_panel.post("/_emulator/faults", json={"latency_ms": 400})
    response = await gateway.post("/api/v1/sync/full", json={})
    log_id = response.json()["data"]["sync_log_id"]

    async def running() -> bool:
        data = (await gateway.get(f"/api/v1/sync/status/{log_id}")).json()["data"]
        return data["status"] == "RUNNING" and data["itemsSynced"] > 0

    await eventually(running, timeout=30)
    cancelled = await gateway.post(f"/api/v1/sync/cancel/{log_id}")
    assert cancelled.status_code == 202, cancelled.text
    done = await wait_for(gateway, log_id, "CANCELLED", timeout=30)
    assert done["metadata"]["step"]
    assert 0 < done["itemsSynced"] < done["itemsTotal"] or done["metadata"]["step"] != "subusers"
    again = await gateway.post(f"/api/v1/sync/cancel/{log_id}")
    assert again.status_code == 409

    async def warned() -> bool:
        messages = (await discord.get("/_emulator/messages")).json()
        return any(
            log_id in json.dumps(m["body"]) and "cancelled" in json.dumps(m["body"])
            for m in messages
        )

    await eventually(warned, timeout=15)


async def test_concurrent_requests_never_interleave(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    await fresh_panel.post("/_emulator/faults", json={"latency_ms": 30})
    first, second = await asyncio.gather(
        gateway.post("/api/v1/sync/full", json={}), gateway.post("/api/v1/sync/full", json={})
    )
    ids = [first.json()["data"]["sync_log_id"], second.json()["data"]["sync_log_id"]]
    for log_id in ids:
        await wait_for(gateway, log_id, "COMPLETED", timeout=90)
    spans = await admin_conn.fetch(
        "SELECT started_at, completed_at FROM sync.sync_logs WHERE id = ANY($1::uuid[]) "
        "ORDER BY started_at",
        ids,
    )
    assert spans[0]["completed_at"] <= spans[1]["started_at"]


async def test_logs_list_filters_and_pages(gateway: httpx.AsyncClient, fresh_panel) -> None:
    await run_sync(gateway, "locations")
    response = await gateway.get("/api/v1/sync/logs", params={"limit": 2, "type": "locations"})
    body = response.json()
    assert response.status_code == 200
    assert 1 <= len(body["data"]) <= 2
    assert all(log["type"] == "locations" for log in body["data"])
    assert body["pagination"]["limit"] == 2
    bad = await gateway.get("/api/v1/sync/logs", params={"limit": 5000})
    assert bad.status_code == 400
    assert bad.json()["success"] is False


async def test_public_stats_count_the_mirror(
    stack: Stack, gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient
) -> None:
    await run_sync(gateway)
    dataset = (await fresh_panel.get("/_emulator/dataset")).json()
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as anonymous:
        for path in ("/api/stats", "/api/panel/counts"):
            data = (await anonymous.get(path)).json()["data"]
            assert data["totalServers"] == len(dataset["servers"])
            assert data["totalUsers"] == len(dataset["users"])
            assert data["totalAllocations"] == len(dataset["allocations"])
            owners = {s["user"] for s in dataset["servers"] if not s["suspended"]}
            assert data["activeUsers"] == len(owners)


async def test_admin_views(gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient) -> None:
    await run_sync(gateway)
    state = (await gateway.get("/api/admin/sync")).json()["data"]
    assert state["lastSync"]["status"] == "COMPLETED"
    assert state["panel"]["circuit"]["state"] == "closed"
    servers = (
        await gateway.get(
            "/api/admin/servers", params={"pageSize": 5, "sort": "name", "order": "desc"}
        )
    ).json()
    names = [s["name"] for s in servers["data"]]
    assert names == sorted(names, key=str.lower, reverse=True)
    assert servers["pagination"]["pageSize"] == 5
    live = (await gateway.get("/api/admin/panel/nodes")).json()
    assert live["success"] is True
    assert live["pagination"]["total"] == len(
        (await fresh_panel.get("/_emulator/dataset")).json()["nodes"]
    )
    for path in (
        "/api/v1/stats/overview",
        "/api/v1/stats/servers",
        "/api/v1/stats/users",
        "/api/admin/stats",
    ):
        response = await gateway.get(path)
        assert response.status_code == 200, (path, response.text)
    by_node = (await gateway.get("/api/v1/stats/servers")).json()["data"]["byNode"]
    assert by_node
    # numbers, as the panel reports them, never numeric-as-string
    assert all(type(n["memoryMb"]) is int and type(n["diskMb"]) is int for n in by_node), by_node
    reset = await gateway.post("/api/admin/sync/panel/reset")
    assert reset.json()["data"]["circuit"]["state"] == "closed"


async def test_a_server_removed_from_the_panel_ends_its_game_session_after_a_sync(
    gateway: httpx.AsyncClient,
    fresh_panel: httpx.AsyncClient,
    hytale: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    hytale_account: Callable[..., Awaitable[dict[str, Any]]],
    hytale_server: Callable[[], Awaitable[int]],
) -> None:
    """ServerPruned end to end: the sync's prune announces it, hytale-auth acts on it."""
    account = await hytale_account()
    server_id = await hytale_server()
    await run_sync(gateway, "servers")
    created = await hytale_auth.post(
        "/hytale/oauth/game-session/new",
        json={"account_id": account["account_id"], "server_id": server_id},
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["data"]["session_id"]
    removed = await fresh_panel.delete(f"/_emulator/servers/{server_id}")
    assert removed.status_code in (200, 204), removed.text
    await run_sync(gateway, "servers")

    async def ended() -> dict[str, Any] | None:
        view = (await hytale_auth.get(f"/hytale/sessions/{session_id}")).json()["data"]
        return view if view["status"] == "ended" else None

    view = await eventually(ended, timeout=20)
    assert view["end_reason"] == "server_pruned"
    upstream = await hytale.get("/_emulator/sessions", params={"account_id": account["account_id"]})
    assert [s["active"] for s in upstream.json()] == [False]
