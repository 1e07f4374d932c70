"""HTTP client of Hytale's server-provider API: OAuth host, account data, sessions.

Only a request that never left (connection refused) is retried here: a refresh
grant rotates the refresh token and a new session counts against the account's
limit, so resending one whose answer was lost could cost the token or a slot.
Callers retry later from their own state instead. A circuit breaker turns an
upstream that keeps failing into fast errors.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx
import msgspec

from nodebyte_common.circuit_breaker import CircuitBreaker, CircuitOpenError
from nodebyte_common.observability import inject_trace_headers
from nodebyte_hytale_auth.settings import Endpoints

log = logging.getLogger(__name__)
T = TypeVar("T")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CONNECT_ATTEMPTS = 3


class UpstreamError(Exception):
    """Hytale answered an error (status, error code) or could not be reached (status None)."""

    def __init__(
        self,
        status: int | None,
        error: str,
        description: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"hytale upstream: {status} {error}")
        self.status = status
        self.error = error
        self.description = description[:300]
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class DeviceAuthorization(msgspec.Struct):
    device_code: str
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int = 5
    verification_uri_complete: str | None = None


class TokenGrant(msgspec.Struct):
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    scope: str = ""
    token_type: str = "bearer"  # noqa: S105 - a scheme name


class Profile(msgspec.Struct):
    uuid: UUID
    username: str


class ProfileList(msgspec.Struct):
    owner: UUID
    profiles: list[Profile]


class SessionGrant(msgspec.Struct, rename="camel"):
    session_token: str
    identity_token: str
    expires_at: datetime


class _OAuthErrorBody(msgspec.Struct):
    error: str
    error_description: str = ""


class _SessionErrorBody(msgspec.Struct):
    error: str = "error"
    message: str = ""


class HytaleUpstream:
    def __init__(
        self,
        endpoints: Endpoints,
        *,
        client_id: str,
        scope: str,
        timeout: float = 10.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.client_id = client_id
        self.scope = scope
        self.breaker = breaker or CircuitBreaker("hytale", failure_threshold=5, reset_timeout=30)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- OAuth host -------------------------------------------------------------

    async def request_device_code(self) -> DeviceAuthorization:
        form = {"client_id": self.client_id, "scope": self.scope}
        return await self._oauth("/oauth2/device/auth", form, DeviceAuthorization)

    async def poll_device_code(self, device_code: str) -> TokenGrant:
        form = {"grant_type": DEVICE_GRANT, "client_id": self.client_id, "device_code": device_code}
        return await self._oauth("/oauth2/token", form, TokenGrant)

    async def refresh_tokens(self, refresh_token: str) -> TokenGrant:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "refresh_token": refresh_token,
        }
        return await self._oauth("/oauth2/token", form, TokenGrant)

    async def _oauth(self, path: str, form: dict[str, str], into: type[T]) -> T:
        response = await self._send("POST", self.endpoints.oauth + path, data=form)
        if response.status_code == 200:
            return _decode(response, into)
        body = _error_body(response, _OAuthErrorBody)
        error = body.error if body else "http_error"
        raise UpstreamError(
            response.status_code,
            error,
            body.error_description if body else "",
            _retry_after(response),
        )

    # --- account data and sessions ---------------------------------------------

    async def profiles(self, access_token: str) -> ProfileList:
        url = self.endpoints.account_data + "/my-account/get-profiles"
        response = await self._send("GET", url, bearer=access_token)
        return self._session_answer(response, ProfileList)

    async def new_session(self, access_token: str, profile_uuid: UUID) -> SessionGrant:
        url = self.endpoints.sessions + "/game-session/new"
        body = {"uuid": str(profile_uuid)}
        response = await self._send("POST", url, bearer=access_token, json=body)
        return self._session_answer(response, SessionGrant)

    async def refresh_session(self, session_token: str) -> SessionGrant:
        url = self.endpoints.sessions + "/game-session/refresh"
        response = await self._send("POST", url, bearer=session_token)
        return self._session_answer(response, SessionGrant)

    async def delete_session(self, session_token: str) -> None:
        url = self.endpoints.sessions + "/game-session"
        response = await self._send("DELETE", url, bearer=session_token)
        if response.status_code not in (200, 204):
            self._session_answer(response, SessionGrant)  # raises the mapped error

    async def jwks(self) -> dict[str, Any]:
        url = self.endpoints.sessions + "/.well-known/jwks.json"
        response = await self._send("GET", url)
        return self._session_answer(response, dict)

    def _session_answer(self, response: httpx.Response, into: type[T]) -> T:
        if response.status_code in (200, 201):
            return _decode(response, into)
        body = _error_body(response, _SessionErrorBody)
        raise UpstreamError(
            response.status_code,
            body.error if body else "http_error",
            body.message if body else "",
            _retry_after(response),
        )

    # --- transport ---------------------------------------------------------------

    async def _send(
        self, method: str, url: str, *, bearer: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = inject_trace_headers({"Accept": "application/json"})
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                self.breaker.before_call()
            except CircuitOpenError:
                raise UpstreamError(
                    None, "circuit_open", "Hytale is failing; not calling"
                ) from None
            try:
                response = await self._http.request(method, url, headers=headers, **kwargs)
            except httpx.ConnectError as exc:  # never sent: safe to try again
                self.breaker.record_failure(type(exc).__name__)
                if attempt == CONNECT_ATTEMPTS:
                    raise UpstreamError(None, "unreachable", type(exc).__name__) from None
                await asyncio.sleep(0.2 * attempt)
                continue
            except httpx.TimeoutException as exc:
                self.breaker.record_failure(type(exc).__name__)
                raise UpstreamError(None, "timeout", type(exc).__name__) from None
            except httpx.TransportError as exc:
                self.breaker.record_failure(type(exc).__name__)
                raise UpstreamError(None, "unreachable", type(exc).__name__) from None
            if response.status_code >= 500:
                self.breaker.record_failure(f"HTTP {response.status_code}")
            else:
                self.breaker.record_success()
            return response
        raise AssertionError("unreachable")


def _decode(response: httpx.Response, into: type[T]) -> T:
    try:
        return msgspec.json.decode(response.content, type=into)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("hytale answered an unexpected body", extra={"error": str(exc)[:200]})
        raise UpstreamError(response.status_code, "bad_response", "unexpected body") from None


def _error_body(response: httpx.Response, into: type[T]) -> T | None:
    try:
        return msgspec.json.decode(response.content, type=into)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
