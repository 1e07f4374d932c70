"""What the backend sends an agent about files, and the binary chunks of file bodies.

`file_operation` (the reference's frame, with our `requestId`, `maxBytes`,
`window` and `chunkBytes`) asks for one operation; the agent's answers are in
`protocol` (`file_ready`, `file_ack`, `file_result`). A body travels as binary
frames: the request id's 16 bytes, then at most `chunkBytes` of data; an empty
one ends it. Whoever sends a body keeps at most `window` chunks unacknowledged.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import msgspec

CHUNK_BYTES = 128 * 1024  # well under the agent socket's frame limit
WINDOW = 32  # chunks in flight per transfer: at most 4 MiB of a body held per hop
ID_BYTES = 16

FileOperationName = Literal[
    "list", "read", "write", "delete", "rename", "create_folder", "compress", "decompress"
]
Path = Annotated[str, msgspec.Meta(max_length=4096)]


class FileOperation(
    msgspec.Struct,
    tag_field="type",
    tag="file_operation",
    rename="camel",
    kw_only=True,
    frozen=True,
    omit_defaults=True,
):
    request_id: str
    server_id: str
    server_uuid: str
    operation: FileOperationName
    window: int  # always sent: the agent must not guess the pace
    chunk_bytes: int
    path: Path | None = None
    paths: list[Path] | None = None
    target: Path | None = None  # rename: the new path; compress: the archive; decompress: where
    max_bytes: int | None = None


class FileAbort(
    msgspec.Struct, tag_field="type", tag="file_abort", rename="camel", kw_only=True, frozen=True
):
    request_id: str
    reason: str


class BadChunk(ValueError):
    """A binary frame too short to name its transfer."""


def data_frame(request_id: UUID, payload: bytes = b"") -> bytes:
    return request_id.bytes + payload


def split_data(raw: bytes) -> tuple[UUID, bytes]:
    if len(raw) < ID_BYTES:
        raise BadChunk("a binary frame starts with the 16 bytes of its request id")
    return UUID(bytes=raw[:ID_BYTES]), raw[ID_BYTES:]
