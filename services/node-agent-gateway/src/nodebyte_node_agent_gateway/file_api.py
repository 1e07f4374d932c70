"""Internal API for a server's files: each request becomes one transfer with its agent.

Bodies stream through (`file_streams`): a download is answered chunk by
chunk as the agent sends it, an upload is sent on as it is read, so neither
is ever held whole here. What the agent refuses is answered in the envelope
with a 4xx; what fails on the node's side (I/O, a silent agent) with 424 and
the public status inside (`dependency_failure`), so the gateway's circuit
breaker does not count an agent's trouble against this service.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, get, post, put
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from nodebyte_common import file_contracts as contracts
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.dependency_failure import dependency_failure
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_common.webapp import STREAMED_BODY
from nodebyte_node_agent_gateway import server_store
from nodebyte_node_agent_gateway.file_frames import FileOperationName
from nodebyte_node_agent_gateway.file_streams import FileFailed, FileStream, FileStreams
from nodebyte_node_agent_gateway.protocol import FileResult

log = logging.getLogger(__name__)

# The agent's (and our) failure codes, as public statuses.
CLIENT_STATUS = {
    "INVALID_PATH": 400,
    "PATH_OUTSIDE_ROOT": 400,
    "NOT_A_DIRECTORY": 400,
    "NOT_A_FILE": 400,
    "IS_A_DIRECTORY": 409,
    "UNSAFE_ARCHIVE": 400,
    "BAD_ARCHIVE": 400,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "TOO_LARGE": 413,
    "NODE_OFFLINE": 409,
}
NODE_STATUS = {"TIMEOUT": 504, "UNAVAILABLE": 503}  # else 502: the agent failed

MaxBytes = Annotated[int | None, QueryParameter(name=contracts.MAX_BYTES, ge=0, le=2**53)]
PathQuery = Annotated[str, QueryParameter(min_length=1, max_length=4096)]


def public_error(failed: FileFailed) -> ApiError:
    status = CLIENT_STATUS.get(failed.code)
    if status is not None:
        return ApiError(status, str(failed), failed.code)
    return dependency_failure(NODE_STATUS.get(failed.code, 502), str(failed), failed.code)


@contextlib.contextmanager
def answered_as_api_errors() -> Iterator[None]:
    try:
        yield
    except FileFailed as failed:
        raise public_error(failed) from None


def _entries(result: FileResult) -> list[contracts.FileEntry]:
    return [
        contracts.FileEntry(
            name=e.name,
            size=e.size,
            is_directory=e.is_directory,
            is_symlink=e.is_symlink,
            modified=e.modified,
        )
        for e in result.entries or []
    ]


class ServerFiles:
    """A server's files through its node's agent: the one path the HTTP routes and SFTP share.

    `node_of` refuses (ApiError) a server that is unknown or suspended; the
    transfers raise FileFailed with the agent's code.
    """

    def __init__(self, runtime: Runtime, files: FileStreams) -> None:
        self.runtime = runtime
        self.files = files

    async def node_of(self, server_id: UUID) -> UUID:
        async with self.runtime.pool.acquire() as conn:
            row = await server_store.get(conn, server_id)
        if row is None:
            raise ApiError(404, "Server not found")
        if row["suspended_at"] is not None:
            raise ApiError(423, "Server is suspended")
        return row["node_id"]  # type: ignore[no-any-return]

    @contextlib.asynccontextmanager
    async def open(
        self, server_id: UUID, operation: FileOperationName, **fields: Any
    ) -> AsyncIterator[FileStream]:
        """One transfer with the server's agent (a body to stream in or out)."""
        node_id = await self.node_of(server_id)
        async with self.files.open(node_id, server_id, operation, **fields) as stream:
            yield stream

    async def run(self, server_id: UUID, operation: FileOperationName, **fields: Any) -> FileResult:
        """An operation without a body: the agent's result."""
        async with self.open(server_id, operation, **fields) as stream:
            return await stream.result()


# What a file action answers (`POST …/files/<action>`).
ActionAnswer = (
    Answer[contracts.FilesDeleted]
    | Answer[contracts.FileChanged]
    | Answer[contracts.ArchiveCreated]
)


def routes(server_files: ServerFiles) -> list[Any]:
    async def run(server_id: UUID, operation: Any, **fields: Any) -> FileResult:
        with answered_as_api_errors():
            return await server_files.run(server_id, operation, **fields)

    @get("/servers/{server_id:uuid}/files")
    async def listing(
        server_id: FromPath[UUID], path: PathQuery = "/"
    ) -> Answer[list[contracts.FileEntry]]:
        result = await run(server_id, "list", path=path)
        message = "Only the first entries are listed" if result.truncated else None
        return Answer(data=_entries(result), message=message)

    @get("/servers/{server_id:uuid}/files/data")
    async def read(
        server_id: FromPath[UUID], path: PathQuery, max_bytes: MaxBytes = None
    ) -> Stream:
        exits = contextlib.AsyncExitStack()
        try:
            with answered_as_api_errors():
                stream = await exits.enter_async_context(
                    server_files.open(server_id, "read", path=path, max_bytes=max_bytes)
                )
                ready = await stream.ready()
        except BaseException:
            await exits.aclose()
            raise
        size = ready.size or 0
        return Stream(
            _relayed(stream, exits),
            media_type="application/octet-stream",
            headers={"content-length": str(size), contracts.FILE_SIZE_HEADER: str(size)},
        )

    @put(
        "/servers/{server_id:uuid}/files/data",
        opt={STREAMED_BODY: True},
        request_max_body_size=None,
    )
    async def write(
        server_id: FromPath[UUID], request: Request, path: PathQuery, max_bytes: MaxBytes = None
    ) -> Answer[contracts.FileWritten]:
        with answered_as_api_errors():
            async with server_files.open(
                server_id, "write", path=path, max_bytes=max_bytes
            ) as stream:
                await stream.ready()
                sent = await stream.send_body(request.stream())
                result = await stream.result()
        written = contracts.FileWritten(path=path, size=result.size if result.size else sent)
        return Answer(data=written, message="File uploaded successfully")

    @post("/servers/{server_id:uuid}/files/{action:str}", status_code=200)
    async def act(
        server_id: FromPath[UUID], action: FromPath[str], request: Request
    ) -> ActionAnswer:
        kind = contracts.ACTION_BODIES.get(action)
        if kind is None:
            raise ApiError(404, f"No file action {action!r}")
        body = decode_body(await request.body(), kind, empty_ok=False)
        return await _act(run, server_id, body)

    return [listing, read, write, act]


async def _relayed(stream: FileStream, exits: contextlib.AsyncExitStack) -> AsyncIterator[bytes]:
    """The agent's chunks, then the transfer closed (aborted if the caller left early)."""
    try:
        async for chunk in stream.body():
            yield chunk
    except FileFailed as failed:  # the answer has begun: it can only end short
        log.warning(
            "a file download ended early", extra={"code": failed.code, "error": str(failed)}
        )
        raise
    finally:
        await exits.aclose()


async def _act(run: Any, server_id: UUID, body: contracts.ActionBody) -> ActionAnswer:
    match body:
        case contracts.DeleteFiles():
            await run(server_id, "delete", paths=body.paths)
            return Answer(
                data=contracts.FilesDeleted(paths=body.paths), message="File deleted successfully"
            )
        case contracts.RenameFile():
            result = await run(server_id, "rename", path=body.source, target=body.destination)
            return Answer(
                data=contracts.FileChanged(path=result.path or body.destination), message="Renamed"
            )
        case contracts.CompressFiles():
            result = await run(server_id, "compress", paths=body.paths, target=body.archive_name)
            archive = contracts.ArchiveCreated(archive_path=result.path or body.archive_name)
            return Answer(data=archive, message="Archive created")
        case contracts.DecompressArchive():
            result = await run(
                server_id, "decompress", path=body.archive_path, target=body.target_path
            )
            changed = contracts.FileChanged(path=result.path or body.target_path)
            return Answer(data=changed, message="Archive extracted")
        case contracts.CreateFolder():
            result = await run(server_id, "create_folder", path=body.path)
            return Answer(
                data=contracts.FileChanged(path=result.path or body.path), message="Folder created"
            )
    raise ApiError(400, "Unknown file action")
