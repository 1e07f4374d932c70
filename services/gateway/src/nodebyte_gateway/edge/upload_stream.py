"""A multipart/form-data body read as it arrives: fields, then each file's bytes in pieces.

`multipart`'s push parser turns each piece of the request body into events;
a file part's bytes are handed on as they come, never gathered, so an upload
of any size costs a few pieces of memory. Form fields are small by nature
and are read whole (up to FIELD_MAX_BYTES).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from nodebyte_common.envelope import ApiError

FIELD_MAX_BYTES = 4096
MAX_PARTS = 64


@dataclass(frozen=True)
class FilePart:
    """A file part whose bytes follow: read them with `FormStream.file_bytes()`."""

    field: str
    filename: str


def boundary_of(content_type: str) -> str:
    kind, options = parse_options_header(content_type)
    boundary = options.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise ApiError(415, "Send the file as multipart/form-data")
    return str(boundary)


class FormStream:
    def __init__(self, body: AsyncIterator[bytes], boundary: str) -> None:
        self._parser = PushMultipartParser(boundary, max_segment_count=MAX_PARTS)
        self._events = self._parse(body)

    async def _parse(
        self, body: AsyncIterator[bytes]
    ) -> AsyncIterator[MultipartSegment | bytes | None]:
        try:
            with self._parser as parser:
                async for piece in body:
                    for event in parser.parse(piece):
                        yield event
                for event in parser.parse(b""):
                    yield event
        except MultipartError as exc:
            raise ApiError(400, f"The multipart body is malformed: {exc}") from None

    async def parts(self) -> AsyncIterator[tuple[str, str] | FilePart]:
        """Each part in order: a field as (name, value), a file as FilePart, whose bytes
        must be read with `file_bytes()` before the next part."""
        async for event in self._events:
            if not isinstance(event, MultipartSegment):
                continue  # stray bytes of a file part the caller did not read
            if event.filename is None:
                yield event.name or "", await self._field()
            else:
                yield FilePart(event.name or "", event.filename)

    async def _field(self) -> str:
        value = bytearray()
        async for event in self._events:
            if event is None:
                break
            if isinstance(event, bytes | bytearray | memoryview):
                value += event
                if len(value) > FIELD_MAX_BYTES:
                    raise ApiError(400, "A form field is too long")
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise ApiError(400, "A form field is not UTF-8 text") from None

    async def file_bytes(self) -> AsyncIterator[bytes]:
        """The current file part's bytes, piece by piece, until the part ends."""
        async for event in self._events:
            if event is None:
                return
            if isinstance(event, bytes | bytearray | memoryview):
                yield bytes(event)
