"""A signing-key rotation at Hytale: servers do not keep tokens a dropped key signed."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from nodebyte_devstack.config import PANEL_APP_KEY
from nodebyte_devstack.waiting import eventually

SESSION_VAR, IDENTITY_VAR = "HYTALE_SERVER_SESSION_TOKEN", "HYTALE_SERVER_IDENTITY_TOKEN"


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


async def pushed_kids(panel: httpx.AsyncClient, server_id: int) -> set[str]:
    """The signing keys of the tokens the server was given (empty before the push)."""
    response = await panel.get(
        f"/api/application/servers/{server_id}",
        headers={"Authorization": f"Bearer {PANEL_APP_KEY}", "Accept": "application/json"},
    )
    env = response.json()["attributes"]["container"]["environment"]
    tokens = [env.get(SESSION_VAR), env.get(IDENTITY_VAR)]
    return {kid_of(t) for t in tokens if t} if all(tokens) else set()


async def test_sessions_signed_by_a_dropped_key_are_renewed(
    gateway: httpx.AsyncClient,
    hytale: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    hytale_account: Callable[..., Awaitable[dict[str, Any]]],
    hytale_server: Callable[[], Awaitable[int]],
) -> None:
    account_id = (await hytale_account())["account_id"]
    server_id = await hytale_server()
    new = {"account_id": account_id, "server_id": server_id}
    created = await gateway.post("/api/v1/hytale/oauth/game-session/new", json=new)
    assert created.status_code == 201, created.text
    old_kids = await eventually(lambda: pushed_kids(panel, server_id), timeout=20, interval=0.5)

    rotated = await hytale.post("/_emulator/keys/rotate", json={"keep_old": False})
    new_kid = rotated.json()["kid"]
    assert new_kid not in old_kids
    # Any token of the new key makes us fetch the JWKS again (at most every 2 s in the
    # stack), and see the old key gone.
    minted = (await hytale.post("/_emulator/tokens", json={})).json()["token"]

    async def accepted() -> bool:
        checked = await gateway.post("/api/v1/hytale/tokens/validate", json={"token": minted})
        return checked.status_code == 200

    await eventually(accepted, timeout=15, interval=0.5)

    async def renewed() -> bool:
        return await pushed_kids(panel, server_id) == {new_kid}

    await eventually(renewed, timeout=30, interval=0.5)
    listed = await gateway.get("/api/v1/hytale/sessions", params={"server_id": server_id})
    active = [s for s in listed.json()["data"] if s["status"] == "active"]
    assert len(active) == 1, listed.text
