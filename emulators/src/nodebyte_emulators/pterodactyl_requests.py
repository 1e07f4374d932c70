"""Request plumbing shared by the panel's route modules."""

import msgspec
from litestar import Request

from .asgi import base_url
from .pterodactyl_state import Panel
from .pterodactyl_wire import NOT_FOUND_DETAIL, ApiError


def panel(request: Request) -> Panel:
    return request.app.state.panel


def query(request: Request) -> dict[str, str]:
    """Query parameters with PHP semantics: a repeated key keeps its last value."""
    return dict(request.query_params.items())


def page_url(request: Request) -> str:
    """Absolute URL of this listing without a query, the base of pagination links."""
    return base_url(request.scope) + request.scope["path"]


def parse_id(raw: str) -> int:
    """Route-model binding: anything that is not a row id is simply not found."""
    if not raw.isdigit():
        raise ApiError(404, NOT_FOUND_DETAIL)
    return int(raw)


def find(request: Request, kind: str, raw_id: str) -> dict:
    row = panel(request).store.get(kind, parse_id(raw_id))
    if row is None:
        raise ApiError(404, NOT_FOUND_DETAIL)
    return row


async def json_body(request: Request) -> dict:
    """The body as a JSON object, refused like the panel's IsValidJson middleware."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        detail = f"The JSON data passed in the request appears to be malformed: {exc}"
        raise ApiError(400, detail) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "The JSON data passed in the request must be an object.")
    return body
