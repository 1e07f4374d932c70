"""Running a sync through the gateway and waiting for its end, in tests and tools.

done = await run_sync(gateway)             # a full sync, expected to complete
await run_sync(gateway, "nodes")           # one entity
"""

from __future__ import annotations

from typing import Any

import httpx

from nodebyte_devstack.waiting import eventually

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
SMALLEST_PAGE_SIZE = 10  # the smallest page size the sync settings take


async def run_sync(
    gateway: httpx.AsyncClient,
    kind: str = "full",
    *,
    expect: str = "COMPLETED",
    timeout: float = 60,
    body: dict | None = None,
) -> dict[str, Any]:
    response = await gateway.post(f"/api/v1/sync/{kind}", json=body or {"requested_by": "tests"})
    assert response.status_code == 202, response.text
    return await wait_for(gateway, response.json()["data"]["sync_log_id"], expect, timeout)


async def wait_for(
    gateway: httpx.AsyncClient, log_id: str, expect: str, timeout: float = 60
) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        data = (await gateway.get(f"/api/v1/sync/status/{log_id}")).json()["data"]
        return data if data["status"] in TERMINAL else None

    done = await eventually(ended, timeout=timeout, interval=0.1)
    assert done["status"] == expect, done
    return done
