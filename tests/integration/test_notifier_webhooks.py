"""Discord webhooks end to end: admin CRUD and test through the gateway, fan-out of
events by type/scope/events, rate limits, refused webhooks, SSRF, restarts."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from nodebyte_common import events
from nodebyte_devstack.discord_hooks import arrived, embed, hook_url, messages_to
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.publishing import publish_event
from nodebyte_devstack.waiting import eventually

WEBHOOKS = "/api/admin/settings/webhooks"
ADMIN_EMAIL = "admin@nodebyte.test"


@pytest.fixture
async def mail(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.config.url("mail"), timeout=10) as client:
        yield client
        await client.delete("/_emulator/faults")


@pytest.fixture(autouse=True)
async def forget_webhooks(gateway: httpx.AsyncClient) -> AsyncIterator[None]:
    """Remove the webhooks a test made, so later tests see only the system webhook."""
    yield
    for webhook in (await gateway.get(WEBHOOKS)).json()["data"]:
        await gateway.delete(WEBHOOKS, params={"id": webhook["id"]})


async def create_webhook(gateway: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"hook {secrets.token_hex(3)}", "webhookUrl": url, **fields}
    response = await gateway.post(WEBHOOKS, json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def server_alert(alert_id: UUID, severity: str, title: str, message: str) -> events.AlertRaised:
    return events.AlertRaised(
        alert_id=alert_id,
        rule_type="server_crashed",
        severity=severity,  # type: ignore[arg-type]
        title=title,
        message=message,
        server_id=uuid4(),
        raised_at=datetime.now(UTC),
    )


async def publish(stack: Stack, event: events.Event) -> UUID:
    return await publish_event(stack.config, event)


async def dispatch(gateway: httpx.AsyncClient, event: str, **extra: Any) -> str:
    response = await gateway.post("/api/v1/webhook/dispatch", json={"event": event, **extra})
    assert response.status_code == 202, response.text
    assert response.json()["data"]["status"] == "PENDING"
    return response.json()["data"]["id"]


async def dispatch_state(gateway: httpx.AsyncClient, dispatch_id: str, wanted: str) -> dict:
    async def reached() -> dict | None:
        response = await gateway.get(f"/api/v1/webhook/dispatch/{dispatch_id}")
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        return data if data["status"] == wanted else None

    return await eventually(reached, timeout=30)


async def test_webhook_crud_and_test_through_the_gateway(
    stack: Stack,
    gateway: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    hook_id, url = hook_url(stack)
    token = url.rsplit("/", 1)[1]
    created = await create_webhook(gateway, url, description="ops channel")
    assert created["type"] == "SYSTEM"
    assert created["scope"] == "ADMIN"
    assert created["enabled"] is True
    assert created["events"] == []
    assert token not in created["webhookUrl"]
    assert created["webhookUrl"].endswith(token[-4:])
    stored = await admin_conn.fetchrow(
        "SELECT url_sealed, url_masked FROM notifier.webhooks WHERE id = $1", UUID(created["id"])
    )
    assert token not in stored["url_sealed"]
    assert stored["url_sealed"].startswith("nbs1.")

    listed = (await gateway.get(WEBHOOKS)).json()["data"]
    assert [w for w in listed if w["id"] == created["id"]] == [created]
    assert token not in str(listed)

    again = await gateway.post(WEBHOOKS, json={"name": "dup", "webhookUrl": url})
    assert again.status_code == 409
    assert again.json()["code"] == "WEBHOOK_EXISTS"

    change = {"id": created["id"], "name": "renamed", "events": ["sync.failed"], "type": "VPS"}
    updated = await gateway.put(WEBHOOKS, json=change)
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["name"] == "renamed"
    assert updated.json()["data"]["events"] == ["sync.failed"]
    assert updated.json()["data"]["type"] == "VPS"
    bad = await gateway.put(WEBHOOKS, json={"id": created["id"], "scope": "EVERYONE"})
    assert bad.status_code == 400
    assert bad.json()["success"] is False
    assert (await gateway.put(WEBHOOKS, json={"id": str(uuid4()), "name": "x"})).status_code == 404
    assert (await gateway.put(WEBHOOKS, json={"id": "not-a-uuid"})).status_code == 400

    tested = await gateway.patch(WEBHOOKS, json={"id": created["id"]})
    assert tested.status_code == 200, tested.text
    assert tested.json()["message"] == "Webhook test successful"
    result = tested.json()["data"]
    assert result["delivered"] is True
    assert result["statusCode"] == 200
    [message] = await arrived(discord, hook_id)
    assert embed(message)["title"] == "🧪 Webhook Test"
    assert message["id"] == result["messageId"]
    assert message["query"] == {"wait": "true"}
    listed = (await gateway.get(WEBHOOKS)).json()["data"]
    assert next(w for w in listed if w["id"] == created["id"])["testSuccessAt"] is not None

    deleted = await gateway.delete(WEBHOOKS, params={"id": created["id"]})
    assert deleted.status_code == 200, deleted.text
    assert created["id"] not in {w["id"] for w in (await gateway.get(WEBHOOKS)).json()["data"]}
    assert (await gateway.delete(WEBHOOKS, params={"id": created["id"]})).status_code == 404
    assert (await gateway.patch(WEBHOOKS, json={"id": created["id"]})).status_code == 404


async def test_the_webhook_list_filters_by_type(gateway: httpx.AsyncClient, stack: Stack) -> None:
    game = await create_webhook(gateway, hook_url(stack)[1], type="GAME_SERVER")
    await create_webhook(gateway, hook_url(stack)[1], type="BILLING")
    listed = (await gateway.get(WEBHOOKS, params={"type": "GAME_SERVER"})).json()["data"]
    assert [w["id"] for w in listed] == [game["id"]]
    everything = (await gateway.get(WEBHOOKS)).json()["data"]
    assert {"GAME_SERVER", "BILLING"} <= {w["type"] for w in everything}
    refused = await gateway.get(WEBHOOKS, params={"type": "NOPE"})
    assert refused.status_code == 400, refused.text


async def test_webhook_admin_refuses_bad_requests(gateway: httpx.AsyncClient, stack: Stack) -> None:
    _, url = hook_url(stack)
    before = (await gateway.get(WEBHOOKS)).json()["data"]
    for body in (
        {"webhookUrl": url},  # no name
        {"name": "x"},  # no URL
        {"name": "x", "webhookUrl": url, "type": "EVERYTHING"},
        {"name": "x", "webhookUrl": url, "events": ["Not An Event"]},
        {"name": "x", "webhookUrl": url, "colour": "red"},
        {"name": "", "webhookUrl": url},
    ):
        response = await gateway.post(WEBHOOKS, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["success"] is False
    assert (await gateway.post(WEBHOOKS, content=b"{not json")).status_code == 400
    assert (await gateway.patch(WEBHOOKS, json={})).status_code == 400
    anonymous = await gateway.get(WEBHOOKS, headers={"X-API-Key": ""})
    assert anonymous.status_code == 401
    assert (await gateway.get(WEBHOOKS)).json()["data"] == before


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/api/webhooks/1/abc",  # a private address
        "https://169.254.169.254/api/webhooks/1/abc",  # cloud metadata
        "https://127.0.0.1/api/webhooks/1/abc",  # loopback, not the allowlisted port
        "http://[::1]:8080/api/webhooks/1/abc",
        "http://2130706433/api/webhooks/1/abc",  # 127.0.0.1 as a decimal
        "https://evil.example.com/api/webhooks/1/abc",  # not Discord
        "https://discord.com.evil.example.com/api/webhooks/1/abc",
        "https://evildiscord.com/api/webhooks/1/t",  # ends with discord.com, is not it
        "https://discord.com@10.0.0.1/api/webhooks/1/abc",  # credentials trick
        "http://discord.com/api/webhooks/1/abc",  # not https
        "https://discord.com:8443/api/webhooks/1/abc",
        "https://discord.com/api/oauth2/authorize",  # not a webhook path
        "https://discord.com/api/webhooks/1/abc?url=http://10.0.0.1",
        "file:///etc/passwd",
    ],
)
async def test_webhook_urls_that_could_reach_elsewhere_are_refused(
    gateway: httpx.AsyncClient, url: str
) -> None:
    response = await gateway.post(WEBHOOKS, json={"name": "ssrf", "webhookUrl": url})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_WEBHOOK_URL"
    assert all(w["name"] != "ssrf" for w in (await gateway.get(WEBHOOKS)).json()["data"])


async def test_events_reach_the_webhooks_whose_type_scope_and_events_match(
    stack: Stack, gateway: httpx.AsyncClient, discord: httpx.AsyncClient, mail: httpx.AsyncClient
) -> None:
    (a_id, a_url), (b_id, b_url), (c_id, c_url), (d_id, d_url), (e_id, e_url) = (
        hook_url(stack) for _ in range(5)
    )
    await create_webhook(gateway, a_url)  # SYSTEM/ADMIN, every event
    await create_webhook(gateway, b_url, events=["sync.failed"])
    await create_webhook(gateway, c_url, type="GAME_SERVER")
    await create_webhook(gateway, d_url, scope="PUBLIC")
    await create_webhook(gateway, e_url, enabled=False)

    log_id = uuid4()
    completed = events.SyncCompleted(
        sync_log_id=log_id,
        kind="full",
        items_total=12,
        items_synced=11,
        items_failed=1,
        duration_seconds=4.25,
        counts={"nodes": 2},
    )
    await publish(stack, completed)
    failed = events.SyncFailed(
        sync_log_id=uuid4(), kind="locations", error="panel said 500", duration_seconds=1.0
    )
    await publish(stack, failed)
    alert_id = uuid4()
    raised = server_alert(alert_id, "critical", "CPU at 99%", "Server <b>mc-1</b> is hot")
    await publish(stack, raised)
    await publish(stack, events.AlertResolved(alert_id=alert_id, resolved_at=datetime.now(UTC)))
    node = events.NodeDisconnected(
        node_id=uuid4(), disconnected_at=datetime.now(UTC), reason="heartbeat timeout"
    )
    await publish(stack, node)

    a = await arrived(discord, a_id, 3)
    assert sorted(embed(m)["title"] for m in a) == sorted(
        ["✅ Sync completed", "❌ Sync failed", "🔌 Node disconnected"]
    )
    done = next(embed(m) for m in a if embed(m)["title"] == "✅ Sync completed")
    fields = {f["name"]: f["value"] for f in done["fields"]}
    assert fields["Duration"] == "4.2s"
    assert fields["Items synced"] == "11"
    assert fields["Sync log"] == str(log_id)
    assert all(m["body"]["allowed_mentions"] == {"parse": []} for m in a)
    [b] = await arrived(discord, b_id)
    assert embed(b)["title"] == "❌ Sync failed"
    assert {"name": "Error", "value": "panel said 500", "inline": False} in embed(b)["fields"]
    c = await arrived(discord, c_id, 2)
    titles = [embed(m)["title"] for m in c]
    assert titles == ["🚨 CPU at 99%", "✅ Alert resolved"]
    assert embed(c[0])["color"] == 0xEF4444
    admin_mail = await eventually(
        lambda: _mail_with_subject(mail, "[NodeByte] CPU at 99%"), timeout=30
    )
    assert "Server &lt;b&gt;mc-1&lt;/b&gt; is hot" in admin_mail["html"]
    await asyncio.sleep(1.0)  # any delivery that should not happen has had time to
    assert await messages_to(discord, d_id) == []
    assert await messages_to(discord, e_id) == []
    assert len(await messages_to(discord, a_id)) == 3
    assert len(await messages_to(discord, c_id)) == 2


async def _mail_with_subject(mail: httpx.AsyncClient, subject: str) -> dict | None:
    found = (await mail.get("/_emulator/messages", params={"to": ADMIN_EMAIL})).json()
    return next((m for m in found if m["subject"] == subject), None)


async def test_dispatch_through_the_gateway_reports_each_delivery(
    stack: Stack, gateway: httpx.AsyncClient, discord: httpx.AsyncClient
) -> None:
    hook_id, url = hook_url(stack)
    webhook = await create_webhook(gateway, url, type="GAME_SERVER", events=["server.created"])
    dispatch_id = await dispatch(
        gateway, "server.created", data={"name": "mc-1", "owner": "alice"}, type="GAME_SERVER"
    )
    done = await dispatch_state(gateway, dispatch_id, "SENT")
    # Webhooks other tests made may want server.created too; this one got it once.
    [delivery] = [d for d in done["deliveries"] if d["webhookId"] == webhook["id"]]
    assert delivery["webhookId"] == webhook["id"]
    assert delivery["webhookName"] == webhook["name"]
    assert delivery["status"] == "SENT"
    assert delivery["attempts"] == 1
    assert delivery["lastError"] is None
    [message] = await messages_to(discord, hook_id)
    assert message["id"] == delivery["messageId"]
    assert embed(message)["title"] == "🖥️ Server created"
    assert {"name": "Owner", "value": "alice", "inline": True} in embed(message)["fields"]

    nobody = await dispatch(gateway, "billing.nothing_subscribes", type="BILLING")
    assert (await dispatch_state(gateway, nobody, "NO_TARGETS"))["deliveries"] == []
    for body in (
        {"event": "Not An Event"},
        {"event": "server.created", "type": "EVERYTHING"},
        {"event": "server.created", "scope": "ALL"},
        {"event": "server.created", "data": [1, 2]},
        {"data": {}},
    ):
        response = await gateway.post("/api/v1/webhook/dispatch", json=body)
        assert response.status_code == 400, (body, response.text)
    missing = await gateway.get(f"/api/v1/webhook/dispatch/{uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"


async def test_a_retried_dispatch_with_the_same_idempotency_key_posts_once(
    stack: Stack, gateway: httpx.AsyncClient, discord: httpx.AsyncClient
) -> None:
    """A client that lost the answer asks again with its key: one id, one Discord message."""
    hook_id, url = hook_url(stack)
    await create_webhook(gateway, url, type="GAME_SERVER", events=["server.created"])
    body = {"event": "server.created", "type": "GAME_SERVER", "data": {"name": "once"}}
    key = {"Idempotency-Key": f"retry-{secrets.token_hex(4)}"}
    first = await gateway.post("/api/v1/webhook/dispatch", json=body, headers=key)
    again = await gateway.post("/api/v1/webhook/dispatch", json=body, headers=key)
    assert first.status_code == again.status_code == 202, again.text
    dispatch_id = first.json()["data"]["id"]
    assert again.json()["data"]["id"] == dispatch_id
    await dispatch_state(gateway, dispatch_id, "SENT")
    await asyncio.sleep(1)  # time for a second post of the retried request, if there were one
    assert len(await messages_to(discord, hook_id)) == 1


async def test_a_429_retry_after_is_waited_out_and_the_message_arrives_once(
    stack: Stack,
    gateway: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    hook_id, url = hook_url(stack)
    await create_webhook(gateway, url, type="CUSTOM", events=["custom.throttled"])
    await discord.post("/_emulator/faults", json={"rate_limit_next": 1, "retry_after": 1.5})
    started = time.monotonic()
    dispatch_id = await dispatch(gateway, "custom.throttled", data={"n": 1}, type="CUSTOM")
    await arrived(discord, hook_id)
    waited = time.monotonic() - started
    done = await dispatch_state(gateway, dispatch_id, "SENT")
    assert done["deliveries"][0]["attempts"] == 1  # a rate limit does not use up an attempt
    throttles = await admin_conn.fetchval(
        "SELECT throttles FROM notifier.webhook_deliveries WHERE request_id = $1",
        UUID(dispatch_id),
    )
    assert throttles == 1
    assert waited >= 1.5  # it waited as long as Discord asked, not less
    await asyncio.sleep(1.0)
    assert len(await messages_to(discord, hook_id)) == 1


async def test_an_alerts_resolution_is_posted_after_the_alert_even_when_that_is_retried(
    stack: Stack,
    gateway: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    hook_id, url = hook_url(stack)
    await create_webhook(gateway, url, type="GAME_SERVER")
    await discord.post("/_emulator/faults", json={"error_next": 1})  # the alert's first post
    alert_id = uuid4()
    raised = server_alert(alert_id, "warning", "Server crashed", "mc-1 exited with 1")
    raised_id = await publish(stack, raised)

    async def retry_pending() -> bool:
        row = await admin_conn.fetchrow(
            """SELECT status, attempts FROM notifier.webhook_deliveries
               WHERE source_event_id = $1""",
            raised_id,
        )
        return row is not None and (row["status"], row["attempts"]) == ("queued", 1)

    await eventually(retry_pending, timeout=30)  # failed once, waiting for its retry
    await publish(stack, events.AlertResolved(alert_id=alert_id, resolved_at=datetime.now(UTC)))
    posted = await arrived(discord, hook_id, 2)
    assert [embed(m)["title"] for m in posted] == ["⚠️ Server crashed", "✅ Alert resolved"]


async def test_rate_limit_headers_pace_a_burst_without_429s(
    stack: Stack, gateway: httpx.AsyncClient, discord: httpx.AsyncClient
) -> None:
    hook_id, url = hook_url(stack)
    await create_webhook(gateway, url, type="CUSTOM", events=["custom.burst"])
    await discord.post("/_emulator/settings", json={"rate_limit": True, "limit": 2, "window": 1})
    try:
        await discord.delete("/_emulator/stats")
        for n in range(6):
            await dispatch(gateway, "custom.burst", data={"n": n}, type="CUSTOM")
        found = await arrived(discord, hook_id, 6)
        stats = (await discord.get("/_emulator/stats")).json()
    finally:
        await discord.post("/_emulator/settings", json={"rate_limit": False, "limit": 5})
    numbers = sorted(f["value"] for m in found for f in embed(m)["fields"] if f["name"] == "N")
    assert numbers == [str(n) for n in range(6)]  # each once
    assert "429" not in stats["statuses"], stats


async def test_a_webhook_discord_refuses_is_disabled_and_the_admin_told(
    stack: Stack,
    gateway: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    mail: httpx.AsyncClient,
) -> None:
    hook_id, url = hook_url(stack)
    token = url.rsplit("/", 1)[1]
    webhook = await create_webhook(gateway, url, type="CUSTOM", events=["custom.refused"])
    await discord.post(f"/_emulator/webhooks/{hook_id}/{token}/state", json={"status": 404})
    try:
        dispatch_id = await dispatch(gateway, "custom.refused", type="CUSTOM")
        done = await dispatch_state(gateway, dispatch_id, "FAILED")
        assert done["deliveries"][0]["lastStatusCode"] == 404
        listed = (await gateway.get(WEBHOOKS)).json()["data"]
        now = next(w for w in listed if w["id"] == webhook["id"])
        assert now["enabled"] is False
        assert now["disabledReason"] == "HTTP 404: Unknown Webhook"

        def notice(m: dict) -> bool:
            return embed(m)["title"] == "⚠️ Webhook disabled" and webhook["name"] in str(m)

        async def system_notice() -> list[dict]:
            return [m for m in await messages_to(discord, "1") if notice(m)]

        assert len(await eventually(system_notice, timeout=30)) == 1
        subject = "[NodeByte] Webhook disabled"
        email = await eventually(lambda: _mail_with_subject(mail, subject), timeout=30)
        assert webhook["name"] in email["text"]

        tested = await gateway.patch(WEBHOOKS, json={"id": webhook["id"]})
        assert tested.status_code == 502, tested.text
        assert tested.json()["code"] == "WEBHOOK_TEST_FAILED"
        assert tested.json()["details"]["statusCode"] == 404
    finally:
        await discord.post(f"/_emulator/webhooks/{hook_id}/{token}/state", json={"status": 200})
    enabled = await gateway.put(WEBHOOKS, json={"id": webhook["id"], "enabled": True})
    assert enabled.json()["data"]["disabledReason"] is None
    second = await dispatch(gateway, "custom.refused", type="CUSTOM")
    await dispatch_state(gateway, second, "SENT")


@pytest.mark.timeout(300)  # restarts a service; slow when the machine is shared
async def test_notifier_killed_mid_delivery_sends_once_after_restart(
    stack: Stack,
    gateway: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    hook_id, url = hook_url(stack)
    await create_webhook(gateway, url, type="CUSTOM", events=["custom.kill"])
    await discord.post("/_emulator/faults", json={"hang_next": 1, "hang_seconds": 60})
    dispatch_id = await dispatch(gateway, "custom.kill", type="CUSTOM")

    async def in_flight() -> bool:
        status = await admin_conn.fetchval(
            "SELECT status FROM notifier.webhook_deliveries WHERE request_id = $1",
            UUID(dispatch_id),
        )
        return status == "sending"

    await eventually(in_flight, timeout=30)
    stack.kill("notifier")  # SIGKILL while Discord holds the request
    await discord.delete("/_emulator/faults")
    stack.start_service("notifier")
    stack.wait_healthy(["notifier"])
    done = await dispatch_state(gateway, dispatch_id, "SENT")
    assert done["deliveries"][0]["attempts"] == 2
    await asyncio.sleep(1.0)
    assert len(await messages_to(discord, hook_id)) == 1
    in_doubt = await admin_conn.fetchval(
        "SELECT in_doubt FROM notifier.webhook_deliveries WHERE request_id = $1",
        UUID(dispatch_id),
    )
    assert in_doubt is True


@pytest.mark.timeout(300)
async def test_discord_down_and_back_loses_nothing(
    stack: Stack,
    gateway: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    hook_id, url = hook_url(stack)
    await create_webhook(gateway, url, type="CUSTOM", events=["custom.outage"])
    stack.kill("discord")
    try:
        dispatch_id = await dispatch(gateway, "custom.outage", type="CUSTOM")

        async def failed_once() -> bool:
            row = await admin_conn.fetchrow(
                "SELECT attempts, last_error FROM notifier.webhook_deliveries"
                " WHERE request_id = $1",
                UUID(dispatch_id),
            )
            return row is not None and row["attempts"] >= 1 and row["last_error"] is not None

        await eventually(failed_once, timeout=30)
    finally:
        stack.start_emulator("discord")
        stack.wait_healthy(["discord"])
    done = await dispatch_state(gateway, dispatch_id, "SENT")
    assert done["deliveries"][0]["attempts"] >= 2
    assert len(await messages_to(discord, hook_id)) == 1
