"""Calls from the gateway to another service's `/internal/v1` API.

Timeouts, the service token, trace propagation and a circuit breaker per
service, so a service that is down costs callers one fast 503, not a pile-up.

aiohttp, not httpx, on this hot path: every public query makes one of these
calls, and on this machine httpx spends about ten times the CPU per request
(bench/gateway.py shows the difference).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, TypeVar

import aiohttp
import msgspec

from nodebyte_common.circuit_breaker import CircuitBreaker, CircuitOpenError
from nodebyte_common.dependency_failure import DEPENDENCY_STATUS
from nodebyte_common.envelope import ApiError
from nodebyte_common.observability import inject_trace_headers

T = TypeVar("T")


def refusal(status: int, body: Any) -> ApiError:
    """A service's refusal in the public envelope: its status, message, code and details.

    An owning service answers an upstream's failure (the panel's, Hytale's) with 424
    and the public status in `details.status`, so that the failure does not count
    against that service's circuit breaker; here it becomes the public status again."""
    if not (isinstance(body, dict) and body.get("success") is False):
        return ApiError(502, "The service gave an unexpected answer", "UPSTREAM_ERROR")
    details = body.get("details")
    if status == DEPENDENCY_STATUS and isinstance(details, dict):
        details = dict(details)
        status = int(details.pop("status", 502))
        details = details or None
    headers = {}
    if status == 429 and isinstance(details, dict) and "retry_after" in details:
        headers["Retry-After"] = str(details["retry_after"])  # the upstream's, passed on
    return ApiError(status, body.get("error", "Request failed"), body.get("code"), details, headers)


class ServiceClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        *,
        timeout: float = 5.0,
        stream_idle_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.root_url = base_url.rstrip("/")
        self.base_url = self.root_url + "/internal/v1"
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=2.0)
        # A streamed body may take as long as it flows, never this long without a byte.
        self.stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=2.0, sock_read=stream_idle_timeout
        )
        self.breaker = CircuitBreaker(name, failure_threshold=5, reset_timeout=10.0)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Created lazily, inside the running event loop the app serves on.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"X-Service-Token": self.token},
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300),
                json_serialize=lambda value: msgspec.json.encode(value).decode(),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def readiness(self, timeout: float = 2.0) -> tuple[int, Any]:
        """(status, decoded body) of the service's `/health/ready`. Not behind the circuit
        breaker: whoever asks how a service is hears the service, not the breaker's memory.
        Raises TimeoutError or aiohttp.ClientError when it does not answer."""
        async with self._http().get(
            self.root_url + "/health/ready", timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            content = await response.read()
        try:
            return response.status, msgspec.json.decode(content) if content else None
        except msgspec.DecodeError:
            return response.status, None

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, decoded body). 5xx, timeouts and an open circuit raise ApiError 502/503/504."""
        status, content = await self._exchange(method, path, params, json, headers)
        return status, msgspec.json.decode(content) if content else None

    async def call_as(
        self,
        answer: type[T],
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> T:
        """The owner's success decoded straight into its contract type; its refusal raised
        as an ApiError in its own words; an answer outside the contract a 502. Failures
        otherwise as `call`'s."""
        status, content = await self._exchange(method, path, params, json, headers)
        return self._decoded(answer, status, content)

    async def call_answered(
        self,
        answer: type[T],
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, T]:
        """`call_as`, with the owner's success status (200, 201, 202…)."""
        status, content = await self._exchange(method, path, params, json, headers)
        return status, self._decoded(answer, status, content)

    def _decoded(self, answer: type[T], status: int, content: bytes) -> T:
        if 200 <= status < 300:
            try:
                return msgspec.json.decode(content, type=answer)
            except msgspec.DecodeError as exc:  # not JSON, or JSON outside the contract
                raise ApiError(
                    502,
                    f"The {self.name} service answered outside its contract: {exc}",
                    "UPSTREAM_ERROR",
                ) from None
        try:
            refused = msgspec.json.decode(content) if content else None
        except msgspec.DecodeError:
            refused = None  # answered as no service of ours does: refusal() says so
        raise refusal(status, refused)

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        headers: dict[str, str] | None,
    ) -> tuple[int, bytes]:
        try:
            self.breaker.before_call()
        except CircuitOpenError:
            raise ApiError(503, f"The {self.name} service is unavailable") from None
        query = {k: str(v) for k, v in (params or {}).items()}
        try:
            async with self._http().request(
                method,
                self.base_url + path,
                params=query,
                json=json,
                headers={**inject_trace_headers(), **(headers or {})},
            ) as response:
                status, content = response.status, await response.read()
        except TimeoutError:
            self.breaker.record_failure("timeout")
            raise ApiError(504, f"The {self.name} service did not answer in time") from None
        except aiohttp.ClientError as exc:
            self.breaker.record_failure(type(exc).__name__)
            raise ApiError(503, f"The {self.name} service is unavailable") from None
        if status >= 500:
            self.breaker.record_failure(f"HTTP {status}")
            raise ApiError(502, f"The {self.name} service failed to answer")
        self.breaker.record_success()
        return status, content

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: AsyncIterable[bytes] | bytes | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A call whose bodies stream both ways: `data` is sent as it is produced and the
        answer is yielded unread (its body read by the caller, chunk by chunk).
        Failures as `call`'s; a 5xx is a 502."""
        try:
            self.breaker.before_call()
        except CircuitOpenError:
            raise ApiError(503, f"The {self.name} service is unavailable") from None
        query = {k: str(v) for k, v in (params or {}).items()}
        headers = {**inject_trace_headers(), "Content-Type": "application/octet-stream"}
        try:
            async with self._http().request(
                method,
                self.base_url + path,
                params=query,
                data=data,
                headers=headers,
                timeout=self.stream_timeout,
            ) as response:
                if response.status >= 500:
                    self.breaker.record_failure(f"HTTP {response.status}")
                    raise ApiError(502, f"The {self.name} service failed to answer")
                self.breaker.record_success()
                yield response
        except TimeoutError:
            raise ApiError(504, f"The {self.name} service did not answer in time") from None
        except aiohttp.ClientError as exc:
            self.breaker.record_failure(type(exc).__name__)
            raise ApiError(503, f"The {self.name} service is unavailable") from None
