"""The mail sink counts what a strict provider counts: copies of one email, and Resend
requests sent before an earlier 429's Retry-After ran out."""

import time
from collections.abc import Iterator

import httpx
import pytest

from nodebyte_emulators.mail import MailConfig, create_mail_app
from nodebyte_emulators.server import BackgroundServer
from nodebyte_emulators.strict_counters import IN_FLIGHT_GRACE

KEY = "re_test_key"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with BackgroundServer(create_mail_app(MailConfig(resend_api_key=KEY))) as url:
        yield url


@pytest.fixture
def clients(base_url: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    api = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"})
    control = httpx.Client(base_url=f"{base_url}/_emulator")
    control.delete("/messages")
    control.delete("/counters")
    yield api, control
    control.delete("/faults")
    api.close()
    control.close()


def email(to: str, subject: str = "Hello") -> dict:
    return {"from": "NodeByte <noreply@nodebyte.test>", "to": [to], "subject": subject, "text": "x"}


def test_counts_the_same_email_kept_twice(clients: tuple[httpx.Client, httpx.Client]) -> None:
    api, control = clients
    assert api.post("/emails", json=email("a@nodebyte.test")).status_code == 200
    assert api.post("/emails", json=email("b@nodebyte.test")).status_code == 200
    assert api.post("/emails", json=email("a@nodebyte.test", "Other")).status_code == 200
    assert control.get("/counters").json()["duplicates"] == 0
    assert api.post("/emails", json=email("a@nodebyte.test")).status_code == 200
    counters = control.get("/counters").json()
    assert counters["duplicates"] == 1
    assert counters["messages"] == 4


def test_an_idempotent_resend_is_not_a_copy(clients: tuple[httpx.Client, httpx.Client]) -> None:
    api, control = clients
    for _ in range(2):
        sent = api.post("/emails", json=email("c@nodebyte.test"), headers={"Idempotency-Key": "k1"})
        assert sent.status_code == 200
    assert control.get("/counters").json() == {
        "sent_while_limited": 0,
        "duplicates": 0,
        "duplicated_contents": 0,
        "messages": 1,
    }


def test_counts_requests_sent_before_retry_after(
    clients: tuple[httpx.Client, httpx.Client],
) -> None:
    api, control = clients
    control.post("/faults", json={"rate_limit_next": 1, "retry_after": 0.8})
    limited = api.post("/emails", json=email("d@nodebyte.test"))
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert control.get("/counters").json()["sent_while_limited"] == 0  # it could not know
    assert api.post("/emails", json=email("d@nodebyte.test")).status_code == 429  # in flight
    assert control.get("/counters").json()["sent_while_limited"] == 0
    time.sleep(IN_FLIGHT_GRACE)
    assert api.post("/emails", json=email("d@nodebyte.test")).status_code == 429
    assert control.get("/counters").json()["sent_while_limited"] == 1
    time.sleep(0.8 - IN_FLIGHT_GRACE)
    assert api.post("/emails", json=email("d@nodebyte.test")).status_code == 200
    assert control.get("/counters").json()["sent_while_limited"] == 1
