"""The reference's Hytale error codes, and how upstream answers map onto them.

| HTTP | codes |
|---|---|
| 400 | INVALID_REQUEST, INVALID_DEVICE_CODE |
| 401 | UNAUTHORIZED, EXPIRED_TOKEN, INVALID_TOKEN |
| 403 | FORBIDDEN, SESSION_LIMIT_EXCEEDED (with an entitlement hint) |
| 404 | ACCOUNT_NOT_FOUND, SESSION_NOT_FOUND |
| 409 | SESSION_EXISTS |
| 429 | RATE_LIMITED (Retry-After) |
| 5xx | SERVICE_ERROR (upstream down), INTEGRATION_ERROR (upstream refused our request) |

Upstream failures leave the internal API as 424 with the public status in
`details.status`: the gateway's circuit breaker counts 5xx from hytale-auth as
hytale-auth failing, and a Hytale outage is not that. The gateway turns 424
back into the public status.
"""

from __future__ import annotations

from typing import Any, TypeVar

from nodebyte_common.dependency_failure import dependency_failure
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_hytale_auth.upstream import UpstreamError

T = TypeVar("T")

SESSION_LIMIT_HINT = (
    "The Hytale account has reached its concurrent game session limit (100 without the "
    "sessions.unlimited_servers entitlement). End a session, add another account to the "
    "pool, or ask Hytale for the entitlement."
)


def invalid_request(message: str, details: Any = None) -> ApiError:
    return ApiError(400, message, "INVALID_REQUEST", details)


def decode_request(raw: bytes, type_: type[T]) -> T:
    """A strict JSON body; any fault is a 400 INVALID_REQUEST."""
    try:
        return decode_body(raw, type_)
    except ApiError as exc:
        raise invalid_request(exc.message) from None


def account_not_found() -> ApiError:
    return ApiError(404, "Hytale account not found", "ACCOUNT_NOT_FOUND")


def session_not_found() -> ApiError:
    return ApiError(404, "Game session not found", "SESSION_NOT_FOUND")


def session_limit(details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(
        403,
        "The concurrent game session limit has been reached",
        "SESSION_LIMIT_EXCEEDED",
        {"hint": SESSION_LIMIT_HINT, **(details or {})},
    )


def reauthorization_needed(expired: bool) -> ApiError:
    if expired:
        message = "The Hytale authorization has expired; authorize the account again"
        return ApiError(401, message, "EXPIRED_TOKEN")
    message = "The Hytale authorization was revoked; authorize the account again"
    return ApiError(401, message, "INVALID_TOKEN")


def from_upstream(exc: UpstreamError) -> ApiError:
    """The answer for an upstream failure no domain rule has claimed."""
    if exc.status == 429:
        retry = max(1, round(exc.retry_after or 60))
        return ApiError(
            429,
            "Hytale is rate limiting us; retry later",
            "RATE_LIMITED",
            {"retry_after": retry},
            headers={"Retry-After": str(retry)},
        )
    if exc.status is None:
        return dependency_failure(
            504 if exc.error == "timeout" else 503,
            "The Hytale service could not be reached",
            "SERVICE_ERROR",
        )
    if exc.status >= 500 or exc.error == "bad_response":
        return dependency_failure(502, "The Hytale service failed to answer", "SERVICE_ERROR")
    if exc.status == 401:
        return ApiError(401, "Hytale refused the credentials", "UNAUTHORIZED")
    if exc.status == 403:
        return ApiError(403, "Hytale refused the operation", "FORBIDDEN")
    if exc.status == 404:
        return ApiError(404, "Hytale does not know this resource", "ENDPOINT_NOT_FOUND")
    return dependency_failure(
        502, "Hytale refused the request", "INTEGRATION_ERROR", upstream_error=exc.error
    )
