"""The Resend and SMTP providers against the mail sink over real HTTP and SMTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import msgspec
import pytest

from nodebyte_emulators.mail import MailConfig, create_mail_app
from nodebyte_emulators.server import BackgroundServer
from nodebyte_notifier.email_providers import OutgoingEmail, ResendProvider, SmtpProvider
from nodebyte_notifier.retry_policy import RetryPolicy
from nodebyte_notifier.settings import NotifierSettings

KEY = "re_test_key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    tls = tmp_path_factory.mktemp("tls")
    smtp_port = free_port()
    config = MailConfig(
        resend_api_key=KEY,
        smtp_port=smtp_port,
        tls_cert=str(tls / "cert.pem"),
        tls_key=str(tls / "key.pem"),
        require_starttls=True,
        smtp_user="u",
        smtp_password="p",
    )
    with BackgroundServer(create_mail_app(config)) as url:
        yield url, smtp_port, tls / "cert.pem"


def email(to: str) -> OutgoingEmail:
    return OutgoingEmail(uuid4(), "NodeByte <no@nodebyte.test>", [to], "Hi", "<p>Hi</p>", "Hi")


async def messages(url: str, to: str) -> list[dict]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/_emulator/messages", params={"to": to})).json()


async def control(url: str, path: str, body: dict) -> None:
    async with httpx.AsyncClient() as client:
        (await client.post(f"{url}/_emulator/{path}", json=body)).raise_for_status()


async def test_resend_sends_once_per_idempotency_key(sink: tuple[str, int, Path]) -> None:
    url, _, _ = sink
    provider = ResendProvider(url, KEY, timeout=5)
    one = email("a@nodebyte.test")
    first = await provider.send(one)
    again = await provider.send(one)  # a retry after a lost answer
    await provider.aclose()
    assert first.sent
    assert again.sent
    assert again.message_id == first.message_id
    assert len(await messages(url, "a@nodebyte.test")) == 1


async def test_resend_refusals_are_permanent_and_429_waits(sink: tuple[str, int, Path]) -> None:
    url, _, _ = sink
    wrong_key = ResendProvider(url, "re_wrong", timeout=5)
    refused = await wrong_key.send(email("b@nodebyte.test"))
    await wrong_key.aclose()
    assert refused.permanent
    assert refused.status_code == 403
    provider = ResendProvider(url, KEY, timeout=5)
    invalid = await provider.send(email("not-an-address"))
    await control(url, "faults", {"rate_limit_next": 1, "retry_after": 2})
    throttled = await provider.send(email("c@nodebyte.test"))
    await provider.aclose()
    assert invalid.permanent
    assert invalid.status_code == 422
    assert throttled.retry_after == 2.0
    assert not throttled.permanent
    async with httpx.AsyncClient() as client:  # forget the 429's wait for the next tests
        await client.delete(f"{url}/_emulator/counters")


@pytest.mark.parametrize(("status", "permanent"), [(451, True), (410, True), (503, False)])
async def test_resend_4xx_fail_for_good_and_5xx_are_retried(
    sink: tuple[str, int, Path], status: int, permanent: bool
) -> None:
    url, _, _ = sink
    await control(url, "mail-faults", {"resend_error_next": 1, "resend_error_status": status})
    provider = ResendProvider(url, KEY, timeout=5)
    attempt = await provider.send(email("e@nodebyte.test"))
    await provider.aclose()
    assert not attempt.sent
    assert attempt.status_code == status
    assert attempt.permanent is permanent
    assert attempt.retry_after is None


async def test_a_resend_timeout_is_retried(sink: tuple[str, int, Path]) -> None:
    url, _, _ = sink
    await control(url, "faults", {"hang_next": 1, "hang_seconds": 5})
    provider = ResendProvider(url, KEY, timeout=0.5)
    attempt = await provider.send(email("f@nodebyte.test"))
    await provider.aclose()
    assert not attempt.sent
    assert not attempt.permanent
    assert attempt.error == "ReadTimeout"
    assert RetryPolicy(3, 1.0).settle(1, 0, attempt).status == "queued"
    assert await messages(url, "f@nodebyte.test") == []


async def test_smtp_uses_starttls_and_auth(sink: tuple[str, int, Path]) -> None:
    url, port, cert = sink
    settings = NotifierSettings(
        database_url="postgresql://unused",
        service_token="unused",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_username="u",
        smtp_password="p",
        smtp_ca_file=str(cert),
    )
    one = email("d@nodebyte.test")
    sent = await SmtpProvider(settings).send(one)
    assert sent.sent
    [message] = await messages(url, "d@nodebyte.test")
    assert message["tls"] is True
    assert message["authenticated_as"] == "u"
    assert message["message_id"] == f"<{one.id}@nodebyte.test>"
    await control(url, "mail-faults", {"smtp_fail_next": 1, "smtp_fail_code": 451})
    transient = await SmtpProvider(settings).send(email("e@nodebyte.test"))
    assert transient.status_code == 451
    assert not transient.permanent
    wrong = msgspec.structs.replace(settings, smtp_password="wrong")
    refused = await SmtpProvider(wrong).send(email("f@nodebyte.test"))
    assert refused.permanent
    assert await messages(url, "f@nodebyte.test") == []


async def test_checks_send_nothing_and_name_what_is_wrong(sink: tuple[str, int, Path]) -> None:
    url, port, cert = sink
    before = len(await messages(url, ""))
    working = ResendProvider(url, KEY, timeout=5)
    assert await working.check() is None
    assert await ResendProvider(url, "re_wrong", timeout=5).check() == (
        "Resend refused the API key (HTTP 403)"
    )
    unreachable = await ResendProvider(f"http://127.0.0.1:{free_port()}", KEY, timeout=5).check()
    assert unreachable == "the Resend API is unreachable: ConnectError"

    settings = NotifierSettings(
        database_url="postgresql://unused",
        service_token="unused",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_username="u",
        smtp_password="p",
        smtp_ca_file=str(cert),
    )
    assert await SmtpProvider(settings).check() is None
    wrong = msgspec.structs.replace(settings, smtp_password="wrong")
    assert "refused the login" in (await SmtpProvider(wrong).check() or "")
    closed = msgspec.structs.replace(settings, smtp_port=free_port())
    assert "unreachable" in (await SmtpProvider(closed).check() or "")
    assert len(await messages(url, "")) == before
