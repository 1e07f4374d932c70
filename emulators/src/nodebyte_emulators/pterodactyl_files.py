"""A server's files through the Client API (`files/list`, `files/contents`), as Wings serves them.

Servers start with no files; tests write them through `/_emulator/files/{server_id}`
(append lines to a log, replace or remove a file), the way a running game server
would write its console log.
"""

import time
from dataclasses import dataclass, field
from urllib.parse import unquote

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.params import FromPath

from .pterodactyl_client_api import _server
from .pterodactyl_data import atom
from .pterodactyl_wire import NOT_FOUND_DETAIL, ApiError, collection, json_response


@dataclass
class StoredFile:
    content: bytearray = field(default_factory=bytearray)
    created_at: float = field(default_factory=time.time)
    modified_at: float = field(default_factory=time.time)


class ServerFiles:
    """Files per server id, keyed by normalised absolute path."""

    def __init__(self) -> None:
        self.files: dict[int, dict[str, StoredFile]] = {}

    def of(self, server_id: int) -> dict[str, StoredFile]:
        return self.files.setdefault(server_id, {})


def normalise(path: str) -> str:
    parts = [p for p in unquote(path).split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ApiError(400, "The path contains an invalid segment.")
    return "/" + "/".join(parts)


def _files(request: Request) -> ServerFiles:
    return request.app.state.files


def _file_object(name: str, stored: StoredFile) -> dict:
    return {
        "name": name,
        "mode": "-rw-r--r--",
        "mode_bits": "644",
        "size": len(stored.content),
        "is_file": True,
        "is_symlink": False,
        "mimetype": "text/plain; charset=utf-8",
        "created_at": atom(stored.created_at),
        "modified_at": atom(stored.modified_at),
    }


@get("/servers/{server_ref:str}/files/list")
async def list_files(request: Request, server_ref: FromPath[str]) -> Response:
    server = _server(request, server_ref)
    directory = normalise(request.query_params.get("directory", "/")).rstrip("/") + "/"
    stored = _files(request).of(server["id"])
    entries = [
        _file_object(path[len(directory) :], f)
        for path, f in sorted(stored.items())
        if path.startswith(directory) and "/" not in path[len(directory) :]
    ]
    if not entries and not any(p.startswith(directory) for p in stored) and directory != "/":
        raise ApiError(404, NOT_FOUND_DETAIL)
    return json_response(collection("file_object", entries))


@get("/servers/{server_ref:str}/files/contents")
async def file_contents(request: Request, server_ref: FromPath[str]) -> Response:
    server = _server(request, server_ref)
    path = normalise(request.query_params.get("file", ""))
    stored = _files(request).of(server["id"]).get(path)
    if stored is None:
        raise ApiError(404, NOT_FOUND_DETAIL)
    return Response(
        content=bytes(stored.content),
        media_type="text/plain",
        headers={"content-type": "text/plain"},
    )


class FileWrite(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    append: str | None = None
    content: str | None = None  # replaces the file (rotation: write "" or new content)


@post("/files/{server_id:int}", status_code=200)
async def write_file(request: Request, server_id: FromPath[int]) -> Response:
    try:
        body = msgspec.json.decode(await request.body(), type=FileWrite)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(422, str(exc)) from exc
    files = _files(request).of(server_id)
    path = normalise(body.path)
    stored = files.setdefault(path, StoredFile())
    if body.content is not None:
        stored.content = bytearray(body.content.encode())
    if body.append is not None:
        stored.content += body.append.encode()
    stored.modified_at = time.time()
    return json_response({"path": path, "size": len(stored.content)})


@delete("/files/{server_id:int}")
async def delete_files(request: Request, server_id: FromPath[int]) -> None:
    """Remove one file (`?path=`) or all of a server's files."""
    files = _files(request).of(server_id)
    path = request.query_params.get("path")
    if path is None:
        files.clear()
    else:
        files.pop(normalise(path), None)


files_router = Router(path="/api/client", route_handlers=[list_files, file_contents])
files_control_router = Router(path="/_emulator", route_handlers=[write_file, delete_files])
