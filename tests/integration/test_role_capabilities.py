"""Each built-in role, signed in with its own password, does what its
description promises through the public API and is refused (403) the rest.
The bootstrap key `BACKEND_API_KEY` queues and follows syncs and reads stats,
and is refused every admin route."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_devstack.accounts import create_user, sign_in
from nodebyte_devstack.processes import Stack


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    body: Any = None


def probes(self_id: str) -> dict[str, Probe]:
    """One request per capability; a missing id behind a guard answers 404, not 403."""
    missing = uuid.uuid4()
    node = {
        "name": f"role-node-{secrets.token_hex(4)}",
        "hostname": "node.example.test",
        "maxMemoryMb": 1024,
        "maxCpuCores": 2,
    }
    return {
        "own account": Probe("GET", "/api/v1/auth/me"),
        "read users": Probe("GET", "/api/admin/users"),
        "read servers": Probe("GET", "/api/servers"),
        "read a server's logs": Probe("GET", f"/api/servers/{missing}/logs"),
        "read stats": Probe("GET", "/api/v1/stats/overview"),
        "run a sync": Probe("POST", "/api/v1/sync/locations", {}),
        "read sync history": Probe("GET", "/api/v1/sync/logs"),
        "read nodes": Probe("GET", "/api/nodes"),
        "register a node": Probe("POST", "/api/nodes", node),
        "read alerts": Probe("GET", "/api/alerts"),
        "read tasks": Probe("GET", "/api/tasks"),
        "read backups": Probe("GET", f"/api/servers/{missing}/backups"),
        "read a server's databases": Probe("GET", f"/api/servers/{missing}/databases"),
        "read database hosts": Probe("GET", "/api/admin/database-hosts"),
        "read admin webhooks": Probe("GET", "/api/admin/settings/webhooks"),
        "read settings": Probe("GET", "/api/admin/settings"),
        "read api keys": Probe("GET", "/api/admin/api-keys"),
        "read scheduler jobs": Probe("GET", "/api/admin/scheduler/jobs"),
        "read hytale logs": Probe("GET", "/api/v1/hytale/logs"),
        "read audit log": Probe("GET", "/api/admin/audit-logs"),
        "grant SUPER_ADMIN": Probe(
            "POST", "/api/admin/users/roles", {"userId": self_id, "roles": ["SUPER_ADMIN"]}
        ),
    }


OWN = {"own account"}
STAFF_ADMIN = {
    "read users",
    "read servers",
    "read a server's logs",
    "read stats",
    "run a sync",
    "read sync history",
    "read nodes",
    "register a node",
    "read alerts",
    "read tasks",
    "read backups",
    "read a server's databases",
    "read database hosts",
    "read admin webhooks",
    "read settings",
    "read api keys",
    "read scheduler jobs",
    "read hytale logs",
    "read audit log",
}
PROMISED = {
    "MEMBER": OWN,
    "PARTNER": OWN,
    "SPONSOR": OWN,
    "SUPPORT_TEAM": OWN | {"read users", "read servers", "read a server's logs", "read stats"},
    "TECH_TEAM": OWN
    | {
        "run a sync",
        "read sync history",
        "read nodes",
        "register a node",
        "read servers",
        "read stats",
    },
    "ADMINISTRATOR": OWN | STAFF_ADMIN,
    "SUPER_ADMIN": OWN | STAFF_ADMIN | {"grant SUPER_ADMIN"},
}


async def call(client: httpx.AsyncClient, probe: Probe, headers: dict[str, str]) -> httpx.Response:
    return await client.request(probe.method, probe.path, json=probe.body, headers=headers)


@pytest.mark.parametrize("role", list(PROMISED))
async def test_each_role_does_what_it_promises_and_nothing_more(
    role: str, gateway: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    user, password = await create_user(gateway, roles=[role])
    tokens = await sign_in(anonymous, user["email"], password)
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    answers = {}
    for name, probe in probes(user["id"]).items():
        response = await call(anonymous, probe, headers)
        answers[name] = response.status_code
        assert response.status_code < 500, (name, response.text)
    admitted = {name for name, status in answers.items() if status not in (401, 403)}
    refused = {name for name, status in answers.items() if status == 403}
    assert admitted == PROMISED[role], answers
    assert refused == set(answers) - PROMISED[role], answers


async def test_stored_roles_grant_only_catalogue_permissions(gateway: httpx.AsyncClient) -> None:
    roles = (await gateway.get("/api/admin/users/roles")).json()["data"]
    assert {r["name"] for r in roles} >= set(PROMISED)
    for role in roles:
        granted = role["permissions"]
        assert not catalogue.unknown(granted), role


async def test_the_bootstrap_key_only_runs_syncs_and_reads_stats(
    stack: Stack, anonymous: httpx.AsyncClient
) -> None:
    headers = {"X-API-Key": stack.config.api_key}
    queued = await anonymous.post("/api/v1/sync/locations", json={}, headers=headers)
    assert queued.status_code == 202, queued.text
    log_id = queued.json()["data"]["sync_log_id"]
    for path in (f"/api/v1/sync/status/{log_id}", "/api/v1/sync/logs", "/api/v1/stats/overview"):
        response = await anonymous.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
    for name, probe in probes(str(uuid.uuid4())).items():
        if name in {"run a sync", "read sync history", "read stats"}:
            continue
        response = await call(anonymous, probe, headers)
        assert response.status_code == 403, (name, response.status_code)
    minted = await anonymous.post(
        "/api/admin/api-keys", json={"name": "escalate", "scopes": ["*"]}, headers=headers
    )
    assert minted.status_code == 403


async def test_scopes_outside_the_catalogue_are_refused(gateway: httpx.AsyncClient) -> None:
    for scopes in (["servers.read"], ["webhooks.*"], ["serv.*"]):
        response = await gateway.post("/api/admin/api-keys", json={"name": "x", "scopes": scopes})
        assert response.status_code == 400, scopes
        assert response.json()["code"] == "INVALID_SCOPE"
    allowed = await gateway.post(
        "/api/admin/api-keys", json={"name": "files", "scopes": ["file.*", "server.logs.read"]}
    )
    assert allowed.status_code == 201, allowed.text


async def test_a_bad_bearer_token_beside_a_valid_api_key_is_refused(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get(
        "/api/admin/settings", headers={"Authorization": "Bearer not.a.token"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"
