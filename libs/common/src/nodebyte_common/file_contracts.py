"""Bodies of the file routes (`/api/servers/{id}/files…`), public and internal alike.

The gateway decodes the public bodies with these Structs and hands them on;
the node-agent-gateway decodes the same Structs on its internal API and
answers with the answers below, so both sides read one declaration. Field
names follow the reference (`archiveName`, `archivePath`, `targetPath`).
Paths are read from the server's root (`/` is the root); the agent confines
them (see the reference agent's `agent_disk`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

FilePath = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
FilePaths = Annotated[list[FilePath], msgspec.Meta(min_length=1, max_length=100)]

# Internal routes on the node-agent-gateway (under /internal/v1).
FILES = "/servers/{server_id}/files"
FILE_DATA = "/servers/{server_id}/files/data"  # GET: a body out, PUT: a body in (streamed)
FILE_ACTIONS = ("delete", "rename", "compress", "decompress", "create-folder")
# Query parameter of FILE_DATA: the largest body the caller accepts or sends.
MAX_BYTES = "maxBytes"
# Header of a FILE_DATA GET answer: the file's size, as the agent reported it.
FILE_SIZE_HEADER = "x-file-size"


class _Body(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    pass


class FileEntry(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    name: str
    size: int
    is_directory: bool
    is_symlink: bool = False
    modified: str | None = None


class FileContentWrite(_Body, kw_only=True):
    path: FilePath
    content: str


class FileContent(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    path: str
    content: str
    size: int


class FileWritten(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    path: str
    size: int


class DeleteFiles(_Body, kw_only=True):
    paths: FilePaths


class RenameFile(_Body, kw_only=True):
    source: FilePath = msgspec.field(name="from")
    destination: FilePath = msgspec.field(name="to")


class CompressFiles(_Body, kw_only=True):
    paths: FilePaths
    archive_name: FilePath


class DecompressArchive(_Body, kw_only=True):
    archive_path: FilePath
    target_path: FilePath = "/"


class CreateFolder(_Body, kw_only=True):
    path: FilePath


class FileChanged(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """Where the result is: the new name, the folder, the archive's contents' target."""

    path: str


class ArchiveCreated(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    archive_path: str


class FilesDeleted(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    paths: list[str]


ActionBody = DeleteFiles | RenameFile | CompressFiles | DecompressArchive | CreateFolder
ACTION_BODIES: dict[str, type[ActionBody]] = {
    "delete": DeleteFiles,
    "rename": RenameFile,
    "compress": CompressFiles,
    "decompress": DecompressArchive,
    "create-folder": CreateFolder,
}
