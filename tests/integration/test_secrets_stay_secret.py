"""Secrets stay secret: panel keys only go to their panel, user-chosen URLs obey the
egress policy, mirror secrets are masked and sealed, and credentials never sit in
WebSocket URLs or in the gateway's log.

A listener on loopback stands in for an attacker's URL: it records every byte sent
to it, and must receive none.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.config import PANEL_APP_KEY, PANEL_CLIENT_KEY
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.sync_runs import run_sync

SETTINGS = "/api/admin/settings"
TEST = "/api/admin/settings/test"
TICKET = "/api/v1/ws-ticket"
SESSION_VARIABLE = "HYTALE_SERVER_SESSION_TOKEN"


@dataclass
class Listener:
    url: str
    received: bytearray = field(default_factory=bytearray)


@pytest.fixture
async def attacker() -> AsyncIterator[Listener]:
    """An HTTP listener on loopback that answers like a panel and keeps what it is sent."""
    listener = Listener("")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listener.received += await reader.read(65_536)
        body = b'{"object":"list","data":[],"meta":{"pagination":{"total":0,"count":0,'
        body += b'"per_page":1,"current_page":1,"total_pages":1}}}'
        head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    listener.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield listener


def refused(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["success"], body["code"]) == (False, code), body
    return body


async def panel_settings(gateway: httpx.AsyncClient) -> dict[str, Any]:
    data = (await gateway.get(SETTINGS)).json()["data"]
    return {k: data[k] for k in ("pterodactylUrl", "pterodactylApiKey", "pterodactylClientApiKey")}


async def restore_panel(gateway: httpx.AsyncClient, stack: Stack) -> None:
    """Put the emulator back as the panel, with both of its keys (a no-op when unchanged)."""
    response = await gateway.post(
        SETTINGS,
        json={
            "pterodactylUrl": stack.config.url("pterodactyl"),
            "pterodactylApiKey": PANEL_APP_KEY,
            "pterodactylClientApiKey": PANEL_CLIENT_KEY,
        },
    )
    assert response.status_code == 200, response.text


# --- panel keys go only to their panel -------------------------------------------------


async def test_a_new_panel_url_is_never_sent_the_saved_key(
    gateway: httpx.AsyncClient, stack: Stack, attacker: Listener
) -> None:
    before = await panel_settings(gateway)
    try:
        body = refused(
            await gateway.post(TEST, json={"pterodactylUrl": attacker.url}), "PANEL_KEY_REQUIRED"
        )
        assert "pterodactylApiKey" in body["error"]
        refused(
            await gateway.post(SETTINGS, json={"pterodactylUrl": attacker.url}),
            "PANEL_KEY_REQUIRED",
        )
        # Same (allowed) host, another URL: still another panel as far as its key goes.
        other = stack.config.url("pterodactyl") + "/elsewhere"
        refused(await gateway.post(TEST, json={"pterodactylUrl": other}), "PANEL_KEY_REQUIRED")
        assert await panel_settings(gateway) == before
        await run_sync(gateway, "locations")  # a sync after the refusals still reads the panel
    finally:
        await restore_panel(gateway, stack)
    assert bytes(attacker.received) == b""


async def test_a_changed_panel_url_with_its_key_drops_the_old_client_key(
    gateway: httpx.AsyncClient, stack: Stack
) -> None:
    moved = stack.config.url("pterodactyl") + "/moved"
    try:
        response = await gateway.post(
            SETTINGS, json={"pterodactylUrl": moved, "pterodactylApiKey": PANEL_APP_KEY}
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert (data["pterodactylUrl"], data["pterodactylClientApiKeySet"]) == (moved, False)
        assert data["pterodactylApiKeySet"] is True
    finally:
        await restore_panel(gateway, stack)
    assert (await gateway.get(SETTINGS)).json()["data"]["pterodactylClientApiKeySet"] is True


# --- the egress policy -------------------------------------------------------------------


async def test_probing_internal_addresses_gives_a_category_never_a_body(
    gateway: httpx.AsyncClient, stack: Stack, attacker: Listener
) -> None:
    postgres = urlsplit(stack.config.admin_dsn).port or 5432
    junk_key = "ptla_" + secrets.token_hex(21)
    for url in (
        f"http://127.0.0.1:{postgres}",
        f"http://[::ffff:127.0.0.1]:{postgres}",  # IPv4-mapped loopback
        f"http://[::1]:{postgres}",
        f"http://0.0.0.0:{postgres}",
        f"http://localhost:{postgres}",  # a name that resolves to loopback
        attacker.url,  # loopback, and not the emulator the operator allowed
    ):
        response = await gateway.post(
            TEST, json={"pterodactylUrl": url, "pterodactylApiKey": junk_key}
        )
        assert response.status_code == 200, (url, response.text)
        panel = response.json()["data"]["panel"]
        assert (panel["ok"], panel["error"]) == (False, "refused_address"), (url, panel)
    assert bytes(attacker.received) == b""

    # An allowed host that answers, but not as a panel: the status, not its words.
    answered = await gateway.post(
        TEST,
        json={
            "pterodactylUrl": stack.config.url("pterodactyl") + "/not-a-panel",
            "pterodactylApiKey": PANEL_APP_KEY,
        },
    )
    panel = answered.json()["data"]["panel"]
    assert (panel["ok"], panel["error"]) == (False, "http_404"), panel
    assert set(panel) <= {"ok", "latencyMs", "error", "message"}
    assert panel["message"] == "the server answered HTTP 404"


async def test_saving_a_private_panel_address_is_refused(
    gateway: httpx.AsyncClient, stack: Stack
) -> None:
    before = await panel_settings(gateway)
    try:
        for url in (
            "http://127.0.0.2:8080",
            "http://[::ffff:127.0.0.2]/",
            "http://u:p@example.com",
        ):
            response = await gateway.post(
                SETTINGS, json={"pterodactylUrl": url, "pterodactylApiKey": PANEL_APP_KEY}
            )
            body = refused(response, "INVALID_PANEL_URL")
            assert "pterodactylUrl" in body["error"]
        assert await panel_settings(gateway) == before
    finally:
        await restore_panel(gateway, stack)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://127.0.0.1:5432/",  # an internal port
        "https://discord.com@127.0.0.1/api/webhooks/1/t",  # credentials trick
        "https://evildiscord.com/api/webhooks/1/t",  # ends with discord.com, is not it
        "http://[::ffff:127.0.0.1]/api/webhooks/1/t",
        "https://10.0.0.1/api/webhooks/1/t",
    ],
)
async def test_alert_rules_with_hostile_webhook_urls_are_refused(
    gateway: httpx.AsyncClient, url: str
) -> None:
    rule = {
        "name": "hostile",
        "type": "server_crashed",
        "target": "server",
        "actions": [{"type": "webhook", "url": url}],
    }
    before = (await gateway.get("/api/alert-rules")).json()["data"]
    refused(await gateway.post("/api/alert-rules", json=rule), "INVALID_WEBHOOK_URL")
    assert (await gateway.get("/api/alert-rules")).json()["data"] == before

    created = await gateway.post("/api/alert-rules", json={**rule, "actions": []})
    assert created.status_code == 201, created.text
    rule_id = created.json()["data"]["id"]
    try:
        refused(await gateway.put(f"/api/alert-rules/{rule_id}", json=rule), "INVALID_WEBHOOK_URL")
    finally:
        await gateway.delete(f"/api/alert-rules/{rule_id}")


# --- the panel mirror's secrets -------------------------------------------------------------


async def test_mirror_answers_mask_environment_secrets_and_the_mirror_seals_them(
    gateway: httpx.AsyncClient,
    stack: Stack,
    hytale_server: Callable[[], Awaitable[int]],
    admin_conn: asyncpg.Connection,
) -> None:
    server_id = await hytale_server()
    token = "sess-" + secrets.token_urlsafe(24)
    panel = stack.config.url("pterodactyl")
    async with httpx.AsyncClient(base_url=panel, timeout=10) as api:
        app = {"Authorization": f"Bearer {PANEL_APP_KEY}", "Accept": "application/json"}
        identifier = (await api.get(f"/api/application/servers/{server_id}", headers=app)).json()[
            "attributes"
        ]["identifier"]
        pushed = await api.put(
            f"/api/client/servers/{identifier}/startup/variable",
            json={"key": SESSION_VARIABLE, "value": token},
            headers={"Authorization": f"Bearer {PANEL_CLIENT_KEY}", "Accept": "application/json"},
        )
        assert pushed.status_code == 200, pushed.text

    live = await gateway.get("/api/admin/panel/servers", params={"per_page": 100})
    assert live.status_code == 200, live.text
    assert token not in live.text
    [ours] = [s for s in live.json()["data"] if s["id"] == server_id]
    assert ours["container"]["environment"][SESSION_VARIABLE] == "••••" + token[-4:]

    await run_sync(gateway, "servers")
    container = await admin_conn.fetchval(
        "SELECT container::text FROM sync.servers WHERE id = $1", server_id
    )
    assert container is not None
    assert token not in container
    assert f'"{SESSION_VARIABLE}": "nbs1.' in container  # sealed with the service's key
    listed = await gateway.get("/api/admin/servers", params={"search": "hytale-test"})
    assert listed.status_code == 200, listed.text
    assert token not in listed.text


# --- credentials never in URLs or logs --------------------------------------------------------


def socket_url(stack: Stack, query: str) -> str:
    return "ws" + stack.config.url("gateway").removeprefix("http") + "/ws?" + query


async def closed_with(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    return ws.close_code


async def issue(anonymous: httpx.AsyncClient, user: SignedInUser) -> str:
    response = await anonymous.post(TICKET, headers=user.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["ticket"])


async def test_a_ticket_opens_one_connection_once_and_expires(
    stack: Stack,
    anonymous: httpx.AsyncClient,
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    user = await user_factory(roles=["SUPER_ADMIN"])
    answer = await anonymous.post(TICKET, headers=user.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["expiresIn"] == 8  # WS_TICKET_TTL_SECONDS of the local stack
    ticket = answer.json()["data"]["ticket"]

    async with connect(socket_url(stack, f"ticket={ticket}")) as ws:
        await ws.send('{"type": "subscribe", "serverId": "0195f3c8-0000-7000-8000-000000000000"}')
        frame = await asyncio.wait_for(ws.recv(), 10)
        assert '"NOT_FOUND"' in str(frame)  # admitted: the server is what is missing
    async with connect(socket_url(stack, f"ticket={ticket}")) as ws:
        assert await closed_with(ws) == 4401  # used

    stale = await issue(anonymous, user)
    await asyncio.sleep(8.5)
    async with connect(socket_url(stack, f"ticket={stale}")) as ws:
        assert await closed_with(ws) == 4401  # expired

    # A live stream (EventSource) takes a ticket the same way, once.
    stream = f"/api/admin/sync/stream/{uuid4()}"
    sse = await issue(anonymous, user)
    assert (await anonymous.get(stream, params={"ticket": sse})).status_code == 404  # admitted
    assert (await anonymous.get(stream, params={"ticket": sse})).status_code == 401

    # Only signed-in users trade their token for a ticket.
    keyed = await anonymous.post(TICKET, headers={"X-API-Key": stack.config.api_key})
    assert keyed.status_code == 403, keyed.text
    assert (await anonymous.post(TICKET)).status_code == 401


async def test_long_lived_credentials_in_websocket_urls_are_refused_and_never_logged(
    stack: Stack,
    anonymous: httpx.AsyncClient,
    user_factory: Callable[..., Awaitable[SignedInUser]],
) -> None:
    user = await user_factory(roles=["SUPER_ADMIN"])
    for query in (f"api_key={stack.config.api_key}", f"token={user.access_token}"):
        async with connect(socket_url(stack, query)) as ws:
            assert await closed_with(ws) == 4401
    ticket = await issue(anonymous, user)
    async with connect(socket_url(stack, f"ticket={ticket}")) as ws:
        await ws.send('{"type": "unsubscribe", "serverId": "0195f3c8-0000-7000-8000-000000000000"}')
        await asyncio.wait_for(ws.recv(), 10)
    # `?api_key=` still works on plain HTTP routes (the reference's frontend polls with it).
    polled = await anonymous.get("/api/v1/sync/logs", params={"api_key": stack.config.api_key})
    assert polled.status_code == 200, polled.text

    log = stack.processes["gateway"].log_path.read_text()
    assert "/ws?[redacted]" in log  # the sockets were logged, their queries scrubbed
    for secret in (stack.config.api_key, user.access_token, ticket):
        assert secret not in log
