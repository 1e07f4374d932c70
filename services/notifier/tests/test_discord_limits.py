"""Pacing per webhook from Discord's rate-limit headers and 429s (a fake clock)."""

from __future__ import annotations

from nodebyte_notifier.discord_limits import EDGE_MARGIN, WebhookBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headers(limit: int, remaining: int, reset_after: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset-after": str(reset_after),
    }


def test_one_request_at_a_time_until_the_limit_is_known() -> None:
    buckets = WebhookBuckets(Clock())
    assert buckets.room("a") == 1
    buckets.started("a")
    assert buckets.room("a") == 0
    assert buckets.blocked() == ["a"]
    buckets.finished("a", headers(5, 4, 2.0))
    assert buckets.room("a") == 4


def test_an_empty_bucket_waits_for_its_reset() -> None:
    clock = Clock()
    buckets = WebhookBuckets(clock)
    buckets.started("a")
    buckets.finished("a", headers(5, 0, 1.5))
    assert buckets.room("a") == 0
    assert abs(buckets.wait_seconds() - (1.5 + EDGE_MARGIN)) < 1e-6
    clock.now += 1.5 + EDGE_MARGIN
    assert buckets.room("a") == 5
    assert buckets.room("b") == 1  # other webhooks are not held back


def test_a_429_blocks_its_webhook_and_a_global_one_blocks_all() -> None:
    clock = Clock()
    buckets = WebhookBuckets(clock)
    buckets.started("a")
    buckets.finished("a", None, retry_after=2.0)
    assert buckets.room("a") == 0
    assert buckets.room("b") == 1
    buckets.started("b")
    buckets.finished("b", None, retry_after=1.0, is_global=True)
    assert buckets.room("c") == 0
    clock.now += 1.0 + EDGE_MARGIN
    assert buckets.room("c") == 1
    assert buckets.room("a") == 0
    clock.now += 1.0
    assert buckets.room("a") == 1


def test_answers_arriving_out_of_order_never_raise_the_count_in_a_window() -> None:
    buckets = WebhookBuckets(Clock())
    for _ in range(3):
        buckets.started("a")
    buckets.finished("a", headers(5, 2, 2.0))
    buckets.finished("a", headers(5, 4, 2.0))  # the first request's answer, late
    buckets.finished("a", headers(5, 3, 2.0))
    assert buckets.room("a") == 2
