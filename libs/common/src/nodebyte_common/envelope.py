"""The one response envelope and the errors that map onto it.

Success: `{"success": true, "data": …, "message"?: …, "pagination"?: …}`.
Error:   `{"success": false, "error": "<human message>", "code": "<MACHINE_CODE>", "details"?: …}`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Response
from litestar.background_tasks import BackgroundTask

from nodebyte_common.decoding import BadInput, decode_json

T = TypeVar("T")

STATUS_CODES: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    423: "LOCKED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "UPSTREAM_ERROR",
    503: "SERVICE_UNAVAILABLE",
    504: "UPSTREAM_TIMEOUT",
}


class ApiError(Exception):
    """An expected failure, answered in the envelope with its status and code."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or STATUS_CODES.get(status, "ERROR")
        self.details = details
        self.headers = headers or {}


def ok(
    data: Any = None,
    *,
    message: str | None = None,
    status: int = 200,
    pagination: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response[dict[str, Any]]:
    body = ok_body(data, message=message, pagination=pagination)
    return Response(body, status_code=status, headers=headers, background=background)


def ok_body(
    data: Any = None, *, message: str | None = None, pagination: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "data": data}
    if message is not None:
        body["message"] = message
    if pagination is not None:
        body["pagination"] = pagination
    return body


def error_body(message: str, code: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": message, "code": code}
    if details is not None:
        body["details"] = details
    return body


def error_response(exc: ApiError) -> Response[dict[str, Any]]:
    return Response(
        error_body(exc.message, exc.code, exc.details),
        status_code=exc.status,
        headers=exc.headers,
    )


def decode_body(raw: bytes, type_: type[T], *, empty_ok: bool = True) -> T:
    """Decode a JSON request body strictly; any fault is a 400 in the envelope."""
    if not raw.strip():
        if empty_ok:
            raw = b"{}"
        else:
            raise ApiError(400, "A JSON body is required")
    try:
        return decode_json(raw, type_)
    except BadInput as exc:
        raise ApiError(400, str(exc)) from None
