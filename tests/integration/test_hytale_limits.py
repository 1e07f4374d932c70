"""Hytale's limits as the reference documents them: per-endpoint rate limits at the
gateway, and an account's own session limit whoever picks the account."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import httpx

from nodebyte_devstack.processes import Stack

OAUTH = "/api/v1/hytale/oauth"
FLOW_SECONDS = 900  # the CHANGELOG's 15 minutes of polling


async def test_hytale_routes_keep_the_reference_limits(stack: Stack) -> None:
    """A gateway at its default limits: 5 device codes per 15 minutes, token polling
    that lasts a whole flow at the upstream's interval, 6 refreshes an hour."""
    port = stack.start_extra_replica("gateway", {"RATE_LIMITS": ""})
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"X-API-Key": stack.config.admin_api_key},
            timeout=20,
        ) as client:
            flows = [await client.post(f"{OAUTH}/device-code") for _ in range(5)]
            assert [r.status_code for r in flows] == [200] * 5, flows[-1].text
            assert flows[0].headers["x-ratelimit-limit"] == "5"
            sixth = await client.post(f"{OAUTH}/device-code")
            assert sixth.status_code == 429, sixth.text
            assert sixth.json()["code"] == "RATE_LIMITED"
            assert int(sixth.headers["retry-after"]) > 60  # 15 minutes refill 5 codes

            flow = flows[0].json()["data"]
            poll = {"device_code": flow["device_code"]}
            first = await client.post(f"{OAUTH}/token", json=poll)
            assert first.json()["data"]["status"] == "authorization_pending", first.text
            too_soon = await client.post(f"{OAUTH}/token", json=poll)
            assert too_soon.status_code == 202, too_soon.text  # RFC 8628's answer, not a 429
            assert too_soon.json()["data"]["status"] == "slow_down"
            # The bucket holds every poll of a 15-minute flow at the upstream's interval.
            assert int(first.headers["x-ratelimit-limit"]) * flow["interval"] >= FLOW_SECONDS

            refreshes = [
                await client.post(f"{OAUTH}/refresh", json={"account_id": str(uuid4())})
                for _ in range(7)
            ]
            assert [r.status_code for r in refreshes] == [404] * 6 + [429]
            new = await client.post(f"{OAUTH}/game-session/new", json={"account_id": str(uuid4())})
            assert new.headers["x-ratelimit-limit"] == "20"
    finally:
        stack.kill(f"gateway-replica-{port}")


async def test_a_named_account_keeps_to_its_session_limit(
    gateway: httpx.AsyncClient, hytale_account: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    account_id = (await hytale_account())["account_id"]
    limited = await gateway.patch(
        f"/api/admin/hytale/accounts/{account_id}", json={"session_limit": 2}
    )
    assert limited.status_code == 200, limited.text
    new = {"account_id": account_id}
    made = [await gateway.post(f"{OAUTH}/game-session/new", json=new) for _ in range(2)]
    assert [r.status_code for r in made] == [201, 201], made[-1].text
    third = await gateway.post(f"{OAUTH}/game-session/new", json=new)
    assert third.status_code == 403, third.text
    assert third.json()["code"] == "SESSION_LIMIT_EXCEEDED"
    assert third.json()["details"]["session_limit"] == 2
    listed = await gateway.get("/api/v1/hytale/sessions", params={"status": "active"})
    mine = [s for s in listed.json()["data"] if s["account_id"] == account_id]
    assert len(mine) == 2


async def test_device_codes_keep_to_our_caps_unless_hytale_says_less(
    stack: Stack, hytale: httpx.AsyncClient
) -> None:
    """A hytale-auth whose caps are seconds, not the CHANGELOG's 30 and 15 minutes: the
    code lives the shorter of ours and Hytale's, and polling stops at our polling cap
    even when Hytale would still grant."""
    caps = {"HYTALE_DEVICE_CODE_MAX_SECONDS": "4", "HYTALE_DEVICE_POLL_MAX_SECONDS": "2"}
    port = stack.start_extra_replica("hytale-auth", caps)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}/internal/v1/hytale",
            headers={"X-Service-Token": stack.config.service_token},
            timeout=20,
        ) as replica:
            await hytale.post("/_emulator/settings", json={"device_expires_in": 600, "interval": 1})
            flow = (await replica.post("/oauth/device-code", json={})).json()["data"]
            assert flow["expires_in"] == 4  # ours, not Hytale's 600
            poll = {"device_code": flow["device_code"]}
            pending = await replica.post("/oauth/token", json=poll)
            assert pending.json()["data"]["status"] == "authorization_pending", pending.text
            account = (await hytale.post("/_emulator/accounts", json={"profiles": 1})).json()
            await asyncio.sleep(2.2)
            approve = {"account_id": account["account_id"]}
            approved = await hytale.post(
                f"/_emulator/device-codes/{flow['user_code']}/approve", json=approve
            )
            assert approved.status_code == 200, approved.text
            late = await replica.post("/oauth/token", json=poll)
            assert late.status_code == 400, late.text
            assert late.json()["details"]["reason"] == "expired_token"

            await hytale.post("/_emulator/settings", json={"device_expires_in": 1})
            short = (await replica.post("/oauth/device-code", json={})).json()["data"]
            assert short["expires_in"] == 1  # Hytale's, shorter than ours
    finally:
        stack.kill(f"hytale-auth-replica-{port}")
