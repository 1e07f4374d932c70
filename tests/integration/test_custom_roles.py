"""Custom roles, where the user stands: an admin defines a role from the permission
catalogue, gives it to a member, and the member, signed in with their own
password, may do exactly what the role grants; a change to the role reaches the
member's live session within seconds. Built-in roles cannot be broken."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from nodebyte_devstack.accounts import SignedInUser, create_user, sign_in

ROLES = "/api/admin/roles"
WITHIN_SECONDS = 6.0  # a session's permissions are remembered for 2 s per replica


def role_name(label: str = "Viewer") -> str:
    return f"{label} {secrets.token_hex(3)}"


async def roles(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get(ROLES)
    assert response.status_code == 200, response.text
    return {role["name"]: role for role in response.json()["data"]}


async def answers_within(ask: Callable[[], Awaitable[httpx.Response]], status: int) -> float:
    """Seconds until `ask` answers `status` (fails past WITHIN_SECONDS)."""
    started = time.monotonic()
    while (response := await ask()).status_code != status:
        assert time.monotonic() - started < WITHIN_SECONDS, response.text
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def test_a_member_with_a_custom_role_does_what_it_grants_and_follows_its_changes(
    gateway: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    name = role_name()
    body = {"name": name, "description": "Looks at servers", "permissions": ["server.read"]}
    created = await gateway.post(ROLES, json=body)
    assert created.status_code == 201, created.text
    role = created.json()["data"]
    assert (role["builtIn"], role["permissions"], role["userCount"]) == (False, ["server.read"], 0)

    member, password = await create_user(gateway, roles=["MEMBER"])
    assigned = await gateway.post(
        "/api/admin/users/roles", json={"userId": member["id"], "roles": ["MEMBER", name]}
    )
    assert assigned.status_code == 200, assigned.text
    tokens = await sign_in(anonymous, member["email"], password)
    own = {"Authorization": f"Bearer {tokens['accessToken']}"}
    somewhere = uuid.uuid4()  # behind the guard, a missing server is a 404, not a 403

    def list_servers() -> Awaitable[httpx.Response]:
        return anonymous.get("/api/servers", headers=own)

    def start() -> Awaitable[httpx.Response]:
        return anonymous.post(f"/api/servers/{somewhere}/start", headers=own)

    assert (await list_servers()).status_code == 200
    refused = await start()
    assert refused.status_code == 403
    assert refused.json()["code"] == "FORBIDDEN"
    assert (await anonymous.get("/api/nodes", headers=own)).status_code == 403
    assert (await roles(gateway))[name]["userCount"] == 1

    # The role gains server.start: the member's session follows within seconds.
    grown = await gateway.put(
        f"{ROLES}/{role['id']}", json={"permissions": ["server.read", "server.start"]}
    )
    assert grown.status_code == 200, grown.text
    assert await answers_within(start, 404) < WITHIN_SECONDS
    # It becomes node-only: servers are refused again, nodes admitted.
    narrowed = await gateway.put(f"{ROLES}/{role['id']}", json={"permissions": ["node.read"]})
    assert narrowed.status_code == 200, narrowed.text
    await answers_within(list_servers, 403)
    assert (await anonymous.get("/api/nodes", headers=own)).status_code == 200

    # A rename follows the role into its users' lists.
    renamed_to = role_name("Node watcher")
    renamed = await gateway.put(f"{ROLES}/{role['id']}", json={"name": renamed_to})
    assert renamed.status_code == 200, renamed.text
    me = await anonymous.get("/api/v1/auth/me", headers=own)
    assert renamed_to in me.json()["data"]["user"]["roles"], me.text

    # Held by a user, it is not deleted; once taken from them, it is.
    held = await gateway.delete(f"{ROLES}/{role['id']}")
    assert held.status_code == 409
    assert held.json()["code"] == "ROLE_IN_USE"
    taken = await gateway.post(
        "/api/admin/users/roles", json={"userId": member["id"], "roles": ["MEMBER"]}
    )
    assert taken.status_code == 200, taken.text
    deleted = await gateway.delete(f"{ROLES}/{role['id']}")
    assert deleted.status_code == 200, deleted.text
    assert renamed_to not in await roles(gateway)
    audit = await gateway.get("/api/admin/audit", params={"targetId": role["id"]})
    assert [e["action"] for e in audit.json()["data"]] == [
        "role.deleted",
        "role.updated",
        "role.updated",
        "role.updated",
        "role.created",
    ]


async def test_unknown_permissions_are_refused_by_name_and_nothing_is_made(
    gateway: httpx.AsyncClient,
) -> None:
    name = role_name()
    response = await gateway.post(
        ROLES,
        json={"name": name, "permissions": ["server.read", "servers.read", "server.frobnicate"]},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_PERMISSION"
    assert body["details"]["unknown"] == ["servers.read", "server.frobnicate"]
    assert "servers.read" in body["error"]
    assert "server.frobnicate" in body["error"]
    assert name not in await roles(gateway)
    for bad in (
        {"name": "", "permissions": []},
        {"name": name},
        {"name": name, "permissions": [1]},
    ):
        refused = await gateway.post(ROLES, json=bad)
        assert refused.status_code == 400, (bad, refused.text)
    made = await gateway.post(ROLES, json={"name": name, "permissions": ["file.*"]})
    assert made.status_code == 201, made.text
    change = await gateway.put(f"{ROLES}/{made.json()['data']['id']}", json={"permissions": ["x"]})
    assert change.status_code == 400
    assert change.json()["details"]["unknown"] == ["x"]
    assert (await roles(gateway))[name]["permissions"] == ["file.*"]
    for taken in (name.upper(), "super_admin"):
        clash = await gateway.post(ROLES, json={"name": taken, "permissions": []})
        assert clash.status_code == 409, clash.text
        assert clash.json()["code"] == "ROLE_NAME_IN_USE"


async def test_built_in_roles_cannot_be_changed_or_deleted(gateway: httpx.AsyncClient) -> None:
    before = await roles(gateway)
    for name in ("SUPER_ADMIN", "MEMBER", "ADMINISTRATOR"):
        role_id = before[name]["id"]
        assert before[name]["builtIn"] is True
        changed = await gateway.put(f"{ROLES}/{role_id}", json={"permissions": ["server.read"]})
        assert changed.status_code == 409
        assert changed.json()["code"] == "BUILT_IN_ROLE"
        deleted = await gateway.delete(f"{ROLES}/{role_id}")
        assert deleted.status_code == 409
        assert deleted.json()["code"] == "BUILT_IN_ROLE"
    assert await roles(gateway) == before
    missing = await gateway.delete(f"{ROLES}/{uuid.uuid4()}")
    assert missing.status_code == 404


async def test_staff_define_only_roles_within_what_they_hold(
    user_factory: Callable[..., Awaitable[SignedInUser]], anonymous: httpx.AsyncClient
) -> None:
    admin = await user_factory(["ADMINISTRATOR"])
    support = await user_factory(["SUPPORT_TEAM"])
    wide = await anonymous.post(
        ROLES, json={"name": role_name(), "permissions": ["*"]}, headers=admin.headers
    )
    assert wide.status_code == 403
    narrow = await anonymous.post(
        ROLES, json={"name": role_name(), "permissions": ["server.read"]}, headers=admin.headers
    )
    assert narrow.status_code == 201, narrow.text
    listed = await anonymous.get(ROLES, headers=support.headers)
    assert listed.status_code == 200
    by_support = await anonymous.post(
        ROLES, json={"name": role_name(), "permissions": []}, headers=support.headers
    )
    assert by_support.status_code == 403
