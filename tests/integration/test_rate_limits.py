"""Rate limits: headers on every response, 429 in the envelope, shared by replicas."""

from __future__ import annotations

import asyncio

import httpx

from nodebyte_devstack.processes import Stack


async def test_every_limited_response_carries_the_headers(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/sync/logs")
    assert response.status_code == 200
    limit = int(response.headers["x-ratelimit-limit"])
    remaining = int(response.headers["x-ratelimit-remaining"])
    assert 0 <= remaining < limit
    assert int(response.headers["x-ratelimit-reset"]) > 0


async def test_limit_is_shared_by_two_gateway_replicas(stack: Stack) -> None:
    """Two gateway processes, the sync-command class at 20/hour, spend from one bucket."""
    env = {"RATE_LIMITS": "sync=20/3600", "TRUSTED_PROXIES": "127.0.0.1/32"}
    ports = [stack.start_extra_replica("gateway", env) for _ in range(2)]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        # A client behind the trusted proxy, with a key of its own.
        headers = {"X-API-Key": "nbk_not_a_real_key_for_limits", "X-Forwarded-For": "1.2.3.4"}
        statuses: list[int] = []
        async with httpx.AsyncClient(timeout=10) as client:
            for i in range(14):  # the sync-command class allows 20/min; auth failures count too
                url = urls[i % 2] + "/api/v1/sync/full"
                statuses.append((await client.post(url, headers=headers, json={})).status_code)
            for i in range(14):
                url = urls[i % 2] + "/api/v1/sync/full"
                response = await client.post(url, headers=headers, json={})
                statuses.append(response.status_code)
                if response.status_code == 429:
                    body = response.json()
                    assert body["success"] is False
                    assert body["code"] == "RATE_LIMITED"
                    assert int(response.headers["retry-after"]) >= 1
                    assert response.headers["x-ratelimit-remaining"] == "0"
        assert statuses.count(401) == 20  # exactly the class's 20 requests got through the limit
        assert statuses.count(429) == 8
    finally:
        for port in ports:
            stack.kill(f"gateway-replica-{port}")


async def test_leased_tokens_never_exceed_the_shared_limit(stack: Stack) -> None:
    """Fast callers on two replicas lease tokens in chunks; together they get at most
    the limit, and almost all of it (only the last chunk of each replica may lapse)."""
    env = {"RATE_LIMITS": "default=200/3600"}
    ports = [stack.start_extra_replica("gateway", env) for _ in range(2)]
    try:
        async with httpx.AsyncClient(timeout=10) as client:

            async def hammer(port: int) -> list[int]:
                url = f"http://127.0.0.1:{port}/api/v1/sync/logs"
                statuses = []
                for _ in range(20):
                    batch = [client.get(url, headers={"X-API-Key": "nbk_burst"}) for _ in range(8)]
                    statuses += [r.status_code for r in await asyncio.gather(*batch)]
                return statuses

            results = await asyncio.gather(*(hammer(port) for port in ports))
    finally:
        for port in ports:
            stack.kill(f"gateway-replica-{port}")
    statuses = [status for replica in results for status in replica]
    admitted = statuses.count(401)  # the key is wrong: admitted past the limit, then refused
    assert statuses.count(429) == len(statuses) - admitted
    assert 180 <= admitted <= 200, admitted


async def test_forwarded_for_is_ignored_from_untrusted_peers(stack: Stack) -> None:
    """Without a trusted proxy, a spoofed X-Forwarded-For opens no fresh bucket."""
    port = stack.start_extra_replica("gateway", {"RATE_LIMITS": "public=5/3600"})
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            responses = [
                await client.get("/api/stats", headers={"X-Forwarded-For": f"10.0.0.{i}"})
                for i in range(7)
            ]
    finally:
        stack.kill(f"gateway-replica-{port}")
    seen = [(r.status_code, r.headers.get("x-ratelimit-limit")) for r in responses]
    assert [status for status, _ in seen] == [200] * 5 + [429] * 2, seen
