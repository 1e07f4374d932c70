"""`/api/admin/settings`: one object over sync, scheduler and notifier; its tests; GitHub repos.

Secrets must never leave in clear: the panel keys, the Resend key and the SMTP
password are looked for in every answer and in the audit log.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from nodebyte_common import events
from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.config import (
    MAIL_RESEND_KEY,
    MAIL_SMTP_PASSWORD,
    PANEL_APP_KEY,
    PANEL_CLIENT_KEY,
)
from nodebyte_devstack.discord_hooks import embed, messages_to
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

SETTINGS = "/api/admin/settings"
TEST = "/api/admin/settings/test"
REPOS = "/api/admin/settings/repos"
SECRETS = (PANEL_APP_KEY, PANEL_CLIENT_KEY, MAIL_RESEND_KEY, MAIL_SMTP_PASSWORD)
WRITABLE = (
    "pterodactylUrl",
    "pterodactylApiKey",
    "syncBatchSize",
    "subusersEnabled",
    "autoSyncEnabled",
    "autoSyncInterval",
)
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens


@pytest.fixture
async def mail(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.config.url("mail"), timeout=10) as client:
        yield client
        await client.delete("/_emulator/faults")


def assert_no_secret(text: str, *extra: str) -> None:
    for secret in (*SECRETS, *extra):
        assert secret not in text


def assert_refused(response: httpx.Response, status: int, mentions: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    assert body["code"], body
    assert mentions in body["error"], body
    return body


async def settings_of(gateway: httpx.AsyncClient) -> dict[str, Any]:
    response = await gateway.get(SETTINGS)
    assert response.status_code == 200, response.text
    assert_no_secret(response.text)
    return response.json()["data"]


async def restore(gateway: httpx.AsyncClient, stack: Stack, saved: dict[str, Any]) -> None:
    original = {k: saved[k] for k in WRITABLE if k != "pterodactylApiKey"}
    # A changed panel URL drops the old panel's client key: both keys are given back.
    keys = {"pterodactylApiKey": PANEL_APP_KEY, "pterodactylClientApiKey": PANEL_CLIENT_KEY}
    response = await gateway.post(SETTINGS, json={**original, **keys})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["pterodactylUrl"] == stack.config.url("pterodactyl")


async def latest_audit(gateway: httpx.AsyncClient, action: str) -> tuple[dict[str, Any], str]:
    response = await gateway.get("/api/admin/audit-logs", params={"action": action, "limit": 1})
    assert response.status_code == 200, response.text
    [entry] = response.json()["data"]
    return entry, response.text


async def test_get_aggregates_every_owner_with_secrets_masked(
    gateway: httpx.AsyncClient, stack: Stack
) -> None:
    data = await settings_of(gateway)
    assert data["pterodactylUrl"] == stack.config.url("pterodactyl")
    assert data["pterodactylApiKey"] == "••••" + PANEL_APP_KEY[-4:]
    assert data["pterodactylClientApiKey"] == "••••" + PANEL_CLIENT_KEY[-4:]
    assert data["pterodactylApiKeySet"] is data["pterodactylClientApiKeySet"] is True
    assert isinstance(data["syncBatchSize"], int)
    assert isinstance(data["subusersEnabled"], bool)
    sync_settings = (await gateway.get("/api/admin/sync/settings")).json()["data"]
    assert data["syncBatchSize"] == sync_settings["pageSize"]
    assert data["autoSyncEnabled"] == sync_settings["autoSyncEnabled"]
    assert data["autoSyncInterval"] == sync_settings["autoSyncInterval"]
    assert data["emailProvider"] == "resend"
    assert data["emailConfigured"] is True
    assert data["emailFrom"] == "NodeByte <noreply@nodebyte.test>"
    assert data["adminEmailTo"] == ["admin@nodebyte.test"]
    assert data["discordWebhookConfigured"] is True


async def test_post_routes_each_key_to_its_owner_and_audits_masked(
    gateway: httpx.AsyncClient, stack: Stack, admin_conn: asyncpg.Connection
) -> None:
    saved = await settings_of(gateway)
    new_key = "ptla_" + secrets.token_hex(21)
    try:
        response = await gateway.post(
            SETTINGS,
            json={
                "syncBatchSize": 250,
                "subusersEnabled": False,
                "autoSyncInterval": 1800,
                "pterodactylApiKey": new_key,
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["message"] == "Settings updated"
        assert_no_secret(response.text, new_key)
        data = response.json()["data"]
        assert (data["syncBatchSize"], data["subusersEnabled"]) == (250, False)
        assert data["autoSyncInterval"] == 1800
        assert data["pterodactylApiKey"] == "••••" + new_key[-4:]

        owners = (await gateway.get("/api/admin/sync/settings")).json()["data"]
        assert (owners["pageSize"], owners["subusersEnabled"]) == (250, False)
        assert owners["autoSyncInterval"] == 1800
        assert owners["applicationKey"] == "••••" + new_key[-4:]

        entry, text = await latest_audit(gateway, "settings.updated")
        assert_no_secret(text, new_key)
        assert entry["target"] == {"type": "settings", "id": None}
        assert entry["before"]["syncBatchSize"] == saved["syncBatchSize"]
        assert entry["after"]["syncBatchSize"] == 250
        assert entry["after"]["autoSyncInterval"] == 1800
        assert set(entry["after"]) == {
            "syncBatchSize",
            "subusersEnabled",
            "autoSyncInterval",
            "pterodactylApiKey",
        }
        announced = await admin_conn.fetch(
            """SELECT type, payload FROM gateway.outbox WHERE type = 'settings.changed'
               ORDER BY seq DESC LIMIT 2"""
        )
        decoded = [events.decode(row["type"], row["payload"]) for row in announced]
        payloads: dict[str, Any] = {event.owner: event for event in decoded}
        assert payloads["sync"].keys == ["applicationKey", "pageSize", "subusersEnabled"]
        assert payloads["scheduler"].keys == ["autoSyncInterval"]
    finally:
        await restore(gateway, stack, saved)
    assert (await settings_of(gateway))["pterodactylApiKey"] == saved["pterodactylApiKey"]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"noSuchSetting": 1, "syncBatchSize": 300}, "noSuchSetting"),
        ({"emailFrom": "x@y.z", "syncBatchSize": 300}, "emailFrom"),
        ({"pterodactylApiKeySet": False}, "pterodactylApiKeySet"),
        ({"autoSyncInterval": 5, "syncBatchSize": 300}, ""),  # the scheduler refuses
        ({"syncBatchSize": 1, "autoSyncInterval": 1800}, "$.syncBatchSize"),  # sync refuses
        ({"pterodactylUrl": "ftp://panel", "autoSyncEnabled": False}, "$.pterodactylUrl"),
        ({"pterodactylApiKey": 12345678, "autoSyncInterval": 1800}, "$.pterodactylApiKey"),
        ({"autoSyncEnabled": "yes", "subusersEnabled": False}, ""),
        ({}, "No settings"),
    ],
    ids=[
        "unknown",
        "read-only",
        "derived",
        "scheduler refuses",
        "sync refuses",
        "bad url",
        "key not a string",
        "bad bool",
        "empty",
    ],
)
async def test_a_refused_key_changes_nothing_anywhere(
    gateway: httpx.AsyncClient, body: dict[str, Any], mentions: str
) -> None:
    before = await settings_of(gateway)
    response = await gateway.post(SETTINGS, json=body)
    assert_refused(response, 400, mentions)
    after = await settings_of(gateway)
    assert {k: after[k] for k in WRITABLE} == {k: before[k] for k in WRITABLE}
    assert after["autoSyncNextRunAt"] == before["autoSyncNextRunAt"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": [1, 2]},
        {"json": "syncBatchSize"},
        {"content": b""},
    ],
    ids=["not json", "array", "string", "empty"],
)
async def test_malformed_bodies_are_400_in_the_envelope(
    gateway: httpx.AsyncClient, kwargs: dict[str, Any]
) -> None:
    assert_refused(await gateway.post(SETTINGS, **kwargs), 400)
    if "json" in kwargs or kwargs["content"]:  # an empty body asks to test the saved settings
        assert_refused(await gateway.post(TEST, **kwargs), 400)
    for method in ("POST", "PUT", "DELETE"):
        assert_refused(await gateway.request(method, REPOS, **kwargs), 400)


async def test_connection_checks_of_panel_and_mail(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(TEST)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "All connections work"
    checks = response.json()["data"]
    for name in ("panel", "mail"):
        assert checks[name]["ok"] is True, checks
        assert checks[name]["error"] is None
        assert isinstance(checks[name]["latencyMs"], int)
        assert checks[name]["latencyMs"] >= 0
    assert checks["mail"]["provider"] == "resend"
    assert_no_secret(response.text)


async def test_panel_check_of_candidates_reports_a_clear_error(gateway: httpx.AsyncClient) -> None:
    wrong_key = "ptla_" + secrets.token_hex(21)
    candidate = {"pterodactylUrl": UNREACHABLE, "pterodactylApiKey": wrong_key}
    unreachable = await gateway.post(TEST, json=candidate)
    assert unreachable.status_code == 200, unreachable.text
    assert unreachable.json()["message"] == "A connection failed"
    panel = unreachable.json()["data"]["panel"]
    assert panel["ok"] is False, panel
    assert panel["error"] == "refused_address", panel  # loopback, and not the allowed emulator
    assert unreachable.json()["data"]["mail"]["ok"] is True

    refused = await gateway.post(TEST, json={"pterodactylApiKey": wrong_key})
    panel = refused.json()["data"]["panel"]
    assert panel["ok"] is False, panel
    assert panel["error"] == "http_401", panel
    assert panel["message"] == "the panel refused the application API key (HTTP 401)"
    assert_no_secret(refused.text, wrong_key)

    assert_refused(
        await gateway.post(TEST, json={"pterodactylUrl": "panel"}), 400, "$.pterodactylUrl"
    )
    assert_refused(await gateway.post(TEST, json={"syncBatchSize": 10}), 400, "syncBatchSize")


async def test_a_saved_wrong_panel_url_fails_the_check_without_tripping_sync(
    gateway: httpx.AsyncClient, stack: Stack
) -> None:
    saved = await settings_of(gateway)
    wrong = stack.config.url("pterodactyl") + "/no-panel-here"
    try:
        changed = await gateway.post(
            SETTINGS, json={"pterodactylUrl": wrong, "pterodactylApiKey": PANEL_APP_KEY}
        )
        assert changed.json()["data"]["pterodactylUrl"] == wrong, changed.text
        for _ in range(6):  # more than the breaker's threshold: probes have their own
            panel = (await gateway.post(TEST)).json()["data"]["panel"]
            assert panel["ok"] is False, panel
            assert panel["error"] == "http_404", panel
    finally:
        await restore(gateway, stack, saved)
    state = (await gateway.get("/api/admin/sync")).json()["data"]
    assert state["panel"]["circuit"]["state"] == "closed", state
    assert (await gateway.post(TEST)).json()["data"]["panel"]["ok"] is True


async def test_mail_check_reports_a_failing_provider(
    gateway: httpx.AsyncClient, mail: httpx.AsyncClient
) -> None:
    await mail.post("/_emulator/faults", json={"error_next": 1, "error_status": 503})
    response = await gateway.post(TEST)
    checks = response.json()["data"]
    assert checks["mail"] == {
        "ok": False,
        "latencyMs": checks["mail"]["latencyMs"],
        "error": "the Resend API answered HTTP 503",
        "provider": "resend",
    }
    assert checks["panel"]["ok"] is True
    assert (await gateway.post(TEST)).json()["data"]["mail"]["ok"] is True


@pytest.mark.timeout(300)  # restarts the notifier three times
async def test_mail_check_over_smtp(gateway: httpx.AsyncClient, stack: Stack) -> None:
    async def mail_check(env: dict[str, str]) -> dict[str, Any]:
        stack.config.extra_env["notifier"] = env
        stack.kill("notifier")
        stack.start_service("notifier")
        stack.wait_healthy(["notifier"])
        response = await gateway.post(TEST)
        assert_no_secret(response.text, "wrong-password")
        return response.json()["data"]["mail"]

    try:
        refused = await mail_check({"EMAIL_PROVIDER": "smtp", "SMTP_PASSWORD": "wrong-password"})
        assert refused["ok"] is False, refused
        assert "refused the login" in refused["error"], refused
        working = await mail_check({"EMAIL_PROVIDER": "smtp"})
        assert working["ok"] is True, working
        assert working["provider"] == "smtp", working
        assert (await settings_of(gateway))["emailProvider"] == "smtp"
    finally:
        stack.config.extra_env.pop("notifier", None)
        stack.kill("notifier")
        stack.start_service("notifier")
        stack.wait_healthy(["notifier"])


async def test_repositories_crud(gateway: httpx.AsyncClient) -> None:
    tag = secrets.token_hex(4)
    repo, other = f"NodeByte/backend-{tag}", f"nodebyte/frontend-{tag}"

    created = await gateway.post(REPOS, json={"repo": repo})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["repo"] == repo
    assert created.json()["data"]["createdBy"]
    assert_refused(await gateway.post(REPOS, json={"repo": repo.lower()}), 409, "already")
    assert (await gateway.post(REPOS, json={"repo": other})).status_code == 201

    listed = [r["repo"] for r in (await gateway.get(REPOS)).json()["data"]]
    assert repo in listed
    assert other in listed

    renamed = await gateway.put(REPOS, json={"oldRepo": repo, "repo": f"nodebyte/api-{tag}"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["data"]["repo"] == f"nodebyte/api-{tag}"
    assert_refused(await gateway.put(REPOS, json={"oldRepo": repo, "repo": "a/b"}), 404)
    clash = {"oldRepo": f"nodebyte/api-{tag}", "repo": other.upper()}
    assert_refused(await gateway.put(REPOS, json=clash), 409, "already")
    recased = {"oldRepo": f"nodebyte/api-{tag}", "repo": f"NodeByte/API-{tag}"}
    assert (await gateway.put(REPOS, json=recased)).status_code == 200

    removed = await gateway.request("DELETE", REPOS, json={"repo": f"nodebyte/api-{tag}"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["data"]["repo"] == f"NodeByte/API-{tag}"
    by_query = await gateway.delete(REPOS, params={"repo": other})
    assert by_query.status_code == 200, by_query.text
    assert_refused(await gateway.delete(REPOS, params={"repo": other}), 404)
    listed = [r["repo"] for r in (await gateway.get(REPOS)).json()["data"]]
    assert not any(tag in r for r in listed)

    entry, _ = await latest_audit(gateway, "github_repo.*")
    assert entry["action"] == "github_repo.removed"
    assert entry["target"] == {"type": "github_repo", "id": other}
    renames, _ = await latest_audit(gateway, "github_repo.renamed")
    assert renames["after"] == f"NodeByte/API-{tag}"


@pytest.mark.parametrize(
    "repo",
    [
        "noslash",
        "-owner/repo",
        "owner-/repo",
        "o" * 40 + "/repo",
        "owner/" + "n" * 101,
        "owner/..",
        "owner/.",
        "own er/repo",
        "owner/re po",
        "owner/repo/extra",
        "owner/",
        "/repo",
        "",
        5,
        None,
        ["a/b"],
    ],
)
async def test_repository_names_follow_githubs_rules(gateway: httpx.AsyncClient, repo: Any) -> None:
    assert_refused(await gateway.post(REPOS, json={"repo": repo}), 400)
    assert_refused(await gateway.put(REPOS, json={"oldRepo": "a/b", "repo": repo}), 400)


async def test_repository_edge_cases(gateway: httpx.AsyncClient) -> None:
    tag = secrets.token_hex(3)
    for repo in ("o" * 39 + f"/x-{tag}", f"a/.github-{tag}", f"a-b/{'n' * 90}{tag}"):
        response = await gateway.post(REPOS, json={"repo": repo})
        assert response.status_code == 201, (repo, response.text)
        assert (await gateway.delete(REPOS, params={"repo": repo})).status_code == 200
    assert_refused(await gateway.post(REPOS, json={"repo": "a/b", "extra": 1}), 400)
    assert_refused(await gateway.put(REPOS, json={"repo": "a/b"}), 400, "oldRepo")
    assert_refused(await gateway.delete(REPOS), 400, "repo")
    assert_refused(await gateway.delete(REPOS, params={"repo": "bad"}), 400)


ROUTES = [
    ("GET", SETTINGS, None),
    ("POST", SETTINGS, {"syncBatchSize": 300}),
    ("POST", TEST, None),
    ("GET", REPOS, None),
    ("POST", REPOS, {"repo": "a/b"}),
    ("PUT", REPOS, {"oldRepo": "a/b", "repo": "a/c"}),
    ("DELETE", REPOS, {"repo": "a/b"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_anonymous_is_401_and_member_403(
    anonymous: httpx.AsyncClient,
    member_user: SignedInUser,
    method: str,
    path: str,
    body: Any,
) -> None:
    assert_refused(await anonymous.request(method, path, json=body), 401)
    assert_refused(
        await anonymous.request(method, path, json=body, headers=member_user.headers), 403
    )


async def test_an_admin_user_may_read_and_test(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    data = (await anonymous.get(SETTINGS, headers=admin_user.headers)).json()["data"]
    assert data["pterodactylApiKeySet"] is True
    tested = await anonymous.post(TEST, headers=admin_user.headers)
    assert tested.status_code == 200, tested.text
    assert (await anonymous.get(REPOS, headers=admin_user.headers)).status_code == 200


@pytest.mark.timeout(240)  # two scheduler processes start
async def test_the_go_backends_auto_sync_variables_seed_the_first_start_only(
    gateway: httpx.AsyncClient, stack: Stack, admin_conn: asyncpg.Connection
) -> None:
    """AUTO_SYNC_ENABLED / AUTO_SYNC_INTERVAL are the job's initial values: a scheduler
    starting on a database it never seeded takes them; one after it keeps the admin's."""
    saved = await settings_of(gateway)
    env = {"AUTO_SYNC_ENABLED": "false", "AUTO_SYNC_INTERVAL": "900"}
    await admin_conn.execute("DELETE FROM scheduler.environment_seeds")  # a first start
    port = await asyncio.to_thread(stack.start_extra_replica, "scheduler", env)
    try:
        seeded = await settings_of(gateway)
        assert (seeded["autoSyncEnabled"], seeded["autoSyncInterval"]) == (False, 900)
        restored = {"autoSyncEnabled": saved["autoSyncEnabled"], "autoSyncInterval": 1200}
        assert (await gateway.post(SETTINGS, json=restored)).status_code == 200
    finally:
        await asyncio.to_thread(stack.kill, f"scheduler-replica-{port}", signal.SIGTERM)
    port = await asyncio.to_thread(stack.start_extra_replica, "scheduler", env)
    try:
        kept = await settings_of(gateway)  # the admin's choice stands
        assert (kept["autoSyncEnabled"], kept["autoSyncInterval"]) == (
            saved["autoSyncEnabled"],
            1200,
        )
    finally:
        await asyncio.to_thread(stack.kill, f"scheduler-replica-{port}", signal.SIGTERM)
        back = {"autoSyncInterval": saved["autoSyncInterval"]}
        await gateway.post(SETTINGS, json=back)


async def test_a_settings_change_is_announced_to_the_admin_webhook_with_secrets_masked(
    gateway: httpx.AsyncClient, discord: httpx.AsyncClient
) -> None:
    saved = await settings_of(gateway)
    size = 321
    change = {"syncBatchSize": size, "pterodactylApiKey": PANEL_APP_KEY}
    try:
        assert (await gateway.post(SETTINGS, json=change)).status_code == 200

        async def announced() -> list[dict[str, Any]]:
            return [
                m
                for m in await messages_to(discord, "1")  # the system webhook
                if embed(m)["title"] == "⚙️ Settings changed"
                and {"name": "syncBatchSize", "value": str(size), "inline": True}
                in embed(m)["fields"]
            ]

        [message] = await eventually(announced, timeout=30)
        fields = {f["name"]: f["value"] for f in embed(message)["fields"]}
        assert fields["pterodactylApiKey"] == "••••" + PANEL_APP_KEY[-4:]
        assert_no_secret(str(message))
    finally:
        await gateway.post(SETTINGS, json={"syncBatchSize": saved["syncBatchSize"]})
