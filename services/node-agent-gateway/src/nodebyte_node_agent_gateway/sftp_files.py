"""One SFTP session's view of one server's files, through the same agent path as the HTTP routes.

Every operation is a transfer with the server's agent (`file_api.ServerFiles`),
so the agent confines paths to the server's root exactly as it does for the
API; here paths are also normalised under `/` (the server's root, as a chroot
would show it). Bodies stream: a read pulls the agent's chunks as the client
asks for them, a write pushes each block on as it comes, and neither holds
more than a chunk or two. The agent streams from the start of a file, so
reads and writes go forward: a read further back starts the file again, a
write anywhere but at the end is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import posixpath
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn
from uuid import UUID

import asyncssh
from asyncssh import SFTPAttrs, SFTPName

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError
from nodebyte_node_agent_gateway.file_api import ServerFiles
from nodebyte_node_agent_gateway.file_frames import FileOperationName
from nodebyte_node_agent_gateway.file_streams import FileFailed, FileStream
from nodebyte_node_agent_gateway.protocol import FileEntry, FileResult

log = logging.getLogger(__name__)

DIRECTORY_MODE = stat.S_IFDIR | 0o755
FILE_MODE = stat.S_IFREG | 0o644
WRITE_QUEUE = 8  # blocks of a write waiting for the agent: backpressure beyond


@dataclass(frozen=True)
class SftpAccess:
    """Who signed in to which server, and what they may do there."""

    server_id: UUID
    user_id: UUID
    permissions: frozenset[str]


def refused(failure: FileFailed | ApiError) -> asyncssh.SFTPError:
    """The agent's (or the server's) refusal as the SFTP status a client understands."""
    code = failure.code if isinstance(failure, FileFailed) else failure.status
    message = str(failure) if isinstance(failure, FileFailed) else failure.message
    if code in ("NOT_FOUND", 404):
        return asyncssh.SFTPNoSuchFile(message)
    if code in ("INVALID_PATH", "PATH_OUTSIDE_ROOT", 423):
        return asyncssh.SFTPPermissionDenied(message)
    return asyncssh.SFTPFailure(message)


@contextlib.contextmanager
def as_sftp_errors() -> Iterator[None]:
    try:
        yield
    except (FileFailed, ApiError) as failure:
        raise refused(failure) from None


def server_path(raw: bytes) -> str:
    """A client's path as a path under the server's root (`..` stops at the root)."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise asyncssh.SFTPNoSuchFile("Paths are UTF-8") from None
    return posixpath.normpath("/" + text.lstrip("/"))


def _attrs(is_directory: bool, size: int, modified: str | None) -> SFTPAttrs:
    mtime = None
    if modified:
        with contextlib.suppress(ValueError):
            mtime = int(datetime.fromisoformat(modified.replace("Z", "+00:00")).timestamp())
    return SFTPAttrs(
        type=asyncssh.FILEXFER_TYPE_DIRECTORY if is_directory else asyncssh.FILEXFER_TYPE_REGULAR,
        size=size,
        permissions=DIRECTORY_MODE if is_directory else FILE_MODE,
        atime=mtime,
        mtime=mtime,
    )


def _entry_attrs(entry: FileEntry) -> SFTPAttrs:
    return _attrs(entry.is_directory, entry.size, entry.modified)


class _Reader:
    """A file being read: the agent's chunks, kept from the client's offset on."""

    def __init__(self, files: ServerFiles, server_id: UUID, path: str) -> None:
        self.files, self.server_id, self.path = files, server_id, path
        self.size = 0
        self._exits = contextlib.AsyncExitStack()
        self._chunks: AsyncIterator[bytes] | None = None
        self._start = 0  # the file offset of _buffer[0]
        self._buffer = b""
        self._ended = False

    async def begin(self) -> None:
        stream: FileStream = await self._exits.enter_async_context(
            self.files.open(self.server_id, "read", path=self.path)
        )
        self.size = (await stream.ready()).size or 0
        self._chunks = stream.body()
        self._start, self._buffer, self._ended = 0, b"", False

    async def read(self, offset: int, length: int) -> bytes:
        if offset < self._start:  # backwards: the agent can only start again
            await self.close()
            await self.begin()
        while self._start + len(self._buffer) < offset + length and not self._ended:
            self._drop_before(offset)
            assert self._chunks is not None
            try:
                self._buffer += await anext(self._chunks)
            except StopAsyncIteration:
                self._ended = True
        self._drop_before(offset)
        return self._buffer[offset - self._start : offset - self._start + length]

    def seek(self, offset: int, whence: int) -> int:
        """asyncssh's probe for sparse ranges (SEEK_DATA, SEEK_HOLE): all of it is data."""
        if whence == os.SEEK_HOLE:
            return self.size
        if offset >= self.size:
            raise OSError(errno.ENXIO, "No data past the end of the file")
        return offset

    def _drop_before(self, offset: int) -> None:
        cut = min(max(offset - self._start, 0), len(self._buffer))
        self._buffer = self._buffer[cut:]
        self._start += cut

    async def close(self) -> None:
        self._chunks = None
        await self._exits.aclose()
        self._exits = contextlib.AsyncExitStack()


class _Writer:
    """A file being written: each block goes on to the agent as it arrives, in order."""

    def __init__(self, files: ServerFiles, server_id: UUID, path: str) -> None:
        self.files, self.server_id, self.path = files, server_id, path
        self.size = 0
        self._exits = contextlib.AsyncExitStack()
        self._blocks: asyncio.Queue[bytes | None] = asyncio.Queue(WRITE_QUEUE)
        self._stream: FileStream | None = None
        self._sending: asyncio.Task[int] | None = None

    async def begin(self) -> None:
        self._stream = await self._exits.enter_async_context(
            self.files.open(self.server_id, "write", path=self.path)
        )
        await self._stream.ready()
        self._sending = asyncio.create_task(self._stream.send_body(self._body()))

    async def _body(self) -> AsyncIterator[bytes]:
        while (block := await self._blocks.get()) is not None:
            yield block

    async def write(self, offset: int, data: bytes) -> None:
        if offset != self.size:
            raise asyncssh.SFTPOpUnsupported("Files are written from start to end only")
        await self._put(data)
        self.size += len(data)

    async def _put(self, block: bytes | None) -> None:
        """Queue a block, unless the agent gave up (its refusal raised)."""
        assert self._sending is not None
        putting = asyncio.ensure_future(self._blocks.put(block))
        await asyncio.wait({putting, self._sending}, return_when=asyncio.FIRST_COMPLETED)
        if not putting.done():
            putting.cancel()
            await self._sending  # raises the agent's refusal
            raise FileFailed("PROTOCOL", "The agent stopped taking the file")

    async def finish(self) -> None:
        """The end of the body, and the agent's word that the file is written."""
        assert self._stream is not None
        assert self._sending is not None
        try:
            await self._put(None)
            await self._sending
            await self._stream.result()
        finally:
            await self.close()

    async def close(self) -> None:
        if self._sending is not None and not self._sending.done():
            self._sending.cancel()
            with contextlib.suppress(asyncio.CancelledError, FileFailed):
                await self._sending
        await self._exits.aclose()


OpenFile = _Reader | _Writer


class ServerSftp(asyncssh.SFTPServer):
    """asyncssh's SFTP server with the server's agent behind it instead of a local disk."""

    def __init__(self, chan: asyncssh.SSHServerChannel, files: ServerFiles) -> None:
        super().__init__(chan)
        self.files = files
        self.access: SftpAccess = chan.get_connection().get_extra_info("nodebyte_sftp")
        self._open: set[OpenFile] = set()

    def _need(self, permission: str) -> None:
        if permission not in self.access.permissions:
            raise asyncssh.SFTPPermissionDenied(f"Missing permission: {permission}")

    async def _run(
        self, permission: str, operation: FileOperationName, **fields: Any
    ) -> FileResult:
        self._need(permission)
        with as_sftp_errors():
            return await self.files.run(self.access.server_id, operation, **fields)

    # --- paths and listings ---

    def realpath(self, path: bytes) -> bytes:
        return server_path(path).encode()

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        result = await self._run(catalogue.FILE_READ, "list", path=server_path(path))
        yield SFTPName(b".", attrs=_attrs(True, 0, None))
        yield SFTPName(b"..", attrs=_attrs(True, 0, None))
        for entry in result.entries or []:
            yield SFTPName(entry.name.encode(), attrs=_entry_attrs(entry))

    async def stat(self, path: bytes) -> SFTPAttrs:
        target = server_path(path)
        if target == "/":
            self._need(catalogue.FILE_READ)
            return _attrs(True, 0, None)
        parent, name = posixpath.split(target)
        result = await self._run(catalogue.FILE_READ, "list", path=parent)
        for entry in result.entries or []:
            if entry.name == name:
                return _entry_attrs(entry)
        raise asyncssh.SFTPNoSuchFile(f"{target} does not exist")

    async def lstat(self, path: bytes) -> SFTPAttrs:
        return await self.stat(path)

    # --- files ---

    async def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> OpenFile:
        target = server_path(path)
        if pflags & asyncssh.FXF_APPEND:
            raise asyncssh.SFTPOpUnsupported("Appending is not supported: write the whole file")
        writing = bool(pflags & asyncssh.FXF_WRITE)
        self._need(catalogue.FILE_WRITE if writing else catalogue.FILE_READ)
        opened: OpenFile = (_Writer if writing else _Reader)(
            self.files, self.access.server_id, target
        )
        with as_sftp_errors():
            try:
                await opened.begin()
            except BaseException:
                await opened.close()
                raise
        self._open.add(opened)
        return opened

    def open56(self, path: bytes, desired_access: int, flags: int, attrs: SFTPAttrs) -> NoReturn:
        raise asyncssh.SFTPOpUnsupported("SFTP version 3 only")

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        if not isinstance(file_obj, _Reader):
            raise asyncssh.SFTPPermissionDenied("The file is open for writing")
        with as_sftp_errors():
            return await file_obj.read(offset, size)

    async def write(self, file_obj: object, offset: int, data: bytes) -> None:
        if not isinstance(file_obj, _Writer):
            raise asyncssh.SFTPPermissionDenied("The file is open for reading")
        with as_sftp_errors():
            await file_obj.write(offset, data)

    async def close(self, file_obj: object) -> None:
        assert isinstance(file_obj, _Reader | _Writer)
        self._open.discard(file_obj)
        with as_sftp_errors():
            if isinstance(file_obj, _Writer):
                await file_obj.finish()
            else:
                await file_obj.close()

    def fstat(self, file_obj: object) -> SFTPAttrs:
        assert isinstance(file_obj, _Reader | _Writer)
        return _attrs(False, file_obj.size, None)

    def fsync(self, file_obj: object) -> None:
        return None  # the agent writes the file whole when it is closed

    # --- changes ---

    async def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        await self._run(catalogue.FILE_WRITE, "create_folder", path=server_path(path))

    async def remove(self, path: bytes) -> None:
        await self._run(catalogue.FILE_WRITE, "delete", paths=[server_path(path)])

    async def rmdir(self, path: bytes) -> None:
        await self._run(catalogue.FILE_WRITE, "delete", paths=[server_path(path)])

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        source, target = server_path(oldpath), server_path(newpath)
        await self._run(catalogue.FILE_WRITE, "rename", path=source, target=target)

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        await self.rename(oldpath, newpath)

    # --- what the agent does not offer ---

    def _unsupported(self, *_: object) -> NoReturn:
        raise asyncssh.SFTPOpUnsupported("Not supported on game servers' files")

    setstat = lsetstat = fsetstat = _unsupported  # type: ignore[assignment]
    readlink = symlink = link = statvfs = fstatvfs = _unsupported  # type: ignore[assignment]

    def exit(self) -> None:
        """The session ended: transfers still open are abandoned (the agent drops them)."""
        for opened in self._open:
            task = asyncio.ensure_future(opened.close())
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        self._open.clear()
