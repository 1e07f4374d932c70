"""The user dashboard: a signed-in user's own panel servers, never anyone else's."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.sync_runs import run_sync
from nodebyte_devstack.waiting import eventually

LIMITS = [
    {"memory": 1024, "disk": 5120, "cpu": 100},
    {"memory": 2048, "disk": 10240, "cpu": 200},
    {"memory": 4096, "disk": 20480, "cpu": 0},
]


async def add_panel_user(panel: httpx.AsyncClient, email: str) -> int:
    username = email.split("@")[0].lower()
    response = await panel.post("/_emulator/users", json={"email": email, "username": username})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def add_server(
    panel: httpx.AsyncClient, owner: int, name: str, limits: dict[str, int], **extra: Any
) -> dict[str, Any]:
    body = {"user": owner, "name": name, "status": None, "suspended": False, "limits": limits}
    response = await panel.post("/_emulator/servers", json={**body, **extra})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def owners(
    fresh_panel: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> dict[str, Any]:
    """Two panel users with servers of their own, mirrored, and a gateway account
    for each (made before the sync, matched by email, the panel's in other letter case)."""
    tag = secrets.token_hex(4)
    alice_email, bob_email = f"alice-{tag}@example.test", f"bob-{tag}@example.test"
    alice_user = await user_factory(["MEMBER"], email=alice_email)
    bob_user = await user_factory(["MEMBER"], email=bob_email)
    alice = await add_panel_user(fresh_panel, alice_email.upper())
    bob = await add_panel_user(fresh_panel, bob_email)
    alice_servers = [
        await add_server(fresh_panel, alice, f"alice-{tag}-{i}", LIMITS[i]) for i in range(3)
    ]
    alice_servers.append(
        await add_server(
            fresh_panel,
            alice,
            f"alice-{tag}-suspended",
            {"memory": 512, "disk": 1024, "cpu": 50},
            status="suspended",
            suspended=True,
        )
    )
    bob_servers = [await add_server(fresh_panel, bob, f"bob-{tag}-0", LIMITS[0])]
    await run_sync(gateway)
    return {
        "alice": alice_user,
        "bob": bob_user,
        "alice_panel_id": alice,
        "alice_servers": alice_servers,
        "bob_servers": bob_servers,
        "tag": tag,
    }


async def get_data(
    client: httpx.AsyncClient, path: str, user: SignedInUser, **params: Any
) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body


async def test_stats_count_only_the_callers_servers(
    anonymous: httpx.AsyncClient, owners: dict[str, Any]
) -> None:
    stats = (await get_data(anonymous, "/api/v1/dashboard/stats", owners["alice"]))["data"]
    assert stats == {
        "panelUserId": owners["alice_panel_id"],
        "totalServers": 4,
        "activeServers": 3,
        "suspendedServers": 1,
        "totalMemory": 1024 + 2048 + 4096 + 512,
        "totalDisk": 5120 + 10240 + 20480 + 1024,
        "totalCpu": 100 + 200 + 0 + 50,
    }
    bob = (await get_data(anonymous, "/api/v1/dashboard/stats", owners["bob"]))["data"]
    assert (bob["totalServers"], bob["activeServers"], bob["suspendedServers"]) == (1, 1, 0)
    assert bob["totalMemory"] == 1024


async def test_servers_are_the_callers_own_and_page(
    anonymous: httpx.AsyncClient, owners: dict[str, Any]
) -> None:
    alice, bob = owners["alice"], owners["bob"]
    body = await get_data(anonymous, "/api/v1/dashboard/servers", alice, sort="name")
    servers = body["data"]
    assert sorted(s["id"] for s in servers) == sorted(s["id"] for s in owners["alice_servers"])
    assert body["pagination"] == {"page": 1, "pageSize": 25, "total": 4, "totalPages": 1}
    first = servers[0]
    assert first["name"] == f"alice-{owners['tag']}-0"
    assert first["limits"]["memory"] == 1024
    assert first["node"]["name"]
    assert first["egg"]["name"]
    assert first["status"] is None
    assert first["owner"]["id"] == owners["alice_panel_id"]
    suspended = next(s for s in servers if s["name"].endswith("-suspended"))
    assert suspended["suspended"] is True

    page_one = await get_data(anonymous, "/api/v1/dashboard/servers", alice, pageSize=3)
    page_two = await get_data(anonymous, "/api/v1/dashboard/servers", alice, pageSize=3, page=2)
    assert page_one["pagination"]["totalPages"] == 2
    assert len(page_one["data"]) == 3
    assert len(page_two["data"]) == 1
    searched = await get_data(anonymous, "/api/v1/dashboard/servers", alice, search="SUSPENDED")
    assert [s["id"] for s in searched["data"]] == [suspended["id"]]

    theirs = await get_data(anonymous, "/api/v1/dashboard/servers", bob)
    assert [s["id"] for s in theirs["data"]] == [owners["bob_servers"][0]["id"]]
    # Searching for another user's server by name finds nothing.
    peek = await get_data(anonymous, "/api/v1/dashboard/servers", bob, search="alice")
    assert peek["data"] == []
    assert peek["pagination"]["total"] == 0


async def test_an_account_without_a_panel_user_owns_nothing(
    anonymous: httpx.AsyncClient, owners: dict[str, Any], member_user: SignedInUser
) -> None:
    stats = (await get_data(anonymous, "/api/v1/dashboard/stats", member_user))["data"]
    assert stats["panelUserId"] is None
    assert stats["totalServers"] == 0
    assert stats["totalMemory"] == 0
    servers = await get_data(anonymous, "/api/v1/dashboard/servers", member_user)
    assert servers["data"] == []
    assert servers["pagination"]["total"] == 0


async def test_a_linked_panel_id_wins_over_the_email(
    anonymous: httpx.AsyncClient, owners: dict[str, Any], gateway: httpx.AsyncClient
) -> None:
    """An account stands for the panel user it is linked to, whatever its email."""
    alice, bob, alice_panel_id = owners["alice"], owners["bob"], owners["alice_panel_id"]

    async def alice_linked() -> bool:
        users = await gateway.get("/api/admin/users", params={"search": alice.email})
        return users.json()["data"]["users"][0]["pterodactylId"] == alice_panel_id

    await eventually(alice_linked, timeout=60, interval=0.2)  # the sync's link, by email
    unlinked = await gateway.delete(f"/api/admin/users/{alice.id}/pterodactyl")
    assert unlinked.status_code == 200, unlinked.text
    linked = await gateway.put(
        f"/api/admin/users/{bob.id}/pterodactyl", json={"pterodactylId": alice_panel_id}
    )
    assert linked.status_code == 200, linked.text
    stats = (await get_data(anonymous, "/api/v1/dashboard/stats", bob))["data"]
    assert stats["panelUserId"] == owners["alice_panel_id"]
    assert stats["totalServers"] == 4


async def test_dashboard_needs_a_signed_in_user(
    anonymous: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    for path in ("/api/v1/dashboard/stats", "/api/v1/dashboard/servers"):
        refused = await anonymous.get(path)
        assert refused.status_code == 401
        assert refused.json()["success"] is False
        forged = await anonymous.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code == 401
        # A service key is no user: it has no servers of its own.
        assert (await gateway.get(path)).status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": "two"},
        {"pageSize": 201},
        {"sort": "owner"},
        {"order": "up"},
        {"search": "s" * 101},
    ],
)
async def test_bad_queries_are_400(
    anonymous: httpx.AsyncClient, member_user: SignedInUser, params: dict[str, Any]
) -> None:
    response = await anonymous.get(
        "/api/v1/dashboard/servers", params=params, headers=member_user.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
