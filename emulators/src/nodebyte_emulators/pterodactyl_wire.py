"""Pterodactyl's JSON shapes: Fractal envelopes, Laravel pagination, exception bodies."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from litestar import Response

from .asgi import encode

NULL_RESOURCE = {"object": "null_resource", "attributes": None}
GENERIC_DETAIL = (
    "An unexpected error was encountered while processing this request, please try again."
)
NOT_FOUND_DETAIL = "The requested resource could not be found on the server."

# What class_basename($exception) reports for the statuses this emulator produces.
EXCEPTION_NAMES = {
    400: "BadRequestHttpException",
    401: "AuthenticationException",
    403: "AccessDeniedHttpException",
    404: "NotFoundHttpException",
    405: "MethodNotAllowedHttpException",
    409: "ConflictHttpException",
    422: "ValidationException",
    429: "ThrottleRequestsException",
    503: "ServiceUnavailableHttpException",
}


class ApiError(Exception):
    """Raised by handlers; rendered as the panel's `{"errors": [...]}` body."""

    def __init__(self, status: int, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or EXCEPTION_NAMES.get(status, "HttpException")


class ValidationFailed(ApiError):
    """A 422 carrying one error entry per failed rule."""

    def __init__(self, failures: list[tuple[str, str, str]]) -> None:
        super().__init__(422, failures[0][2])
        self.failures = failures  # (field, rule, message)


def error_document(status: int, detail: str, code: str | None = None) -> dict:
    name = code or EXCEPTION_NAMES.get(status, "HttpException")
    return {"errors": [{"code": name, "status": str(status), "detail": detail}]}


def error_body(error: ApiError) -> bytes:
    if isinstance(error, ValidationFailed):
        entries = [
            {
                "code": "ValidationException",
                "status": "422",
                "detail": message,
                "meta": {"source_field": field, "rule": rule},
            }
            for field, rule, message in error.failures
        ]
        return encode({"errors": entries})
    return encode(error_document(error.status, error.detail, error.code))


def json_response(document: object, status: int = 200) -> Response:
    return Response(content=encode(document), status_code=status, media_type="application/json")


def item(resource: str, attributes: dict) -> dict:
    return {"object": resource, "attributes": attributes}


def collection(resource: str, rows: Sequence[dict]) -> dict:
    return {"object": "list", "data": [{"object": resource, "attributes": r} for r in rows]}


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    size: int


def _positive_int(raw: str | None) -> int | None:
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


def parse_page(query: Mapping[str, str], cap: int | None = None) -> Page:
    """`?page` and `?per_page` as Laravel reads them: junk falls back to page 1 / 50."""
    size = _positive_int(query.get("per_page")) or 50
    return Page(_positive_int(query.get("page")) or 1, min(size, cap) if cap else size)


def _link(url: str, number: int, query: Sequence[tuple[str, str]] | None) -> str:
    if query is None:
        return f"{url}?page={number}"
    # PHP keeps the last value of a repeated key, in the key's first position.
    params = dict(query)
    params["page"] = str(number)
    return f"{url}?{urlencode(params)}"


def paginate(
    rows: Sequence[dict],
    page: Page,
    url: str,
    query: Sequence[tuple[str, str]] | None = None,
) -> tuple[Sequence[dict], dict]:
    """Slice one page and build Fractal's `meta` for it.

    Application API links carry only `page` (its paginators append nothing, so a
    client following `next` falls back to per_page=50); pass `query` to keep the
    request's parameters as the client API's `appends($request->query())` does.
    """
    total = len(rows)
    start = (page.number - 1) * page.size
    chunk = rows[start : start + page.size]
    last = max(math.ceil(total / page.size), 1)
    links: dict[str, str] = {}
    if page.number > 1:
        links["previous"] = _link(url, page.number - 1, query)
    if page.number < last:
        links["next"] = _link(url, page.number + 1, query)
    meta = {
        "pagination": {
            "total": total,
            "count": len(chunk),
            "per_page": page.size,
            "current_page": page.number,
            "total_pages": last,
            "links": links,
        }
    }
    return chunk, meta
