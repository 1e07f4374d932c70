"""The notifier under faults: database connections killed mid-delivery, Discord's rate
limits on every path, webhooks Discord no longer knows. Proof is what the Discord
emulator received and what a strict Discord would hold against us (its counters)."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from nodebyte_common import events
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


@pytest.fixture
async def strict_discord(discord: httpx.AsyncClient) -> Any:
    """Discord's buckets enforced (5 per 2 s per webhook), counters from zero."""
    await discord.post("/_emulator/settings", json={"rate_limit": True, "limit": 5, "window": 2})
    await discord.delete("/_emulator/counters")
    yield discord
    await discord.post(
        "/_emulator/settings",
        json={"rate_limit": False, "limit": 5, "window": 2, "global_limit": 0, "global_window": 1},
    )


async def test_concurrent_tests_and_dispatches_never_send_while_limited(
    stack: Stack, gateway: httpx.AsyncClient, strict_discord: httpx.AsyncClient
) -> None:
    hook_id, url = hook_url(stack)
    webhook = await create_webhook(gateway, url, type="CUSTOM", events=["custom.paced"])
    for n in range(10):
        await dispatch(gateway, "custom.paced", data={"n": n}, type="CUSTOM")
    tests = await asyncio.gather(
        *(gateway.patch(WEBHOOKS, json={"id": webhook["id"]}) for _ in range(30))
    )
    statuses = Counter(t.status_code for t in tests)
    assert set(statuses) <= {200, 429}, [t.text for t in tests if t.status_code not in (200, 429)]
    assert statuses[200] >= 1
    for limited in (t for t in tests if t.status_code == 429):
        assert limited.json()["code"] == "RATE_LIMITED"
    found = await arrived(strict_discord, hook_id, 10 + statuses[200])
    assert numbers(found) == Counter(str(n) for n in range(10))  # each dispatch once
    tested = [m for m in found if embed(m)["title"] == "🧪 Webhook Test"]
    assert len(tested) == statuses[200]
    assert (await counters(strict_discord))["sent_while_limited"] == 0


async def test_discords_global_limit_pauses_every_webhook_and_every_test(
    stack: Stack, gateway: httpx.AsyncClient, strict_discord: httpx.AsyncClient
) -> None:
    hooks = [hook_url(stack) for _ in range(3)]
    made = [
        await create_webhook(gateway, url, type="CUSTOM", events=["custom.global"])
        for _, url in hooks
    ]
    # Few enough that the buckets alone do not keep below it, over a window long
    # enough that what was on its way when the 429 came is told from what ignored it.
    await strict_discord.post("/_emulator/settings", json={"global_limit": 6, "global_window": 2.5})
    for n in range(6):
        await dispatch(gateway, "custom.global", data={"n": n}, type="CUSTOM")
    tests = await asyncio.gather(
        *(gateway.patch(WEBHOOKS, json={"id": w["id"]}) for w in made for _ in range(3))
    )
    assert {t.status_code for t in tests} <= {200, 429}, [t.text for t in tests]
    for hook_id, _ in hooks:  # besides the tests that went through

        async def every_dispatch(hook_id: str = hook_id) -> bool:
            return len(numbers(await messages_to(strict_discord, hook_id))) == 6

        await eventually(every_dispatch, timeout=30)
        assert numbers(await messages_to(strict_discord, hook_id)) == Counter("012345")
    seen = await counters(strict_discord)
    assert seen["sent_while_limited"] == 0
    assert seen["duplicates"] == 0


async def test_a_system_webhook_discord_does_not_know_is_tried_once(
    stack: Stack, publish: Any, discord: httpx.AsyncClient
) -> None:
    path = "/api/webhooks/1/local-token"  # DISCORD_WEBHOOK_URL of the stack
    await discord.post("/_emulator/webhooks/1/local-token/state", json={"status": 404})
    try:
        await discord.delete("/_emulator/stats")
        failed = events.SyncFailed(
            sync_log_id=uuid4(), kind="locations", error="gone", duration_seconds=1.0
        )
        await publish(failed)

        async def requests() -> int:
            return (await discord.get("/_emulator/stats")).json()["paths"].get(path, 0)

        assert await eventually(requests, timeout=30) == 1
        await asyncio.sleep(3.0)  # retries of a 404 would have come by now (0.2 s base)
        assert await requests() == 1
    finally:
        await discord.post("/_emulator/webhooks/1/local-token/state", json={"status": 200})
