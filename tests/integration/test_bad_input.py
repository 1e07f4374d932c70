"""Malformed requests to the sync endpoint: 4xx in the envelope, never 500, nothing queued."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from nodebyte_devstack.processes import Stack

CASES = [
    ("wrong type", {"json": {"skip_users": "yes"}}, 400),
    ("unknown field", {"json": {"requested_by": "me", "drop_tables": True}}, 400),
    ("not json", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ("json array", {"json": [1, 2, 3]}, 400),
    ("too long requested_by", {"json": {"requested_by": "x" * 5000}}, 400),
    ("huge body", {"content": b'{"requested_by": "' + b"x" * 2_000_000 + b'"}'}, 413),
]


@pytest.mark.parametrize(("name", "kwargs", "status"), CASES, ids=[c[0] for c in CASES])
async def test_malformed_body_is_refused_and_changes_nothing(
    gateway: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    name: str,
    kwargs: dict,
    status: int,
) -> None:
    before = await admin_conn.fetchval("SELECT count(*) FROM gateway.sync_requests")
    response = await gateway.post("/api/v1/sync/full", **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] in {"VALIDATION_ERROR", "PAYLOAD_TOO_LARGE"}
    assert "Traceback" not in response.text
    assert await admin_conn.fetchval("SELECT count(*) FROM gateway.sync_requests") == before


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"X-API-Key": "x" * 10_000}],
    ids=["no key", "wrong key", "empty key", "huge key"],
)
async def test_missing_or_wrong_key_is_401(stack: Stack, headers: dict) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as client:
        for method, path in [
            ("POST", "/api/v1/sync/full"),
            ("GET", "/api/v1/sync/status/0195f3c8-0000-7000-8000-000000000000"),
        ]:
            response = await client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, response.text
            assert response.json()["success"] is False
            assert response.json()["code"] in {"UNAUTHORIZED", "INVALID_API_KEY"}


async def test_key_in_query_string_is_accepted(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as client:
        response = await client.post(
            "/api/v1/sync/locations", params={"api_key": stack.config.api_key}, json={}
        )
        assert response.status_code == 202


async def test_bad_path_parameter_is_4xx(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/sync/status/not-a-uuid")
    assert 400 <= response.status_code < 500
    assert response.json()["success"] is False
