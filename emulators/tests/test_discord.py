"""The Discord webhook emulator over real HTTP: recording, validation, limits, faults."""

import time
from collections.abc import Iterator

import httpx
import pytest

from nodebyte_emulators.discord import create_discord_app
from nodebyte_emulators.server import BackgroundServer
from nodebyte_emulators.strict_counters import IN_FLIGHT_GRACE

HOOK = "/api/webhooks/1234567890/tok-en"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with BackgroundServer(create_discord_app()) as url:
        yield url


@pytest.fixture(scope="module")
def clients(base_url: str) -> Iterator[dict[str, httpx.Client]]:
    """Shared clients: building an httpx.Client costs tens of milliseconds."""
    made = {
        "control": httpx.Client(base_url=f"{base_url}/_emulator"),
        "api": httpx.Client(base_url=base_url),
    }
    yield made
    for client in made.values():
        client.close()


@pytest.fixture
def control(clients: dict[str, httpx.Client]) -> Iterator[httpx.Client]:
    client = clients["control"]
    client.delete("/messages")
    client.delete("/stats")
    client.delete("/counters")
    yield client
    client.delete("/faults")
    client.post(
        "/settings",
        json={"rate_limit": False, "limit": 5, "window": 2, "global_limit": 0, "global_window": 1},
    )
    time.sleep(0.01)  # past any short retry_after a test was given
    client.delete("/counters")
    client.post("/webhooks/1234567890/tok-en/state", json={"status": 200})


@pytest.fixture
def api(clients: dict[str, httpx.Client], control: httpx.Client) -> httpx.Client:
    return clients["api"]


def test_records_messages_in_order(api: httpx.Client, control: httpx.Client) -> None:
    quiet = api.post(HOOK, json={"content": "first", "username": "NodeByte"})
    assert quiet.status_code == 204
    assert quiet.headers["x-ratelimit-limit"] == "5"
    assert quiet.headers["x-ratelimit-bucket"]
    embed = {"title": "Sync done", "description": "40 servers"}
    waited = api.post(HOOK, params={"wait": "true"}, json={"embeds": [embed]})
    assert waited.status_code == 200
    message = waited.json()
    assert message["webhook_id"] == "1234567890"
    assert message["embeds"][0]["title"] == "Sync done"
    api.post("/api/v10/webhooks/555/other", json={"content": "elsewhere"})
    received = control.get("/messages").json()
    assert [m["body"].get("content") for m in received] == ["first", None, "elsewhere"]
    assert received[1]["id"] == message["id"]
    assert received[0]["token"] == "tok-en"
    assert received[0]["headers"]["content-type"] == "application/json"
    only = control.get("/messages", params={"webhook_id": "555"}).json()
    assert [m["body"]["content"] for m in only] == ["elsewhere"]
    assert control.get("/stats").json()["total"] == 3
    control.delete("/messages")
    assert control.get("/messages").json() == []


def test_rejects_bodies_like_discord(api: httpx.Client, control: httpx.Client) -> None:
    empty = api.post(HOOK, json={"content": "", "embeds": []})
    assert empty.status_code == 400
    assert empty.json() == {"code": 50006, "message": "Cannot send an empty message"}
    too_long = api.post(HOOK, json={"content": "x" * 2001})
    assert too_long.status_code == 400
    assert too_long.json()["code"] == 50035
    assert "content" in too_long.json()["errors"]
    assert api.post(HOOK, content=b"{not json").json()["code"] == 50109
    assert control.get("/messages").json() == []


def test_rate_limit_fault_then_recovery(api: httpx.Client, control: httpx.Client) -> None:
    control.post("/faults", json={"rate_limit_next": 1, "retry_after": 0.8})
    limited = api.post(HOOK, json={"content": "hi"})
    assert limited.status_code == 429
    assert limited.json() == {
        "message": "You are being rate limited.",
        "retry_after": 0.8,
        "global": False,
    }
    assert limited.headers["retry-after"] == "1"
    assert control.get("/counters").json()["sent_while_limited"] == 0  # it could not know
    time.sleep(IN_FLIGHT_GRACE)  # sooner, it may have been on its way before the 429
    early = api.post(HOOK, json={"content": "hi"})  # before retry_after ran out
    assert early.status_code == 429
    assert 0 < early.json()["retry_after"] <= 0.8 - IN_FLIGHT_GRACE
    assert api.post("/api/webhooks/42/t", json={"content": "other bucket"}).status_code == 204
    time.sleep(0.8 - IN_FLIGHT_GRACE)
    assert api.post(HOOK, json={"content": "hi"}).status_code == 204
    assert len(control.get("/messages").json()) == 2
    assert control.get("/counters").json()["sent_while_limited"] == 1


def test_counts_requests_sent_to_a_bucket_known_empty(
    api: httpx.Client, control: httpx.Client
) -> None:
    control.post("/settings", json={"rate_limit": True, "limit": 2, "window": 0.5})
    for n in range(2):
        assert api.post(HOOK, json={"content": f"m{n}"}).status_code == 204
    assert api.post(HOOK, json={"content": "m2"}).status_code == 429
    assert api.post(HOOK, json={"content": "m2"}).status_code == 429
    assert control.get("/counters").json()["sent_while_limited"] == 2
    time.sleep(0.55)
    assert api.post(HOOK, json={"content": "m2"}).status_code == 204
    assert control.get("/counters").json()["sent_while_limited"] == 2


def test_the_global_limit_answers_like_discord_and_counts_what_ignores_it(
    api: httpx.Client, control: httpx.Client
) -> None:
    control.post("/settings", json={"global_limit": 2, "global_window": 2})
    assert api.post(HOOK, json={"content": "a"}).status_code == 204
    assert api.post("/api/webhooks/42/t", json={"content": "b"}).status_code == 204
    limited = api.post("/api/webhooks/43/t", json={"content": "c"})
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-global"] == "true"
    assert limited.headers["x-ratelimit-scope"] == "global"
    assert "x-ratelimit-bucket" not in limited.headers
    assert limited.json()["global"] is True
    assert 0 < limited.json()["retry_after"] <= 2
    assert control.get("/counters").json()["sent_while_limited"] == 0
    assert api.post("/api/webhooks/44/t", json={"content": "d"}).status_code == 429  # in flight
    assert control.get("/counters").json()["sent_while_limited"] == 0
    time.sleep(IN_FLIGHT_GRACE)
    assert api.post("/api/webhooks/44/t", json={"content": "d"}).status_code == 429
    assert control.get("/counters").json()["sent_while_limited"] == 1


def test_counts_the_same_content_delivered_twice(api: httpx.Client, control: httpx.Client) -> None:
    api.post(HOOK, json={"content": "once"})
    api.post(HOOK, json={"content": "twice"})
    api.post("/api/webhooks/42/t", json={"content": "twice"})  # another webhook: not a copy
    api.post(HOOK, json={"content": "twice"})
    api.post(HOOK, json={"content": "twice"})
    counters = control.get("/counters").json()
    assert counters["duplicates"] == 2
    assert counters["duplicated_contents"] == 1
    assert counters["messages"] == 5
    control.delete("/counters")
    assert control.get("/counters").json()["duplicates"] == 0


def test_error_fault(api: httpx.Client, control: httpx.Client) -> None:
    control.post("/faults", json={"error_next": 1, "error_status": 502})
    assert api.post(HOOK, json={"content": "hi"}).status_code == 502
    assert api.post(HOOK, json={"content": "hi"}).status_code == 204


def test_real_bucket(api: httpx.Client, control: httpx.Client) -> None:
    control.post("/settings", json={"rate_limit": True, "limit": 2, "window": 5})
    remaining = [api.post(HOOK, json={"content": "hi"}).headers["x-ratelimit-remaining"]]
    remaining.append(api.post(HOOK, json={"content": "hi"}).headers["x-ratelimit-remaining"])
    assert remaining == ["1", "0"]
    limited = api.post(HOOK, json={"content": "hi"})
    assert limited.status_code == 429
    assert 0 < limited.json()["retry_after"] <= 5
    assert float(limited.headers["x-ratelimit-reset-after"]) > 0
    other = api.post("/api/webhooks/42/t", json={"content": "separate bucket"})
    assert other.status_code == 204


def test_unknown_webhook_states(api: httpx.Client, control: httpx.Client) -> None:
    control.post("/webhooks/1234567890/tok-en/state", json={"status": 404})
    gone = api.post(HOOK, json={"content": "hi"})
    assert gone.status_code == 404
    assert gone.json() == {"message": "Unknown Webhook", "code": 10015}
    control.post("/webhooks/1234567890/tok-en/state", json={"status": 401})
    assert api.post(HOOK, json={"content": "hi"}).status_code == 401
    control.post("/webhooks/1234567890/tok-en/state", json={"status": 200})
    assert api.post(HOOK, json={"content": "hi"}).status_code == 204
    assert api.get(HOOK).json()["id"] == "1234567890"
