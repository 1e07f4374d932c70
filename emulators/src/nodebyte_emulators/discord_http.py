"""Request plumbing shared by the Discord emulator's route modules."""

from typing import TypeVar

import msgspec
from litestar import Request, Response

from .asgi import encode
from .discord_state import Hub

StructT = TypeVar("StructT", bound=msgspec.Struct)


class BadControlRequest(Exception):
    """A control call whose body does not decode into its request type."""


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


def json_response(
    document: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=encode(document), status_code=status, media_type="application/json", headers=headers
    )


def decode_struct(raw: bytes, into: type[StructT]) -> StructT:
    try:
        return msgspec.json.decode(raw or b"{}", type=into)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadControlRequest(str(exc)) from exc
