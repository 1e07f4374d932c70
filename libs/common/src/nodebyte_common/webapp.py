"""The Litestar app every service serves: health, metrics, envelope, ids, CORS."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, MediaType, Request, Response, Router, get
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import context, trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from nodebyte_common.deadlines import Deadlines
from nodebyte_common.decoding import json_body_problem, path_problem, query_problem
from nodebyte_common.envelope import STATUS_CODES, ApiError, error_body, error_response, ok
from nodebyte_common.observability import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    request_id_var,
    server_span,
)
from nodebyte_common.openapi_structs import ClosedStructSchemas
from nodebyte_common.settings import csv
from nodebyte_common.transient import RETRY_AFTER_SECONDS, UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]


def _validation_details(exc: ValidationException) -> list[dict[str, Any]] | None:
    extra = exc.extra if isinstance(exc.extra, list) else None
    if not extra:
        return None
    return [
        {"field": e.get("key"), "message": e.get("message")} for e in extra if isinstance(e, dict)
    ]


def _validation_message(exc: HTTPException, details: list[Any]) -> str:
    """A body refused as `decode_body` words it; a parameter with what was wrong where.
    Never Litestar's own words ("Validation failed for GET /path?query"): an internal
    service's refusal can reach a public caller, and its path is none of theirs."""
    found = "; ".join(_where(d["field"], d["message"]) for d in details)
    extra = exc.extra if isinstance(exc.extra, list) else []
    if any(isinstance(e, dict) and e.get("source") == "body" for e in extra):
        return f"Invalid request body: {found}"
    return f"Invalid request: {found}"


def _where(field: Any, message: Any) -> str:
    """A validation message with the field it is about (`$.name` for a body's field)."""
    if message == "'data'":  # Litestar's word for a body that is missing
        return "A JSON body is required"
    if field in (None, "data") or f"`{field}`" in str(message):
        return str(message)
    return f"{message} - at `$.{field}`"


def _on_api_error(_: Request, exc: ApiError) -> Response[Any]:
    return error_response(exc)


def _on_http_exception(_: Request, exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    details = _validation_details(exc) if isinstance(exc, ValidationException) else None
    message = exc.detail if status < 500 else "The server could not handle the request"
    if details:  # say what was wrong where, in the words `decode_body` uses
        message = _validation_message(exc, details)
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

    __slots__ = ("deadline", "extra_headers", "request_id", "send", "status")

    def __init__(self, send: Send, request_id: str) -> None:
        self.send = send
        self.request_id = request_id.encode()
        self.status = 0
        self.deadline: tuple[Deadlines, asyncio.Task[object]] | None = None
        self.extra_headers: tuple[tuple[bytes, bytes], ...] = ()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [
                *message.get("headers", ()),
                *self.extra_headers,
                (b"x-request-id", self.request_id),
            ]
            if self.deadline is not None:
                deadlines, task = self.deadline
                deadlines.answered(task)
        await self.send(message)


def with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    """`send`, adding `headers` to the answer's start. When `send` is the one this module
    answers every request through, it takes them itself: no layer more per request."""
    if isinstance(send, _Sent):
        send.extra_headers = (*send.extra_headers, *headers)
        return send

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]
        await send(message)

    return send_with_headers


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
            span = server_span(f"{scope['method']} {route}", carrier)
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
    if _streams_body(scope):  # as long as its body flows (its route has idle timeouts)
        await app(scope, receive, sent)
        return
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
    await _send_error(send, 504, "The request took too long", "TIMEOUT")


# Bodies of these types are not JSON and are left to their route.
_OPAQUE_BODIES = (b"multipart/", b"application/octet-stream")

# A route handler's `opt` key: the route reads its (large) body as a stream, so it is
# neither read whole here nor cut off by the request deadline; the route limits it.
STREAMED_BODY = "streamed_body"


def _streams_body(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    return bool(getattr(handler, "opt", None) and handler.opt.get(STREAMED_BODY))


def refuse_bad_input(max_body_bytes: int) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: a path, query string or JSON body that `decoding` refuses is a
    400 in the envelope before any route sees it (a body over `max_body_bytes`, 413).

    A body is read whole here and handed on as one message, so routes read it as usual.
    """

    def middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            problem = path_problem(scope["path"], scope.get("raw_path")) or query_problem(
                scope["query_string"]
            )
            if problem:
                await _send_error(send, 400, problem, "VALIDATION_ERROR")
                return
            if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and not _has_body(scope):
                await app(scope, receive, send)
                return
            if _streams_body(scope):
                await app(scope, receive, send)
                return
            body = await _read_body(receive, max_body_bytes)
            if body is None:
                await _send_error(send, 413, "The request body is too large", "PAYLOAD_TOO_LARGE")
                return
            if not _is_opaque(scope) and (problem := json_body_problem(body, _body_type(scope))):
                if json_body_problem(body) is None:  # JSON, but not what the route declares:
                    raise ValidationException(detail=problem)  # the route words its refusal
                await _send_error(send, 400, problem, "VALIDATION_ERROR")
                return
            await app(scope, _replay(body, receive), send)

        return wrapped

    return middleware


def _body_type(scope: Scope) -> Any:
    """The JSON body type the route declares (its `data`), so that the body is checked
    strictly here: Litestar converts bodies leniently (`"1"` would pass for 1)."""
    handler = scope.get("route_handler")
    field = getattr(getattr(handler, "parsed_fn_signature", None), "parameters", {}).get("data")
    kwarg = getattr(field, "kwarg_definition", None)
    if (
        field is None
        or getattr(kwarg, "media_type", RequestEncodingType.JSON) != "application/json"
    ):
        return Any
    return field.annotation


def _has_body(scope: Scope) -> bool:
    return any(
        key in (b"content-length", b"transfer-encoding") and value != b"0"
        for key, value in scope["headers"]
    )


def _is_opaque(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-type":
            return value.lower().startswith(_OPAQUE_BODIES)
    return False


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it is longer than `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left: the route sees an empty body and the app the disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _send_error(send: Send, status: int, message: str, code: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send(
        {"type": "http.response.body", "body": msgspec.json.encode(error_body(message, code))}
    )


class HealthStatus(msgspec.Struct, frozen=True):
    """`GET /health` as the NodeByte READMEs document it (not in the envelope)."""

    status: str
    timestamp: datetime


def health_routes(checks: dict[str, ReadinessCheck]) -> list[Any]:
    unlimited = {"rate_limit": "none"}

    @get("/health", sync_to_thread=False, tags=["health"], summary="Is it up?", opt=unlimited)
    def health() -> HealthStatus:
        return HealthStatus("ok", datetime.now(UTC).replace(microsecond=0))

    @get("/health/live", sync_to_thread=False, include_in_schema=False, opt=unlimited)
    def live() -> Response[Any]:
        return ok({"status": "ok"})

    @get("/health/ready", include_in_schema=False, opt=unlimited)
    async def ready() -> Response[Any]:
        results = {name: await check() for name, check in checks.items()}
        if all(results.values()):
            return ok({"status": "ready", "checks": results})
        raise ApiError(503, "Not ready", "NOT_READY", details=results)

    # In a thread: with thousands of labelled series (the node-agent-gateway's per-node
    # gauges) rendering takes a second of pure Python, which on the event loop stalls
    # every socket for as long; in a thread the loop gets the GIL back every few ms.
    @get(
        "/metrics",
        sync_to_thread=True,
        include_in_schema=False,
        media_type=MediaType.TEXT,
        opt=unlimited,
    )
    def metrics() -> Response[bytes]:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [health, live, ready, metrics]


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
    app = Litestar(
        route_handlers=[*health_routes(readiness), *route_handlers],
        lifespan=list(lifespan),
        exception_handlers=EXCEPTION_HANDLERS,
        # Bad input is refused last, inside the services' own middleware (the gateway's
        # admission): a stranger's body is not read before their credentials are.
        middleware=[
            observe_requests(service, request_timeout_seconds),
            *middleware,
            refuse_bad_input(max_body_bytes),
        ],
        cors_config=CORSConfig(allow_origins=origins, allow_credentials=True) if origins else None,
        request_max_body_size=max_body_bytes,
        openapi_config=openapi_config,
        plugins=[ClosedStructSchemas()],
        debug=debug,
    )
    allow_every_method(app)
    return app


def allow_every_method(app: Litestar) -> None:
    """Make each path's automatic OPTIONS answer list all the path's methods.

    Litestar 2 registers the handlers one by one and builds a path's OPTIONS handler
    with its first route; when a later handler joins the path, the old OPTIONS handler
    is kept and still reads the first route's methods, so `Allow` lists only those
    (litestar-org/litestar#4169, fixed in 3.x). Rebuilt here from the merged route.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        automatic, _ = route.route_handler_map.get("OPTIONS", (None, None))
        if automatic is None or automatic.fn.__name__ != "options_handler":
            continue  # a route's own OPTIONS handler answers for itself
        fresh = route.create_options_handler(route.path)
        fresh.owner = automatic.owner
        fresh.on_registration(app)
        route.route_handlers = [h for h in route.route_handlers if h is not automatic] + [fresh]
        route.route_handler_map["OPTIONS"] = (
            fresh,
            fresh.create_kwargs_model(path_parameters=route.path_parameters),
        )
