"""Calls from the gateway to another service's `/internal/v1` API.

Timeouts, the service token, trace propagation and a circuit breaker per
service, so a service that is down costs callers one fast 503, not a pile-up.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from nodebyte_common.circuit_breaker import CircuitBreaker, CircuitOpenError
from nodebyte_common.envelope import ApiError
from nodebyte_common.observability import inject_trace_headers


class ServiceClient:
    def __init__(self, name: str, base_url: str, token: str, *, timeout: float = 5.0) -> None:
        self.name = name
        self.breaker = CircuitBreaker(name, failure_threshold=5, reset_timeout=10.0)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/internal/v1",
            headers={"X-Service-Token": token},
            timeout=httpx.Timeout(timeout, connect=2.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> tuple[int, Any]:
        """(status, decoded body). 5xx, timeouts and an open circuit raise ApiError 503/504."""
        try:
            self.breaker.before_call()
        except CircuitOpenError:
            raise ApiError(503, f"The {self.name} service is unavailable") from None
        try:
            response = await self._http.request(
                method, path, params=params, json=json, headers=inject_trace_headers()
            )
        except httpx.TimeoutException:
            self.breaker.record_failure("timeout")
            raise ApiError(504, f"The {self.name} service did not answer in time") from None
        except httpx.TransportError as exc:
            self.breaker.record_failure(type(exc).__name__)
            raise ApiError(503, f"The {self.name} service is unavailable") from None
        if response.status_code >= 500:
            self.breaker.record_failure(f"HTTP {response.status_code}")
            raise ApiError(502, f"The {self.name} service failed to answer")
        self.breaker.record_success()
        body = msgspec.json.decode(response.content) if response.content else None
        return response.status_code, body
