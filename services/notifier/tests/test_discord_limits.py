"""The Discord limiter, on a fake clock: buckets, windows, 429s and the global limit."""

from __future__ import annotations

import asyncio

from nodebyte_notifier.discord_limits import EDGE_MARGIN, DiscordLimiter, RateLimitAnswer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(
    limit: int, remaining: int, reset_after: float, *, window: float = 5000.0, bucket: str = "b1"
) -> RateLimitAnswer:
    return RateLimitAnswer(
        {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset-after": str(reset_after),
            "x-ratelimit-reset": str(window),
            "x-ratelimit-bucket": bucket,
        }
    )


def test_one_request_at_a_time_until_the_bucket_is_known() -> None:
    limiter = DiscordLimiter(Clock())
    assert limiter.try_acquire("a")
    assert not limiter.try_acquire("a")
    assert limiter.blocked() == ["a"]
    limiter.learn("a", answer(5, 4, 2.0))
    assert limiter.room("a") == 4


def test_requests_in_flight_are_not_assumed_counted_yet() -> None:
    limiter = DiscordLimiter(Clock())
    assert limiter.try_acquire("a")
    limiter.learn("a", answer(5, 4, 2.0))
    for _ in range(4):
        assert limiter.try_acquire("a")
    assert not limiter.try_acquire("a")  # 4 remain, 4 in flight
    limiter.learn("a", answer(5, 3, 1.9))  # one of them; 3 still in flight, maybe unseen
    assert limiter.room("a") == 0


def test_an_empty_bucket_waits_for_its_reset_then_refills_minus_what_is_in_flight() -> None:
    clock = Clock()
    limiter = DiscordLimiter(clock)
    limiter.try_acquire("a")
    limiter.learn("a", answer(5, 0, 1.5))
    assert limiter.room("a") == 0
    assert abs(limiter.wait_seconds() - (1.5 + EDGE_MARGIN)) < 1e-6
    assert abs(limiter.route_wait("a") - (1.5 + EDGE_MARGIN)) < 1e-6
    clock.now += 1.5
    assert limiter.room("a") == 0  # not a moment early
    clock.now += EDGE_MARGIN
    assert limiter.room("a") == 5
    assert limiter.try_acquire("a")
    assert limiter.room("a") == 4
    assert limiter.room("b") == 1  # other webhooks are not held back


def test_late_answers_of_a_window_never_raise_what_remains() -> None:
    limiter = DiscordLimiter(Clock())
    limiter.try_acquire("a")
    limiter.learn("a", answer(5, 4, 2.0))
    for _ in range(3):
        limiter.try_acquire("a")
    limiter.learn("a", answer(5, 2, 2.0))
    limiter.learn("a", answer(5, 3, 2.0))  # an earlier request's answer, late
    limiter.learn("a", answer(5, 1, 2.0))
    assert limiter.room("a") == 1
    limiter.learn("a", answer(5, 4, 2.0, window=4998.0))  # a window that is over: ignored
    assert limiter.room("a") == 1


def test_a_new_window_replaces_what_remains() -> None:
    clock = Clock()
    limiter = DiscordLimiter(clock)
    limiter.try_acquire("a")
    limiter.learn("a", answer(5, 0, 1.0))
    clock.now += 1.0 + EDGE_MARGIN
    limiter.try_acquire("a")
    limiter.learn("a", answer(5, 4, 2.0, window=5002.0))
    assert limiter.room("a") == 4


def test_a_429_blocks_its_bucket_and_a_global_one_blocks_all() -> None:
    clock = Clock()
    limiter = DiscordLimiter(clock)
    limiter.try_acquire("a")
    limiter.learn("a", RateLimitAnswer({}, retry_after=2.0))
    assert limiter.room("a") == 0
    assert limiter.try_acquire("b")
    limiter.learn("b", RateLimitAnswer({"x-ratelimit-global": "true"}, 1.0, is_global=True))
    assert limiter.room("c") == 0
    assert not limiter.try_acquire("c")
    clock.now += 1.0 + EDGE_MARGIN
    assert limiter.room("c") == 1
    assert limiter.room("a") == 0
    clock.now += 1.0
    assert limiter.room("a") == 1


def test_routes_in_one_bucket_share_it() -> None:
    limiter = DiscordLimiter(Clock())
    limiter.try_acquire("a")
    limiter.learn("a", answer(2, 1, 2.0, bucket="shared"))
    limiter.try_acquire("b")
    limiter.learn("b", answer(2, 0, 2.0, bucket="shared"))
    assert limiter.room("a") == 0
    assert limiter.room("b") == 0


def test_a_request_without_an_answer_may_have_counted() -> None:
    limiter = DiscordLimiter(Clock())
    limiter.try_acquire("a")
    limiter.learn("a", answer(5, 2, 2.0))
    limiter.try_acquire("a")
    limiter.abandon("a")  # a read timeout: Discord may have counted it
    assert limiter.room("a") == 1


async def test_acquire_waits_for_an_answer_or_gives_up() -> None:
    limiter = DiscordLimiter()
    assert await limiter.acquire("a", max_wait=0.1)
    assert not await limiter.acquire("a", max_wait=0.05)  # the probe is still in flight
    waiting = asyncio.create_task(limiter.acquire("a", max_wait=5.0))
    await asyncio.sleep(0.01)
    limiter.learn("a", answer(5, 4, 2.0))
    assert await asyncio.wait_for(waiting, 1.0)
