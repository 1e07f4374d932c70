"""Retrying through transient faults: bounded, and only for what passes."""

from __future__ import annotations

import time

import asyncpg
import pytest

from nodebyte_common.transient import retry_transient


class Attempts:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


async def test_a_transient_failure_is_retried_until_the_work_succeeds() -> None:
    attempt = Attempts([asyncpg.TooManyConnectionsError("out of slots"), ConnectionRefusedError()])
    assert await retry_transient(attempt, deadline_seconds=10, what="test") == "done"
    assert attempt.calls == 3


async def test_a_lasting_failure_fails_once_the_deadline_passed() -> None:
    attempt = Attempts([asyncpg.CannotConnectNowError("starting")] * 1000)
    started = time.monotonic()
    with pytest.raises(asyncpg.CannotConnectNowError):
        await retry_transient(attempt, deadline_seconds=0.5, what="test")
    assert time.monotonic() - started < 1.0
    assert attempt.calls > 1


async def test_a_failure_that_will_not_pass_is_not_retried() -> None:
    attempt = Attempts([asyncpg.UniqueViolationError("duplicate")])
    with pytest.raises(asyncpg.UniqueViolationError):
        await retry_transient(attempt, deadline_seconds=10, what="test")
    assert attempt.calls == 1
