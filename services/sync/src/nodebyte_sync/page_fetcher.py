"""Fetch many panel list pages concurrently, yielding them in batches as they arrive.

Page 1 of each list tells how many pages follow; those are requested together,
bounded by a semaphore shared by everything one sync fetches, so the panel round
trips overlap with the writes. Items stay encoded (`RawPage.data`) until the
writer knows the page changed. Each batch is every page that arrived while the
previous batch was written (up to `BATCH_BYTES`), so one transaction can take them
all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from nodebyte_common.pterodactyl import PanelClient, RawPage, parse_raw_list

BATCH_BYTES = 4 * 1024 * 1024  # raw JSON per batch: bounds one transaction's COPY
QUEUE_PAGES = 32  # pages fetched ahead of the writer


@dataclass(frozen=True)
class ListRequest:
    path: str
    params: dict[str, Any]
    api: str = "application"  # or "client"
    paginated: bool = True
    parent_id: int | None = None  # the node of `/nodes/{id}/allocations`, etc.


Fetched = tuple[ListRequest, RawPage]
_DONE = object()


async def fetch_batches(
    panel: PanelClient, requests: list[ListRequest], *, per_page: int, slots: asyncio.Semaphore
) -> AsyncIterator[list[Fetched]]:
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_PAGES)

    async def get(request: ListRequest, page: int) -> RawPage:
        params = dict(request.params)
        if request.paginated:
            params.update(page=page, per_page=per_page)
        async with slots:
            return parse_raw_list(await panel.body(request.api, request.path, params))

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
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put(exc)
            return
        await queue.put(_DONE)

    producer = asyncio.create_task(produce())
    try:
        while True:
            item = await queue.get()
            batch: list[Fetched] = []
            size = 0
            while True:
                if item is _DONE:
                    if batch:
                        yield batch
                    return
                if isinstance(item, BaseException):
                    raise item
                batch.append(item)
                size += len(item[1].data)
                if size >= BATCH_BYTES or queue.empty():
                    break
                item = queue.get_nowait()
            yield batch
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
