"""Request time limits: a 504 envelope in time, and no other cancellation mistaken for one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

from nodebyte_common.deadlines import Deadlines
from nodebyte_common.webapp import observe_requests

SCOPE = {"type": "http", "method": "GET", "path": "/x", "headers": [], "path_template": "/x"}


async def _serve(app: Any, timeout: float | None) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    await observe_requests("test", timeout)(app)(dict(SCOPE), receive, send)
    return sent


def _sleeping(seconds: float, answer_first: bool = False) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if answer_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(seconds)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


async def test_an_unanswered_request_gets_a_504_envelope_at_its_deadline() -> None:
    started = asyncio.get_running_loop().time()
    sent = await _serve(_sleeping(10), timeout=0.1)
    assert 0.1 <= asyncio.get_running_loop().time() - started < 1
    assert sent[0]["status"] == 504
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert any(name == b"x-request-id" for name, _ in sent[0]["headers"])
    assert msgspec.json.decode(sent[1]["body"])["code"] == "TIMEOUT"


async def test_requests_in_time_are_answered_and_late_ones_of_a_crowd_are_not() -> None:
    app = observe_requests("test", 0.2)

    async def one(seconds: float) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(_sleeping(seconds))(dict(SCOPE), None, send)  # type: ignore[arg-type]
        return int(sent[0]["status"])

    statuses = await asyncio.gather(*(one(s) for s in (0.0, 0.05, 0.5, 0.01, 1.0, 0.1)))
    assert statuses == [200, 200, 504, 200, 504, 200]


async def test_a_response_already_begun_runs_past_the_deadline() -> None:
    """A stream (Server-Sent Events of a long sync) has answered: the limit is for answering."""
    app = _sleeping(0.3, answer_first=True)
    sent = await _serve(app, timeout=0.05)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200, 200]
    assert sent[-1]["body"] == b"{}"


async def test_no_limit_never_cancels() -> None:
    sent = await _serve(_sleeping(0.05), timeout=None)
    assert sent[0]["status"] == 200


async def test_a_cancellation_from_elsewhere_is_not_taken_for_a_timeout() -> None:
    task = asyncio.create_task(_serve(_sleeping(10), timeout=5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_deadline_and_another_cancel_together_stay_a_cancellation() -> None:
    deadlines = Deadlines(0.01)

    async def request() -> bool:
        task = deadlines.start()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return deadlines.expired(task)
        finally:
            deadlines.finish(task)
        return False

    loop = asyncio.get_running_loop()
    running = asyncio.create_task(request())
    await asyncio.sleep(0)  # it has started its clock and waits
    loop.call_at(loop.time() + 0.02, running.cancel)
    # The loop held past both: they come due together, the deadline's cancel first.
    time.sleep(0.05)  # noqa: ASYNC251
    assert await running is False
