"""When renewals are due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from nodebyte_hytale_auth.refresh_timing import renew_at, retry_delay

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_hour_long_session_renews_lead_plus_slack_before_expiry() -> None:
    expires = T0 + timedelta(hours=1)
    assert renew_at(T0, expires, lead=300, slack=600) == expires - timedelta(minutes=15)


def test_a_short_lifetime_renews_half_way_not_on_every_tick() -> None:
    expires = T0 + timedelta(seconds=8)
    assert renew_at(T0, expires, lead=300, slack=600) == T0 + timedelta(seconds=4)


def test_retries_back_off_to_a_cap() -> None:
    delays = [retry_delay(n).total_seconds() for n in range(1, 8)]
    assert delays == [15, 30, 60, 120, 240, 300, 300]
