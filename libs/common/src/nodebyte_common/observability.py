"""JSON logs with trace and request ids, OpenTelemetry tracing, Prometheus metrics."""

from __future__ import annotations

import logging
import random
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import msgspec
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from prometheus_client import Counter, Gauge, Histogram

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# --- metrics (one set per process; the `service` label tells them apart) ---

HTTP_REQUESTS = Counter(
    "nodebyte_http_requests_total",
    "HTTP requests answered",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "nodebyte_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter(
    "nodebyte_events_published_total", "Events published with a broker confirm", ["service", "type"]
)
EVENTS_CONSUMED = Counter(
    "nodebyte_events_consumed_total",
    "Events handled by a consumer (outcome: processed or duplicate)",
    ["service", "queue", "type", "outcome"],
)
EVENTS_RETRIED = Counter(
    "nodebyte_events_retried_total", "Deliveries returned for a retry", ["service", "queue", "type"]
)
EVENTS_DEAD_LETTERED = Counter(
    "nodebyte_events_dead_lettered_total",
    "Deliveries rejected to the dead-letter queue",
    ["service", "queue", "type", "reason"],
)
OUTBOX_BACKLOG = Gauge("nodebyte_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "nodebyte_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
BROKER_CONNECTED = Gauge(
    "nodebyte_broker_connected",
    "1 while this connection to the broker is open (connection: relay or consumers)",
    ["service", "connection"],
)
OUTBOX_RELAY_ALIVE = Gauge(
    "nodebyte_outbox_relay_alive",
    "1 while the outbox relay's workers run on an open broker connection",
    ["service"],
)
DB_POOL_SIZE = Gauge("nodebyte_db_pool_connections", "Connections open in the pool", ["service"])
DB_POOL_IN_USE = Gauge("nodebyte_db_pool_in_use", "Pool connections checked out", ["service"])

# Why the consumer rejects a delivery to the dead-letter queue.
DEAD_LETTER_REASONS = ("undecodable", "permanent")


# A labelled counter has no series until its first increment, and Prometheus' increase()
# over a series born at 1 is 0: the first failure after a start would never alert. So the
# series the alerts read are created at 0 when a service starts.


def count_consumed_from_zero(service: str, queue: str, event_types: tuple[str, ...]) -> None:
    """The retry and dead-letter series of one consumer queue."""
    for event_type in event_types:
        EVENTS_RETRIED.labels(service, queue, event_type)
        for reason in DEAD_LETTER_REASONS:
            EVENTS_DEAD_LETTERED.labels(service, queue, event_type, reason)


def count_published_from_zero(service: str, event_types: tuple[str, ...]) -> None:
    """The published series of the event types an alert watches."""
    for event_type in event_types:
        EVENTS_PUBLISHED.labels(service, event_type)


# --- logging -----------------------------------------------------------------

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}
# A URL's query string (after a path), and any credential-named parameter anywhere: a
# key, token or ticket there (`?api_key=`, a WebSocket's `?ticket=`) never reaches a log.
_QUERY = re.compile(r"(/[^\s?\"'#]*)\?[^\s\"']+")
_CREDENTIAL = re.compile(
    r"(?i)\b(api_?key|access_token|refresh_token|token|ticket|password|secret|signature)"
    r"=[^&\s\"']+"
)
REDACTED = "[redacted]"


def scrub(text: str) -> str:
    """`text` without query strings or credential parameters."""
    if "=" not in text and "?" not in text:
        return text
    return _QUERY.sub(rf"\1?{REDACTED}", _CREDENTIAL.sub(rf"\1={REDACTED}", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with trace, span and request ids when present.

    Every string it writes is scrubbed of query strings (uvicorn names a WebSocket's
    whole URL when it accepts or refuses one).
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if (request_id := request_id_var.get()) is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return msgspec.json.encode(entry, enc_hook=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Access logs cost half the throughput; request metrics and spans carry it. (When
    # enabled they go through this formatter too, so their query strings are scrubbed.)
    for noisy in ("uvicorn.access", "aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- tracing -----------------------------------------------------------------


def configure_tracing(service: str, otlp_endpoint: str = "") -> None:
    """Spans are always made (ids in logs, context propagated); export is opt-in.

    Without an exporter nothing would read a recorded span, so spans are not
    sampled: they keep their ids and propagate, at a fraction of the cost.
    """
    global _exporting
    _exporting = bool(otlp_endpoint)
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(ALWAYS_ON) if otlp_endpoint else ALWAYS_OFF,
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _instrument_http_clients()


def _instrument_http_clients() -> None:
    """Every outgoing HTTP request (httpx: Hytale, Discord, Resend, internal calls;
    aiohttp: the panel) becomes a client span of the trace that made it, and carries
    its `traceparent`. The span's URL is `span_url`: no query, no secret in the path."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    def httpx_hook(span: trace.Span, request: Any) -> None:
        _record_url(span, str(request.url))

    async def httpx_async_hook(span: trace.Span, request: Any) -> None:
        _record_url(span, str(request.url))

    def aiohttp_hook(span: trace.Span, params: Any) -> None:
        _record_url(span, str(params.url))

    httpx_instrumentor = HTTPXClientInstrumentor()
    if not httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.instrument(request_hook=httpx_hook, async_request_hook=httpx_async_hook)
    aiohttp_instrumentor = AioHttpClientInstrumentor()
    if not aiohttp_instrumentor.is_instrumented_by_opentelemetry:
        aiohttp_instrumentor.instrument(request_hook=aiohttp_hook)


def _record_url(span: trace.Span, url: str) -> None:
    if span.is_recording():
        shown = span_url(url)
        span.set_attribute("http.url", shown)  # both conventions the instrumentors use
        span.set_attribute("url.full", shown)


# A path segment shown as it is: lowercase words and numbers (API paths, ids, UUIDs).
_PLAIN_SEGMENT = re.compile(r"[a-z0-9._-]{1,40}")


def span_url(url: str) -> str:
    """`url` fit for a span: no query string, no credentials, and any path segment that
    may be a secret (a webhook's token, anything mixed-case or long) replaced."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    shown = []
    for index, segment in enumerate(segments):
        token_of_webhook = index >= 2 and segments[index - 2] == "webhooks"
        plain = _PLAIN_SEGMENT.fullmatch(segment) is not None or segment == ""
        shown.append(segment if plain and not token_of_webhook else REDACTED)
    host = parts.hostname or ""
    origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    return origin + "/".join(shown)


_exporting = False  # whether spans are recorded and exported (configure_tracing)
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")


def spans_exported() -> bool:
    return _exporting


def tracer() -> trace.Tracer:
    return trace.get_tracer("nodebyte")


# Made once, at import (before any provider is configured), so a proxy that follows
# the provider: `get_tracer` per relayed message was a tenth of a relay's CPU.
_TRACER = tracer()


def inject_trace_headers(carrier: dict[str, str] | None = None) -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`)."""
    carrier = {} if carrier is None else carrier
    propagate.inject(carrier)
    return carrier


def extract_trace_context(headers: dict[str, Any]) -> Context:
    return propagate.extract({k: str(headers[k]) for k in TRACE_HEADERS if k in headers})


def server_span(name: str, carrier: dict[str, str]) -> trace.Span:
    """The SERVER span of a request whose W3C trace headers are `carrier` (possibly empty).

    Without an exporter the span is never sampled, so it is made here as the SDK's
    ALWAYS_OFF sampler would make it (the parent's trace id, flags and state, or a
    new random trace id; a new span id): the SDK's path to the same result (proxy,
    sampler, tracer metrics) costs every request several times as much."""
    context = extract_trace_context(carrier) if carrier else None
    if _exporting:
        return _TRACER.start_span(name, context=context, kind=trace.SpanKind.SERVER)
    parent = trace.get_current_span(context).get_span_context()
    if parent.is_valid:
        trace_id = parent.trace_id
        flags = trace.TraceFlags(parent.trace_flags & trace.TraceFlags.RANDOM_TRACE_ID)
        state = parent.trace_state
    else:
        trace_id = random.getrandbits(128) or 1  # 0 is the invalid trace id
        flags, state = _RANDOM_UNSAMPLED, None
    span_id = random.getrandbits(64) or 1
    return trace.NonRecordingSpan(
        trace.SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags, trace_state=state)
    )


_RANDOM_UNSAMPLED = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID)


def current_traceparent() -> str | None:
    """The current span's `traceparent`, to keep with work that runs later."""
    return inject_trace_headers().get("traceparent")


@contextmanager
def resumed_span(
    name: str, traceparent: str | None, attributes: Mapping[str, Any] | None = None
) -> Iterator[trace.Span]:
    """A span continuing the trace of `traceparent` (kept with queued work), or a new
    trace without one: a queued delivery stays in the trace of what queued it."""
    context = propagate.extract({"traceparent": traceparent}) if traceparent else None
    with _TRACER.start_as_current_span(
        name, context=context, kind=trace.SpanKind.INTERNAL, attributes=attributes
    ) as span:
        yield span


def producer_span(name: str, headers: Mapping[str, Any]) -> tuple[trace.Span, dict[str, Any]]:
    """A PRODUCER span child of the trace in `headers`, and the headers carrying it on.

    The caller ends the span once the broker confirmed (or refused) the message.
    """
    span = _TRACER.start_span(
        name, context=extract_trace_context(dict(headers)), kind=trace.SpanKind.PRODUCER
    )
    carried = {k: v for k, v in headers.items() if k not in TRACE_HEADERS}
    propagate.inject(carried, context=trace.set_span_in_context(span))
    return span, carried
