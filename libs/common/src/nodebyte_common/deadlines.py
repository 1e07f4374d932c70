"""Time limits of requests in flight: one timer for all of them, not one each.

Every request of a process gets the same limit, so requests run out of time in
the order they began: an insertion-ordered table of running requests and one
timer, set for the oldest, are enough. (`asyncio.timeout` arms a timer per
request, and under uvloop each is a libuv timer: more than a cheap request's
own handling costs.) A request out of time has its task cancelled, as
`asyncio.timeout` would; `expired` tells that cancellation from any other.
With no limit (`seconds` None), nothing is ever cancelled.
"""

from __future__ import annotations

import asyncio


class Deadlines:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._running: dict[asyncio.Task[object], float] = {}  # task -> deadline, oldest first
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.Task[object]:
        """Start the clock for the request the current task serves."""
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        if self.seconds is None:
            return task
        loop = task.get_loop()
        deadline = loop.time() + self.seconds
        self._running[task] = deadline
        if loop is not self._loop:  # a new loop (tests): the old one's requests are gone
            self._running = {task: deadline}
            self._expired.clear()
            self._loop, self._timer = loop, None
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire)
        return task

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether the CancelledError `task` is raising was its deadline's, alone."""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        return task.uncancel() == 0

    def answered(self, task: asyncio.Task[object]) -> None:
        """The response has begun: from here on it streams as long as it needs."""
        if task not in self._expired:
            self._running.pop(task, None)

    def finish(self, task: asyncio.Task[object]) -> None:
        self._running.pop(task, None)
        self._expired.discard(task)

    def _expire(self) -> None:
        loop, self._timer = self._loop, None
        assert loop is not None
        now = loop.time()
        while self._running:
            task, deadline = next(iter(self._running.items()))
            if deadline > now:
                self._timer = loop.call_at(deadline, self._expire)
                return
            del self._running[task]
            if not task.done():
                self._expired.add(task)
                task.cancel()
