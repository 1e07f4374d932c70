"""Client of the Pterodactyl panel's Application and Client APIs.

aiohttp with timeouts; a 429 waits out `Retry-After`; 5xx, timeouts and
connection errors are retried with growing, jittered delays; a circuit breaker
stops hammering a panel that keeps failing. Relationships are read where the
panel puts them: inside `attributes.relationships`.

aiohttp, not httpx: a sync makes hundreds of list requests, and httpx spends
about four times the CPU per request (like internal_client.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from nodebyte_common.backoff import exponential_delay
from nodebyte_common.circuit_breaker import CircuitBreaker
from nodebyte_common.egress import EgressPolicy, EgressRefused, category_of
from nodebyte_common.egress.aiohttp_resolver import GuardedResolver
from nodebyte_common.observability import inject_trace_headers

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {500, 502, 503, 504}
MAX_RETRY_AFTER = 120.0


class PanelError(RuntimeError):
    """The panel refused or failed a request after the retries were spent.

    `category` says what went wrong without the panel's words (egress.failures).
    """

    def __init__(self, message: str, status: int | None = None, category: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.category = category or (f"http_{status}" if status else "unreachable")


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
        egress: EgressPolicy | None = None,
    ) -> None:
        """`egress`: the policy a user-chosen panel URL obeys (None: the operator's own URL)."""
        self.base_url = base_url.rstrip("/")
        self.egress = egress
        self.application_key = application_key
        self.client_key = client_key
        self.max_attempts = max_attempts
        self.retry_base_delay = retry_base_delay
        self.breaker = breaker or CircuitBreaker("pterodactyl")
        self.requests_made = 0
        # Per socket operation, as httpx counted it: a large page that keeps arriving
        # is not cut off, a panel that goes silent for `timeout` is.
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=5.0, sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Created lazily, inside the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(
                    limit=16, resolver=GuardedResolver(self.egress) if self.egress else None
                ),
                json_serialize=lambda value: msgspec.json.encode(value).decode(),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

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
        raise PanelError(
            f"panel {method} {path} failed after {self.max_attempts} attempts", None, "http_429"
        )

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
            if self.egress is not None:
                self.egress.check_url(self.base_url)
            async with self._http().request(
                method,
                self.base_url + path,
                headers=headers,
                params=_query(params),
                json=json,
                allow_redirects=False,
            ) as response:
                status, content = response.status, await response.read()
                retry_after = response.headers.get("Retry-After")
        except EgressRefused as exc:
            message = f"panel refused by the egress policy: {exc}"
            raise PanelError(message, None, category_of(exc)) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.breaker.record_failure(f"{type(exc).__name__}: {exc}")
            category = category_of(exc)
            return self._retry_or_raise(
                attempt, f"panel unreachable: {type(exc).__name__}", category
            )
        if status == 429:
            # Throttling is the panel working as designed, not a failure of it.
            return min(MAX_RETRY_AFTER, _retry_after(retry_after, attempt, self.retry_base_delay))
        if status in RETRYABLE_STATUS:
            self.breaker.record_failure(f"HTTP {status}")
            return self._retry_or_raise(attempt, f"panel answered {status}", f"http_{status}")
        self.breaker.record_success()
        if status >= 300:  # redirects are not followed: a 3xx is an answer we cannot use
            raise PanelError(_panel_error_detail(status, content), status)
        if raw:
            return _Done(content)
        return _Done(msgspec.json.decode(content) if content else None)

    def _retry_or_raise(self, attempt: int, message: str, category: str) -> float:
        if attempt >= self.max_attempts:
            raise PanelError(message, None, category)
        return exponential_delay(attempt, base=self.retry_base_delay)


class _Done(msgspec.Struct):
    body: Any


def _query(params: dict[str, Any] | None) -> dict[str, str]:
    """Query values as strings, booleans and None written as httpx wrote them."""
    written = {True: "true", False: "false", None: ""}
    return {
        k: written[v] if v is None or isinstance(v, bool) else str(v)
        for k, v in (params or {}).items()
    }


def _retry_after(header: str | None, attempt: int, base: float) -> float:
    try:
        return max(0.0, float(header or ""))
    except ValueError:
        return exponential_delay(attempt, base=base)


def _panel_error_detail(status: int, content: bytes) -> str:
    try:
        errors = msgspec.json.decode(content)["errors"]
        return "; ".join(str(e.get("detail", e.get("code"))) for e in errors)[:500]
    except (msgspec.DecodeError, KeyError, TypeError, AttributeError):
        return f"panel answered HTTP {status}"


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
