"""File operations in flight between this replica and a node's agent, wherever it is held.

A request for a node's files may reach any replica (A); the agent's socket is
held by one replica (B), perhaps another. A opens the transfer:

- B is A: frames go straight into the agent's socket;
- otherwise A publishes the `file_operation` to the node's routing key
  (`node_link`, mandatory: the broker returns it at once when no replica holds
  the node, so "node offline" is immediate) with A's replica id as `reply_to`.
  B remembers the transfer (request id → A) and relays: the agent's frames for
  it go to `replica.<A>`, A's further frames (chunks, acknowledgements, abort)
  to the node's key, which reaches B.

Either way the window of the file protocol (`file_frames`) holds end to end:
the sender of a body keeps at most WINDOW chunks unacknowledged, so no hop
ever holds more than that of a body. Frames from the broker are handed off
without awaiting (aio-pika runs each delivery as its own task; only the part
before the first await keeps their order) into one queue per transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

import msgspec
import uuid6

from nodebyte_node_agent_gateway.agent_session import AgentSession
from nodebyte_node_agent_gateway.file_frames import (
    CHUNK_BYTES,
    WINDOW,
    BadChunk,
    FileAbort,
    FileOperation,
    FileOperationName,
    data_frame,
    split_data,
)
from nodebyte_node_agent_gateway.node_link import NodeLink, node_key, replica_key
from nodebyte_node_agent_gateway.protocol import (
    FileAck,
    FileFrame,
    FileReady,
    FileResult,
    decode_agent_message,
    encode,
)
from nodebyte_node_agent_gateway.session_registry import SessionRegistry

log = logging.getLogger(__name__)

# Message types on the node link.
OPEN = "file_open"  # to node.<id>: a file_operation, reply_to the origin replica
TO_AGENT_JSON, TO_AGENT_DATA = "file_to_agent_json", "file_to_agent_data"
FROM_AGENT_JSON, FROM_AGENT_DATA = "file_from_agent_json", "file_from_agent_data"
FILE_KINDS = frozenset({OPEN, TO_AGENT_JSON, TO_AGENT_DATA, FROM_AGENT_JSON, FROM_AGENT_DATA})
OVERFLOW = WINDOW * 2 + 8  # frames queued for one transfer beyond which its peer misbehaves

Incoming = FileReady | FileResult | bytes


class FileFailed(Exception):
    """A file operation that did not succeed: the agent's code, or ours."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FileStream:
    """One transfer opened here: the agent's frames arrive in order in `inbox`."""

    def __init__(
        self,
        request_id: UUID,
        to_agent_json: Callable[[bytes], Awaitable[None]],
        to_agent_data: Callable[[bytes], Awaitable[None]],
        idle_seconds: float,
    ) -> None:
        self.request_id = request_id
        self._json = to_agent_json
        self._data = to_agent_data
        self.idle_seconds = idle_seconds
        self.inbox: asyncio.Queue[Incoming | FileFailed] = asyncio.Queue()
        self.acked = 0
        self.finished = False
        self._woken = asyncio.Event()

    # --- from the agent (synchronous: keeps arrival order) ---

    def deliver(self, frame: FileFrame | bytes | FileFailed) -> None:
        if isinstance(frame, FileAck):
            self.acked = max(self.acked, frame.received)
        elif self.inbox.qsize() >= OVERFLOW:
            self.inbox.put_nowait(FileFailed("PROTOCOL", "The agent ignored the file window"))
        else:
            self.inbox.put_nowait(frame)
        self._woken.set()

    async def next(self) -> Incoming:
        try:
            frame = await asyncio.wait_for(self.inbox.get(), self.idle_seconds)
        except TimeoutError:
            raise FileFailed("TIMEOUT", "The node's agent did not answer in time") from None
        if isinstance(frame, FileFailed):
            raise frame
        return frame

    # --- what callers do with it ---

    async def ready(self) -> FileReady:
        """The agent's go-ahead for a body (its refusal raised as FileFailed)."""
        frame = await self.next()
        if isinstance(frame, FileReady):
            return frame
        raise _failure(frame)

    async def result(self) -> FileResult:
        frame = await self.next()
        self.finished = True
        if isinstance(frame, FileResult) and frame.success:
            return frame
        raise _failure(frame)

    async def body(self) -> AsyncIterator[bytes]:
        """The file's chunks as the agent sends them, acknowledged as they are taken."""
        received = 0
        while True:
            frame = await self.next()
            if not isinstance(frame, bytes):
                self.finished = True
                raise _failure(frame)
            if not frame:
                self.finished = True
                return
            yield frame
            received += 1
            if received % (WINDOW // 2) == 0:
                await self._json(
                    encode(FileAck(request_id=str(self.request_id), received=received))
                )

    async def send_body(self, chunks: AsyncIterator[bytes]) -> int:
        """Send a body (re-cut into chunks), never more than WINDOW unacknowledged; its size."""
        sent = size = 0
        pending = b""
        async for piece in chunks:
            pending += piece
            while len(pending) >= CHUNK_BYTES:
                await self._send_chunk(pending[:CHUNK_BYTES], sent)
                pending = pending[CHUNK_BYTES:]
                sent += 1
                size += CHUNK_BYTES
        if pending:
            await self._send_chunk(pending, sent)
            size += len(pending)
        await self._data(data_frame(self.request_id))
        return size

    async def _send_chunk(self, chunk: bytes, sent: int) -> None:
        while sent - self.acked >= WINDOW:
            if not self.inbox.empty():  # the agent gave up (too large, disk full): stop
                raise _failure(await self.next())
            self._woken.clear()
            try:
                await asyncio.wait_for(self._woken.wait(), self.idle_seconds)
            except TimeoutError:
                raise FileFailed("TIMEOUT", "The node's agent stopped taking the file") from None
        if not self.inbox.empty():
            raise _failure(await self.next())
        await self._data(data_frame(self.request_id, chunk))

    async def abort(self, reason: str) -> None:
        self.finished = True
        with contextlib.suppress(Exception):
            await self._json(encode(FileAbort(request_id=str(self.request_id), reason=reason)))


def _failure(frame: Incoming) -> FileFailed:
    if isinstance(frame, FileResult) and not frame.success:
        return FileFailed(frame.code or "IO_ERROR", frame.error or "The file operation failed")
    return FileFailed("PROTOCOL", "The agent answered out of turn")


@dataclass
class _Relay:
    """A transfer opened on another replica for an agent held here."""

    node_id: UUID
    origin: str
    frames: asyncio.Queue[tuple[bool, bytes]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class FileStreams:
    def __init__(
        self, registry: SessionRegistry, link: NodeLink, replica_id: str, idle_seconds: float
    ) -> None:
        self.registry = registry
        self.link = link
        self.replica_id = replica_id
        self.idle_seconds = idle_seconds
        self._opened: dict[UUID, tuple[UUID, FileStream]] = {}  # here: request -> node, stream
        self._relays: dict[UUID, _Relay] = {}  # held here, opened elsewhere

    # --- the origin's side ---

    @contextlib.asynccontextmanager
    async def open(
        self,
        node_id: UUID,
        server_id: UUID,
        operation: FileOperationName,
        **fields: object,
    ) -> AsyncIterator[FileStream]:
        """Ask the node's agent for `operation`; abandoned (file_abort) unless it finished."""
        request_id = uuid6.uuid7()
        frame = encode(
            FileOperation(
                request_id=str(request_id),
                server_id=str(server_id),
                server_uuid=str(server_id),
                operation=operation,
                window=WINDOW,
                chunk_bytes=CHUNK_BYTES,
                **fields,  # type: ignore[arg-type]
            )
        )
        session = self.registry.get(node_id)
        stream = self._stream(request_id, node_id, session)
        self._opened[request_id] = (node_id, stream)
        try:
            await self._send_open(node_id, session, frame)
            yield stream
        finally:
            self._opened.pop(request_id, None)
            if not stream.finished:
                await stream.abort("the backend abandoned the transfer")

    def _stream(self, request_id: UUID, node_id: UUID, session: AgentSession | None) -> FileStream:
        if session is not None:
            return FileStream(request_id, session.send, session.send_bytes, self.idle_seconds)
        key = node_key(node_id)

        async def json(body: bytes) -> None:
            await self.link.send_file_frame(key, TO_AGENT_JSON, body)

        async def data(body: bytes) -> None:
            await self.link.send_file_frame(key, TO_AGENT_DATA, body)

        return FileStream(request_id, json, data, self.idle_seconds)

    async def _send_open(self, node_id: UUID, session: AgentSession | None, frame: bytes) -> None:
        if session is not None:
            try:
                await session.send(frame)
            except Exception:
                raise FileFailed("NODE_OFFLINE", "The server's node is offline") from None
            return
        try:
            delivered = await self.link.send_to_node(
                node_id, OPEN, frame, expiration=self.idle_seconds, reply_to=self.replica_id
            )
        except ConnectionError:
            raise FileFailed("UNAVAILABLE", "File relay is unavailable; try again") from None
        if not delivered:
            raise FileFailed("NODE_OFFLINE", "The server's node is offline")

    # --- frames from the agent held here ---

    async def from_agent(self, frame: FileFrame | bytes) -> bool:
        """Hand an agent's file frame to its transfer; False when no transfer expects it."""
        try:
            request_id = (
                split_data(frame)[0] if isinstance(frame, bytes) else UUID(frame.request_id)
            )
        except (BadChunk, ValueError):
            return False
        opened = self._opened.get(request_id)
        if opened is not None:
            opened[1].deliver(split_data(frame)[1] if isinstance(frame, bytes) else frame)
            return True
        relay = self._relays.get(request_id)
        if relay is None:
            return False
        if isinstance(frame, bytes):
            await self.link.send_file_frame(replica_key(relay.origin), FROM_AGENT_DATA, frame)
            ending = len(frame) == len(request_id.bytes)
        else:
            await self.link.send_file_frame(
                replica_key(relay.origin), FROM_AGENT_JSON, encode(frame)
            )
            ending = isinstance(frame, FileResult)
        if ending:
            self._end_relay(request_id)
        return True

    def node_gone(self, node_id: UUID) -> None:
        """The agent's socket here closed: its transfers end now, not at their timeout."""
        gone = FileFailed("NODE_OFFLINE", "The server's node went offline during the transfer")
        for opened_node, stream in list(self._opened.values()):
            if opened_node == node_id:
                stream.deliver(gone)
        for request_id, relay in list(self._relays.items()):
            if relay.node_id == node_id:
                failure = FileResult(
                    request_id=str(request_id), success=False, code="IO_ERROR", error=str(gone)
                )
                relay.frames.put_nowait((False, b""))  # stops its task
                self._reply(relay.origin, encode(failure))
                self._end_relay(request_id)

    # --- frames from the broker (synchronous hand-off: order is kept) ---

    def on_link_message(self, subject: str, kind: str, body: bytes, reply_to: str | None) -> None:
        """NodeLink callback for file frames (`subject`: the node or replica addressed)."""
        try:
            if kind == OPEN:
                self._open_relay(UUID(subject), body, reply_to)
            elif kind in (TO_AGENT_JSON, TO_AGENT_DATA):
                self._to_agent(kind, body)
            elif kind == FROM_AGENT_DATA:
                request_id, payload = split_data(body)
                self._deliver_here(request_id, payload)
            elif kind == FROM_AGENT_JSON:
                message = decode_agent_message(body)
                if isinstance(message, FileReady | FileAck | FileResult):
                    self._deliver_here(UUID(message.request_id), message)
        except (msgspec.DecodeError, msgspec.ValidationError, BadChunk, ValueError):
            log.warning("undecodable file frame on the node link", extra={"kind": kind})

    def _deliver_here(self, request_id: UUID, frame: FileFrame | bytes) -> None:
        opened = self._opened.get(request_id)
        if opened is not None:
            opened[1].deliver(frame)

    def _open_relay(self, node_id: UUID, body: bytes, origin: str | None) -> None:
        operation = msgspec.json.decode(body, type=FileOperation)
        request_id = UUID(operation.request_id)
        if origin is None:
            return
        session = self.registry.get(node_id)
        if session is None:
            failure = FileResult(
                request_id=operation.request_id,
                success=False,
                code="IO_ERROR",
                error="The server's node is offline",
            )
            self._reply(origin, encode(failure))
            return
        relay = _Relay(session.node_id, origin)
        self._relays[request_id] = relay
        relay.frames.put_nowait((False, body))
        relay.task = asyncio.create_task(self._pump(session, relay))

    def _to_agent(self, kind: str, body: bytes) -> None:
        if kind == TO_AGENT_DATA:
            request_id = split_data(body)[0]
        else:
            request_id = UUID(msgspec.json.decode(body, type=FileAbort | FileAck).request_id)
        relay = self._relays.get(request_id)
        if relay is None:
            return
        if relay.frames.qsize() >= OVERFLOW:
            log.warning("a relayed file transfer ignored its window")
            self._end_relay(request_id)
            return
        relay.frames.put_nowait((kind == TO_AGENT_DATA, body))
        if kind == TO_AGENT_JSON and b'"file_abort"' in body:
            self._relays.pop(request_id, None)  # its task sends the abort, then ends

    async def _pump(self, session: AgentSession, relay: _Relay) -> None:
        """Into the agent's socket, in order, one relayed transfer's frames."""
        while True:
            binary, body = await relay.frames.get()
            if not body:
                return
            try:
                if binary:
                    await session.send_bytes(body)
                else:
                    await session.send(body)
            except Exception:
                return
            if not binary and b'"file_abort"' in body:
                return

    def _end_relay(self, request_id: UUID) -> None:
        relay = self._relays.pop(request_id, None)
        if relay is not None:
            relay.frames.put_nowait((False, b""))

    def _reply(self, origin: str, body: bytes) -> None:
        task = asyncio.create_task(
            self.link.send_file_frame(replica_key(origin), FROM_AGENT_JSON, body)
        )
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
