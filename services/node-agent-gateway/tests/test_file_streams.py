"""A file transfer's window: never more than WINDOW chunks of a body unacknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uuid6

from nodebyte_node_agent_gateway.file_frames import CHUNK_BYTES, WINDOW, split_data
from nodebyte_node_agent_gateway.file_streams import FileFailed, FileStream
from nodebyte_node_agent_gateway.protocol import FileAck, FileResult, decode_agent_message


class FakeAgent:
    """Takes chunks, acknowledging only when told to."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.json: list[bytes] = []

    async def data(self, frame: bytes) -> None:
        self.chunks.append(split_data(frame)[1])

    async def send_json(self, frame: bytes) -> None:
        self.json.append(frame)


async def pieces(total: int, size: int = 50_000) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = b"x" * min(size, total - sent)
        sent += len(piece)
        yield piece


async def test_a_body_waits_for_acknowledgements_beyond_the_window() -> None:
    agent = FakeAgent()
    request_id = uuid6.uuid7()
    stream = FileStream(request_id, agent.send_json, agent.data, idle_seconds=5)
    total = CHUNK_BYTES * (WINDOW * 3) + 123
    sending = asyncio.create_task(stream.send_body(pieces(total)))
    await asyncio.sleep(0.05)
    assert len(agent.chunks) == WINDOW  # stopped: nothing acknowledged yet
    for acked in range(WINDOW, WINDOW * 4, WINDOW):
        stream.deliver(FileAck(request_id=str(request_id), received=acked))
        await asyncio.sleep(0.05)
        assert len(agent.chunks) <= acked + WINDOW
    assert await asyncio.wait_for(sending, 5) == total
    assert agent.chunks[-1] == b""  # the end of the body
    assert sum(len(c) for c in agent.chunks) == total
    assert max(len(c) for c in agent.chunks) == CHUNK_BYTES


async def test_a_refusal_midway_stops_the_body() -> None:
    agent = FakeAgent()
    request_id = uuid6.uuid7()
    stream = FileStream(request_id, agent.send_json, agent.data, idle_seconds=5)
    sending = asyncio.create_task(stream.send_body(pieces(CHUNK_BYTES * WINDOW * 4)))
    await asyncio.sleep(0.05)
    refusal = FileResult(request_id=str(request_id), success=False, code="TOO_LARGE", error="big")
    stream.deliver(refusal)
    with pytest.raises(FileFailed) as failed:
        await asyncio.wait_for(sending, 5)
    assert failed.value.code == "TOO_LARGE"
    assert len(agent.chunks) == WINDOW


async def test_a_download_is_acknowledged_as_it_is_taken() -> None:
    agent = FakeAgent()
    request_id = uuid6.uuid7()
    stream = FileStream(request_id, agent.send_json, agent.data, idle_seconds=5)
    for _ in range(WINDOW):
        stream.deliver(b"y" * 10)
    stream.deliver(b"")
    got = [chunk async for chunk in stream.body()]
    assert got == [b"y" * 10] * WINDOW
    acks = [decode_agent_message(frame) for frame in agent.json]
    assert [a.received for a in acks if isinstance(a, FileAck)] == [WINDOW // 2, WINDOW]
