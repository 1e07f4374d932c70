"""Input no route accepts (NUL, bytes that are not UTF-8, JSON nested absurdly deep)
is a 400 in the envelope at the gateway and at every owning service, and a
caller's bad input never opens the gateway's circuit breaker to an owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.processes import Stack

DEEP = b"[" * 50_000 + b"]" * 50_000
BAD_BODIES = {
    "nul in a string": b'{"email": "a\\u0000b@example.test", "password": "x"}',
    "nul in a key": b'{"a\\u0000": 1}',
    "not utf-8": b'{"email": "\xff\xfe@example.test", "password": "x"}',
    "nested 50,000 deep": DEEP,
}


def refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "VALIDATION_ERROR"
    assert "Traceback" not in response.text


@pytest.mark.parametrize("body", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
async def test_bad_bodies_are_400_at_the_gateway(anonymous: httpx.AsyncClient, body: bytes) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/auth/forgot-password"):
        response = await anonymous.post(
            path, content=body, headers={"Content-Type": "application/json"}
        )
        refused(response)


async def test_forwarded_bodies_are_400(gateway: httpx.AsyncClient) -> None:
    for body in BAD_BODIES.values():
        response = await gateway.post(
            "/api/admin/settings", content=body, headers={"Content-Type": "application/json"}
        )
        refused(response)


async def test_a_body_is_held_to_its_declared_types(gateway: httpx.AsyncClient) -> None:
    """Strict as the contract says: a number sent as a string, or a boolean as a string,
    is a 400 that names the field, and nothing is made."""
    before = (await gateway.get("/api/admin/api-keys")).json()["data"]
    for body in ({"name": "typed", "expiresInDays": "30"}, {"name": 5}):
        response = await gateway.post("/api/admin/api-keys", json=body)
        refused(response)
    response = await gateway.post(
        "/api/nodes", json={"name": "n", "hostname": "h", "maxMemoryMb": "1024", "maxCpuCores": 2}
    )
    refused(response)
    assert "maxMemoryMb" in response.json()["error"]
    assert (await gateway.get("/api/admin/api-keys")).json()["data"] == before


@pytest.mark.parametrize("query", ["search=a%00b", "search=%ff%fe"], ids=["nul", "not utf-8"])
async def test_bad_query_strings_are_400(
    user_factory: Callable[..., Awaitable[SignedInUser]], stack: Stack, query: str
) -> None:
    admin = await user_factory(["SUPER_ADMIN"])
    async with httpx.AsyncClient(base_url=stack.config.url("gateway"), timeout=10) as client:
        for path in ("/api/admin/users", "/api/v1/dashboard/servers", "/api/admin/panel/servers"):
            url = f"{path}?{query}"
            refused(await client.get(url, headers=admin.headers))


# A GET route with a query and a POST route with a body, of each owning service.
OWNER_ROUTES = {
    "sync": ("/sync/logs", "/sync/settings"),
    "notifier": ("/webhooks", "/webhooks"),
    "scheduler": ("/tasks", "/tasks"),
    "hytale-auth": ("/hytale/accounts", "/hytale/oauth/token"),
    "node-agent-gateway": ("/alerts", "/servers"),
}


@pytest.mark.parametrize("service", list(OWNER_ROUTES))
async def test_owner_services_answer_400_too(stack: Stack, service: str) -> None:
    read, write = OWNER_ROUTES[service]
    base = stack.config.url(service) + "/internal/v1"
    headers = {"X-Service-Token": stack.config.service_token}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
        refused(await client.get(f"{read}?search=a%00b&status=%ff"))
        for body in BAD_BODIES.values():
            response = await client.post(
                write, content=body, headers={"Content-Type": "application/json"}
            )
            refused(response)


async def test_a_members_bad_input_never_opens_the_breaker(
    member_user: SignedInUser, anonymous: httpx.AsyncClient
) -> None:
    """Five NUL searches by a member used to fail at sync, open the gateway's
    breaker to it, and answer every anonymous stats request 503 for 10 s."""
    for _ in range(6):
        response = await anonymous.get(
            "/api/v1/dashboard/servers?search=a%00b", headers=member_user.headers
        )
        refused(response)
    for path in ("/api/stats", "/api/panel/counts"):
        response = await anonymous.get(path)
        assert response.status_code == 200, response.text
