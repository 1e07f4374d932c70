"""The admin browsers of the panel mirror and a node's maintenance mode, from the
panel emulator through a real sync to the gateway's answers."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.sync_runs import run_sync


@pytest.fixture
async def mirrored(
    gateway: httpx.AsyncClient,
    fresh_panel: httpx.AsyncClient,
) -> dict[str, Any]:
    """The emulator's dataset, mirrored by a full sync."""
    await run_sync(gateway)
    return (await fresh_panel.get("/_emulator/dataset")).json()


async def data_of(gateway: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    response = await gateway.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body


async def every(gateway: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """All items of a paged list, walking its pages."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = await data_of(gateway, path, page=page, pageSize=7, **params)
        items += body["data"]
        if page >= body["pagination"]["totalPages"]:
            return items
        page += 1


async def test_nodes_carry_location_and_counts(
    gateway: httpx.AsyncClient, mirrored: dict[str, Any]
) -> None:
    body = await data_of(gateway, "/api/admin/nodes")
    nodes = body["data"]
    assert body["pagination"] == {
        "page": 1,
        "pageSize": 25,
        "total": len(mirrored["nodes"]),
        "totalPages": 1,
    }
    assert [n["id"] for n in nodes] == sorted(n["id"] for n in mirrored["nodes"])
    locations = {loc["id"]: loc for loc in mirrored["locations"]}
    servers_per_node = Counter(s["node"] for s in mirrored["servers"])
    for node in nodes:
        panel_node = next(n for n in mirrored["nodes"] if n["id"] == node["id"])
        allocations = [a for a in mirrored["allocations"] if a["node_id"] == node["id"]]
        assert node["name"] == panel_node["name"]
        assert node["fqdn"] == panel_node["fqdn"]
        assert node["maintenanceMode"] is bool(panel_node["maintenance_mode"])
        assert node["location"]["id"] == panel_node["location_id"]
        assert node["location"]["short"] == locations[panel_node["location_id"]]["short"]
        assert node["serverCount"] == servers_per_node[node["id"]]
        assert node["allocations"] == {
            "used": sum(1 for a in allocations if a["assigned"]),
            "total": len(allocations),
        }


async def test_node_filters_search_and_paging(
    gateway: httpx.AsyncClient, mirrored: dict[str, Any]
) -> None:
    target = mirrored["nodes"][1]
    by_name = (await data_of(gateway, "/api/admin/nodes", search=target["name"].upper()))["data"]
    assert target["id"] in [n["id"] for n in by_name]
    assert all(target["name"].lower() in n["name"].lower() for n in by_name)
    by_fqdn = (await data_of(gateway, "/api/admin/nodes", search=target["fqdn"]))["data"]
    assert [n["id"] for n in by_fqdn] == [target["id"]]

    location = target["location_id"]
    located = (await data_of(gateway, "/api/admin/nodes", locationId=location))["data"]
    expected = sorted(n["id"] for n in mirrored["nodes"] if n["location_id"] == location)
    assert [n["id"] for n in located] == expected

    for flag in (True, False):
        found = await every(gateway, "/api/admin/nodes", maintenance=str(flag).lower())
        expected = [n["id"] for n in mirrored["nodes"] if bool(n["maintenance_mode"]) is flag]
        assert sorted(n["id"] for n in found) == sorted(expected)

    first = await data_of(gateway, "/api/admin/nodes", pageSize=2, sort="name", order="desc")
    second = await data_of(
        gateway, "/api/admin/nodes", pageSize=2, page=2, sort="name", order="desc"
    )
    names = [n["name"] for n in first["data"] + second["data"]]
    assert names == sorted((n["name"] for n in mirrored["nodes"]), key=str.lower, reverse=True)[:4]
    assert first["pagination"]["totalPages"] == -(-len(mirrored["nodes"]) // 2)
    empty = await data_of(gateway, "/api/admin/nodes", search="no-such-node-anywhere")
    assert empty["data"] == []
    assert empty["pagination"]["total"] == 0
    assert empty["pagination"]["totalPages"] == 1
    wildcard = await data_of(gateway, "/api/admin/nodes", search="%")
    assert wildcard["data"] == []  # LIKE wildcards are searched for literally


async def test_node_allocations(gateway: httpx.AsyncClient, mirrored: dict[str, Any]) -> None:
    node_id = mirrored["nodes"][0]["id"]
    on_node = [a for a in mirrored["allocations"] if a["node_id"] == node_id]
    found = await every(gateway, f"/api/admin/nodes/{node_id}/allocations")
    assert sorted(a["id"] for a in found) == sorted(a["id"] for a in on_node)
    assert all(a["node"] == {"id": node_id, "name": mirrored["nodes"][0]["name"]} for a in found)
    servers = {s["id"]: s for s in mirrored["servers"]}
    for allocation in found:
        panel_allocation = next(a for a in on_node if a["id"] == allocation["id"])
        if panel_allocation["server_id"] is None:
            assert allocation["server"] is None
        else:
            assert allocation["server"]["name"] == servers[panel_allocation["server_id"]]["name"]
    for flag in (True, False):
        some = await every(
            gateway, f"/api/admin/nodes/{node_id}/allocations", assigned=str(flag).lower()
        )
        assert sorted(a["id"] for a in some) == sorted(
            a["id"] for a in on_node if a["assigned"] is flag
        )
    unknown = await gateway.get("/api/admin/nodes/999999/allocations")
    assert unknown.status_code == 404
    assert unknown.json()["success"] is False
    assert unknown.json()["code"] == "NOT_FOUND"


async def test_allocations_filters(gateway: httpx.AsyncClient, mirrored: dict[str, Any]) -> None:
    body = await data_of(gateway, "/api/admin/allocations", pageSize=10)
    assert body["pagination"]["total"] == len(mirrored["allocations"])
    assert len(body["data"]) == 10
    node_id = mirrored["nodes"][2]["id"]
    on_node = await every(gateway, "/api/admin/allocations", nodeId=node_id)
    assert {a["node"]["id"] for a in on_node} == {node_id}
    assert len(on_node) == sum(1 for a in mirrored["allocations"] if a["node_id"] == node_id)
    free = await every(gateway, "/api/admin/allocations", nodeId=node_id, assigned="false")
    assert all(not a["assigned"] and a["server"] is None for a in free)

    sample = mirrored["allocations"][5]
    by_port = await every(gateway, "/api/admin/allocations", search=str(sample["port"]))
    assert sample["id"] in [a["id"] for a in by_port]
    assert all(str(sample["port"]) in str(a["port"]) for a in by_port)
    by_ip = await every(gateway, "/api/admin/allocations", search=sample["ip"])
    assert sample["id"] in [a["id"] for a in by_ip]
    by_port_desc = await data_of(gateway, "/api/admin/allocations", sort="port", order="desc")
    ports = [a["port"] for a in by_port_desc["data"]]
    assert ports == sorted(ports, reverse=True)


async def test_locations_nests_and_eggs(
    gateway: httpx.AsyncClient, mirrored: dict[str, Any]
) -> None:
    locations = (await data_of(gateway, "/api/admin/locations"))["data"]
    assert [loc["id"] for loc in locations] == sorted(loc["id"] for loc in mirrored["locations"])
    node_location = {n["id"]: n["location_id"] for n in mirrored["nodes"]}
    for location in locations:
        assert location["nodeCount"] == sum(
            1 for n in mirrored["nodes"] if n["location_id"] == location["id"]
        )
        assert location["serverCount"] == sum(
            1 for s in mirrored["servers"] if node_location[s["node"]] == location["id"]
        )
    short = mirrored["locations"][0]["short"]
    searched = (await data_of(gateway, "/api/admin/locations", search=short))["data"]
    assert mirrored["locations"][0]["id"] in [loc["id"] for loc in searched]

    nests = (await data_of(gateway, "/api/admin/nests"))["data"]
    assert len(nests) == len(mirrored["nests"])
    for nest in nests:
        assert nest["eggCount"] == sum(1 for e in mirrored["eggs"] if e["nest"] == nest["id"])
    hytale = (await data_of(gateway, "/api/admin/nests", search="hytale"))["data"]
    assert [n["name"] for n in hytale] == ["Hytale"]

    eggs = await every(gateway, "/api/admin/eggs")
    assert sorted(e["id"] for e in eggs) == sorted(e["id"] for e in mirrored["eggs"])
    nest_id = mirrored["nests"][1]["id"]
    in_nest = await every(gateway, "/api/admin/eggs", nestId=nest_id)
    assert sorted(e["id"] for e in in_nest) == sorted(
        e["id"] for e in mirrored["eggs"] if e["nest"] == nest_id
    )
    assert all(e["nest"]["id"] == nest_id for e in in_nest)
    egg = mirrored["eggs"][0]
    named = await every(gateway, "/api/admin/eggs", search=egg["name"])
    assert egg["id"] in [e["id"] for e in named]
    found = next(e for e in named if e["id"] == egg["id"])
    assert found["serverCount"] == sum(1 for s in mirrored["servers"] if s["egg"] == egg["id"])
    assert "script" not in found
    assert "config" not in found


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/admin/nodes", {"page": 0}),
        ("/api/admin/nodes", {"pageSize": 1000}),
        ("/api/admin/nodes", {"locationId": "abc"}),
        ("/api/admin/nodes", {"locationId": "99999999999999999999999"}),
        ("/api/admin/nodes", {"maintenance": "perhaps"}),
        ("/api/admin/nodes", {"sort": "password"}),
        ("/api/admin/nodes", {"order": "sideways"}),
        ("/api/admin/nodes", {"search": "x" * 101}),
        ("/api/admin/allocations", {"nodeId": 0}),
        ("/api/admin/allocations", {"assigned": "maybe"}),
        ("/api/admin/eggs", {"nestId": -1}),
        ("/api/admin/locations", {"page": "first"}),
        ("/api/admin/nests", {"pageSize": 0}),
        ("/api/admin/nodes/0/allocations", {}),
        ("/api/admin/nodes/99999999999999999999/allocations", {}),
    ],
)
async def test_bad_queries_are_4xx(
    gateway: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> None:
    response = await gateway.get(path, params=params)
    assert 400 <= response.status_code < 500, (path, params, response.text)
    assert response.json()["success"] is False


async def test_browsers_need_admin_read(
    member_user: SignedInUser, anonymous: httpx.AsyncClient
) -> None:
    for path in ("/api/admin/nodes", "/api/admin/eggs", "/api/admin/nodes/1/allocations"):
        assert (await anonymous.get(path)).status_code == 401
        forbidden = await anonymous.get(path, headers=member_user.headers)
        assert forbidden.status_code == 403
    patched = await anonymous.patch(
        "/api/admin/nodes/1/maintenance", json={"maintenance": True}, headers=member_user.headers
    )
    assert patched.status_code == 403


async def panel_node(panel: httpx.AsyncClient, node_id: int) -> dict[str, Any]:
    nodes = (await panel.get("/_emulator/dataset")).json()["nodes"]
    return next(n for n in nodes if n["id"] == node_id)


async def test_maintenance_is_applied_on_the_panel_and_survives_a_sync(
    gateway: httpx.AsyncClient,
    mirrored: dict[str, Any],
    fresh_panel: httpx.AsyncClient,
    admin_user: SignedInUser,
    admin_conn: asyncpg.Connection,
) -> None:
    node = next(n for n in mirrored["nodes"] if not n["maintenance_mode"])
    path = f"/api/admin/nodes/{node['id']}/maintenance"
    response = await gateway.patch(path, json={"maintenance": True}, headers=admin_user.headers)
    assert response.status_code == 200, response.text
    answered = response.json()["data"]
    assert answered["id"] == node["id"]
    assert answered["maintenanceMode"] is True
    assert answered["name"] == node["name"]
    assert (await panel_node(fresh_panel, node["id"]))["maintenance_mode"] is True

    listed = (await data_of(gateway, "/api/admin/nodes", maintenance="true"))["data"]
    assert node["id"] in [n["id"] for n in listed]

    await run_sync(gateway, "nodes")
    await run_sync(gateway)
    after_sync = (await data_of(gateway, "/api/admin/nodes", search=node["fqdn"]))["data"]
    assert after_sync[0]["maintenanceMode"] is True

    entry = await admin_conn.fetchrow(
        """SELECT * FROM gateway.audit_logs WHERE action = 'panel_node.maintenance_updated'
           AND target_id = $1 ORDER BY occurred_at DESC LIMIT 1""",
        str(node["id"]),
    )
    assert entry is not None
    assert entry["actor_id"] == admin_user.id
    assert entry["target_type"] == "panel_node"
    assert _json(entry["before"]) == {"maintenanceMode": False}
    assert _json(entry["after"]) == {"maintenanceMode": True}

    # The panel's own field name is accepted too; turning it off round-trips.
    off = await gateway.patch(path, json={"maintenance_mode": False})
    assert off.status_code == 200, off.text
    assert off.json()["data"]["maintenanceMode"] is False
    assert (await panel_node(fresh_panel, node["id"]))["maintenance_mode"] is False
    await run_sync(gateway, "nodes")
    again = (await data_of(gateway, "/api/admin/nodes", search=node["fqdn"]))["data"]
    assert again[0]["maintenanceMode"] is False


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"maintenance": "yes"},
        {"maintenance": True, "extra": 1},
        [True],
        {"maintenance": True, "maintenance_mode": False},
    ],
)
async def test_maintenance_bad_bodies_are_400(
    gateway: httpx.AsyncClient, body: Any, mirrored: dict[str, Any]
) -> None:
    node_id = mirrored["nodes"][0]["id"]
    response = await gateway.patch(f"/api/admin/nodes/{node_id}/maintenance", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False


async def test_maintenance_of_unknown_node_and_panel_failures(
    gateway: httpx.AsyncClient,
    mirrored: dict[str, Any],
    fresh_panel: httpx.AsyncClient,
) -> None:
    unknown = await gateway.patch("/api/admin/nodes/999999/maintenance", json={"maintenance": True})
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"

    # In the mirror, gone from the panel: the panel's 404 is answered, the mirror kept.
    gone = mirrored["nodes"][-1]["id"]
    await fresh_panel.delete(f"/_emulator/nodes/{gone}")
    vanished = await gateway.patch(
        f"/api/admin/nodes/{gone}/maintenance", json={"maintenance": True}
    )
    assert vanished.status_code == 404, vanished.text
    assert "panel" in vanished.json()["error"]

    node = mirrored["nodes"][0]
    await fresh_panel.post("/_emulator/faults", json={"error_next": 50, "error_status": 503})
    try:
        down = await gateway.patch(
            f"/api/admin/nodes/{node['id']}/maintenance", json={"maintenance": True}
        )
        assert down.status_code in (502, 503), down.text
        assert down.json()["success"] is False
        assert down.json()["code"] in ("UPSTREAM_ERROR", "PANEL_UNAVAILABLE")
        listed = (await data_of(gateway, "/api/admin/nodes", search=node["fqdn"]))["data"]
        assert listed[0]["maintenanceMode"] is bool(node["maintenance_mode"])
    finally:
        await fresh_panel.delete("/_emulator/faults")
        await gateway.post("/api/admin/sync/panel/reset")
    # The sync service itself stayed healthy: its circuit did not open.
    assert (await gateway.get("/api/admin/nodes")).status_code == 200


async def test_live_panel_reads_report_panel_failures_without_tripping_the_gateway(
    gateway: httpx.AsyncClient, fresh_panel: httpx.AsyncClient
) -> None:
    await fresh_panel.post("/_emulator/faults", json={"error_next": 200, "error_status": 503})
    try:
        for _ in range(7):  # more than the gateway's breaker to the sync service tolerates
            down = await gateway.get("/api/admin/panel/nodes")
            assert down.status_code in (502, 503), down.text
            assert down.json()["success"] is False
            assert down.json()["code"] in ("UPSTREAM_ERROR", "PANEL_UNAVAILABLE")
    finally:
        await fresh_panel.delete("/_emulator/faults")
        await gateway.post("/api/admin/sync/panel/reset")
    # The panel failed, not the sync service: the gateway still reaches it.
    assert (await gateway.get("/api/admin/nodes")).status_code == 200
    assert (await gateway.get("/api/admin/panel/nodes")).status_code == 200
