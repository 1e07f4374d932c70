"""The panel changes while a sync pages through it (issue 17): the page digests a sync
saves must never let a later sync skip a page the mirror does not hold as it is.

The panel pages without an ORDER BY, so a row can change place between two page
requests (`/_emulator/{kind}/{id}/move`); a row added or removed before the page
being fetched shifts every later page too. The sync fetches page 1, then the rest:
a slow panel leaves time to change it in between.
"""

from __future__ import annotations

from typing import Any

import httpx

from nodebyte_devstack.sync_runs import SMALLEST_PAGE_SIZE, run_sync, wait_for
from nodebyte_devstack.waiting import eventually

PAGE_SIZE = SMALLEST_PAGE_SIZE  # (the `small_pages` fixture): the emulator's 40 servers on 4 pages
SERVERS_PATH = "/api/application/servers"
LATENCY_MS = 1500  # every panel answer: the window in which the test changes the panel


async def mirrored_servers(gateway: httpx.AsyncClient) -> dict[int, str]:
    """What an admin sees: every mirrored panel server, id -> name."""
    body = (await gateway.get("/api/admin/servers", params={"pageSize": 200})).json()
    assert body["pagination"]["total"] <= 200, body["pagination"]
    return {s["id"]: s["name"] for s in body["data"]}


async def panel_servers(panel: httpx.AsyncClient) -> list[dict[str, Any]]:
    return (await panel.get("/_emulator/dataset")).json()["servers"]


async def assert_mirror_is_the_panel(gateway: httpx.AsyncClient, panel: httpx.AsyncClient) -> None:
    expected = {s["id"]: s["name"] for s in await panel_servers(panel)}
    seen = await mirrored_servers(gateway)
    assert {i: n for i, n in seen.items() if i in expected} == expected
    assert set(seen) - set(expected) <= {999999}  # the local server, outside the panel


async def sync_changing_the_panel_after_page_1(
    gateway: httpx.AsyncClient, panel: httpx.AsyncClient, change: Any
) -> dict[str, Any]:
    """A servers sync during which `change()` runs once page 1 was answered and the
    other pages were asked for, but before any of them is answered."""
    await panel.delete("/_emulator/stats")
    await panel.post("/_emulator/faults", json={"latency_ms": LATENCY_MS})
    queued = await gateway.post("/api/v1/sync/servers", json={"requested_by": "tests"})
    assert queued.status_code == 202, queued.text

    async def other_pages_asked() -> bool:
        paths = (await panel.get("/_emulator/stats")).json()["paths"]
        return paths.get(SERVERS_PATH, 0) >= 2

    await eventually(other_pages_asked, timeout=30, interval=0.02)
    await change()
    await panel.delete("/_emulator/faults")
    return await wait_for(gateway, queued.json()["data"]["sync_log_id"], "COMPLETED", 60)


async def test_a_row_moved_between_pages_mid_sync_is_mirrored_right_by_the_next_sync(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, small_pages: None
) -> None:
    """Page 1 is fetched with server X, then X is renamed and listed last: it comes on
    page 1 and on the last page, and the server after it on page 1 comes on neither.
    Once the panel is back as it was, the next sync must show it as it is: page 1's
    saved digest matches again, but the mirror holds X as the last page gave it."""
    await run_sync(gateway, "servers")
    servers = await panel_servers(fresh_panel)
    x, after_x = servers[0], servers[1]

    async def rename_and_list_last() -> None:
        moved = {"name": "renamed mid-sync", "updated_at": x["updated_at"]}
        assert (await fresh_panel.patch(f"/_emulator/servers/{x['id']}", json=moved)).is_success
        listed = await fresh_panel.post(f"/_emulator/servers/{x['id']}/move", json={})
        assert listed.status_code == 204, listed.text

    await sync_changing_the_panel_after_page_1(gateway, fresh_panel, rename_and_list_last)
    assert (await mirrored_servers(gateway))[x["id"]] == "renamed mid-sync"  # the last page won

    # The panel as it was before, byte for byte: page 1's digest is the one saved.
    back = {"name": x["name"], "updated_at": x["updated_at"]}
    assert (await fresh_panel.patch(f"/_emulator/servers/{x['id']}", json=back)).is_success
    relisted = await fresh_panel.post(
        f"/_emulator/servers/{x['id']}/move", json={"before": after_x["id"]}
    )
    assert relisted.status_code == 204, relisted.text
    assert await panel_servers(fresh_panel) == servers

    await run_sync(gateway, "servers")
    await assert_mirror_is_the_panel(gateway, fresh_panel)


async def test_a_row_inserted_before_the_page_being_fetched_is_mirrored_by_the_next_sync(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient, small_pages: None
) -> None:
    """A server listed first once page 1 was fetched pushes every later row a page on:
    the last row of page 1 comes again on page 2, the last server of the panel on a
    page the sync does not know of. The next sync mirrors the panel whole."""
    await run_sync(gateway, "servers")
    first = (await panel_servers(fresh_panel))[0]

    async def insert_first() -> None:
        added = await fresh_panel.post("/_emulator/servers", json={"name": "inserted mid-sync"})
        assert added.status_code == 201, added.text
        moved = await fresh_panel.post(
            f"/_emulator/servers/{added.json()['id']}/move", json={"before": first["id"]}
        )
        assert moved.status_code == 204, moved.text

    await sync_changing_the_panel_after_page_1(gateway, fresh_panel, insert_first)
    await run_sync(gateway, "servers")
    await assert_mirror_is_the_panel(gateway, fresh_panel)
