"""Sync as the reference documents it (issue 19): progress a poller can trust, server
databases without the panel's include, allocation links after partial syncs in any
order, and a server's live resources read through to the panel."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.sync_runs import SMALLEST_PAGE_SIZE, TERMINAL, run_sync
from nodebyte_devstack.waiting import eventually

PAGE_SIZE = SMALLEST_PAGE_SIZE  # (the `small_pages` fixture): many pages, many progress steps


async def test_a_poller_sees_progress_grow_to_100_only_when_completed(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, small_pages: None
) -> None:
    await fresh_panel.post("/_emulator/faults", json={"latency_ms": 500})
    queued = await gateway.post("/api/v1/sync/full", json={"requested_by": "progress poller"})
    log_id = queued.json()["data"]["sync_log_id"]
    seen: list[tuple[str, float, str | None]] = []

    async def ended() -> dict[str, Any] | None:
        data = (await gateway.get(f"/api/v1/sync/status/{log_id}")).json()["data"]
        meta = data["metadata"]
        seen.append((data["status"], meta.get("percentage", 0.0), meta.get("step")))
        return data if data["status"] in TERMINAL else None

    done = await eventually(ended, timeout=180, interval=0.05)
    assert done["status"] == "COMPLETED", done
    percentages = [p for _, p, _ in seen]
    assert percentages == sorted(percentages), seen
    assert all(p < 100 for status, p, _ in seen if status not in TERMINAL), seen
    assert len({p for p in percentages if 0 < p < 100}) >= 3, seen  # a bar that moves
    assert len({step for _, _, step in seen if step}) >= 2, seen
    assert done["metadata"]["percentage"] == 100.0
    assert done["metadata"]["step"] == "subusers"  # the last step of a full sync
    assert done["metadata"]["lastMessage"].startswith("Sync completed")

    await fresh_panel.delete("/_emulator/faults")
    again = await run_sync(gateway)  # nothing changed on the panel
    assert again["metadata"]["rowsWritten"] == 0
    assert again["metadata"]["percentage"] == 100.0
    assert again["metadata"]["step"] == "subusers"
    nodes = await run_sync(gateway, "nodes")  # a partial sync ends on its own last step
    assert (nodes["metadata"]["step"], nodes["metadata"]["percentage"]) == ("allocations", 100)


async def _mirrored_databases(admin: asyncpg.Connection) -> set[tuple[int, int, str]]:
    rows = await admin.fetch("SELECT id, server_id, database FROM sync.server_databases")
    return {(r["id"], r["server_id"], r["database"]) for r in rows}


def _panel_databases(dataset: dict[str, Any]) -> set[tuple[int, int, str]]:
    return {(d["id"], d["server"], d["database"]) for d in dataset["databases"]}


async def test_server_databases_come_from_each_server_when_the_panel_leaves_the_include_out(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    await run_sync(gateway, "servers")  # mirrored through the include
    switched = await fresh_panel.post("/_emulator/settings", json={"databases_include": "omitted"})
    assert switched.status_code == 200, switched.text
    try:
        await fresh_panel.delete("/_emulator/stats")
        done = await run_sync(gateway, "servers")  # a prune would empty them if unread
        assert done["metadata"]["serverDatabases"] == "endpoint"
        dataset = (await fresh_panel.get("/_emulator/dataset")).json()
        assert dataset["databases"]
        assert await _mirrored_databases(admin_conn) == _panel_databases(dataset)
        paths = (await fresh_panel.get("/_emulator/stats")).json()["paths"]
        asked = {p for p in paths if p.endswith("/databases")}
        assert asked == {
            f"/api/application/servers/{s['id']}/databases" for s in dataset["servers"]
        }
        # The pages' digests cover the databases read beside them: a new one is mirrored.
        added = await fresh_panel.post("/_emulator/databases", json={"server": 2})
        assert added.status_code == 201, added.text
        again = await run_sync(gateway, "servers")
        assert again["metadata"]["rowsWritten"] == 1
        dataset = (await fresh_panel.get("/_emulator/dataset")).json()
        assert await _mirrored_databases(admin_conn) == _panel_databases(dataset)
    finally:
        await fresh_panel.post("/_emulator/settings", json={"databases_include": "rendered"})
    done = await run_sync(gateway, "servers")
    assert done["metadata"]["serverDatabases"] == "include"


async def _allocation_links(gateway: httpx.AsyncClient) -> dict[int, int | None]:
    links: dict[int, int | None] = {}
    page = 1
    while True:
        body = (
            await gateway.get("/api/admin/allocations", params={"page": page, "pageSize": 100})
        ).json()
        links |= {a["id"]: (a["server"] or {}).get("id") for a in body["data"]}
        if page >= body["pagination"]["totalPages"]:
            return links
        page += 1


@pytest.mark.parametrize("order", [("servers", "nodes"), ("nodes", "servers")])
async def test_partial_syncs_on_an_empty_mirror_in_either_order_link_allocations(
    gateway: httpx.AsyncClient,
    fresh_panel: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    order: tuple[str, str],
) -> None:
    await run_sync(gateway)  # whatever ran before, then an empty mirror
    await admin_conn.execute(
        """TRUNCATE sync.locations, sync.nodes, sync.allocations, sync.nests, sync.eggs,
           sync.egg_variables, sync.servers, sync.server_databases, sync.panel_users,
           sync.server_subusers, sync.allocation_links, sync.sync_page_digests,
           sync.sync_step_digests"""
    )
    for kind in order:
        await run_sync(gateway, kind)
    dataset = (await fresh_panel.get("/_emulator/dataset")).json()
    expected = {a["id"]: a["server_id"] for a in dataset["allocations"]}
    assert any(expected.values())
    assert await _allocation_links(gateway) == expected


async def _a_running_server(gateway: httpx.AsyncClient, panel: httpx.AsyncClient) -> dict:
    await run_sync(gateway, "servers")
    dataset = (await panel.get("/_emulator/dataset")).json()
    quiet = {n["id"] for n in dataset["nodes"] if not n["maintenance_mode"]}
    return next(s for s in dataset["servers"] if s["status"] is None and s["node"] in quiet)


async def test_live_resources_are_the_panels(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    server = await _a_running_server(gateway, fresh_panel)
    dataset = (await fresh_panel.get("/_emulator/dataset")).json()
    direct = await fresh_panel.get(
        f"/api/client/servers/{server['identifier']}/resources",
        headers={
            "Authorization": f"Bearer {dataset['keys']['client']}",
            "Accept": "application/json",
        },
    )
    stats = direct.json()["attributes"]
    answers = [
        await gateway.get(f"/api/servers/{ref}/resources")
        for ref in (server["id"], server["uuid"], server["identifier"])
    ]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
    data = answers[0].json()["data"]
    assert answers[0].json()["success"] is True
    assert all(a.json()["data"] == data for a in answers)
    assert (data["serverId"], data["uuid"], data["identifier"]) == (
        server["id"],
        server["uuid"],
        server["identifier"],
    )
    assert data["currentState"] == stats["current_state"]
    assert data["isSuspended"] == stats["is_suspended"]
    usage = stats["resources"]
    assert data["resources"] == {
        "memoryBytes": usage["memory_bytes"],
        "cpuAbsolute": usage["cpu_absolute"],
        "diskBytes": usage["disk_bytes"],
        "networkRxBytes": usage["network_rx_bytes"],
        "networkTxBytes": usage["network_tx_bytes"],
        "uptime": usage["uptime"],
    }
    unknown = await gateway.get("/api/servers/987654321/resources")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "NOT_FOUND")
    bad = await gateway.get("/api/servers/not-a-server!/resources")
    assert bad.status_code == 400
    assert bad.json()["success"] is False
    refused = await gateway.get(
        f"/api/servers/{server['id']}/resources", headers=member_user.headers
    )
    assert refused.status_code == 403
    suspended = next(s for s in dataset["servers"] if s["status"] == "suspended")
    conflict = await gateway.get(f"/api/servers/{suspended['id']}/resources")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "SERVER_STATE_CONFLICT")


async def test_a_burst_of_resource_reads_reaches_the_panel_once(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient
) -> None:
    server = await _a_running_server(gateway, fresh_panel)
    path = f"/api/client/servers/{server['identifier']}/resources"
    await asyncio.sleep(3.5)  # past anything an earlier test left in the cache
    await fresh_panel.delete("/_emulator/stats")
    # A slow panel: the whole burst arrives while the first read is still out.
    await fresh_panel.post("/_emulator/faults", json={"latency_ms": 500})
    burst = await asyncio.gather(
        *(gateway.get(f"/api/servers/{server['id']}/resources") for _ in range(20))
    )
    assert {r.status_code for r in burst} == {200}
    assert len({r.text for r in burst}) == 1
    assert (await fresh_panel.get("/_emulator/stats")).json()["paths"][path] == 1
    await asyncio.sleep(3.5)  # a short cache: the next read goes to the panel
    later = await gateway.get(f"/api/servers/{server['id']}/resources")
    assert later.status_code == 200
    assert (await fresh_panel.get("/_emulator/stats")).json()["paths"][path] == 2


async def test_a_panel_that_is_down_is_a_503_and_opens_the_circuit(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient
) -> None:
    server = await _a_running_server(gateway, fresh_panel)
    path = f"/api/client/servers/{server['identifier']}/resources"
    await asyncio.sleep(3.5)  # nothing cached for it
    await fresh_panel.delete("/_emulator/stats")
    await fresh_panel.post("/_emulator/faults", json={"error_next": 50, "error_status": 503})
    try:
        answers = [await gateway.get(f"/api/servers/{server['id']}/resources") for _ in range(8)]
        assert {a.status_code for a in answers} == {503}, answers[0].text
        assert {a.json()["code"] for a in answers} == {"PANEL_UNAVAILABLE"}
        assert all(a.json()["success"] is False and a.json()["error"] for a in answers)
        reached = (await fresh_panel.get("/_emulator/stats")).json()["paths"].get(path, 0)
        assert 1 <= reached <= 5  # the circuit opened: the later reads never left the service
        state = (await gateway.get("/api/admin/sync")).json()["data"]["panel"]["circuit"]
        assert state["state"] == "open"
    finally:
        await fresh_panel.delete("/_emulator/faults")
        await gateway.post("/api/admin/sync/panel/reset")
    back = await gateway.get(f"/api/servers/{server['id']}/resources")
    assert back.status_code == 200, back.text
