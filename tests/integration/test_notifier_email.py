"""Email end to end: gateway queue → notifier → mail sink, over Resend and SMTP (STARTTLS)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually

QUEUE = "/api/v1/email/queue"
TRICKY = 'Ann <b>&</b> "Co"'
TEMPLATES: dict[str, dict[str, Any]] = {
    "welcome": {
        "name": TRICKY,
        "dashboardUrl": "https://app.nodebyte.test/dash",
        "verifyUrl": "https://app.nodebyte.test/verify/abc123",
    },
    "verify-email": {"name": TRICKY, "verifyUrl": "https://app.nodebyte.test/verify/abc"},
    "password-reset": {"name": TRICKY, "resetUrl": "https://app.nodebyte.test/reset/xyz"},
    "email-change": {
        "name": TRICKY,
        "newEmail": "new@nodebyte.test",
        "verifyUrl": "https://app.nodebyte.test/change/123",
    },
    "sync-report": {"syncType": "full", "status": "COMPLETED", "duration": TRICKY},
    "alert": {"title": "Disk full", "message": TRICKY, "severity": "critical"},
    "account-unlock": {
        "name": TRICKY,
        "unlockUrl": "https://app.nodebyte.test/auth/unlock?token=u",
        "lockedUntil": "2026-12-07T15:00:00Z",
    },
}


@pytest.fixture
async def mail(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.config.url("mail"), timeout=10) as client:
        yield client
        await client.delete("/_emulator/faults")


def address() -> str:
    return f"user-{secrets.token_hex(4)}@nodebyte.test"


async def queue(gateway: httpx.AsyncClient, **body: Any) -> str:
    response = await gateway.post(QUEUE, json=body)
    assert response.status_code == 202, response.text
    assert response.json()["data"]["status"] == "PENDING"
    return response.json()["data"]["id"]


async def status_of(gateway: httpx.AsyncClient, email_id: str) -> dict[str, Any]:
    response = await gateway.get(f"/api/v1/email/{email_id}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def reaches(gateway: httpx.AsyncClient, email_id: str, wanted: str) -> dict[str, Any]:
    async def reached() -> dict | None:
        data = await status_of(gateway, email_id)
        return data if data["status"] == wanted else None

    return await eventually(reached, timeout=30)


async def inbox(mail: httpx.AsyncClient, to: str) -> list[dict[str, Any]]:
    return (await mail.get("/_emulator/messages", params={"to": to})).json()


@pytest.mark.parametrize("template", sorted(TEMPLATES))
async def test_each_template_renders_and_arrives(
    gateway: httpx.AsyncClient, mail: httpx.AsyncClient, template: str
) -> None:
    to = address()
    email_id = await queue(gateway, to=to, template=template, data=TEMPLATES[template])
    sent = await reaches(gateway, email_id, "SENT")
    assert sent["attempts"] == 1
    assert sent["provider"] == "resend"
    assert sent["to"] == [to]
    [message] = await inbox(mail, to)
    assert message["id"] == sent["messageId"]
    assert message["idempotency_key"] == email_id
    assert message["sender"] == "NodeByte <noreply@nodebyte.test>"
    assert message["subject"] == sent["subject"]
    assert "Ann &lt;b&gt;&amp;&lt;/b&gt; &#34;Co&#34;" in message["html"]
    assert "<b>&</b>" not in message["html"]
    assert TRICKY in message["text"]
    for key, value in TEMPLATES[template].items():
        if key.endswith("Url") or key == "newEmail":
            assert value in message["html"]
            assert value in message["text"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"to": "a@nodebyte.test", "template": "newsletter"}, "unknown template"),
        ({"to": "a@nodebyte.test", "template": "verify-email", "data": {"name": "x"}}, "verifyUrl"),
        ({"to": "not an address", "template": "welcome", "data": {"name": "x"}}, "address"),
        ({"to": [], "template": "welcome", "data": {"name": "x"}}, "to must name"),
        (
            {
                "to": "a@nodebyte.test",
                "template": "password-reset",
                "data": {"name": "x", "resetUrl": "javascript:alert(1)"},
            },
            "http(s) URL",
        ),
        (
            {
                "to": "a@nodebyte.test",
                "template": "welcome",
                "subject": "Hi\r\nBcc: everyone@x.test",
                "data": {"name": "x"},
            },
            "one line",
        ),
        ({"to": "a@nodebyte.test", "template": "welcome", "data": {"name": {"a": 1}}}, "string"),
        ({"to": "a@nodebyte.test", "template": "welcome", "cc": "b@x.test"}, "cc"),
    ],
)
async def test_bad_email_requests_are_400_and_queue_nothing(
    gateway: httpx.AsyncClient, admin_conn: asyncpg.Connection, body: dict, why: str
) -> None:
    before = await admin_conn.fetchval("SELECT count(*) FROM gateway.notify_requests")
    response = await gateway.post(QUEUE, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert why in response.text
    assert await admin_conn.fetchval("SELECT count(*) FROM gateway.notify_requests") == before


async def test_unknown_email_is_404(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get(f"/api/v1/email/{uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "Email not found", "code": "NOT_FOUND"}


async def test_pending_until_the_notifier_has_seen_it(
    gateway: httpx.AsyncClient, mail: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    to = address()
    # Hold the notifier's inserts back, so the request is provably not seen yet.
    transaction = admin_conn.transaction()
    await transaction.start()
    try:
        await admin_conn.execute("LOCK TABLE notifier.email_deliveries IN SHARE MODE")
        email_id = await queue(gateway, to=to, template="welcome", data={"name": "P"})
        await asyncio.sleep(0.5)
        pending = await status_of(gateway, email_id)
        assert pending["status"] == "PENDING"
        assert pending["template"] == "welcome"
    finally:
        await transaction.rollback()
    await reaches(gateway, email_id, "SENT")
    assert len(await inbox(mail, to)) == 1


async def test_a_retry_with_the_same_idempotency_key_sends_one_mail(
    gateway: httpx.AsyncClient, mail: httpx.AsyncClient
) -> None:
    """A client that lost the answer asks again with its key: one id, one mail."""
    to = address()
    body = {"to": to, "subject": "once", "template": "welcome", "data": {"name": "R"}}
    key = {"Idempotency-Key": f"retry-{secrets.token_hex(4)}"}
    first = await gateway.post(QUEUE, json=body, headers=key)
    again = await gateway.post(QUEUE, json=body, headers=key)
    assert first.status_code == again.status_code == 202, again.text
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    other = await gateway.post(QUEUE, json=body, headers={"Idempotency-Key": "another-key"})
    assert other.json()["data"]["id"] != first.json()["data"]["id"]
    await reaches(gateway, first.json()["data"]["id"], "SENT")
    await reaches(gateway, other.json()["data"]["id"], "SENT")
    await asyncio.sleep(1)  # time for a second send of the retried request, if there were one
    assert len(await inbox(mail, to)) == 2
    bad = await gateway.post(QUEUE, json=body, headers={"Idempotency-Key": "has a space"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "INVALID_IDEMPOTENCY_KEY"


async def test_a_resend_429_is_waited_out_and_sent_once(
    gateway: httpx.AsyncClient, mail: httpx.AsyncClient, admin_conn: asyncpg.Connection
) -> None:
    to = address()
    await mail.post("/_emulator/faults", json={"rate_limit_next": 1, "retry_after": 1})
    email_id = await queue(gateway, to=to, template="welcome", data={"name": "R"})
    sent = await reaches(gateway, email_id, "SENT")
    assert sent["attempts"] == 1
    throttles = await admin_conn.fetchval(
        "SELECT throttles FROM notifier.email_deliveries WHERE id = $1", UUID(email_id)
    )
    assert throttles == 1
    assert len(await inbox(mail, to)) == 1


async def test_transient_resend_failures_are_retried_and_kept_once(
    gateway: httpx.AsyncClient, mail: httpx.AsyncClient
) -> None:
    to = address()
    await mail.delete("/_emulator/counters")
    await mail.post("/_emulator/faults", json={"error_next": 2, "error_status": 503})
    email_id = await queue(gateway, to=to, template="welcome", data={"name": "T"})
    sent = await reaches(gateway, email_id, "SENT")
    assert sent["attempts"] == 3
    assert len(await inbox(mail, to)) == 1
    counters = (await mail.get("/_emulator/counters")).json()
    assert counters["duplicates"] == 0
    assert counters["sent_while_limited"] == 0


async def test_a_resend_4xx_fails_after_one_request(
    gateway: httpx.AsyncClient, mail: httpx.AsyncClient
) -> None:
    to = address()
    await mail.delete("/_emulator/stats")
    refusal = {"resend_error_next": 1, "resend_error_status": 451}  # security_error
    await mail.post("/_emulator/mail-faults", json=refusal)
    email_id = await queue(gateway, to=to, template="welcome", data={"name": "S"})
    failed = await reaches(gateway, email_id, "FAILED")
    assert failed["attempts"] == 1
    assert failed["lastStatusCode"] == 451
    await asyncio.sleep(1.0)  # a retry (0.2 s base delay) would have come by now
    # one refusal; a retry would have been accepted (only the next request is refused)
    # and be in the inbox. Other tests' mail shares the emulator's counts of 200s.
    assert (await mail.get("/_emulator/stats")).json()["statuses"].get("451") == 1
    assert await inbox(mail, to) == []


@pytest.mark.timeout(300)  # restarts a service; slow when the machine is shared
async def test_killed_after_the_upstream_accepted_sends_once(
    stack: Stack,
    gateway: httpx.AsyncClient,
    mail: httpx.AsyncClient,
    admin_conn: asyncpg.Connection,
) -> None:
    """The worst moment: the provider kept the email, the notifier died before hearing so."""
    to = address()
    hold = {"hold_after_accept_next": 1, "hold_after_accept_seconds": 60}
    await mail.post("/_emulator/mail-faults", json=hold)
    email_id = await queue(gateway, to=to, template="welcome", data={"name": "K"})
    await eventually(lambda: inbox(mail, to), timeout=30)  # kept, answer held back
    row = await admin_conn.fetchrow(
        "SELECT status FROM notifier.email_deliveries WHERE id = $1", UUID(email_id)
    )
    assert row["status"] == "sending"
    stack.kill("notifier")
    stack.start_service("notifier")
    stack.wait_healthy(["notifier"])
    sent = await reaches(gateway, email_id, "SENT")
    assert sent["attempts"] == 2
    [message] = await inbox(mail, to)  # the second request was recognised by its key
    assert sent["messageId"] == message["id"]
    assert message["answer_lost_after"] >= 0
    in_doubt = await admin_conn.fetchval(
        "SELECT in_doubt FROM notifier.email_deliveries WHERE id = $1", UUID(email_id)
    )
    assert in_doubt is True


@pytest.mark.timeout(300)  # restarts the notifier twice
async def test_smtp_with_starttls_and_auth(
    stack: Stack, gateway: httpx.AsyncClient, mail: httpx.AsyncClient
) -> None:
    stack.config.extra_env["notifier"] = {"EMAIL_PROVIDER": "smtp"}
    stack.kill("notifier")
    stack.start_service("notifier")
    stack.wait_healthy(["notifier"])
    try:
        to = address()
        email_id = await queue(
            gateway, to=to, template="verify-email", data=TEMPLATES["verify-email"]
        )
        sent = await reaches(gateway, email_id, "SENT")
        assert sent["provider"] == "smtp"
        [message] = await inbox(mail, to)
        assert message["via"] == "smtp"
        assert message["tls"] is True
        assert message["authenticated_as"] == "nodebyte"
        assert message["message_id"] == f"<{email_id}@nodebyte.test>"
        assert "Ann &lt;b&gt;" in message["html"]
        assert TRICKY in message["text"]

        transient = address()
        await mail.post("/_emulator/mail-faults", json={"smtp_fail_next": 1, "smtp_fail_code": 451})
        retried = await queue(gateway, to=transient, template="welcome", data={"name": "T"})
        assert (await reaches(gateway, retried, "SENT"))["attempts"] == 2
        assert len(await inbox(mail, transient)) == 1

        refused = address()
        await mail.post("/_emulator/mail-faults", json={"smtp_fail_next": 1, "smtp_fail_code": 550})
        failed_id = await queue(gateway, to=refused, template="welcome", data={"name": "F"})
        failed = await reaches(gateway, failed_id, "FAILED")
        assert failed["attempts"] == 1
        assert failed["lastError"] == "SMTP 550"
        assert await inbox(mail, refused) == []
    finally:
        stack.config.extra_env.pop("notifier", None)
        stack.kill("notifier")
        stack.start_service("notifier")
        stack.wait_healthy(["notifier"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": [1, 2, 3]},
        {"json": {"to": "a@nodebyte.test", "template": "welcome", "data": "name=x"}},
        {"content": b""},
    ],
    ids=["not json", "array", "data not an object", "empty"],
)
async def test_malformed_email_bodies_are_400_in_the_envelope(
    gateway: httpx.AsyncClient, kwargs: dict
) -> None:
    response = await gateway.post(QUEUE, **kwargs)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "Traceback" not in response.text
