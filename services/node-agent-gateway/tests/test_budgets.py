"""Message budgets and handshake lockout delays."""

from nodebyte_node_agent_gateway.lockout import lock_seconds
from nodebyte_node_agent_gateway.rate_limit import TokenBucket


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    now = bucket.stamp
    assert [bucket.allow(now) for _ in range(4)] == [True, True, True, False]
    # One token back after 1/rate seconds (a hair more: (now + 0.1) - now may round below).
    assert bucket.allow(now + 0.1001)
    assert not bucket.allow(now + 0.1001)
    assert [bucket.allow(now + 100) for _ in range(4)] == [True, True, True, False]


def test_an_earlier_moment_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=10, burst=2)
    now = bucket.stamp
    assert bucket.allow(now)
    assert bucket.allow(now)
    assert not bucket.allow(now - 5)  # frames are charged as of their arrival, in order
    assert bucket.allow(now + 0.1001)


def test_lockout_grows_past_the_threshold_and_is_capped() -> None:
    policy = {"threshold": 5, "base": 2.0, "cap": 60.0}
    assert [lock_seconds(n, **policy) for n in range(1, 10)] == [
        0,
        0,
        0,
        0,
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
    ]
    assert lock_seconds(10, **policy) == 60.0
    assert lock_seconds(10_000, **policy) == 60.0
