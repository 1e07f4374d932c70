"""RetryPolicy: how many attempts a delivery gets, and how long each retry waits."""

from __future__ import annotations

import pytest

from nodebyte_notifier.retry_policy import (
    MAX_DELAY_SECONDS,
    MAX_THROTTLES,
    Attempt,
    RetryPolicy,
    Settlement,
    jitter,
)

FAILED = Attempt(sent=False, status_code=500, error="HTTP 500")


def policy(max_attempts: int = 4, base_delay: float = 1.0) -> RetryPolicy:
    return RetryPolicy(max_attempts, base_delay, spread=lambda: 1.0)


def test_a_sent_attempt_is_sent() -> None:
    assert policy().settle(1, 0, Attempt(sent=True, status_code=200)) == Settlement("sent")


def test_failures_are_retried_with_doubling_delays_until_max_attempts() -> None:
    retry = policy(max_attempts=4, base_delay=1.5)
    assert retry.settle(1, 0, FAILED) == Settlement("queued", 1.5)
    assert retry.settle(2, 0, FAILED) == Settlement("queued", 3.0)
    assert retry.settle(3, 0, FAILED) == Settlement("queued", 6.0)
    assert retry.settle(4, 0, FAILED) == Settlement("failed")  # the 4th attempt was the last
    assert retry.settle(5, 0, FAILED) == Settlement("failed")


def test_one_attempt_means_no_retry() -> None:
    assert policy(max_attempts=1).settle(1, 0, FAILED) == Settlement("failed")


def test_delays_are_capped() -> None:
    retry = policy(max_attempts=100, base_delay=1.0)
    assert retry.settle(9, 0, FAILED) == Settlement("queued", 256.0)
    assert retry.settle(10, 0, FAILED) == Settlement("queued", MAX_DELAY_SECONDS)
    assert retry.settle(60, 0, FAILED) == Settlement("queued", MAX_DELAY_SECONDS)


def test_the_spread_scales_the_delay() -> None:
    retry = RetryPolicy(8, 2.0, spread=lambda: 0.75)
    assert retry.settle(2, 0, FAILED) == Settlement("queued", 3.0)


def test_jitter_stays_within_a_quarter() -> None:
    spreads = [jitter() for _ in range(2000)]
    assert 0.75 <= min(spreads) < 0.8
    assert 1.2 < max(spreads) <= 1.25


@pytest.mark.parametrize("code", [400, 401, 404, 413])
def test_a_permanent_failure_fails_at_once(code: int) -> None:
    refused = Attempt(sent=False, status_code=code, permanent=True)
    assert policy().settle(1, 0, refused) == Settlement("failed")


def test_a_rate_limit_waits_as_asked_and_gives_the_attempt_back() -> None:
    limited = Attempt(sent=False, status_code=429, retry_after=2.5)
    # Even at the last attempt: a 429 does not count as one.
    assert policy(max_attempts=1).settle(1, 0, limited) == Settlement("queued", 2.5, True)
    long_wait = Attempt(sent=False, status_code=429, retry_after=MAX_DELAY_SECONDS + 60)
    assert policy().settle(1, 0, long_wait) == Settlement("queued", MAX_DELAY_SECONDS, True)


def test_a_webhook_that_always_answers_429_still_ends() -> None:
    limited = Attempt(sent=False, status_code=429, retry_after=1.0)
    assert policy().settle(1, MAX_THROTTLES - 2, limited) == Settlement("queued", 1.0, True)
    assert policy().settle(1, MAX_THROTTLES - 1, limited) == Settlement("failed", throttled=True)


def test_attempt_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Attempt(False, 404, "gone", True)  # type: ignore[misc]
