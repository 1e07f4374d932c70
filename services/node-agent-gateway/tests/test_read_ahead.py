"""Frames read ahead of their handling: in order, bounded, nothing lost, reading never
waiting on a slow handler until the queue is full."""

from __future__ import annotations

import asyncio

import pytest

from nodebyte_node_agent_gateway.read_ahead import read_ahead


class Peer:
    """A socket's frames, 0..count-1 then the end; counts how many were read."""

    def __init__(self, count: int, fail: bool = False) -> None:
        self.count = count
        self.fail = fail
        self.read = 0

    async def receive(self) -> int | None:
        await asyncio.sleep(0)
        if self.read == self.count:
            if self.fail:
                raise ConnectionError("reset")
            return None
        self.read += 1
        return self.read - 1


async def test_reading_goes_on_while_a_frame_is_handled_up_to_the_limit() -> None:
    peer, handled = Peer(100), []
    release = asyncio.Event()

    async def handle(frame: int) -> None:
        if frame == 0:
            await release.wait()  # a slow store
        handled.append(frame)

    task = asyncio.create_task(read_ahead(peer.receive, handle, limit=10))
    for _ in range(50):
        await asyncio.sleep(0)
    # Frame 0 is being handled, ten wait in the queue, one more is held by the reader.
    assert peer.read == 12
    assert handled == []
    release.set()
    await asyncio.wait_for(task, 5)
    assert handled == list(range(100))


async def test_frames_read_before_the_peer_left_are_all_handled() -> None:
    peer, handled = Peer(5), []

    async def handle(frame: int) -> None:
        await asyncio.sleep(0.01)
        handled.append(frame)

    await asyncio.wait_for(read_ahead(peer.receive, handle, limit=64), 5)
    assert handled == [0, 1, 2, 3, 4]


async def test_a_read_error_surfaces_after_what_came_before_it() -> None:
    peer, handled = Peer(3, fail=True), []

    async def handle(frame: int) -> None:
        handled.append(frame)

    with pytest.raises(ConnectionError):
        await asyncio.wait_for(read_ahead(peer.receive, handle, limit=2), 5)
    assert handled == [0, 1, 2]


async def test_cancelling_stops_reading_and_handling() -> None:
    blocked = asyncio.Event()
    reads = 0

    async def receive() -> int:
        nonlocal reads
        reads += 1
        await blocked.wait()  # never comes
        return reads

    async def handle(frame: int) -> None:
        raise AssertionError("nothing to handle")

    task = asyncio.create_task(read_ahead(receive, handle, limit=4))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)
    assert reads == 1
    assert all(t.done() for t in asyncio.all_tasks() if t is not asyncio.current_task())
