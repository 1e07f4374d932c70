"""Ready means "can serve its callers": a broker outage leaves a replica in its Service,
and shows in the broker and relay gauges instead."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from nodebyte_devstack.config import free_port
from nodebyte_devstack.processes import Stack
from nodebyte_devstack.waiting import eventually


class BrokerLink:
    """A TCP proxy between one replica and RabbitMQ: cutting it is that replica's outage
    (RabbitMQ itself is shared by other stacks and stays up)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._open.discard(w)
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
async def cut_off_replica(stack: Stack) -> AsyncIterator[tuple[BrokerLink, str]]:
    """A sync replica whose broker connections go through a link the test can cut."""
    link = BrokerLink(stack.config.amqp_url)
    await link.up()
    amqp = stack.config.amqp_url.replace(f":{link.target[1]}/", f":{link.port}/")
    port = await asyncio.to_thread(stack.start_extra_replica, "sync", {"AMQP_URL": amqp})
    try:
        yield link, f"http://127.0.0.1:{port}"
    finally:
        stack.kill(f"sync-replica-{port}")
        with contextlib.suppress(Exception):
            await link.down()


async def gauge(client: httpx.AsyncClient, name: str, **labels: str) -> float | None:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return None


async def test_a_broker_outage_leaves_the_replica_ready_and_shows_in_its_gauges(
    cut_off_replica: tuple[BrokerLink, str],
) -> None:
    link, url = cut_off_replica
    async with httpx.AsyncClient(base_url=url, timeout=5) as replica:
        relay = {"service": "sync", "connection": "relay"}
        consumers = {"service": "sync", "connection": "consumers"}
        assert await gauge(replica, "nodebyte_broker_connected", **relay) == 1
        assert await gauge(replica, "nodebyte_broker_connected", **consumers) == 1
        assert await gauge(replica, "nodebyte_outbox_relay_alive", service="sync") == 1

        await link.down()

        async def disconnected() -> bool:
            return await gauge(replica, "nodebyte_broker_connected", **relay) == 0

        await eventually(disconnected, timeout=15, interval=0.2)
        assert await gauge(replica, "nodebyte_broker_connected", **consumers) == 0
        assert await gauge(replica, "nodebyte_outbox_relay_alive", service="sync") == 0
        assert await gauge(replica, "nodebyte_outbox_backlog", service="sync") is not None
        for _ in range(5):  # it stays in its Service through the outage
            ready = await replica.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert "broker" not in ready.json()["data"]["checks"]
            await asyncio.sleep(0.5)

        await link.up()

        async def reconnected() -> bool:  # each connection retries on its own schedule
            relay_alive = await gauge(replica, "nodebyte_outbox_relay_alive", service="sync")
            consuming = await gauge(replica, "nodebyte_broker_connected", **consumers)
            return relay_alive == consuming == 1

        await eventually(reconnected, timeout=30, interval=0.5)
