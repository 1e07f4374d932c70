"""Upstream failures mapped onto the reference's codes."""

from __future__ import annotations

import pytest

from nodebyte_common.dependency_failure import DEPENDENCY_STATUS
from nodebyte_hytale_auth.errors import from_upstream
from nodebyte_hytale_auth.upstream import UpstreamError


@pytest.mark.parametrize(
    ("error", "status", "code", "public"),
    [
        (UpstreamError(None, "timeout"), DEPENDENCY_STATUS, "SERVICE_ERROR", 504),
        (UpstreamError(None, "unreachable"), DEPENDENCY_STATUS, "SERVICE_ERROR", 503),
        (UpstreamError(503, "server_error"), DEPENDENCY_STATUS, "SERVICE_ERROR", 502),
        (UpstreamError(200, "bad_response"), DEPENDENCY_STATUS, "SERVICE_ERROR", 502),
        (UpstreamError(400, "invalid_client"), DEPENDENCY_STATUS, "INTEGRATION_ERROR", 502),
        (UpstreamError(401, "unauthorized"), 401, "UNAUTHORIZED", None),
        (UpstreamError(403, "forbidden"), 403, "FORBIDDEN", None),
        (UpstreamError(404, "not_found"), 404, "ENDPOINT_NOT_FOUND", None),
    ],
)
def test_mapping(error: UpstreamError, status: int, code: str, public: int | None) -> None:
    mapped = from_upstream(error)
    assert (mapped.status, mapped.code) == (status, code)
    if public is not None:
        assert mapped.details["status"] == public


def test_throttling_carries_retry_after() -> None:
    mapped = from_upstream(UpstreamError(429, "rate_limited", retry_after=12.4))
    assert (mapped.status, mapped.code) == (429, "RATE_LIMITED")
    assert mapped.headers == {"Retry-After": "12"}
    assert mapped.details == {"retry_after": 12}
