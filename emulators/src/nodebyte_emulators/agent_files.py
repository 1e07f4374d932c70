"""The reference agent's side of `file_operation`: real files under its servers' directory.

Each operation names a `requestId`. Small ones answer one `file_result`.
Large bodies travel as binary frames: the 16 bytes of the request id, then up
to `chunkBytes` of data; an empty one ends the body. Either side may have at
most `window` chunks unacknowledged; the receiver acknowledges what it has
consumed with `file_ack` (`received`: chunks so far), so neither side ever
holds more than a window of a body in memory.

- `read`: `file_ready` (with the size), the chunks, the empty chunk.
- `write`: `file_ready`, then the backend's chunks (acknowledged) and its
  empty chunk; the bytes land in a temporary file in the same directory that
  replaces the target only once complete, then `file_result`. An abort, a
  body over `maxBytes` or a lost connection leaves no trace.
- `file_abort` from the backend ends a transfer at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .agent_disk import FileRefused, ServerDisk

log = logging.getLogger(__name__)

SendJson = Callable[[dict[str, Any]], Awaitable[None]]
SendBytes = Callable[[bytes], Awaitable[None]]
IDLE_SECONDS = 60.0  # a transfer whose peer says nothing this long is given up


@dataclass
class _Transfer:
    request_id: str
    window: int
    chunk_bytes: int
    acked: int = 0
    received: int = 0
    size: int = 0
    max_bytes: int | None = None
    credit: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    partial: Path | None = None
    target: Path | None = None
    sink: Any = None


class AgentFiles:
    def __init__(self, servers_dir: Path, send_json: SendJson, send_bytes: SendBytes) -> None:
        self.servers_dir = servers_dir
        self.send_json = send_json
        self.send_bytes = send_bytes
        self._transfers: dict[str, _Transfer] = {}
        self.operations: list[dict[str, Any]] = []  # what was asked, for tests

    def disk(self, server_id: str) -> ServerDisk:
        return ServerDisk(self.servers_dir / str(uuid.UUID(server_id)))

    # --- frames from the backend ---

    async def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        request_id = str(frame.get("requestId") or "")
        if kind == "file_operation":
            self.operations.append(frame)
            await self._operation(request_id, frame)
        elif kind == "file_ack":
            transfer = self._transfers.get(request_id)
            if transfer is not None:
                transfer.acked = max(transfer.acked, int(frame.get("received", 0)))
                transfer.credit.set()
        elif kind == "file_abort":
            self._end(request_id)

    async def on_data(self, raw: bytes) -> None:
        request_id, payload = str(uuid.UUID(bytes=raw[:16])), raw[16:]
        transfer = self._transfers.get(request_id)
        if transfer is None or transfer.sink is None:
            return
        try:
            if not payload:
                await self._commit(transfer)
                return
            transfer.size += len(payload)
            if transfer.max_bytes is not None and transfer.size > transfer.max_bytes:
                raise FileRefused("TOO_LARGE", f"The body is over {transfer.max_bytes} bytes")
            transfer.sink.write(payload)
            transfer.received += 1
            if transfer.received % max(1, transfer.window // 2) == 0:
                await self.send_json(
                    {"type": "file_ack", "requestId": request_id, "received": transfer.received}
                )
        except FileRefused as refused:
            self._end(request_id)
            await self._refuse(request_id, refused)
        except OSError as exc:
            self._end(request_id)
            await self._refuse(request_id, FileRefused("IO_ERROR", str(exc)))

    def close_all(self) -> None:
        """The connection is gone: every transfer ends, half-written files go."""
        for request_id in list(self._transfers):
            self._end(request_id)

    # --- operations ---

    async def _operation(self, request_id: str, frame: dict[str, Any]) -> None:
        try:
            disk = self.disk(str(frame.get("serverUuid") or frame.get("serverId")))
            result = await self._run(request_id, disk, frame)
        except FileRefused as refused:
            await self._refuse(request_id, refused)
            return
        except (OSError, ValueError) as exc:
            await self._refuse(request_id, FileRefused("IO_ERROR", str(exc)))
            return
        if result is not None:
            await self.send_json(
                {"type": "file_result", "requestId": request_id, "success": True, **result}
            )

    async def _run(
        self, request_id: str, disk: ServerDisk, frame: dict[str, Any]
    ) -> dict[str, Any] | None:
        operation = frame.get("operation")
        path = str(frame.get("path") or "/")
        if operation == "list":
            entries, truncated = disk.listing(path)
            return {"entries": entries, "truncated": truncated, "path": path}
        if operation == "read":
            await self._start_read(request_id, disk, path, frame)
            return None
        if operation == "write":
            await self._start_write(request_id, disk, path, frame)
            return None
        if operation == "delete":
            disk.delete([str(p) for p in frame.get("paths") or []])
            return {}
        if operation == "rename":
            return {"path": disk.rename(path, str(frame.get("target") or ""))}
        if operation == "create_folder":
            return {"path": disk.create_folder(path)}
        if operation == "compress":
            paths = [str(p) for p in frame.get("paths") or []]
            return {"path": disk.compress(paths, str(frame.get("target") or ""))}
        if operation == "decompress":
            return {"path": disk.decompress(path, str(frame.get("target") or "/"))}
        raise FileRefused("UNSUPPORTED", f"Unsupported file operation {operation!r}")

    def _transfer(self, request_id: str, frame: dict[str, Any]) -> _Transfer:
        max_bytes = frame.get("maxBytes")
        transfer = _Transfer(
            request_id,
            window=max(1, int(frame.get("window", 8))),
            chunk_bytes=max(1024, int(frame.get("chunkBytes", 65536))),
            max_bytes=int(max_bytes) if max_bytes is not None else None,
        )
        self._transfers[request_id] = transfer
        return transfer

    async def _start_read(
        self, request_id: str, disk: ServerDisk, path: str, frame: dict[str, Any]
    ) -> None:
        transfer = self._transfer(request_id, frame)
        try:
            real, size = disk.readable(path, transfer.max_bytes)
            source = real.open("rb")
        except BaseException:
            self._transfers.pop(request_id, None)
            raise
        await self.send_json({"type": "file_ready", "requestId": request_id, "size": size})
        transfer.task = asyncio.create_task(self._send_chunks(transfer, source))

    async def _send_chunks(self, transfer: _Transfer, source: Any) -> None:
        prefix = uuid.UUID(transfer.request_id).bytes
        sent = 0
        try:
            with source:
                while chunk := source.read(transfer.chunk_bytes):
                    while sent - transfer.acked >= transfer.window:
                        transfer.credit.clear()
                        await asyncio.wait_for(transfer.credit.wait(), IDLE_SECONDS)
                    await self.send_bytes(prefix + chunk)
                    sent += 1
            await self.send_bytes(prefix)
        except TimeoutError:
            log.info("file read abandoned", extra={"request_id": transfer.request_id})
        finally:
            self._transfers.pop(transfer.request_id, None)

    async def _start_write(
        self, request_id: str, disk: ServerDisk, path: str, frame: dict[str, Any]
    ) -> None:
        target = disk.writable(path)
        transfer = self._transfer(request_id, frame)
        transfer.target = target
        transfer.partial = target.with_name(f".{target.name}.upload-{request_id[:8]}")
        transfer.sink = transfer.partial.open("wb")
        await self.send_json({"type": "file_ready", "requestId": request_id})

    async def _commit(self, transfer: _Transfer) -> None:
        if transfer.partial is None or transfer.target is None:
            return
        transfer.sink.flush()
        os.fsync(transfer.sink.fileno())
        transfer.sink.close()
        transfer.sink = None
        transfer.partial.replace(transfer.target)  # replaces a link itself, never its target
        self._transfers.pop(transfer.request_id, None)
        await self.send_json(
            {
                "type": "file_result",
                "requestId": transfer.request_id,
                "success": True,
                "size": transfer.size,
            }
        )

    def _end(self, request_id: str) -> None:
        transfer = self._transfers.pop(request_id, None)
        if transfer is None:
            return
        if transfer.task is not None:
            transfer.task.cancel()
        if transfer.sink is not None:
            with contextlib.suppress(OSError):
                transfer.sink.close()
        if transfer.partial is not None:
            transfer.partial.unlink(missing_ok=True)

    async def _refuse(self, request_id: str, refused: FileRefused) -> None:
        await self.send_json(
            {
                "type": "file_result",
                "requestId": request_id,
                "success": False,
                "code": refused.code,
                "error": str(refused),
            }
        )
