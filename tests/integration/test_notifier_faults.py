"""The notifier under faults: database connections killed mid-delivery, Discord's rate
limits on every path, webhooks Discord no longer knows. Proof is what the Discord
emulator received and what a strict Discord would hold against us (its counters)."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from nodebyte_devstack.discord_hooks import arrived, embed, hook_url, messages_to
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

WEBHOOKS = "/api/admin/settings/webhooks"


async def create_webhook(gateway: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"hook {secrets.token_hex(3)}", "webhookUrl": url, **fields}
    response = await gateway.post(WEBHOOKS, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def dispatch(gateway: httpx.AsyncClient, event: str, **extra: Any) -> str:
    response = await gateway.post("/api/v1/webhook/dispatch", json={"event": event, **extra})
    assert response.status_code == 202, response.text
    return response.json()["data"]["id"]


def numbers(messages: list[dict[str, Any]]) -> Counter[str]:
    return Counter(f["value"] for m in messages for f in embed(m)["fields"] if f["name"] == "N")


async def counters(discord: httpx.AsyncClient) -> dict[str, int]:
    return (await discord.get("/_emulator/counters")).json()


@pytest.fixture(autouse=True)
async def forget_webhooks(gateway: httpx.AsyncClient) -> Any:
    yield
    for webhook in (await gateway.get(WEBHOOKS)).json()["data"]:
        await gateway.delete(WEBHOOKS, params={"id": webhook["id"]})


async def kill_notifier_connections(admin_conn: asyncpg.Connection) -> int:
    return await admin_conn.fetchval(
        """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'nodebyte-notifier'"""
    )


@pytest.mark.timeout(180)
async def test_killed_database_connections_send_each_message_once(
    stack: Stack,
    gateway: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    hooks = [hook_url(stack) for _ in range(3)]
    for _, url in hooks:
        await create_webhook(gateway, url, type="CUSTOM", events=["custom.dbkill"])
    await discord.delete("/_emulator/counters")
    await discord.post("/_emulator/faults", json={"latency_ms": 3000})  # a slow Discord
    dispatches = [
        await dispatch(gateway, "custom.dbkill", data={"n": n}, type="CUSTOM") for n in range(4)
    ]

    async def in_flight() -> bool:
        sending = await admin_conn.fetchval(
            """SELECT count(*) FROM notifier.webhook_deliveries
               WHERE request_id = ANY($1::uuid[]) AND status = 'sending'""",
            [UUID(d) for d in dispatches],
        )
        return sending >= len(hooks)

    await eventually(in_flight, timeout=30)
    for _ in range(3):  # every connection, the listener's and the pool's, mid-request
        assert await kill_notifier_connections(admin_conn) > 0
        await asyncio.sleep(1.0)
    for hook_id, _ in hooks:
        await arrived(discord, hook_id, 4)
    await asyncio.sleep(4.0)  # a second copy sent by now would have landed by now
    for hook_id, _ in hooks:
        assert numbers(await messages_to(discord, hook_id)) == Counter("0123"), hook_id
    assert (await counters(discord))["duplicates"] == 0
