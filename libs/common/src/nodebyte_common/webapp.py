"""The Litestar app every service serves: health, metrics, envelope, ids, CORS."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from litestar import Litestar, MediaType, Request, Response, Router, get
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import context, trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from nodebyte_common.deadlines import Deadlines
from nodebyte_common.envelope import STATUS_CODES, ApiError, error_body, error_response, ok
from nodebyte_common.observability import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    extract_trace_context,
    request_id_var,
    tracer,
)
from nodebyte_common.settings import csv
from nodebyte_common.transient import RETRY_AFTER_SECONDS, UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)
TRACER = tracer()  # a proxy: follows the provider configured at start

ReadinessCheck = Callable[[], Awaitable[bool]]


def _validation_details(exc: ValidationException) -> Any:
    extra = exc.extra if isinstance(exc.extra, list) else None
    if not extra:
        return None
    return [
        {"field": e.get("key"), "message": e.get("message")} for e in extra if isinstance(e, dict)
    ]


def _on_api_error(_: Request, exc: ApiError) -> Response[Any]:
    return error_response(exc)


def _on_http_exception(_: Request, exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    details = _validation_details(exc) if isinstance(exc, ValidationException) else None
    message = exc.detail if status < 500 else "The server could not handle the request"
    headers = dict(exc.headers or {})
    return Response(
        error_body(message, STATUS_CODES.get(status, "ERROR"), details),
        status_code=status,
        headers=headers,
    )


def _on_unexpected(request: Request, exc: Exception) -> Response[Any]:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return Response(error_body("Internal server error", "INTERNAL_ERROR"), status_code=500)


def _on_unavailable(request: Request, exc: Exception) -> Response[Any]:
    """The database or broker is briefly out of reach: the caller may retry."""
    log.warning(
        "dependency unavailable", extra={"path": request.url.path, "error": type(exc).__name__}
    )
    return Response(
        error_body("The service is briefly unavailable; retry shortly", "SERVICE_UNAVAILABLE"),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: _on_api_error,
    HTTPException: _on_http_exception,
    **dict.fromkeys(UNAVAILABLE_ERRORS, _on_unavailable),
    Exception: _on_unexpected,
}


class _RouteMetrics:
    """Prometheus children per (route, method[, status]), looked up once each."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[tuple[str, str], Any] = {}

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        counter = self._counters.get((route, method, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(self.service, route, method, str(status))
            self._counters[(route, method, status)] = counter
        latency = self._latencies.get((route, method))
        if latency is None:
            latency = HTTP_LATENCY.labels(self.service, route, method)
            self._latencies[(route, method)] = latency
        counter.inc()
        latency.observe(seconds)


# Request ids: a random tag per process and a counter (unique, and far cheaper than
# a uuid4 per request, which reads the kernel's random source every time).
_PROCESS_TAG = secrets.token_hex(10)
_REQUEST_NUMBERS = itertools.count()


def _new_request_id() -> str:
    return f"{_PROCESS_TAG}{next(_REQUEST_NUMBERS):012x}"


def _trace_headers(scope: Scope) -> tuple[str | None, dict[str, str]]:
    """The request id and W3C trace headers of a request (the rest is not read here)."""
    request_id = None
    carrier: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            request_id = value.decode("latin-1")
        elif key in (b"traceparent", b"tracestate"):
            carrier[key.decode()] = value.decode("latin-1")
    return request_id, carrier


class _Sent:
    """The `send` a request is answered through: adds the request id, notes the status,
    and lifts the request's deadline once the answer has begun."""

    __slots__ = ("deadline", "request_id", "send", "status")

    def __init__(self, send: Send, request_id: str) -> None:
        self.send = send
        self.request_id = request_id.encode()
        self.status = 0
        self.deadline: tuple[Deadlines, asyncio.Task[object]] | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), (b"x-request-id", self.request_id)]
            if self.deadline is not None:
                deadlines, task = self.deadline
                deadlines.answered(task)
        await self.send(message)


def observe_requests(
    service: str, timeout_seconds: float | None = None
) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: request id, server span, metrics by route template, and a
    504 envelope for a request still unanswered after `timeout_seconds`.

    One layer for all of it: it runs on every request, so it wraps `send` once.
    """
    metrics = _RouteMetrics(service)
    deadlines = Deadlines(timeout_seconds)

    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            request_id, carrier = _trace_headers(scope)
            request_id = (request_id or _new_request_id())[:128]
            token = request_id_var.set(request_id)
            route = scope.get("path_template") or "unmatched"
            sent = _Sent(send, request_id)
            started = time.perf_counter()
            span = TRACER.start_span(
                f"{scope['method']} {route}",
                context=extract_trace_context(carrier) if carrier else None,
                kind=trace.SpanKind.SERVER,
            )
            # Made current by hand: `start_as_current_span` wraps this in two
            # generator-based context managers, which double what a span costs.
            span_token = context.attach(trace.set_span_in_context(span))
            try:
                await _within_deadline(app, scope, receive, sent, deadlines)
            except BaseException as exc:
                _span_failed(span, exc)
                raise
            finally:
                status = sent.status or 500
                span.set_attribute("http.response.status_code", status)
                span.end()
                context.detach(span_token)
                metrics.record(route, scope["method"], status, time.perf_counter() - started)
                request_id_var.reset(token)

        return wrapped

    return middleware


async def _within_deadline(
    app: ASGIApp, scope: Scope, receive: Receive, sent: _Sent, deadlines: Deadlines
) -> None:
    """Run the app; a 504 envelope if its deadline passes before it starts answering."""
    task = deadlines.start()
    sent.deadline = (deadlines, task)
    try:
        await app(scope, receive, sent)
    except asyncio.CancelledError:
        if not deadlines.expired(task):
            raise
        if sent.status:  # too late for a 504: the response has begun
            raise TimeoutError from None
        await _send_timeout(sent)
    finally:
        deadlines.finish(task)


def _span_failed(span: trace.Span, exc: BaseException) -> None:
    """What `start_as_current_span` records of an exception escaping its block."""
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


async def _send_timeout(send: Send) -> None:
    body = error_body("The request took too long", "TIMEOUT")
    await send(
        {
            "type": "http.response.start",
            "status": 504,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": msgspec.json.encode(body)})


def health_routes(checks: dict[str, ReadinessCheck]) -> list[Any]:
    unlimited = {"rate_limit": "none"}

    @get("/health/live", sync_to_thread=False, include_in_schema=False, opt=unlimited)
    def live() -> Response[Any]:
        return ok({"status": "ok"})

    @get("/health/ready", include_in_schema=False, opt=unlimited)
    async def ready() -> Response[Any]:
        results = {name: await check() for name, check in checks.items()}
        if all(results.values()):
            return ok({"status": "ready", "checks": results})
        raise ApiError(503, "Not ready", "NOT_READY", details=results)

    @get(
        "/metrics",
        sync_to_thread=False,
        include_in_schema=False,
        media_type=MediaType.TEXT,
        opt=unlimited,
    )
    def metrics() -> Response[bytes]:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [live, ready, metrics]


def service_token_guard(expected: str) -> Callable[[ASGIConnection, BaseRouteHandler], None]:
    """Guard for `/internal`: the caller must present the shared service token."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        presented = connection.headers.get("x-service-token", "")
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise NotAuthorizedException("A valid service token is required")

    return guard


def internal_router(service_token: str, handlers: Sequence[Any]) -> Router:
    return Router(
        path="/internal/v1",
        route_handlers=list(handlers),
        guards=[service_token_guard(service_token)],
        include_in_schema=False,
    )


def create_app(
    *,
    service: str,
    route_handlers: Sequence[Any],
    readiness: dict[str, ReadinessCheck],
    lifespan: Sequence[Any] = (),
    cors_origins: str = "",
    max_body_bytes: int = 1_048_576,
    openapi_config: Any = None,
    middleware: Sequence[Any] = (),
    request_timeout_seconds: float | None = None,
    debug: bool = False,
) -> Litestar:
    origins = csv(cors_origins)
    return Litestar(
        route_handlers=[*health_routes(readiness), *route_handlers],
        lifespan=list(lifespan),
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[observe_requests(service, request_timeout_seconds), *middleware],
        cors_config=CORSConfig(allow_origins=origins, allow_credentials=True) if origins else None,
        request_max_body_size=max_body_bytes,
        openapi_config=openapi_config,
        debug=debug,
    )
