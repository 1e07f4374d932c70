"""The sync service's most-read answers, kept briefly in each gateway replica.

Status polls and public counts are read far more often than they change. A
sync that has ended never changes again, so its status is kept for a minute;
one still running, and the counts, for a second. The sync events the replica
already receives for live progress drop an entry the moment it is outdated,
so the short lifetimes only bound staleness if the broker is away. A lapsed
entry is answered while one request refreshes it, and concurrent misses share
one call, so the sync service sees a trickle however many clients poll. The
owning service stays the source of every answer.

A 200 answer is decoded into its contract type (an answer outside it is a 502)
and kept with its public envelope encoded once, so polls are answered with
those bytes rather than encoded again each time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from nodebyte_common import events
from nodebyte_common.contracts import envelope, sync
from nodebyte_common.contracts.sync import ENDED
from nodebyte_common.envelope import ApiError
from nodebyte_common.internal_client import ServiceClient
from nodebyte_gateway.edge.encoded_response import EncodedJson

ENDED_SECONDS = 60.0
LIVE_SECONDS = 1.0
STALE_SECONDS = 5.0  # how long past its lifetime an entry may answer while refreshed
MAX_ENTRIES = 10_000

Answer = tuple[int, Any]  # an internal call's status code and body


class ReadThrough:
    """Answers by key: fetched once at a time, kept for what `lifetime` says."""

    def __init__(self, lifetime: Callable[[Any], float], max_entries: int = MAX_ENTRIES) -> None:
        self.lifetime = lifetime  # seconds to keep a 200 body
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._fetches: dict[Hashable, asyncio.Future[Answer]] = {}
        self._generation = 0  # bumped by every drop: a fetch begun before it is not kept

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Answer]]) -> Answer:
        entry = self._entries.get(key)
        if entry is not None:
            expires_at, body = entry
            now = time.monotonic()
            if now < expires_at:
                return 200, body
            if now < expires_at + STALE_SECONDS:
                self._fetch_once(key, fetch)  # refreshed in the background
                return 200, body
        return await asyncio.shield(self._fetch_once(key, fetch))

    def drop(self, key: Hashable) -> None:
        self._generation += 1
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    def _fetch_once(
        self, key: Hashable, fetch: Callable[[], Awaitable[Answer]]
    ) -> asyncio.Future[Answer]:
        running = self._fetches.get(key)
        if running is None:
            running = asyncio.ensure_future(self._fetch(key, fetch, self._generation))
            self._fetches[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        return running

    async def _fetch(
        self, key: Hashable, fetch: Callable[[], Awaitable[Answer]], generation: int
    ) -> Answer:
        status, body = await fetch()
        if status == 200 and generation == self._generation:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (time.monotonic() + self.lifetime(body), body)
        return status, body

    def _finished(self, key: Hashable, done: asyncio.Future[Answer]) -> None:
        self._fetches.pop(key, None)
        if not done.cancelled():
            done.exception()  # a failed background refresh was awaited by nobody


class Encoded(NamedTuple):
    """A 200 answer of the sync service, typed, and the public envelope it is answered
    with, as bytes and as the response every poll of it is sent (made once)."""

    answer: Any  # Answer[SyncLog] or Answer[Counts]
    envelope: bytes
    response: EncodedJson


def _encoded(answer: Any) -> Answer:
    envelope = msgspec.json.encode(answer)
    return 200, Encoded(answer, envelope, EncodedJson(envelope))


def _status_lifetime(encoded: Encoded) -> float:
    return ENDED_SECONDS if encoded.answer.data.status in ENDED else LIVE_SECONDS


class SyncReads:
    """`GET /sync/logs/{id}` and `GET /stats` of the sync service, cached.

    A sync log is answered as it is (None: sync does not know it); the counts
    too, or the sync service's refusal raised.
    """

    def __init__(self, sync: ServiceClient) -> None:
        self.sync = sync
        self._statuses = ReadThrough(_status_lifetime)
        self._counts = ReadThrough(lambda _: LIVE_SECONDS, max_entries=1)

    async def status(self, log_id: UUID) -> Encoded | None:
        """The sync service's answer for one sync log."""
        status, body = await self._statuses.get(log_id, lambda: self._fetch_status(log_id))
        return body if status == 200 else None

    async def counts(self) -> Encoded:
        _, body = await self._counts.get("counts", self._fetch_counts)
        return body  # type: ignore[no-any-return]

    async def _fetch_counts(self) -> Answer:
        return _encoded(await self.sync.call_as(envelope.Answer[sync.Counts], "GET", "/stats"))

    async def _fetch_status(self, log_id: UUID) -> Answer:
        try:
            path = f"/sync/logs/{log_id}"
            answer = await self.sync.call_as(envelope.Answer[sync.SyncLog], "GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return 404, None
            raise
        if answer.data.status in ENDED:
            self._counts.clear()  # a sync seen ending here may have changed the counts
        return _encoded(answer)

    def on_event(self, event: events.Event) -> None:
        """A sync event from the progress hub: what it outdates is dropped."""
        log_id = getattr(event, "sync_log_id", None)
        if log_id is not None:
            self._statuses.drop(log_id)
        if not isinstance(event, events.SyncProgress):
            self._counts.clear()
