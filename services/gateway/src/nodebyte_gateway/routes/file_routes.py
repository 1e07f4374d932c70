"""A server's files (`/api/servers/{id}/files…`), through the node-agent-gateway to its agent.

Reading needs `file.read`, anything that changes the disk `file.write`; every
change is audited with its outcome, refused or not. Bodies stream: an upload
is parsed as it arrives and each file's bytes go on to the node-agent-gateway
as they come (at most `FILE_UPLOAD_MAX_BYTES` a file, 413 beyond, and the
half-written file is dropped by the agent); a download is relayed chunk by
chunk. Text content (`files/content`) is small by definition
(`FILE_CONTENT_MAX_BYTES`, 413 beyond) and travels whole.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import AsyncIterator, Awaitable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote
from uuid import UUID

import aiohttp
import msgspec
from litestar import Request, delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from nodebyte_common import file_contracts as contracts
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer
from nodebyte_common.envelope import ApiError
from nodebyte_common.internal_client import ServiceClient, refusal
from nodebyte_common.webapp import STREAMED_BODY
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes
from nodebyte_gateway.edge.openapi_errors import MULTIPART_BODY, byte_stream, refusals
from nodebyte_gateway.edge.upload_stream import FormStream, boundary_of
from nodebyte_gateway.routes.node_routes import AGENTS

TAGS = ["files"]
T = TypeVar("T")
PathQuery = Annotated[str, QueryParameter(min_length=1, max_length=4096)]
PathsQuery = Annotated[list[str] | None, QueryParameter(name="path", max_items=100)]


class _TooLarge(Exception):
    """A file of an upload went over the limit (raised inside the upstream's body)."""


async def _refusal(response: aiohttp.ClientResponse) -> ApiError:
    """The node-agent-gateway's refusal, as the public error."""
    try:
        body = msgspec.json.decode(await response.read())
    except msgspec.DecodeError:
        body = None
    return refusal(response.status, body)


def _attachment(path: str) -> str:
    name = posixpath.basename(path.rstrip("/")) or "download"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


class ServerFiles:
    """The calls to the node-agent-gateway, audited where they change something."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self.agents: ServiceClient = ctx.client(AGENTS)
        self.content_max = ctx.settings.file_content_max_bytes
        self.upload_max = ctx.settings.file_upload_max_bytes

    async def audited(
        self,
        request: Request,
        server_id: UUID,
        action: str,
        detail: dict[str, Any],
        work: Awaitable[T],
    ) -> T:
        """Run `work`; record the action with its outcome either way."""
        try:
            result = await work
        except ApiError as exc:
            await self._record(request, server_id, action, {**detail, "outcome": exc.code})
            raise
        await self._record(request, server_id, action, {**detail, "outcome": "success"})
        return result

    async def _record(
        self, request: Request, server_id: UUID, action: str, after: dict[str, Any]
    ) -> None:
        async with self.ctx.runtime.pool.acquire() as conn:
            await audit.record(conn, None, action, ("server", server_id), None, after, request)

    async def write(
        self, server_id: UUID, path: str, body: AsyncIterator[bytes] | bytes, max_bytes: int
    ) -> Answer[contracts.FileWritten]:
        """Send a body to become the file at `path` (a refusal raised)."""
        params = {"path": path, contracts.MAX_BYTES: max_bytes}
        route = contracts.FILE_DATA.format(server_id=server_id)
        async with self.agents.stream("PUT", route, params=params, data=body) as response:
            if response.status != 200:
                raise await _refusal(response)
            answer = await response.read()
        try:
            return msgspec.json.decode(answer, type=Answer[contracts.FileWritten])
        except msgspec.DecodeError:
            raise ApiError(502, "The service gave an unexpected answer", "UPSTREAM_ERROR") from None

    async def read_text(self, server_id: UUID, path: str) -> contracts.FileContent:
        params = {"path": path, contracts.MAX_BYTES: self.content_max}
        route = contracts.FILE_DATA.format(server_id=server_id)
        async with self.agents.stream("GET", route, params=params) as response:
            if response.status != 200:
                raise await _refusal(response)
            raw = await response.content.read(self.content_max + 1)
        if len(raw) > self.content_max:
            raise ApiError(413, f"The file is larger than {self.content_max} bytes")
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise ApiError(415, "The file is not UTF-8 text; download it instead") from None
        return contracts.FileContent(path=path, content=text, size=len(raw))

    async def download(self, server_id: UUID, path: str) -> Stream:
        exits = contextlib.AsyncExitStack()
        try:
            route = contracts.FILE_DATA.format(server_id=server_id)
            response = await exits.enter_async_context(
                self.agents.stream("GET", route, params={"path": path})
            )
            if response.status != 200:
                raise await _refusal(response)
        except BaseException:
            await exits.aclose()
            raise
        size = response.headers.get(contracts.FILE_SIZE_HEADER, "0")
        return Stream(
            _chunks(response, exits),
            media_type="application/octet-stream",
            headers={"content-disposition": _attachment(path), "content-length": size},
        )

    async def upload(
        self, request: Request, server_id: UUID, directory: str
    ) -> list[contracts.FileWritten]:
        form = FormStream(request.stream(), boundary_of(request.headers.get("content-type", "")))
        written: list[contracts.FileWritten] = []
        async for part in form.parts():
            if isinstance(part, tuple):
                if part[0] == "path":
                    directory = part[1] or "/"
                continue
            target = posixpath.join(directory, part.filename)
            data = await self.audited(
                request,
                server_id,
                "server.file_uploaded",
                {"path": target},
                self._upload_one(server_id, target, form),
            )
            written.append(data)
        if not written:
            raise ApiError(400, "No file in the upload (a part named 'file' with a filename)")
        return written

    async def _upload_one(
        self, server_id: UUID, target: str, form: FormStream
    ) -> contracts.FileWritten:
        limit = self.upload_max
        over = False

        async def limited() -> AsyncIterator[bytes]:
            nonlocal over
            size = 0
            async for piece in form.file_bytes():
                size += len(piece)
                if size > limit:
                    over = True  # aiohttp may wrap what this raises: the flag says why
                    raise _TooLarge
                yield piece

        try:
            answer = await self.write(server_id, target, limited(), limit)
        except Exception:
            if over:
                raise ApiError(413, f"A file is larger than {limit} bytes") from None
            raise
        return answer.data


async def _chunks(
    response: aiohttp.ClientResponse, exits: contextlib.AsyncExitStack
) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    finally:
        await exits.aclose()


UPLOAD_FORM = Schema(
    type=OpenAPIType.OBJECT,
    properties={
        "path": Schema(type=OpenAPIType.STRING, description="The folder (before the files)"),
        "file": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
            min_items=1,  # an upload without a file is refused
            description="One part per file, each with its filename",
        ),
    },
    required=["file"],
)


class FolderQuery(msgspec.Struct, frozen=True):
    path: contracts.FilePath = "/"


# The answer of each file action (`POST …/files/<action>`).
ACTION_ANSWERS: dict[str, Any] = {
    "rename": Answer[contracts.FileChanged],
    "compress": Answer[contracts.ArchiveCreated],
    "decompress": Answer[contracts.FileChanged],
    "create-folder": Answer[contracts.FileChanged],
}


def routes(ctx: GatewayContext) -> list[Any]:
    files = ServerFiles(ctx)
    agents = files.agents
    read, write = ctx.require(catalogue.FILE_READ), ctx.require(catalogue.FILE_WRITE)
    listing = Forward(
        "GET", "/api/servers/{server_id:uuid}/files", contracts.FILES, catalogue.FILE_READ,
        Answer[list[contracts.FileEntry]], "List a folder", query=FolderQuery,
    )  # fmt: skip

    @get(
        "/api/servers/{server_id:uuid}/files/content",
        guards=[read],
        tags=TAGS,
        summary="Read a text file (up to FILE_CONTENT_MAX_BYTES)",
    )
    async def read_content(
        server_id: FromPath[UUID], path: PathQuery
    ) -> Answer[contracts.FileContent]:
        return Answer(data=await files.read_text(server_id, path))

    @put(
        "/api/servers/{server_id:uuid}/files/content",
        guards=[write],
        tags=TAGS,
        summary="Write a text file (up to FILE_CONTENT_MAX_BYTES)",
        opt=audit.action("server.file_written", keep=("path",)),
    )
    async def write_content(
        server_id: FromPath[UUID], data: JSONBody[contracts.FileContentWrite]
    ) -> Answer[contracts.FileWritten]:
        content = data.content.encode()
        if len(content) > files.content_max:
            raise ApiError(413, f"The content is larger than {files.content_max} bytes")
        return await files.write(server_id, data.path, content, files.content_max)

    @post(
        "/api/servers/{server_id:uuid}/files/upload",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Upload files (multipart: `path`, the folder, then `file` parts), streamed",
        # each file of the upload is audited on its own, with its outcome
        opt={STREAMED_BODY: True, MULTIPART_BODY: UPLOAD_FORM, **audit.in_handler()},
        request_max_body_size=None,
        responses=refusals({415: "The body is not multipart/form-data"}),
    )
    async def upload(
        server_id: FromPath[UUID], request: Request, path: PathQuery = "/"
    ) -> Answer[list[contracts.FileWritten]]:
        written = await files.upload(request, server_id, path)
        return Answer(data=written, message="File uploaded successfully")

    @get(
        "/api/servers/{server_id:uuid}/files/download",
        guards=[read],
        tags=TAGS,
        summary="Download a file, streamed",
        media_type="application/octet-stream",
        responses=byte_stream("The file's bytes (Content-Disposition names it)"),
    )
    async def download(server_id: FromPath[UUID], path: PathQuery) -> Stream:
        return await files.download(server_id, path)

    @delete(
        "/api/servers/{server_id:uuid}/files",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary='Delete files or folders (recursive): ?path=…&path=… or {"paths": […]}',
        opt=audit.action("server.files_delete", keep=("paths", "path")),
    )
    async def remove(
        server_id: FromPath[UUID],
        paths: PathsQuery = None,
        data: JSONBody[contracts.DeleteFiles | None] = None,
    ) -> Answer[contracts.FilesDeleted]:
        body = contracts.DeleteFiles(paths=paths) if paths else data
        if body is None:
            raise ApiError(400, 'Name the files: ?path=…&path=… or {"paths": […]}')
        return await _act(agents, server_id, "delete", body, Answer[contracts.FilesDeleted])

    def action(name: str, summary: str) -> HTTPRouteHandler:
        kind, answer = contracts.ACTION_BODIES[name], ACTION_ANSWERS[name]

        async def handler(server_id: FromPath[UUID], data: Any) -> Any:
            return await _act(agents, server_id, name, data, answer)

        handler.__annotations__ |= {"data": JSONBody[kind], "return": answer}
        return post(
            f"/api/servers/{{server_id:uuid}}/files/{name}",
            guards=[write],
            tags=TAGS,
            status_code=200,
            summary=summary,
            opt=audit.action(
                f"server.files_{name.replace('-', '_')}",
                keep=tuple(f.encode_name for f in msgspec.structs.fields(kind)),
            ),
            name=f"files-{name}",
        )(handler)

    return [
        *forward_routes(ctx, AGENTS, TAGS, [listing]),
        read_content,
        write_content,
        upload,
        download,
        remove,
        action("rename", 'Rename or move a file or folder: {"from", "to"}'),
        action("compress", 'Make a .tar.gz of files: {"paths", "archiveName"}'),
        action("decompress", 'Extract an archive: {"archivePath", "targetPath"}'),
        action("create-folder", 'Create a folder: {"path"}'),
    ]


async def _act(
    agents: ServiceClient, server_id: UUID, name: str, body: contracts.ActionBody, answer: type[T]
) -> T:
    route = f"{contracts.FILES.format(server_id=server_id)}/{name}"
    return await agents.call_as(answer, "POST", route, json=body)
