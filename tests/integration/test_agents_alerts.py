"""Alerts: a resource over its threshold for its window raises one alert, resolved by
hand (one or in bulk), counted in the stats; alert rules and their secrets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from nodebyte_devstack.agent_harness import (
    EventTap,
    agent_url,
    event_tap,
    register_node,
)
from nodebyte_devstack.discord_hooks import arrived, embed, hook_url
from nodebyte_devstack.processes import Stack
from nodebyte_emulators.agent import SimulatedAgent

WEBHOOK = "https://discord.com/api/webhooks/123/very-secret-token-value"


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    types = ["alert.raised", "alert.resolved"]
    async with event_tap(stack.config.amqp_url, stack.config.prefix, types) as tap:
        yield tap


async def create_rule(gateway: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await gateway.post("/api/alert-rules", json=fields)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def agent_for(stack: Stack, node: dict[str, Any]) -> SimulatedAgent:
    return SimulatedAgent(
        agent_url(stack.config.url("node-agent-gateway")), node["id"], node["deploymentToken"]
    )


async def alerts_of(gateway: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await gateway.get("/api/alerts", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_a_sustained_threshold_raises_one_alert_that_is_then_resolved(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap
) -> None:
    node = await register_node(gateway)
    rule = await create_rule(
        gateway,
        name="Hot CPU",
        type="resource_threshold",
        target="node",
        targetId=node["id"],
        severity="critical",
        conditions={"metric": "cpu", "operator": ">", "value": 90, "duration": 3},
    )
    agent = agent_for(stack, node)
    agent.set_usage(cpu_percent=95.0)
    agent.start()
    try:
        raised = await tap.wait_for("alert.raised", timeout=30, node_id=node["id"])
        assert raised["rule_type"] == "resource_threshold"
        assert raised["severity"] == "critical"
        await asyncio.sleep(3.0)  # several evaluations later, still one alert
        found = await alerts_of(gateway, nodeId=node["id"], type="resource_threshold")
        assert len(found) == 1
        alert = found[0]
        assert alert["ruleId"] == rule["id"]
        assert alert["metadata"]["cpuUsage"] == 95.0
        assert alert["metadata"]["threshold"] == 90
        assert "95.0%" in alert["message"]
        assert alert["resolved"] is False

        response = await gateway.post(
            f"/api/alerts/{alert['id']}/resolve", json={"resolvedBy": "ops"}
        )
        assert response.status_code == 200
        assert response.json()["message"] == "Alert resolved"
        resolved = await tap.wait_for("alert.resolved", alert_id=alert["id"])
        assert resolved["resolved_by"] == "ops"
        detail = (await gateway.get(f"/api/alerts/{alert['id']}")).json()["data"]
        assert (detail["resolved"], detail["resolvedBy"]) == (True, "ops")
        assert detail["resolvedAt"] is not None
        # Still hot, but within the cooldown: not raised again.
        await asyncio.sleep(2.0)
        assert len(await alerts_of(gateway, nodeId=node["id"])) == 1
    finally:
        await agent.stop()


async def test_a_memory_alerts_metadata_holds_numbers(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap
) -> None:
    node = await register_node(gateway)
    conditions = {"metric": "memory", "operator": ">", "value": 80, "duration": 1}
    await create_rule(
        gateway,
        name="Memory metadata",
        type="resource_threshold",
        target="node",
        targetId=node["id"],
        severity="warning",
        conditions=conditions,
    )
    agent = agent_for(stack, node)
    agent.set_usage(memory_used_mb=15000.0, memory_total_mb=16000.0)
    agent.start()
    try:
        await tap.wait_for("alert.raised", timeout=30, node_id=node["id"])
        (alert,) = await alerts_of(gateway, nodeId=node["id"], type="resource_threshold")
        metadata = alert["metadata"]
        assert metadata["memoryUsage"] == 93.8  # a number, never numeric-as-string
        assert (metadata["threshold"], metadata["duration"]) == (80, 1)
    finally:
        await agent.stop()


async def test_an_alert_and_its_resolution_are_posted_to_the_rules_webhooks(
    stack: Stack, gateway: httpx.AsyncClient, tap: EventTap, discord: httpx.AsyncClient
) -> None:
    node = await register_node(gateway)
    hook_id, url = hook_url(stack)
    await create_rule(
        gateway,
        name="Hot memory, to the ops channel",
        type="resource_threshold",
        target="node",
        targetId=node["id"],
        conditions={"metric": "memory", "operator": ">=", "value": 80, "duration": 2},
        actions=[
            {"type": "webhook", "url": url},
            {"type": "webhook", "url": url},  # named twice, posted once
        ],
    )
    agent = agent_for(stack, node)
    agent.set_usage(memory_used_mb=15_000.0, memory_total_mb=16_384.0)  # 91.6 %
    agent.start()
    try:
        raised = await tap.wait_for("alert.raised", timeout=30, node_id=node["id"])
        assert raised["sealed_webhooks"]
        assert url.rsplit("/", 1)[1] not in json.dumps(raised)  # the token travels sealed
        (posted,) = await arrived(discord, hook_id)
        assert "High Memory usage" in embed(posted)["title"]
        assert raised["alert_id"] in json.dumps(embed(posted)["fields"])

        response = await gateway.post(
            f"/api/alerts/{raised['alert_id']}/resolve", json={"resolvedBy": "ops"}
        )
        assert response.status_code == 200
        first, second = await arrived(discord, hook_id, count=2)
        assert first == posted
        assert "Alert resolved" in embed(second)["title"]
        await asyncio.sleep(1.0)
        assert len(await arrived(discord, hook_id)) == 2
    finally:
        await agent.stop()


async def test_a_brief_spike_raises_nothing(stack: Stack, gateway: httpx.AsyncClient) -> None:
    node = await register_node(gateway)
    await create_rule(
        gateway,
        name="Memory",
        type="resource_threshold",
        target="node",
        targetId=node["id"],
        conditions={"metric": "memory", "operator": ">=", "value": 50, "duration": 30},
    )
    agent = agent_for(stack, node)
    agent.set_usage(memory_used_mb=15000)  # 91 %, but for far less than 30 s
    agent.start()
    try:
        await asyncio.wait_for(agent.connected.wait(), 20)
        await asyncio.sleep(4.0)
        assert await alerts_of(gateway, nodeId=node["id"]) == []
    finally:
        await agent.stop()


async def test_bulk_resolve_and_stats(
    gateway: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    node = await register_node(gateway)
    ids = []
    for n, severity in enumerate(["info", "warning", "critical"]):
        ids.append(
            await admin_conn.fetchval(
                """INSERT INTO agents.alerts (id, fingerprint, node_id, type, severity, title,
                                              message)
                   VALUES (gen_random_uuid(), $1, $2, 'node_offline', $3, 't', 'm')
                   RETURNING id::text""",
                f"test:{node['id']}:{n}",
                node["id"],
                severity,
            )
        )
    before = (await gateway.get("/api/alerts/stats")).json()["data"]
    response = await gateway.post(
        "/api/alerts/bulk-resolve", json={"alertIds": [*ids, ids[0]], "resolvedBy": "ops"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"resolved": 3}
    again = await gateway.post("/api/alerts/bulk-resolve", json={"alertIds": ids})
    assert again.json()["data"] == {"resolved": 0}
    after = (await gateway.get("/api/alerts/stats")).json()["data"]
    # Other tests raise (and auto-resolve) alerts meanwhile: new ones can only add.
    arrived = after["total"] - before["total"]
    assert arrived >= 0
    assert before["unresolved"] >= 3
    assert after["unresolved"] <= before["unresolved"] - 3 + arrived
    assert set(after["byType"]) == {"resource_threshold", "node_offline", "server_crashed"}
    assert set(after["bySeverity"]) == {"info", "warning", "critical"}
    assert sum(after["bySeverity"].values()) == after["total"]
    unresolved = await alerts_of(gateway, nodeId=node["id"], resolved="false")
    assert unresolved == []
    bad = await gateway.post("/api/alerts/bulk-resolve", json={"alertIds": ["nope"]})
    assert bad.status_code == 400
    missing = await gateway.post("/api/alerts/0195f3c8-0000-7000-8000-000000000000/resolve")
    assert missing.status_code == 404


async def test_rules_keep_webhook_urls_sealed_and_masked(
    gateway: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    rule = await create_rule(
        gateway,
        name="Crashes to Discord",
        type="server_crashed",
        target="server",
        actions=[{"type": "webhook", "url": WEBHOOK}],
    )
    assert rule["actions"] == [{"type": "webhook", "url": "••••alue"}]
    listed = (await gateway.get("/api/alert-rules")).json()["data"]
    assert WEBHOOK not in str(listed)
    assert {"Node offline", "Server crashed", "Crashes to Discord"} <= {r["name"] for r in listed}
    stored = await admin_conn.fetchval(
        "SELECT actions::text FROM agents.alert_rules WHERE id = $1::uuid", rule["id"]
    )
    assert "very-secret-token-value" not in stored

    replaced = await gateway.put(
        f"/api/alert-rules/{rule['id']}",
        json={"name": "Off", "type": "server_crashed", "target": "server", "enabled": False},
    )
    assert replaced.status_code == 200
    assert replaced.json()["data"]["enabled"] is False
    assert (await gateway.delete(f"/api/alert-rules/{rule['id']}")).status_code == 200
    assert (await gateway.delete(f"/api/alert-rules/{rule['id']}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "type": "resource_threshold", "target": "node"},
        {"name": "x", "type": "node_offline", "target": "server"},
        {"name": "x", "type": "node_offline", "target": "node", "targetId": "drop table"},
        {
            "name": "x",
            "type": "resource_threshold",
            "target": "node",
            "conditions": {"metric": "cpu", "operator": "~", "value": 1},
        },
        {
            "name": "x",
            "type": "server_crashed",
            "target": "server",
            "actions": [{"type": "webhook", "url": "ftp://x"}],
        },
        {"name": "x", "type": "volcano", "target": "node"},
    ],
    ids=["no conditions", "wrong target", "bad target id", "bad operator", "bad url", "bad type"],
)
async def test_bad_rules_are_refused(gateway: httpx.AsyncClient, body: dict[str, Any]) -> None:
    before = len((await gateway.get("/api/alert-rules")).json()["data"])
    response = await gateway.post("/api/alert-rules", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert len((await gateway.get("/api/alert-rules")).json()["data"]) == before


async def test_alert_filters_are_validated(gateway: httpx.AsyncClient) -> None:
    for params in ({"severity": "apocalyptic"}, {"nodeId": "x"}, {"limit": 0}, {"page": -1}):
        response = await gateway.get("/api/alerts", params=params)
        assert response.status_code == 400, (params, response.text)
    missing = await gateway.get("/api/alerts/0195f3c8-0000-7000-8000-000000000000")
    assert missing.status_code == 404


async def test_rules_can_be_listed_only_with_a_key(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as anonymous:
        assert (await anonymous.get("/api/alert-rules")).status_code == 401
