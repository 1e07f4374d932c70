"""Read a connection's frames ahead of handling them, in order, with a bounded queue.

Under uvicorn a WebSocket stops reading its TCP stream while a received frame
waits for the application, and control frames (a ping, the pong to our
keepalive ping) are only seen once the stream is read again. So a reader task
keeps taking frames into a queue while the handler works through them one at a
time: the socket is read, and pings answered, while one frame waits on the
store. The queue holds at most `limit` frames; once full the reader waits,
reading stops and TCP pushes back on the agent. Nothing is dropped, nothing is
reordered, and memory per connection stays bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

Frame = TypeVar("Frame")


class _Ended:
    """The reader's last word: the peer left (error None) or reading failed."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None) -> None:
        self.error = error


async def read_ahead(
    receive: Callable[[], Awaitable[Frame | None]],
    handle: Callable[[Frame], Awaitable[None]],
    limit: int,
) -> None:
    """Hand every frame of `receive` (None once the peer has gone) to `handle`, in order.

    Returns after the last frame read was handled; raises what reading raised,
    after handling what came before it. Cancelling it stops both sides.
    """
    inbox: asyncio.Queue[Frame | _Ended] = asyncio.Queue(limit)

    async def read() -> None:
        error = None
        try:
            while (frame := await receive()) is not None:
                await inbox.put(frame)
        except Exception as exc:
            error = exc
        await inbox.put(_Ended(error))

    reader = asyncio.create_task(read())
    try:
        while not isinstance(item := await inbox.get(), _Ended):
            await handle(item)
        if item.error is not None:
            raise item.error
    finally:
        reader.cancel()
