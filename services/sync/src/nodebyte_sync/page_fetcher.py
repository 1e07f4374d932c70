"""Fetch many panel list pages concurrently, yielding each page as it arrives.

Page 1 of each list tells how many pages follow; those are requested together,
bounded by `concurrency`, so the panel round trips overlap with the writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nodebyte_common.pterodactyl import PanelClient, PanelPage, parse_list

Getter = Callable[[str, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class ListRequest:
    path: str
    params: dict[str, Any]
    api: str = "application"  # or "client"
    paginated: bool = True
    parent_id: int | None = None  # the node of `/nodes/{id}/allocations`, etc.


_DONE = object()


async def fetch_pages(
    panel: PanelClient, requests: list[ListRequest], *, per_page: int, concurrency: int
) -> AsyncIterator[tuple[ListRequest, PanelPage]]:
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=concurrency * 2)
    slots = asyncio.Semaphore(concurrency)

    async def get(request: ListRequest, page: int) -> PanelPage:
        getter: Getter = panel.client if request.api == "client" else panel.application
        params = dict(request.params)
        if request.paginated:
            params.update(page=page, per_page=per_page)
        async with slots:
            return parse_list(await getter(request.path, params))

    async def fetch_list(request: ListRequest) -> None:
        first = await get(request, 1)
        await queue.put((request, first))
        rest = [asyncio.ensure_future(get(request, n)) for n in range(2, first.total_pages + 1)]
        try:
            for next_page in asyncio.as_completed(rest):
                await queue.put((request, await next_page))
        finally:
            for task in rest:
                task.cancel()

    async def produce() -> None:
        try:
            await asyncio.gather(*(fetch_list(r) for r in requests))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)
            return
        await queue.put(_DONE)

    producer = asyncio.create_task(produce())
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
