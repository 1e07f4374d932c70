"""The operator's view of the bus, through the public admin API and the `nodebyte` CLI:
dead letters per queue (list, inspect, replay, discard, each audited) and the
outbox backlog of every service."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from typing import Any
from uuid import uuid4

import asyncpg
import httpx

from nodebyte_common import events
from nodebyte_common.bootstrap import role_name
from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.discord_hooks import embed, hook_url
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.publishing import publish_event, publish_raw
from nodebyte_devstack.waiting import eventually

BUS = "/api/admin/bus"
LETTERS = f"{BUS}/dead-letters"
QUEUE = "notifier.notifications"


async def letters_of(client: httpx.AsyncClient, user: SignedInUser) -> list[dict[str, Any]]:
    response = await client.get(LETTERS, params={"queue": QUEUE}, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def dead_lettered(
    client: httpx.AsyncClient, user: SignedInUser, letter_id: str, timeout: float = 30.0
) -> dict[str, Any]:
    async def listed() -> dict[str, Any] | None:
        return next((x for x in await letters_of(client, user) if x["id"] == letter_id), None)

    return await eventually(listed, timeout=timeout, interval=0.5)


async def audit_entries(client: httpx.AsyncClient, user: SignedInUser, action: str) -> list[dict]:
    response = await client.get(
        "/api/admin/audit-logs", params={"action": action}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_a_poison_message_is_listed_with_its_reason_inspected_and_discarded(
    stack: Stack, anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    poison_id = str(uuid4())
    headers = {"cloudEvents:id": poison_id, "cloudEvents:type": "email.requested"}
    await publish_raw(stack.config, "email.requested", b'{"not": "an email"}', headers)

    letter = await dead_lettered(anonymous, admin_user, poison_id)
    assert letter["reason"] == "rejected"
    assert letter["eventType"] == "email.requested"
    assert letter["routingKey"] == "email.requested"
    assert "does not match email.requested" in letter["problem"]
    assert letter["attempts"] == 1
    assert letter["payload"] == {"not": "an email"}

    shown = await anonymous.get(
        f"{LETTERS}/{poison_id}", params={"queue": QUEUE}, headers=admin_user.headers
    )
    assert shown.status_code == 200, shown.text
    detail = shown.json()["data"]
    assert detail["headers"]["cloudEvents:id"] == poison_id
    assert detail["headers"]["x-death"][0]["reason"] == "rejected"
    # Looking did not take it off the queue.
    assert any(x["id"] == poison_id for x in await letters_of(anonymous, admin_user))

    gone = await anonymous.delete(
        f"{LETTERS}/{poison_id}", params={"queue": QUEUE}, headers=admin_user.headers
    )
    assert gone.status_code == 200, gone.text
    assert all(x["id"] != poison_id for x in await letters_of(anonymous, admin_user))
    again = await anonymous.get(
        f"{LETTERS}/{poison_id}", params={"queue": QUEUE}, headers=admin_user.headers
    )
    assert again.status_code == 404
    assert again.json()["code"] == "NOT_FOUND"

    [entry] = [
        e
        for e in await audit_entries(anonymous, admin_user, "bus.dead_letter_discarded")
        if e["target"]["id"] == f"{QUEUE}/{poison_id}"
    ]
    assert entry["actor"]["id"] == admin_user.id


async def test_a_dead_letter_whose_cause_was_fixed_is_replayed_and_has_its_effect(
    stack: Stack,
    anonymous: httpx.AsyncClient,
    gateway: httpx.AsyncClient,
    discord: httpx.AsyncClient,
    admin_user: SignedInUser,
    admin_conn: asyncpg.Connection,
) -> None:
    hook_id, url = hook_url(stack)
    body = {"name": f"hook {secrets.token_hex(3)}", "webhookUrl": url}
    created = await gateway.post("/api/admin/settings/webhooks", json=body)
    assert created.status_code == 201, created.text
    log_id = uuid4()

    async def the_sync_report() -> list[dict]:
        # The webhook hears every system event (settings changes of other tests too).
        found = await discord.get("/_emulator/messages", params={"webhook_id": hook_id})
        return [
            m
            for m in found.json()
            if {"name": "Sync log", "value": str(log_id), "inline": False} in embed(m)["fields"]
        ]

    # The notifier cannot queue deliveries: every try fails until the delivery limit.
    role = role_name("notifier")
    await admin_conn.execute(f"REVOKE INSERT ON notifier.webhook_deliveries FROM {role}")
    try:
        completed = events.SyncCompleted(
            sync_log_id=log_id, kind="full", items_total=1, items_synced=1, duration_seconds=1.0
        )
        event_id = str(await publish_event(stack.config, completed))
        letter = await dead_lettered(anonymous, admin_user, event_id, timeout=60)
    finally:
        await admin_conn.execute(f"GRANT INSERT ON notifier.webhook_deliveries TO {role}")
    assert letter["reason"] == "delivery_limit"
    assert letter["problem"] is None
    assert letter["attempts"] > 1
    assert await the_sync_report() == []

    replayed = await anonymous.post(
        f"{LETTERS}/{event_id}/replay", params={"queue": QUEUE}, headers=admin_user.headers
    )
    assert replayed.status_code == 200, replayed.text

    assert len(await eventually(the_sync_report, timeout=30)) == 1
    assert all(x["id"] != event_id for x in await letters_of(anonymous, admin_user))
    entries = await audit_entries(anonymous, admin_user, "bus.dead_letter_replayed")
    assert any(e["target"]["id"] == f"{QUEUE}/{event_id}" for e in entries)


async def test_the_outbox_backlog_of_every_service_is_visible(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    response = await anonymous.get(f"{BUS}/outbox", headers=admin_user.headers)
    assert response.status_code == 200, response.text
    rows = {row["service"]: row for row in response.json()["data"]}
    assert set(rows) == {
        "gateway",
        "sync",
        "hytale-auth",
        "notifier",
        "scheduler",
        "node-agent-gateway",
    }
    for row in rows.values():
        assert row["error"] is None
        assert isinstance(row["backlog"], int)
        assert row["backlog"] >= 0


async def test_the_dead_letter_count_of_every_queue_is_listed(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    response = await anonymous.get(LETTERS, headers=admin_user.headers)
    assert response.status_code == 200, response.text
    queues = {row["queue"] for row in response.json()["data"]}
    assert QUEUE in queues
    assert "sync.requests" in queues


async def test_bad_names_are_400_and_a_member_is_refused(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser, member_user: SignedInUser
) -> None:
    unknown = await anonymous.get(LETTERS, params={"queue": "nope"}, headers=admin_user.headers)
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "VALIDATION_ERROR"
    letter = f"{LETTERS}/{uuid4()}"
    calls = [
        ("GET", LETTERS, {"queue": QUEUE}),
        ("GET", letter, {"queue": QUEUE}),
        ("POST", f"{letter}/replay", {"queue": QUEUE}),
        ("DELETE", letter, {"queue": QUEUE}),
        ("GET", f"{BUS}/outbox", {}),
    ]
    for method, path, params in calls:
        refused = await anonymous.request(method, path, params=params, headers=member_user.headers)
        assert refused.status_code == 403, (method, path, refused.text)
        missing = await anonymous.request(method, path, params=params)
        assert missing.status_code == 401, (method, path)


async def test_the_cli_lists_shows_replays_and_discards_dead_letters(
    stack: Stack, anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    ids = [str(uuid4()) for _ in range(2)]
    for poison_id in ids:
        headers = {"cloudEvents:id": poison_id, "cloudEvents:type": "webhook.dispatch_requested"}
        await publish_raw(stack.config, "webhook.dispatch_requested", b"[1, 2]", headers)
    for poison_id in ids:
        await dead_lettered(anonymous, admin_user, poison_id)
    env = {
        **os.environ,
        "NODEBYTE_GATEWAY_URL": stack.config.url("gateway"),
        "NODEBYTE_API_KEY": stack.config.admin_api_key,
    }

    async def cli(*args: str) -> tuple[int, Any]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "nodebyte_gateway.cli",
            "--json",
            "bus",
            "dead-letters",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, json.loads(out) if proc.returncode == 0 else err.decode()

    code, listed = await cli("list", "--queue", QUEUE)
    assert code == 0, listed
    assert set(ids) <= {x["id"] for x in listed}
    code, shown = await cli("show", ids[0], "--queue", QUEUE)
    assert code == 0
    assert shown["payload"] == [1, 2]
    code, _ = await cli("discard", ids[0], "--queue", QUEUE)
    assert code == 0
    # Replaying an undecodable message dead-letters it again, once more.
    code, _ = await cli("replay", ids[1], "--queue", QUEUE)
    assert code == 0
    again = await eventually(
        lambda: _times_dead_lettered(anonymous, admin_user, ids[1]), timeout=30, interval=0.5
    )
    assert again == 2
    assert all(x["id"] != ids[0] for x in await letters_of(anonymous, admin_user))
    code, error = await cli("show", ids[0], "--queue", QUEUE)
    assert code != 0
    assert "No dead letter" in error
    actions = [
        e["action"]
        for action in ("bus.dead_letter_discarded", "bus.dead_letter_replayed")
        for e in await audit_entries(anonymous, admin_user, action)
        if e["target"]["id"] in {f"{QUEUE}/{i}" for i in ids}
    ]
    assert sorted(actions) == ["bus.dead_letter_discarded", "bus.dead_letter_replayed"]


async def _times_dead_lettered(
    client: httpx.AsyncClient, user: SignedInUser, letter_id: str
) -> int | None:
    found = [x for x in await letters_of(client, user) if x["id"] == letter_id]
    return found[0]["timesDeadLettered"] if found and found[0]["timesDeadLettered"] > 1 else None
