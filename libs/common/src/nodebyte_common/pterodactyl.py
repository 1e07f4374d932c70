"""Client of the Pterodactyl panel's Application and Client APIs.

httpx with timeouts; a 429 waits out `Retry-After`; 5xx, timeouts and
connection errors are retried with growing, jittered delays; a circuit breaker
stops hammering a panel that keeps failing. Relationships are read where the
panel puts them: inside `attributes.relationships`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from nodebyte_common.backoff import exponential_delay
from nodebyte_common.circuit_breaker import CircuitBreaker
from nodebyte_common.observability import inject_trace_headers

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {500, 502, 503, 504}
MAX_RETRY_AFTER = 120.0


class PanelError(RuntimeError):
    """The panel refused or failed a request after the retries were spent."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PanelPage(msgspec.Struct):
    items: list[dict[str, Any]]  # each item's `attributes`
    current_page: int
    total_pages: int
    total: int


class RawPage(msgspec.Struct):
    """A list page whose items are left encoded: `data` is the raw JSON array."""

    data: bytes
    current_page: int
    total_pages: int
    total: int | None  # None on an unpaginated list: its length is its total


class _Pagination(msgspec.Struct):
    total: int
    current_page: int
    total_pages: int


class _Meta(msgspec.Struct):
    pagination: _Pagination | None = None


class _RawList(msgspec.Struct):
    data: msgspec.Raw = msgspec.Raw(b"[]")
    meta: _Meta | None = None


_raw_list = msgspec.json.Decoder(_RawList)
_items = msgspec.json.Decoder(list[dict[str, Any]])


class PanelClient:
    def __init__(
        self,
        base_url: str,
        *,
        application_key: str,
        client_key: str = "",
        timeout: float = 15.0,
        max_attempts: int = 5,
        retry_base_delay: float = 0.5,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.application_key = application_key
        self.client_key = client_key
        self.max_attempts = max_attempts
        self.retry_base_delay = retry_base_delay
        self.breaker = breaker or CircuitBreaker("pterodactyl")
        self.requests_made = 0
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def application(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._request("GET", f"/api/application{path}", self.application_key, params)

    async def client(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._request("GET", f"/api/client{path}", self.client_key, params)

    async def body(self, api: str, path: str, params: dict[str, Any] | None = None) -> bytes:
        """The undecoded body of a GET on the `application` or `client` API."""
        key = self.client_key if api == "client" else self.application_key
        return await self._request("GET", f"/api/{api}{path}", key, params, raw=True)

    async def send(self, method: str, path: str, *, json: Any, use_client_key: bool = False) -> Any:
        key = self.client_key if use_client_key else self.application_key
        return await self._request(method, path, key, None, json)

    async def pages(
        self, path: str, *, per_page: int = 100, params: dict[str, Any] | None = None
    ) -> AsyncIterator[PanelPage]:
        """Every page of an Application API list, in order."""
        page = 1
        while True:
            query = {**(params or {}), "page": page, "per_page": per_page}
            body = await self.application(path, query)
            result = parse_list(body)
            yield result
            if result.current_page >= result.total_pages:
                return
            page += 1

    async def _request(
        self,
        method: str,
        path: str,
        key: str,
        params: dict[str, Any] | None,
        json: Any = None,
        *,
        raw: bool = False,
    ) -> Any:
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        inject_trace_headers(headers)
        for attempt in range(1, self.max_attempts + 1):
            self.breaker.before_call()
            delay = await self._attempt(method, path, headers, params, json, attempt, raw)
            if isinstance(delay, _Done):
                return delay.body
            await asyncio.sleep(delay)
        raise PanelError(f"panel {method} {path} failed after {self.max_attempts} attempts")

    async def _attempt(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        params: Any,
        json: Any,
        attempt: int,
        raw: bool = False,
    ) -> _Done | float:
        """One try: the body when done, else how long to wait before the next try."""
        self.requests_made += 1
        try:
            response = await self._http.request(
                method, self.base_url + path, headers=headers, params=params, json=json
            )
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            self.breaker.record_failure(f"{type(exc).__name__}: {exc}")
            return self._retry_or_raise(attempt, f"panel unreachable: {type(exc).__name__}")
        if response.status_code == 429:
            # Throttling is the panel working as designed, not a failure of it.
            return min(MAX_RETRY_AFTER, _retry_after(response, attempt, self.retry_base_delay))
        if response.status_code in RETRYABLE_STATUS:
            self.breaker.record_failure(f"HTTP {response.status_code}")
            return self._retry_or_raise(attempt, f"panel answered {response.status_code}")
        self.breaker.record_success()
        if response.status_code >= 400:
            raise PanelError(_panel_error_detail(response), response.status_code)
        if raw:
            return _Done(response.content)
        return _Done(msgspec.json.decode(response.content) if response.content else None)

    def _retry_or_raise(self, attempt: int, message: str) -> float:
        if attempt >= self.max_attempts:
            raise PanelError(message)
        return exponential_delay(attempt, base=self.retry_base_delay)


class _Done(msgspec.Struct):
    body: Any


def _retry_after(response: httpx.Response, attempt: int, base: float) -> float:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return exponential_delay(attempt, base=base)


def _panel_error_detail(response: httpx.Response) -> str:
    try:
        errors = response.json()["errors"]
        return "; ".join(str(e.get("detail", e.get("code"))) for e in errors)[:500]
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"panel answered HTTP {response.status_code}"


def parse_list(body: Any) -> PanelPage:
    """The attributes of a list envelope, with its pagination (if any)."""
    items = [entry["attributes"] for entry in body.get("data", [])]
    pagination = (body.get("meta") or {}).get("pagination")
    if not pagination:
        return PanelPage(items, 1, 1, len(items))
    return PanelPage(
        items,
        int(pagination["current_page"]),
        max(1, int(pagination["total_pages"])),
        int(pagination["total"]),
    )


def parse_raw_list(body: bytes) -> RawPage:
    """A list envelope's pagination, its items left encoded (cheap to skip or hash)."""
    envelope = _raw_list.decode(body)
    pagination = envelope.meta.pagination if envelope.meta else None
    if pagination is None:
        return RawPage(bytes(envelope.data), 1, 1, None)
    return RawPage(
        bytes(envelope.data),
        pagination.current_page,
        max(1, pagination.total_pages),
        pagination.total,
    )


def raw_items(data: bytes) -> list[dict[str, Any]]:
    """The attributes of each item of a raw JSON list (`RawPage.data`)."""
    return [entry["attributes"] for entry in _items.decode(data)]


def relationship(attributes: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Attributes of a related list placed inside `attributes.relationships`."""
    related = (attributes.get("relationships") or {}).get(name) or {}
    if related.get("object") == "list":
        return [entry["attributes"] for entry in related.get("data", [])]
    if related.get("attributes"):
        return [related["attributes"]]
    return []
