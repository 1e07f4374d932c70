"""`gateway.rate_buckets` holds the callers seen lately, not every junk key ever tried."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import httpx

from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

COUNT = "SELECT count(*) FROM gateway.rate_buckets WHERE key LIKE $1"


async def test_junk_keys_create_no_buckets(stack: Stack, admin_conn: asyncpg.Connection) -> None:
    before = await admin_conn.fetchval(COUNT, "%")
    async with httpx.AsyncClient(base_url=stack.config.url("gateway"), timeout=10) as client:
        for _ in range(40):
            headers = {"X-API-Key": "nbk_" + secrets.token_hex(12)}
            response = await client.get("/api/v1/sync/logs", headers=headers)
            assert response.status_code == 401, response.text
            bearer = {"Authorization": f"Bearer {secrets.token_hex(20)}"}
            response = await client.get("/api/v1/auth/me", headers=bearer)
            assert response.status_code == 401, response.text
    assert await admin_conn.fetchval(COUNT, "%") - before <= 2  # the address's own buckets


async def test_idle_buckets_are_forgotten(stack: Stack, admin_conn: asyncpg.Connection) -> None:
    """Buckets idle for longer than their window are deleted (a replica purges at start
    and every minute); those still in their window are kept."""
    env = {"RATE_LIMITS": "public=50/1,sync=7/3600", "TRUSTED_PROXIES": "127.0.0.1/32"}
    port = stack.start_extra_replica("gateway", env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for i in range(20):
                headers = {"X-Forwarded-For": f"192.0.2.{i + 1}"}
                assert (await client.get("/api/stats", headers=headers)).status_code == 200
                await client.post("/api/v1/sync/full", headers=headers, json={})
    finally:
        stack.kill(f"gateway-replica-{port}")
    assert await admin_conn.fetchval(COUNT, "public:50/1:%") == 20
    await asyncio.sleep(2.5)
    port = stack.start_extra_replica("gateway", env)  # purges as it starts
    try:

        async def purged() -> bool:
            return await admin_conn.fetchval(COUNT, "public:50/1:%") == 0

        await eventually(purged, timeout=10)
        assert await admin_conn.fetchval(COUNT, "sync:7/3600:%") == 20
    finally:
        stack.kill(f"gateway-replica-{port}")
