"""ReadThrough: one fetch per key at a time, stale answers while refreshing, drops."""

from __future__ import annotations

import asyncio
from typing import Any

from nodebyte_gateway import sync_reads
from nodebyte_gateway.sync_reads import ReadThrough


class Upstream:
    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.status = 200

    async def fetch(self) -> tuple[int, Any]:
        self.calls += 1
        answer = {"data": {"n": self.calls}}
        await self.release.wait()
        return self.status, answer


async def test_concurrent_misses_share_one_fetch() -> None:
    upstream, cache = Upstream(), ReadThrough(lambda _: 60)
    upstream.release.clear()
    waiting = [asyncio.create_task(cache.get("k", upstream.fetch)) for _ in range(10)]
    await asyncio.sleep(0)
    upstream.release.set()
    answers = await asyncio.gather(*waiting)
    assert upstream.calls == 1
    assert {a[1]["data"]["n"] for a in answers} == {1}
    assert (await cache.get("k", upstream.fetch))[1]["data"]["n"] == 1  # kept


async def test_a_lapsed_entry_answers_while_one_refresh_runs(monkeypatch: Any) -> None:
    upstream, cache = Upstream(), ReadThrough(lambda _: 0.0)
    await cache.get("k", upstream.fetch)
    upstream.release.clear()
    stale = [await cache.get("k", upstream.fetch) for _ in range(5)]
    assert [a[1]["data"]["n"] for a in stale] == [1] * 5
    await asyncio.sleep(0)
    assert upstream.calls == 2  # one refresh in flight, not five
    upstream.release.set()
    await asyncio.sleep(0.01)
    monkeypatch.setattr(sync_reads, "STALE_SECONDS", 0.0)
    assert (await cache.get("k", upstream.fetch))[1]["data"]["n"] == 3


async def test_drop_forces_a_fetch_and_outdates_one_in_flight() -> None:
    upstream, cache = Upstream(), ReadThrough(lambda _: 60)
    upstream.release.clear()
    early = asyncio.create_task(cache.get("k", upstream.fetch))
    await asyncio.sleep(0)
    cache.drop("k")  # an event says what is being fetched is already old
    upstream.release.set()
    assert (await early)[1]["data"]["n"] == 1
    assert (await cache.get("k", upstream.fetch))[1]["data"]["n"] == 2  # 1 was not kept


async def test_failures_are_not_kept() -> None:
    upstream, cache = Upstream(), ReadThrough(lambda _: 60)
    upstream.status = 404
    assert (await cache.get("k", upstream.fetch))[0] == 404
    assert (await cache.get("k", upstream.fetch))[0] == 404
    assert upstream.calls == 2
