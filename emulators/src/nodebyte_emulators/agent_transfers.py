"""The reference agent's side of server transfers between nodes, on its disk.

Source (`transfer_archive`): make a tar.gz of the server's directory and send
it as it is made, in base64 `transfer_chunk`s, never more than `window` ahead
of the target's `transfer_chunk_ack`s; the last chunk carries the archive's
sha256. A failure is a `transfer_result` (role source, success
false). `transfer_finished` removes the old copy; `transfer_abort` stops the
sending and leaves the server's files as they were.

Target (`transfer_receive`): append each chunk, in order, to a staged file and
acknowledge it once written; after the last, check the sha256, restore it as
the server's directory (refusing unsafe archives) and answer `transfer_result`
(role target). `transfer_abort` removes everything it received.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .agent_disk import AgentDisk, DiskRefused

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
FRAMES = frozenset(
    {
        "transfer_archive",
        "transfer_receive",
        "transfer_chunk",
        "transfer_chunk_ack",
        "transfer_abort",
        "transfer_finished",
    }
)


@dataclass
class _Sending:
    server_id: str
    acked: int = -1
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    aborted: bool = False
    task: asyncio.Task[None] | None = None


@dataclass
class _Receiving:
    server_id: str
    server_dir: Path
    archive: Path
    handle: BinaryIO
    digest: Any = field(default_factory=hashlib.sha256)
    next_seq: int = 0


class AgentTransfers:
    def __init__(self, disk: AgentDisk, send: Send) -> None:
        self.disk = disk
        self.send = send
        self.refuse_with: str | None = None  # tests: the target refuses to receive
        self.sending: dict[str, _Sending] = {}
        self.receiving: dict[str, _Receiving] = {}
        self.finished: list[str] = []  # transfer ids whose source copy was removed
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        transfer_id = str(frame.get("transferId", ""))
        server_id = str(frame.get("serverId", ""))
        try:
            if kind == "transfer_archive":
                self._start_sending(transfer_id, server_id, frame)
            elif kind == "transfer_chunk_ack":
                self._acked(transfer_id, int(frame["seq"]))
            elif kind == "transfer_receive":
                await self._start_receiving(transfer_id, server_id, frame)
            elif kind == "transfer_chunk":
                await self._chunk(transfer_id, frame)
            elif kind == "transfer_abort":
                self._abort(transfer_id)
            elif kind == "transfer_finished":
                self._finished(transfer_id, server_id)
        except DiskRefused as refused:
            role = "source" if kind == "transfer_archive" else "target"
            await self._result(transfer_id, server_id, role, str(refused))

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def forget_all(self) -> None:
        """A new connection: the backend rolled back every transfer of the old one."""
        for transfer_id in [*self.receiving, *self.sending]:
            self._abort(transfer_id)

    async def close(self) -> None:
        """The agent stops: work in progress stops with it (partial files stay, as a
        killed agent's would)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for state in self.receiving.values():
            with contextlib.suppress(OSError):
                state.handle.close()

    # --- source ---

    def _start_sending(self, transfer_id: str, server_id: str, frame: dict[str, Any]) -> None:
        server_dir = self.disk.server_dir(str(frame.get("serverDir") or server_id))
        state = _Sending(server_id)
        self.sending[transfer_id] = state
        task = asyncio.create_task(
            self._send_archive(
                transfer_id, state, server_dir, int(frame["chunkBytes"]), int(frame["window"])
            )
        )
        state.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_archive(
        self, transfer_id: str, state: _Sending, server_dir: Path, chunk_bytes: int, window: int
    ) -> None:
        """Send the archive as the tar thread makes it, one chunk held back so the last
        one is known (it carries the sha256)."""
        pipe = ChunkPipe(chunk_bytes)
        producer = asyncio.create_task(
            asyncio.to_thread(pipe.produce, functools.partial(self.disk.archive, server_dir))
        )
        digest = hashlib.sha256()
        try:
            pending = await pipe.next()
            seq = 0
            while pending is not None:
                following = await pipe.next()
                while not state.aborted and seq - state.acked > window:
                    state.progress.clear()
                    await state.progress.wait()
                if state.aborted:
                    return
                digest.update(pending)
                last = following is None
                await self.send(
                    {
                        "type": "transfer_chunk",
                        "serverId": state.server_id,
                        "transferId": transfer_id,
                        "seq": seq,
                        "data": base64.b64encode(pending).decode(),
                        "last": last,
                        **({"sha256": digest.hexdigest()} if last else {}),
                    }
                )
                seq, pending = seq + 1, following
        except DiskRefused as exc:
            await self._result(transfer_id, state.server_id, "source", str(exc))
        finally:
            pipe.cancelled.set()
            await asyncio.gather(producer, return_exceptions=True)

    def _acked(self, transfer_id: str, seq: int) -> None:
        state = self.sending.get(transfer_id)
        if state is not None:
            state.acked = max(state.acked, seq)
            state.progress.set()

    def _finished(self, transfer_id: str, server_id: str) -> None:
        """The target has the server now: the old copy goes."""
        self.sending.pop(transfer_id, None)
        self.disk.remove(self.disk.server_dir(server_id))
        self.finished.append(transfer_id)

    # --- target ---

    async def _start_receiving(
        self, transfer_id: str, server_id: str, frame: dict[str, Any]
    ) -> None:
        if self.refuse_with is not None:
            await self._result(transfer_id, server_id, "target", self.refuse_with)
            return
        server_dir = self.disk.server_dir(str(frame.get("serverDir") or server_id))
        archive = self.disk.staged(transfer_id, ".in.tar.gz")
        self.receiving[transfer_id] = _Receiving(server_id, server_dir, archive, archive.open("wb"))

    async def _chunk(self, transfer_id: str, frame: dict[str, Any]) -> None:
        state = self.receiving.get(transfer_id)
        if state is None:
            return  # aborted, or never ours
        if int(frame["seq"]) != state.next_seq:
            self._drop(transfer_id)
            raise DiskRefused(f"chunk {frame['seq']} out of order")
        block = base64.b64decode(frame["data"], validate=True)
        state.handle.write(block)
        state.digest.update(block)
        state.next_seq += 1
        await self.send(
            {
                "type": "transfer_chunk_ack",
                "serverId": state.server_id,
                "transferId": transfer_id,
                "seq": frame["seq"],
            }
        )
        if frame.get("last"):
            task = asyncio.create_task(self._restore(transfer_id, state, frame.get("sha256")))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _restore(self, transfer_id: str, state: _Receiving, sha256: Any) -> None:
        state.handle.close()
        error = None
        try:
            if state.digest.hexdigest() != sha256:
                raise DiskRefused("the archive's sha256 does not match")
            await asyncio.to_thread(self.disk.restore, state.archive, state.server_dir)
        except DiskRefused as refused:
            error = str(refused)
        finally:
            self.receiving.pop(transfer_id, None)
            self.disk.remove(state.archive)
        await self._result(transfer_id, state.server_id, "target", error)

    def _drop(self, transfer_id: str) -> None:
        state = self.receiving.pop(transfer_id, None)
        if state is not None:
            with contextlib.suppress(OSError):
                state.handle.close()
            self.disk.remove(state.archive, self.disk.partial_restore(state.server_dir))

    def _abort(self, transfer_id: str) -> None:
        self._drop(transfer_id)
        sending = self.sending.pop(transfer_id, None)
        if sending is not None:
            sending.aborted = True
            sending.progress.set()

    async def _result(self, transfer_id: str, server_id: str, role: str, error: str | None) -> None:
        frame = {
            "type": "transfer_result",
            "serverId": server_id,
            "transferId": transfer_id,
            "role": role,
            "success": error is None,
        }
        if error is not None:
            frame["error"] = error[:4000]
        await self.send(frame)


class _Cancelled(Exception):
    pass


class ChunkPipe:
    """What the tar thread writes, cut into chunks and handed over a small bounded queue:
    the thread waits while the sender is `QUEUED` chunks behind, so an archive of any
    size holds a few chunks of memory."""

    QUEUED = 4

    def __init__(self, size: int) -> None:
        self.size = size
        self.queue: queue.Queue[bytes | DiskRefused | None] = queue.Queue(maxsize=self.QUEUED)
        self.buffer = bytearray()
        self.cancelled = threading.Event()

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) >= self.size:
            self._put(bytes(self.buffer[: self.size]))
            del self.buffer[: self.size]
        return len(data)

    def produce(self, archive: Callable[[ChunkPipe], None]) -> None:
        """In a thread: run `archive` into this pipe, then the rest and the end (None)."""
        try:
            archive(self)
            if self.buffer:
                self._put(bytes(self.buffer))
            self._put(None)
        except _Cancelled:
            return
        except Exception as exc:  # anything the archiving met: the source reports it
            with contextlib.suppress(_Cancelled):
                self._put(DiskRefused(f"archive failed: {exc}"))

    async def next(self) -> bytes | None:
        """The next chunk, None at the end; DiskRefused when archiving failed."""
        item = await asyncio.to_thread(self._get)
        if isinstance(item, DiskRefused):
            raise item
        return item

    def _get(self) -> bytes | DiskRefused | None:
        while not self.cancelled.is_set():  # never a thread left waiting once cancelled
            try:
                return self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
        return None

    def _put(self, item: bytes | DiskRefused | None) -> None:
        while True:
            if self.cancelled.is_set():
                raise _Cancelled
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
