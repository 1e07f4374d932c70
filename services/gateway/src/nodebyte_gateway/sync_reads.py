"""The sync service's most-read answers, kept briefly in each gateway replica.

Status polls and public counts are read far more often than they change. A
sync that has ended never changes again, so its status is kept for a minute;
one still running, and the counts, for a second at most. The sync events the
replica already receives for live progress drop an entry the moment it is
outdated, so the short lifetimes only bound staleness if the broker is away.
The owning service stays the source of every answer.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from nodebyte_common import events
from nodebyte_common.internal_client import ServiceClient

ENDED = ("COMPLETED", "FAILED", "CANCELLED")
ENDED_SECONDS = 60.0
LIVE_SECONDS = 1.0
MAX_ENTRIES = 10_000


class TimedCache:
    """A bounded dict whose entries lapse; the oldest go first when full."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: Any, value: Any, seconds: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (time.monotonic() + seconds, value)

    def drop(self, key: Any) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class SyncReads:
    """`GET /sync/logs/{id}` and `GET /stats` of the sync service, cached."""

    COUNTS = "counts"

    def __init__(self, sync: ServiceClient) -> None:
        self.sync = sync
        self._statuses = TimedCache()
        self._counts = TimedCache(max_entries=1)

    async def status(self, log_id: UUID) -> tuple[int, Any]:
        """The sync service's answer for one sync log (status code, body)."""
        cached = self._statuses.get(log_id)
        if cached is not None:
            return 200, cached
        status, body = await self.sync.call("GET", f"/sync/logs/{log_id}")
        if status == 200:
            ended = body["data"]["status"] in ENDED
            if ended:
                self._counts.clear()  # a sync seen ending here may have changed the counts
            self._statuses.put(log_id, body, ENDED_SECONDS if ended else LIVE_SECONDS)
        return status, body

    async def counts(self) -> tuple[int, Any]:
        cached = self._counts.get(self.COUNTS)
        if cached is not None:
            return 200, cached
        status, body = await self.sync.call("GET", "/stats")
        if status == 200:
            self._counts.put(self.COUNTS, body, LIVE_SECONDS)
        return status, body

    def on_event(self, event: events.Event) -> None:
        """A sync event from the progress hub: what it outdates is dropped."""
        log_id = getattr(event, "sync_log_id", None)
        if log_id is not None:
            self._statuses.drop(log_id)
        if not isinstance(event, events.SyncProgress):
            self._counts.clear()
