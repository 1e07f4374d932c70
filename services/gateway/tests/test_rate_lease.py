"""Lease sizing: a slow caller leases one token at a time, a fast one a chunk."""

from __future__ import annotations

from nodebyte_gateway.edge.rate_limit import LEASE_SECONDS, Lease


def test_a_slow_caller_leases_one_token() -> None:
    lease = Lease(cap=300, rate=5, max_size=15)
    lease.add(1, now=100.0)
    lease.take()
    assert lease.next_size(now=102.0) == 1  # one request in two seconds
    assert not lease.wants_renewal_ahead(now=0.1)


def test_a_fast_caller_leases_half_a_lifetime_at_its_pace_up_to_the_cap() -> None:
    lease = Lease(cap=100_000, rate=1_000, max_size=5_000)
    lease.add(100, now=10.0)
    for _ in range(100):
        lease.take()
    assert abs(lease.next_size(now=10.1) - 1_000 * LEASE_SECONDS / 2) <= 1  # 1,000 a second
    assert lease.next_size(now=10.0001) == 5_000


def test_renewal_ahead_is_asked_once_until_it_is_done() -> None:
    lease = Lease(cap=100_000, rate=1_000, max_size=5_000, size=400)
    lease.add(400, now=0.0)
    for _ in range(150):
        lease.take()
    assert not lease.wants_renewal_ahead(now=0.1)
    assert lease.wants_renewal_ahead(now=LEASE_SECONDS / 2)  # getting old
    for _ in range(50):
        lease.take()
    assert lease.wants_renewal_ahead(now=0.1)  # half spent
    lease.renewing_ahead = True
    lease.take()
    assert not lease.wants_renewal_ahead(now=0.1)


def test_unspent_tokens_are_kept_only_while_the_lease_lives() -> None:
    lease = Lease(cap=100, rate=1, max_size=5)
    lease.add(5, now=0.0)
    lease.add(5, now=0.5)
    assert lease.tokens == 10
    lease.add(5, now=0.5 + LEASE_SECONDS + 0.1)
    assert lease.tokens == 5
