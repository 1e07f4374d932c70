"""The Hytale emulator over real HTTP: device flow, rotating refresh tokens, sessions, JWKS."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from nodebyte_emulators.hytale import HytaleConfig, create_hytale_app
from nodebyte_emulators.server import BackgroundServer

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT = {"client_id": "hytale-server"}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with BackgroundServer(create_hytale_app(HytaleConfig(interval=0))) as url:
        yield url


@pytest.fixture
def api(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        yield client
        client.delete("/_emulator/settings")
        client.delete("/_emulator/errors")
        client.delete("/_emulator/faults")


def device_code(api: httpx.Client) -> dict:
    response = api.post(
        "/oauth2/device/auth", data={**CLIENT, "scope": "openid offline auth:server"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def poll(api: httpx.Client, code: str) -> httpx.Response:
    return api.post("/oauth2/token", data={**CLIENT, "grant_type": DEVICE, "device_code": code})


def authorise(api: httpx.Client, **account: object) -> tuple[dict, dict]:
    made = api.post("/_emulator/accounts", json=account).json()
    grant = device_code(api)
    approve = {"account_id": made["account_id"]}
    api.post(f"/_emulator/device-codes/{grant['user_code']}/approve", json=approve)
    tokens = poll(api, grant["device_code"])
    assert tokens.status_code == 200, tokens.text
    return made, tokens.json()


def refresh(api: httpx.Client, token: str) -> httpx.Response:
    return api.post(
        "/oauth2/token", data={**CLIENT, "grant_type": "refresh_token", "refresh_token": token}
    )


def test_the_device_flow_answers_like_hydra(api: httpx.Client) -> None:
    api.post("/_emulator/settings", json={"interval": 5})
    grant = device_code(api)
    assert len(grant["user_code"]) == 8
    assert grant["user_code"].isalnum()
    assert grant["verification_uri_complete"].endswith(grant["user_code"])
    assert grant["expires_in"] == 600
    assert grant["interval"] == 5
    assert poll(api, grant["device_code"]).json()["error"] == "authorization_pending"
    assert poll(api, grant["device_code"]).json()["error"] == "slow_down"
    listed = api.get("/_emulator/device-codes").json()
    assert next(d for d in listed if d["user_code"] == grant["user_code"])["interval"] == 10
    api.post(f"/_emulator/device-codes/{grant['user_code']}/deny")
    denied = poll(api, grant["device_code"])
    assert (denied.status_code, denied.json()["error"]) == (400, "access_denied")
    assert poll(api, "unknown").json()["error"] == "invalid_grant"


def test_codes_expire(api: httpx.Client) -> None:
    api.post("/_emulator/settings", json={"device_expires_in": 1})
    grant = device_code(api)
    time.sleep(1.1)
    assert poll(api, grant["device_code"]).json()["error"] == "expired_token"


def test_bad_clients_and_bodies_are_refused(api: httpx.Client) -> None:
    wrong = api.post("/oauth2/device/auth", data={"client_id": "other"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    as_json = api.post("/oauth2/token", json={**CLIENT, "grant_type": DEVICE})
    assert as_json.json()["error"] == "invalid_request"
    unknown = api.post("/oauth2/token", data={**CLIENT, "grant_type": "password"})
    assert unknown.json()["error"] == "unsupported_grant_type"


def test_refresh_tokens_rotate_and_reuse_revokes_the_chain(api: httpx.Client) -> None:
    account, tokens = authorise(api)
    renewed = refresh(api, tokens["refresh_token"])
    assert renewed.status_code == 200
    assert renewed.json()["refresh_token"] != tokens["refresh_token"]
    view = api.get(f"/_emulator/accounts/{account['account_id']}").json()
    assert view["valid_refresh_tokens"] == 1
    reused = refresh(api, tokens["refresh_token"])
    assert reused.json()["error"] == "invalid_grant"
    assert refresh(api, renewed.json()["refresh_token"]).json()["error"] == "invalid_grant"
    assert (
        api.get(f"/_emulator/accounts/{account['account_id']}").json()["valid_refresh_tokens"] == 0
    )


def test_sessions_are_signed_counted_refreshed_and_ended(api: httpx.Client) -> None:
    account, tokens = authorise(api, session_limit=1, profiles=2)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    profiles = api.get("/my-account/get-profiles", headers=bearer).json()
    assert profiles["owner"] == account["account_id"]
    profile = profiles["profiles"][0]["uuid"]
    created = api.post("/game-session/new", headers=bearer, json={"uuid": profile})
    assert created.status_code == 201
    jwks = api.get("/.well-known/jwks.json").json()
    key = next(k for k in jwks["keys"] if k["kty"] == "OKP")
    public = jwt.PyJWK(key).key
    claims = jwt.decode(
        created.json()["identityToken"], public, algorithms=["EdDSA"], audience="hytale-server"
    )
    assert claims["sub"] == profile
    assert claims["profile"]["entitlements"] == ["game.base"]
    over = api.post("/game-session/new", headers=bearer, json={"uuid": profile})
    assert (over.status_code, over.json()["error"]) == (403, "session_limit_reached")
    session = {"Authorization": f"Bearer {created.json()['sessionToken']}"}
    refreshed = api.post("/game-session/refresh", headers=session)
    assert refreshed.status_code == 200
    successor = {"Authorization": f"Bearer {refreshed.json()['sessionToken']}"}
    # The superseded session lingers, holding the account's one slot, until deleted.
    listed = api.get("/_emulator/sessions", params={"account_id": account["account_id"]}).json()
    assert [(s["active"], s["refreshes"]) for s in listed] == [(True, 0), (True, 1)]
    assert listed[0]["superseded_by"] == listed[1]["session_id"]
    assert api.delete("/game-session", headers=session).status_code == 204
    assert api.delete("/game-session", headers=session).status_code == 404
    listed = api.get("/_emulator/sessions", params={"account_id": account["account_id"]}).json()
    assert [s["active"] for s in listed] == [False, True]
    assert listed[0]["deleted_at"] is not None
    assert api.delete("/game-session", headers=successor).status_code == 204
    assert api.post("/game-session/new", headers=bearer, json={"uuid": profile}).status_code == 201
    foreign = api.post("/game-session/new", headers=bearer, json={"uuid": account["account_id"]})
    assert foreign.status_code == 404
    assert api.get("/my-account/get-profiles").status_code == 401


def test_rotated_keys_sign_new_tokens_and_old_ones_can_be_withdrawn(api: httpx.Client) -> None:
    before = api.post("/_emulator/tokens", json={}).json()["token"]
    rotated = api.post("/_emulator/keys/rotate", json={"keep_old": False}).json()
    after = api.post("/_emulator/tokens", json={}).json()["token"]
    assert jwt.get_unverified_header(after)["kid"] == rotated["kid"]
    kids = [k["kid"] for k in rotated["jwks"]["keys"] if k["kty"] == "OKP"]
    assert kids == [rotated["kid"]]
    assert jwt.get_unverified_header(before)["kid"] not in kids


def test_injected_errors_and_faults(api: httpx.Client) -> None:
    api.post("/_emulator/errors", json={"route": "device", "status": 400, "error": "slow_down"})
    assert api.post("/oauth2/device/auth", data=CLIENT).json()["error"] == "slow_down"
    assert api.post("/oauth2/device/auth", data=CLIENT).status_code == 200
    api.post("/_emulator/faults", json={"rate_limit_next": 1, "retry_after": 3})
    throttled = api.post("/oauth2/device/auth", data=CLIENT)
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "3")
    api.post("/_emulator/faults", json={"error_next": 1, "error_status": 502})
    assert api.get("/.well-known/jwks.json").status_code == 502
    assert api.get("/_emulator/stats").json()["statuses"]["429"] >= 1
