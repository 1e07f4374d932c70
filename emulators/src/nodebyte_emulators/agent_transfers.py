"""The reference agent's side of server transfers between nodes, on its disk.

Source (`transfer_archive`): archive the server's directory to a staged
tar.gz, then send it as base64 `transfer_chunk`s, never more than `window`
ahead of the target's `transfer_chunk_ack`s; the last chunk carries the
archive's sha256. A failure is a `transfer_result` (role source, success
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
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .agent_disk import AgentDisk, DiskRefused, read_blocks

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
    archive: Path
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
        state = _Sending(server_id, self.disk.staged(transfer_id, ".out.tar.gz"))
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
        try:
            digest = await asyncio.to_thread(self.disk.archive, server_dir, state.archive)
            for seq, block, last in _numbered(state.archive, chunk_bytes):
                while not state.aborted and seq - state.acked > window:
                    state.progress.clear()
                    await state.progress.wait()
                if state.aborted:
                    return
                await self.send(
                    {
                        "type": "transfer_chunk",
                        "serverId": state.server_id,
                        "transferId": transfer_id,
                        "seq": seq,
                        "data": base64.b64encode(block).decode(),
                        "last": last,
                        **({"sha256": digest} if last else {}),
                    }
                )
        except (OSError, DiskRefused) as exc:
            await self._result(transfer_id, state.server_id, "source", f"archive failed: {exc}")
        finally:
            self.disk.remove(state.archive)

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


def _numbered(path: Path, size: int) -> Iterator[tuple[int, bytes, bool]]:
    """The archive's blocks, read one at a time, with their sequence numbers and the last
    one flagged (a tar.gz is never empty: it has gzip's header at least)."""
    count = -(-path.stat().st_size // size)
    for seq, block in enumerate(read_blocks(path, size)):
        yield seq, block, seq == count - 1
