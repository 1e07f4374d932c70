"""Panel users are accounts: after a sync, every panel user has one, linked by its
panel id; owners claim theirs by email and see their servers; admins link and
unlink by hand. Driven through the public API, as the reference's frontend does."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from nodebyte_devstack.accounts import Mailbox, SignedInUser, new_password, sign_in
from nodebyte_devstack.sync_runs import run_sync
from nodebyte_devstack.waiting import eventually

LINK_TIMEOUT = 60  # the sync's announcement reaches the gateway through the broker


async def accounts_of(gateway: httpx.AsyncClient, email: str) -> list[dict[str, Any]]:
    """The accounts /api/admin/users finds for `email` (any letter case)."""
    response = await gateway.get("/api/admin/users", params={"search": email, "pageSize": 100})
    assert response.status_code == 200, response.text
    return [u for u in response.json()["data"]["users"] if u["email"].lower() == email.lower()]


async def linked_account(gateway: httpx.AsyncClient, email: str, panel_id: int) -> dict[str, Any]:
    async def linked() -> dict[str, Any] | None:
        found = await accounts_of(gateway, email)
        return found[0] if found and found[0]["pterodactylId"] == panel_id else None

    return await eventually(linked, timeout=LINK_TIMEOUT, interval=0.2)


async def add_panel_user(panel: httpx.AsyncClient, email: str, **extra: Any) -> int:
    username = email.split("@")[0].lower()
    body = {"email": email, "username": username, "root_admin": False, **extra}
    response = await panel.post("/_emulator/users", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def add_server(panel: httpx.AsyncClient, owner: int, name: str) -> int:
    body = {"user": owner, "name": name, "status": None, "suspended": False}
    response = await panel.post("/_emulator/servers", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def my_server_ids(anonymous: httpx.AsyncClient, user: SignedInUser) -> list[int]:
    response = await anonymous.get("/api/v1/dashboard/servers", headers=user.headers)
    assert response.status_code == 200, response.text
    return sorted(s["id"] for s in response.json()["data"])


def tagged(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}@example.test"


async def test_a_full_sync_makes_every_panel_user_an_account(
    fresh_panel: httpx.AsyncClient, gateway: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    panel_users = (await fresh_panel.get("/_emulator/dataset")).json()["users"]
    assert len(panel_users) >= 20
    await run_sync(gateway)
    for panel_user in panel_users:
        account = await linked_account(gateway, panel_user["email"], panel_user["id"])
        assert account["isPterodactylAdmin"] is panel_user["root_admin"]
        assert account["isMigrated"] is True
        assert account["emailVerified"] is False
    assert any(u["root_admin"] for u in panel_users)
    stats = (await gateway.get("/api/admin/users")).json()["data"]["stats"]
    assert stats["migratedUsers"] >= len(panel_users)
    # No password yet: nobody signs in with it until its owner claims it.
    refused = await anonymous.post(
        "/api/v1/auth/login", json={"email": panel_users[1]["email"], "password": new_password()}
    )
    assert refused.status_code == 401
    # An unchanged re-sync links nothing twice.
    before = (await gateway.get("/api/admin/users")).json()["data"]["stats"]["totalUsers"]
    await run_sync(gateway)
    after = (await gateway.get("/api/admin/users")).json()["data"]["stats"]["totalUsers"]
    assert after == before


async def test_a_claimed_account_signs_in_and_sees_its_panel_servers(
    panel: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    mailbox: Mailbox,
) -> None:
    email = tagged("claimer")
    owner = await add_panel_user(panel, email)
    servers = sorted([await add_server(panel, owner, f"claim-{i}") for i in range(2)])
    await run_sync(gateway)
    account = await linked_account(gateway, email, owner)

    forgot = await anonymous.post("/api/v1/auth/forgot-password", json={"email": email})
    assert forgot.status_code == 200
    token = await mailbox.link_token(email, "password-reset")
    password = new_password()
    claimed = await anonymous.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": password}
    )
    assert claimed.status_code == 200, claimed.text

    signed = await sign_in(anonymous, email, password)
    assert signed["user"]["pterodactylId"] == owner
    user = SignedInUser(
        id=account["id"],
        email=email,
        password=password,
        roles=["MEMBER"],
        access_token=signed["accessToken"],
        refresh_token=signed["refreshToken"],
    )
    assert await my_server_ids(anonymous, user) == servers
    assert (await accounts_of(gateway, email))[0]["emailVerified"] is True


async def test_an_account_with_the_panel_users_email_is_linked_not_duplicated(
    panel: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    email = tagged("existing")
    user = await user_factory(["MEMBER"], email=email)
    panel_id = await add_panel_user(panel, email.upper(), root_admin=True)
    await run_sync(gateway)
    account = await linked_account(gateway, email, panel_id)
    assert account["id"] == user.id
    assert account["isPterodactylAdmin"] is True
    assert len(await accounts_of(gateway, email)) == 1


async def test_a_panel_user_deleted_upstream_is_unlinked_not_deleted(
    panel: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    email = tagged("leaver")
    panel_id = await add_panel_user(panel, email)
    await run_sync(gateway)
    account = await linked_account(gateway, email, panel_id)
    assert (await panel.delete(f"/_emulator/users/{panel_id}")).status_code < 300
    await run_sync(gateway)

    async def unlinked() -> dict[str, Any] | None:
        found = await accounts_of(gateway, email)
        return found[0] if found and found[0]["pterodactylId"] is None else None

    kept = await eventually(unlinked, timeout=LINK_TIMEOUT, interval=0.2)
    assert kept["id"] == account["id"]


async def test_admins_link_and_unlink_by_hand(
    panel: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    panel_email = tagged("panelside")
    panel_id = await add_panel_user(panel, panel_email)
    server = await add_server(panel, panel_id, "by-hand")
    await run_sync(gateway)
    made = await linked_account(gateway, panel_email, panel_id)
    staff = await user_factory(["MEMBER"], email=tagged("staff"))
    path = f"/api/admin/users/{staff.id}/pterodactyl"

    taken = await gateway.put(path, json={"pterodactylId": panel_id})
    assert taken.status_code == 409, taken.text
    assert taken.json()["code"] == "PANEL_USER_LINKED"
    assert taken.json()["details"]["userId"] == made["id"]

    freed = await gateway.delete(f"/api/admin/users/{made['id']}/pterodactyl")
    assert freed.status_code == 200, freed.text
    assert freed.json()["data"]["pterodactylId"] is None
    linked = await gateway.put(path, json={"pterodactylId": panel_id})
    assert linked.status_code == 200, linked.text
    assert linked.json()["data"] == {
        "userId": staff.id,
        "pterodactylId": panel_id,
        "isPterodactylAdmin": False,
        "isMigrated": False,
    }
    assert await my_server_ids(anonymous, staff) == [server]

    # A later sync that announces the panel user again keeps the admin's choice.
    changed = await panel.patch(f"/_emulator/users/{panel_id}", json={"root_admin": True})
    assert changed.status_code == 200, changed.text
    await run_sync(gateway)

    async def flagged() -> dict[str, Any] | None:
        found = (await accounts_of(gateway, staff.email))[0]
        return found if found["isPterodactylAdmin"] else None

    assert (await eventually(flagged, timeout=LINK_TIMEOUT, interval=0.2))["pterodactylId"] == (
        panel_id
    )
    assert (await accounts_of(gateway, panel_email))[0]["pterodactylId"] is None

    unlinked = await gateway.delete(path)
    assert unlinked.status_code == 200, unlinked.text
    assert await my_server_ids(anonymous, staff) == []

    # The sync does not undo the admin's unlink of the account made for the panel user
    # by matching its email again (a newcomer of the same batch shows it was applied).
    renamed = await panel.patch(f"/_emulator/users/{panel_id}", json={"first_name": "Renamed"})
    assert renamed.status_code == 200, renamed.text
    witness = tagged("witness")
    witness_id = await add_panel_user(panel, witness)
    await run_sync(gateway)
    await linked_account(gateway, witness, witness_id)
    assert (await accounts_of(gateway, panel_email))[0]["pterodactylId"] is None

    audit = (await gateway.get("/api/admin/audit", params={"targetId": staff.id})).json()["data"]
    actions = [(e["action"], e["outcome"]) for e in audit]
    assert ("user.panel_link", "accepted") in actions
    assert ("user.panel_link", "refused") in actions
    assert ("user.panel_unlink", "accepted") in actions


async def test_bad_links_are_refused_and_change_nothing(
    gateway: httpx.AsyncClient, member_user: SignedInUser, anonymous: httpx.AsyncClient
) -> None:
    path = f"/api/admin/users/{member_user.id}/pterodactyl"
    for body in ({"pterodactylId": "one"}, {"pterodactylId": 0}, {}, {"pterodactylId": 1, "x": 1}):
        refused = await gateway.put(path, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["success"] is False
    unknown = await gateway.put(path, json={"pterodactylId": 2_000_000_000})
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "UNKNOWN_PANEL_USER"
    missing = await gateway.put(
        "/api/admin/users/0190d3f0-0000-7000-8000-000000000000/pterodactyl",
        json={"pterodactylId": 1},
    )
    assert missing.status_code == 404
    forbidden = await anonymous.put(path, json={"pterodactylId": 1}, headers=member_user.headers)
    assert forbidden.status_code == 403
    assert (await accounts_of(gateway, member_user.email))[0]["pterodactylId"] is None
