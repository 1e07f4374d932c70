"""Hytale server authentication end to end: gateway → hytale-auth → Hytale emulator → panel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from nodebyte_devstack.config import PANEL_APP_KEY
from nodebyte_devstack.waiting import eventually

SESSION_VAR, IDENTITY_VAR = "HYTALE_SERVER_SESSION_TOKEN", "HYTALE_SERVER_IDENTITY_TOKEN"
AGENT = {"User-Agent": "nodebyte-test/1.0"}


async def server_environment(panel: httpx.AsyncClient, server_id: int) -> dict[str, Any]:
    response = await panel.get(
        f"/api/application/servers/{server_id}",
        headers={"Authorization": f"Bearer {PANEL_APP_KEY}", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    return response.json()["attributes"]["container"]["environment"]


async def pushed_tokens(panel: httpx.AsyncClient, server_id: int) -> tuple[str, str] | None:
    env = await server_environment(panel, server_id)
    if env.get(SESSION_VAR) and env.get(IDENTITY_VAR):
        return env[SESSION_VAR], env[IDENTITY_VAR]
    return None


def data_of(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    assert body["code"] == code, body
    return body


async def test_device_flow_to_a_game_session_pushed_to_the_panel(
    gateway: httpx.AsyncClient,
    hytale: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    hytale_server: Callable[[], Awaitable[int]],
) -> None:
    server_id = await hytale_server()
    await hytale.post("/_emulator/settings", json={"interval": 1})
    account = (await hytale.post("/_emulator/accounts", json={"profiles": 2})).json()
    account_id = account["account_id"]
    chosen = account["profiles"][1]

    flow = data_of(await gateway.post("/api/v1/hytale/oauth/device-code", headers=AGENT))
    assert len(flow["user_code"]) == 8
    assert flow["interval"] == 1
    assert flow["verification_uri"].endswith("/device")
    poll = {"device_code": flow["device_code"]}
    pending = await gateway.post("/api/v1/hytale/oauth/token", json=poll, headers=AGENT)
    assert data_of(pending, 202)["status"] == "authorization_pending"
    approve = {"account_id": account_id}
    await hytale.post(f"/_emulator/device-codes/{flow['user_code']}/approve", json=approve)
    await asyncio.sleep(1.1)
    authorised = data_of(await gateway.post("/api/v1/hytale/oauth/token", json=poll, headers=AGENT))
    assert authorised["account_id"] == account_id
    assert authorised["access_token"].startswith("••••")
    assert len(authorised["access_token"]) == 8
    assert len(authorised["profiles"]) == 2

    listed = data_of(
        await gateway.post("/api/v1/hytale/oauth/profiles", json={"account_id": account_id})
    )
    assert listed["owner"] == account_id
    assert {p["uuid"] for p in listed["profiles"]} == {p["uuid"] for p in account["profiles"]}
    select = {"account_id": account_id, "profile_uuid": chosen["uuid"]}
    selected = data_of(
        await gateway.post("/api/v1/hytale/oauth/select-profile", json=select, headers=AGENT)
    )
    assert selected["username"] == chosen["username"]

    new = {"account_id": account_id, "server_id": server_id}
    session = data_of(
        await gateway.post("/api/v1/hytale/oauth/game-session/new", json=new, headers=AGENT), 201
    )
    assert session["profile_uuid"] == chosen["uuid"]
    assert session["server_id"] == server_id
    first = await eventually(lambda: pushed_tokens(panel, server_id), timeout=15)
    await assert_valid(gateway, first, chosen)

    ref = {"session_id": session["session_id"]}
    refreshed = data_of(
        await gateway.post("/api/v1/hytale/oauth/game-session/refresh", json=ref, headers=AGENT)
    )
    assert refreshed["session_token"] != session["session_token"]

    async def second_push() -> tuple[str, str] | None:
        tokens = await pushed_tokens(panel, server_id)
        return tokens if tokens and tokens != first else None

    second = await eventually(second_push, timeout=15)
    await assert_valid(gateway, second, chosen)

    deleted = await gateway.post("/api/v1/hytale/oauth/game-session/delete", json=ref)
    assert data_of(deleted)["deleted"] is True
    upstream = (await hytale.get("/_emulator/sessions", params={"account_id": account_id})).json()
    assert [s["active"] for s in upstream] == [False, False]  # the refreshed one and its successor
    assert all(s["deleted_at"] for s in upstream)  # both given back, neither left to lapse
    again = await gateway.post("/api/v1/hytale/oauth/game-session/refresh", json=ref)
    error_of(again, 404, "SESSION_NOT_FOUND")

    await assert_audited(gateway, account_id)
    await assert_events_without_secrets(admin_conn, UUID(session["session_id"]), first + second)
    removed = await gateway.delete(f"/api/admin/hytale/accounts/{account_id}")
    assert data_of(removed)["deleted"] is True


async def assert_valid(
    gateway: httpx.AsyncClient, tokens: tuple[str, str], profile: dict[str, str]
) -> None:
    for token, kind in zip(tokens, ("session", "identity"), strict=True):
        checked = await gateway.post(
            "/api/v1/hytale/tokens/validate", json={"token": token, "type": kind}
        )
        facts = data_of(checked)
        assert facts["subject"] == profile["uuid"]
        assert facts["type"] == kind
    identity = await gateway.post(
        "/api/v1/hytale/tokens/validate", json={"token": tokens[1], "type": "identity"}
    )
    assert data_of(identity)["username"] == profile["username"]


async def assert_audited(gateway: httpx.AsyncClient, account_id: str) -> None:
    wanted = {"TOKEN_CREATED", "PROFILE_SELECTED", "SESSION_CREATED", "SESSION_REFRESHED"}

    async def entries() -> list[dict[str, Any]] | None:
        response = await gateway.get("/api/v1/hytale/logs", params={"account_id": account_id})
        found = data_of(response)
        types = {e["event_type"] for e in found}
        return found if wanted | {"SESSION_DELETED"} <= types else None

    found = await eventually(entries, timeout=10)
    for entry in found:
        assert entry["account_id"] == account_id
        if entry["event_type"] in wanted:
            assert entry["ip_address"] == "127.0.0.1"
            assert entry["user_agent"] == "nodebyte-test/1.0"
    limited = await gateway.get(
        "/api/v1/hytale/logs", params={"account_id": account_id, "limit": 2}
    )
    assert len(data_of(limited)) == 2
    too_many = await gateway.get("/api/v1/hytale/logs", params={"limit": 1001})
    error_of(too_many, 400, "INVALID_REQUEST")


async def assert_events_without_secrets(
    admin_conn: asyncpg.Connection, session_id: UUID, tokens: tuple[str, ...]
) -> None:
    async def published() -> list[asyncpg.Record] | None:
        rows = await admin_conn.fetch(
            "SELECT type, payload, headers::text AS headers FROM hytale_auth.outbox"
        )
        mine = [r for r in rows if str(session_id) in bytes(r["payload"]).decode()]
        return mine if len(mine) >= 3 else None

    rows = await eventually(published, timeout=10)
    assert {r["type"] for r in rows} == {"session.created", "session.refreshed", "session.deleted"}
    for row in rows:
        payload = json.loads(bytes(row["payload"]))
        assert set(payload) <= {
            "session_id",
            "account_id",
            "profile_uuid",
            "server_id",
            "expires_at",
            "reason",
        }
        for token in tokens:
            assert token not in bytes(row["payload"]).decode()
            assert token not in row["headers"]


async def test_poll_answers_follow_the_upstream(
    hytale: httpx.AsyncClient, hytale_auth: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    async def start() -> dict[str, Any]:
        return data_of(await hytale_auth.post("/hytale/oauth/device-code", json={}))

    async def poll(flow: dict[str, Any]) -> httpx.Response:
        return await hytale_auth.post(
            "/hytale/oauth/token", json={"device_code": flow["device_code"]}
        )

    unknown = await hytale_auth.post("/hytale/oauth/token", json={"device_code": "nope"})
    error_of(unknown, 400, "INVALID_DEVICE_CODE")

    slow = await start()
    await hytale.post(
        "/_emulator/errors", json={"route": "token", "status": 400, "error": "slow_down"}
    )
    slowed = data_of(await poll(slow), 202)
    assert slowed == {**slowed, "status": "slow_down", "interval": slow["interval"] + 5}
    early = data_of(await poll(slow), 202)  # answered by us: Hytale is not asked again
    assert early["status"] == "slow_down"

    expiring = await start()
    injected = {"route": "token", "status": 400, "error": "expired_token"}
    await hytale.post("/_emulator/errors", json=injected)
    expired = error_of(await poll(expiring), 400, "INVALID_DEVICE_CODE")
    assert expired["details"]["reason"] == "expired_token"
    error_of(await poll(expiring), 400, "INVALID_DEVICE_CODE")  # stays expired

    denied = await start()
    await hytale.post(f"/_emulator/device-codes/{denied['user_code']}/deny")
    refusal = error_of(await poll(denied), 403, "FORBIDDEN")
    assert refusal["details"]["reason"] == "access_denied"

    stale = await start()
    injected = {"route": "token", "status": 400, "error": "invalid_grant"}
    await hytale.post("/_emulator/errors", json=injected)
    error_of(await poll(stale), 400, "INVALID_DEVICE_CODE")

    # Our own caps: a code Hytale would honour for two hours lives 30 minutes here,
    await hytale.post("/_emulator/settings", json={"device_expires_in": 7200})
    capped = await start()
    assert capped["expires_in"] == 1800
    # and polling stops after 15 minutes (the deadline is moved instead of waiting).
    await admin_conn.execute(
        """UPDATE hytale_auth.device_flows SET poll_until = now() - interval '1 second'
           WHERE user_code = $1""",
        capped["user_code"],
    )
    asked = (await hytale.get("/_emulator/stats")).json()["paths"].get("/oauth2/token", 0)
    stopped = error_of(await poll(capped), 400, "INVALID_DEVICE_CODE")
    assert stopped["details"]["reason"] == "expired_token"
    assert (await hytale.get("/_emulator/stats")).json()["paths"]["/oauth2/token"] == asked

    broken = await start()
    injected = {"route": "token", "status": 400, "error": "invalid_client"}
    await hytale.post("/_emulator/errors", json=injected)
    integration = error_of(await poll(broken), 424, "INTEGRATION_ERROR")
    assert integration["details"]["status"] == 502


async def test_upstream_outages_reach_the_client_as_reference_errors(
    gateway: httpx.AsyncClient, hytale: httpx.AsyncClient
) -> None:
    await hytale.post("/_emulator/faults", json={"error_next": 1, "error_status": 503})
    down = await gateway.post("/api/v1/hytale/oauth/device-code")
    body = error_of(down, 502, "SERVICE_ERROR")
    assert "details" not in body
    await hytale.post("/_emulator/faults", json={"rate_limit_next": 1, "retry_after": 7})
    throttled = await gateway.post("/api/v1/hytale/oauth/device-code")
    error_of(throttled, 429, "RATE_LIMITED")
    assert throttled.headers["retry-after"] == "7"


async def test_revoked_authorisation_asks_for_a_new_one(
    hytale: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    hytale_account: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    account = await hytale_account()
    account_id = account["account_id"]
    await hytale.post(f"/_emulator/accounts/{account_id}/revoke")
    refused = await hytale_auth.post("/hytale/oauth/refresh", json={"account_id": account_id})
    error_of(refused, 401, "INVALID_TOKEN")
    pool = data_of(await hytale_auth.get("/hytale/accounts"))["accounts"]
    mine = next(a for a in pool if a["account_id"] == account_id)
    assert mine["status"] == "needs_reauth"
    assert mine["usable"] is False
    new = await hytale_auth.post("/hytale/oauth/game-session/new", json={"account_id": account_id})
    error_of(new, 401, "INVALID_TOKEN")
    unknown = await hytale_auth.post("/hytale/oauth/refresh", json={"account_id": str(uuid4())})
    error_of(unknown, 404, "ACCOUNT_NOT_FOUND")


async def test_session_limit_is_refused_with_the_entitlement_hint(
    hytale_auth: httpx.AsyncClient, hytale_account: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    account = await hytale_account(session_limit=1)
    new = {"account_id": account["account_id"]}
    data_of(await hytale_auth.post("/hytale/oauth/game-session/new", json=new), 201)
    refused = await hytale_auth.post("/hytale/oauth/game-session/new", json=new)
    body = error_of(refused, 403, "SESSION_LIMIT_EXCEEDED")
    assert "sessions.unlimited_servers" in body["details"]["hint"]


async def test_a_session_hytale_forgot_is_not_found_and_a_server_gets_a_successor(
    hytale: httpx.AsyncClient,
    hytale_auth: httpx.AsyncClient,
    panel: httpx.AsyncClient,
    hytale_account: Callable[..., Awaitable[dict[str, Any]]],
    hytale_server: Callable[[], Awaitable[int]],
) -> None:
    account = await hytale_account()
    server_id = await hytale_server()
    plain = data_of(
        await hytale_auth.post(
            "/hytale/oauth/game-session/new", json={"account_id": account["account_id"]}
        ),
        201,
    )
    linked = data_of(
        await hytale_auth.post(
            "/hytale/oauth/game-session/new",
            json={"account_id": account["account_id"], "server_id": server_id},
        ),
        201,
    )
    await end_upstream_sessions(hytale, account["account_id"])
    gone = await hytale_auth.post(
        "/hytale/oauth/game-session/refresh", json={"session_id": plain["session_id"]}
    )
    assert "details" not in error_of(gone, 404, "SESSION_NOT_FOUND")
    lost = await hytale_auth.post(
        "/hytale/oauth/game-session/refresh", json={"session_id": linked["session_id"]}
    )
    successor_id = error_of(lost, 404, "SESSION_NOT_FOUND")["details"]["replaced_by"]
    successor = data_of(await hytale_auth.get(f"/hytale/sessions/{successor_id}"))
    assert successor["server_id"] == server_id
    assert successor["status"] == "active"
    old = data_of(await hytale_auth.get(f"/hytale/sessions/{linked['session_id']}"))
    assert old["status"] == "expired"
    assert old["end_reason"] == "gone upstream"

    async def pushed() -> bool:
        view = data_of(await hytale_auth.get(f"/hytale/sessions/{successor_id}"))
        return view["panel"]["pushed_generation"] == 1

    await eventually(pushed, timeout=15)
    unknown = await hytale_auth.post(
        "/hytale/oauth/game-session/refresh", json={"session_id": str(uuid4())}
    )
    error_of(unknown, 404, "SESSION_NOT_FOUND")


async def end_upstream_sessions(hytale: httpx.AsyncClient, account_id: str) -> None:
    """End every session of the account at Hytale, as if they had lapsed there."""
    listed = (await hytale.get("/_emulator/sessions", params={"account_id": account_id})).json()
    for session in listed:
        if session["active"]:
            await hytale.delete(f"/_emulator/sessions/{session['session_id']}")


# (path, request, code): a body that is not JSON at all is refused at the edge, as on
# every route; JSON the Hytale flow cannot use is its own INVALID_REQUEST.
BAD_REQUESTS = [
    ("/api/v1/hytale/oauth/token", {"content": b"{not json"}, "VALIDATION_ERROR"),
    ("/api/v1/hytale/oauth/token", {"json": {"device_code": ""}}, "INVALID_REQUEST"),
    ("/api/v1/hytale/oauth/token", {"json": [1, 2]}, "INVALID_REQUEST"),
    ("/api/v1/hytale/oauth/refresh", {"json": {"account_id": "not-a-uuid"}}, "INVALID_REQUEST"),
    (
        "/api/v1/hytale/oauth/select-profile",
        {"json": {"account_id": str(uuid4())}},
        "INVALID_REQUEST",
    ),
    ("/api/v1/hytale/oauth/game-session/new", {"json": {"server_id": 0}}, "INVALID_REQUEST"),
    ("/api/v1/hytale/oauth/game-session/new", {"json": {"server_id": "1"}}, "INVALID_REQUEST"),
    ("/api/v1/hytale/oauth/game-session/new", {"json": {"drop": True}}, "INVALID_REQUEST"),
    ("/api/v1/hytale/oauth/game-session/delete", {"json": {}}, "INVALID_REQUEST"),
    (
        "/api/v1/hytale/tokens/validate",
        {"json": {"token": "x", "type": "other"}},
        "INVALID_REQUEST",
    ),
]


@pytest.mark.parametrize(
    ("path", "kwargs", "code"), BAD_REQUESTS, ids=[str(i) for i in range(len(BAD_REQUESTS))]
)
async def test_bad_requests_are_invalid_and_change_nothing(
    gateway: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
    path: str,
    kwargs: dict[str, Any],
    code: str,
) -> None:
    before = await admin_conn.fetchval("SELECT count(*) FROM hytale_auth.game_sessions")
    error_of(await gateway.post(path, **kwargs), 400, code)
    assert await admin_conn.fetchval("SELECT count(*) FROM hytale_auth.game_sessions") == before


async def test_hytale_routes_need_a_key(stack: Any) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url("gateway")) as anonymous:
        for method, path in (
            ("POST", "/api/v1/hytale/oauth/device-code"),
            ("GET", "/api/v1/hytale/logs"),
            ("GET", "/api/v1/hytale/server-logs?server_id=1"),
            ("GET", "/api/admin/hytale/accounts"),
        ):
            response = await anonymous.request(method, path)
            assert response.status_code == 401, path
