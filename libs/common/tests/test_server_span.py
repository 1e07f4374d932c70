"""The request's server span without an exporter is the one the SDK would make, and
headers a middleware adds reach the answer beside the request id."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from nodebyte_common.observability import inject_trace_headers, server_span
from nodebyte_common.webapp import observe_requests, with_headers

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SDK = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test")


def _sdk_span(carrier: dict[str, str]) -> trace.Span:
    return SDK.start_span("GET /x", context=extract(carrier), kind=trace.SpanKind.SERVER)


@pytest.mark.parametrize(
    "carrier",
    [{"traceparent": PARENT}, {"traceparent": PARENT, "tracestate": "vendor=1"}, {}],
    ids=["sampled-parent", "parent-with-state", "no-parent"],
)
def test_the_unsampled_span_is_the_sdks_but_for_its_fresh_ids(carrier: dict[str, str]) -> None:
    ours, theirs = server_span("GET /x", carrier), _sdk_span(carrier)
    mine, sdk = ours.get_span_context(), theirs.get_span_context()
    assert not ours.is_recording()
    assert mine.is_valid
    assert (mine.trace_flags, mine.trace_state, mine.is_remote) == (
        sdk.trace_flags,
        sdk.trace_state,
        sdk.is_remote,
    )
    if carrier:
        assert mine.trace_id == sdk.trace_id  # the caller's trace goes on
    else:
        assert mine.trace_id != server_span("GET /x", {}).get_span_context().trace_id
    assert mine.span_id not in (sdk.span_id, 0x00F067AA0BA902B7)


def _request(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/x", "headers": headers,
            "path_template": "/x"}  # fmt: skip


async def test_a_request_carries_its_callers_trace_on_and_the_headers_added_to_it() -> None:
    carried: dict[str, str] = {}
    sent: list[dict[str, Any]] = []

    async def route(scope: Any, receive: Any, send: Any) -> None:
        carried.update(inject_trace_headers())  # what an internal call would carry
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def adding(scope: Any, receive: Any, send: Any) -> None:
        await route(scope, receive, with_headers(send, [(b"x-ratelimit-limit", b"5")]))

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    app = observe_requests("test")(adding)
    await app(_request([(b"traceparent", PARENT.encode())]), receive, send)
    await adding(_request([]), receive, send)  # no request-id layer: added all the same
    trace_id = PARENT.split("-")[1]
    assert carried["traceparent"].split("-")[1] == trace_id
    assert carried["traceparent"].split("-")[2] != PARENT.split("-")[2]
    first, second = (dict(m["headers"]) for m in sent if m["type"] == "http.response.start")
    assert first[b"x-ratelimit-limit"] == b"5"
    assert b"x-request-id" in first
    assert second == {b"x-ratelimit-limit": b"5"}
