"""One trace from the gateway request to the Discord post of a full sync.

A stack of its own (gateway, sync, notifier and the panel, Discord and mail
emulators) exports its spans to an OTLP receiver in this process. The request
that starts the sync carries a traceparent of ours; every span of that trace
must hang together in one tree: the gateway's server span, each publish and
consume of the events, every panel request the sync makes, the queued webhook
delivery and the HTTP POST that reaches the Discord emulator.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodebyte_devstack.cleanup import discard_stack
from nodebyte_devstack.config import StackConfig
from nodebyte_devstack.otlp_receiver import OtlpReceiver, ReceivedSpan
from nodebyte_devstack.processes import Stack

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
EMULATORS = ("pterodactyl", "discord", "mail")
SERVICES = ("sync", "notifier", "gateway")


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    admin_dsn: str, amqp_url: str, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    config = StackConfig.isolated(admin_dsn, amqp_url)
    exporting = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    config.extra_env = {service: exporting for service in SERVICES}
    stack = Stack(config, Path(tmp_path_factory.mktemp("traced-stack")))
    try:
        stack.prepare_database()
        for name in EMULATORS:
            stack.start_emulator(name)
        stack.wait_healthy(EMULATORS)
        for service in SERVICES:
            stack.start_service(service)
        stack.wait_healthy(SERVICES)
        yield stack
    finally:
        stack.stop_all()
        asyncio.run(discard_stack(config))


def start_sync(gateway: str, api_key: str, traceparent: str) -> dict:
    """POST /api/v1/sync/full with our traceparent, through urllib: other tests may have
    instrumented httpx in this process, and its client spans would replace our header."""
    request = urllib.request.Request(  # noqa: S310 - the test stack's own gateway
        f"{gateway}/api/v1/sync/full",
        data=json.dumps({"requested_by": "trace-test"}).encode(),
        headers={
            "X-API-Key": api_key,
            "Content-Type": "application/json",
            "traceparent": traceparent,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310
        assert answer.status == 202
        return json.loads(answer.read())


def targets(span: ReceivedSpan, port: int) -> bool:
    return any(f"127.0.0.1:{port}/" in str(v) for v in span.attributes.values())


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        chain.append(span)
    return chain


async def test_a_full_sync_is_one_trace_from_the_request_to_the_discord_post(
    traced_stack: Stack, receiver: OtlpReceiver
) -> None:
    config = traced_stack.config
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    started = await asyncio.to_thread(
        start_sync, config.url("gateway"), config.api_key, f"00-{trace_id}-{caller_span}-01"
    )
    log_id = started["data"]["sync_log_id"]

    discord_post = lambda s: s.kind == CLIENT and targets(s, config.ports["discord"])  # noqa: E731
    deadline = time.monotonic() + 60
    while not any(discord_post(s) for s in receiver.trace(trace_id)):
        assert time.monotonic() < deadline, sorted({s.name for s in receiver.trace(trace_id)})
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)  # the spans that end after the post (settling, publishes)
    spans = receiver.trace(trace_id)
    by_id = {s.span_id: s for s in spans}

    # One tree: every span's parent was received, but the root's, which is our caller.
    (root,) = [s for s in spans if s.parent_id not in by_id]
    assert root.parent_id == caller_span
    assert (root.service, root.kind, root.name) == ("gateway", SERVER, "POST /api/v1/sync/full")

    names = {(s.service, s.name) for s in spans}
    assert ("gateway", "publish sync.requested") in names
    assert ("sync", "consume sync.requested") in names
    assert ("sync", "publish sync.completed") in names
    assert ("notifier", "consume sync.completed") in names
    assert ("notifier", "deliver webhook_deliveries") in names

    panel_requests = [
        s for s in spans if s.kind == CLIENT and targets(s, config.ports["pterodactyl"])
    ]
    assert len(panel_requests) >= 10
    assert all(s.service == "sync" for s in panel_requests)

    (post,) = [s for s in spans if discord_post(s)]
    chain = [(s.service, s.name) for s in ancestors(post, by_id)]
    assert chain[0] == ("notifier", "deliver webhook_deliveries")
    assert ("notifier", "consume sync.completed") in chain
    assert ("sync", "consume sync.requested") in chain
    assert chain[-1] == ("gateway", "POST /api/v1/sync/full")

    # A span's URL names where a request went, never a secret on the way: the
    # webhook's token (in its path) and the panel's query strings are left out.
    values = [str(v) for s in spans for v in s.attributes.values()]
    assert not any("local-token" in v for v in values)
    assert not any("?" in v for v in values if v.startswith("http"))
    assert log_id  # the sync the trace is of
