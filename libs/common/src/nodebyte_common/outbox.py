"""Transactional outbox: write events with the change, publish them after commit.

`enqueue` inserts the event in the caller's transaction and nudges the relays
of this process. `OutboxRelay` marks a batch of unsent rows sent with
`FOR UPDATE SKIP LOCKED` (so replicas share the work and never publish the
same row concurrently), publishes it with publisher confirms and mandatory
routing as one write (`batch_publish`), and commits once every confirm has
come. A crash or an unconfirmed publish rolls the marking back and the batch
goes out again: delivery is at-least-once, and consumers de-duplicate by
event id through the inbox. Sent rows are kept a day for inspection.

Waking: a nudge comes before the caller's commit, so after one the relay
looks again at short, growing intervals until the rows show up; without one
it polls every `idle_poll_seconds` (rows written by another process). There is
no LISTEN/NOTIFY: a NOTIFY takes a global lock at every commit that carries
one, which serialised the writers and halved their commit rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import aio_pika
import asyncpg
import msgspec
import uuid6
from aio_pika.abc import AbstractRobustConnection
from opentelemetry.trace import StatusCode
from pamqp import commands as spec

from nodebyte_common import events as catalogue
from nodebyte_common.batch_publish import Outgoing, publish_batch
from nodebyte_common.cloudevents import CONTENT_TYPE, event_headers
from nodebyte_common.observability import (
    EVENTS_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    inject_trace_headers,
    producer_span,
)
from nodebyte_common.topology import check_publishes, declare_topology

log = logging.getLogger(__name__)

PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker
SENT_RETENTION = "1 day"  # published rows kept this long for inspection, then purged
NUDGE_WINDOW_SECONDS = 2.0  # how long after a nudge its transaction may still commit
FIRST_RECHECK_SECONDS = 0.005  # doubled per empty look, up to MAX_RECHECK_SECONDS
MAX_RECHECK_SECONDS = 0.2

_relays: set[OutboxRelay] = set()  # the running relays of this process


def nudge_relays() -> None:
    """Tell this process's relays that rows are about to be committed."""
    for relay in _relays:
        relay.nudge()


INSERT_OUTBOX = (
    "INSERT INTO outbox (id, type, version, payload, headers) VALUES ($1, $2, $3, $4, $5)"
)


def _outbox_row(
    event: catalogue.Event, event_id: UUID, source: str, trace_headers: dict[str, str]
) -> tuple[UUID, str, int, bytes, dict[str, str]]:
    # Staged only what the topology says this service publishes: the producer table and
    # the code cannot drift apart (the first staging of an undeclared type fails).
    check_publishes(source, event.TYPE)
    headers = event_headers(event, event_id, source, trace_headers)
    return event_id, event.TYPE, event.VERSION, catalogue.encode(event), headers


async def enqueue(
    conn: asyncpg.Connection, event: catalogue.Event, *, source: str, event_id: UUID | None = None
) -> UUID:
    """Add `event` to the outbox within the caller's transaction; return its id.

    `source` is the service's CloudEvents source ("nodebyte/<service>"); raises
    `topology.UndeclaredPublication` when `topology.PUBLISHES` does not give it the type."""
    event_id = event_id or uuid6.uuid7()
    row = _outbox_row(event, event_id, source, inject_trace_headers())  # refused before a write
    await conn.execute(INSERT_OUTBOX, *row)
    nudge_relays()
    return event_id


async def enqueue_many(
    conn: asyncpg.Connection, events: Sequence[tuple[UUID, catalogue.Event]], *, source: str
) -> None:
    """Add many `(event_id, event)` within the caller's transaction, in one statement."""
    if not events:
        return
    trace_headers = inject_trace_headers()
    rows = [_outbox_row(event, eid, source, trace_headers) for eid, event in events]
    await conn.execute(
        """INSERT INTO outbox (id, type, version, payload, headers)
           SELECT id, type, version, payload, headers::jsonb
           FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bytea[], $5::text[])
                AS r(id, type, version, payload, headers)""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [msgspec.json.encode(r[4]).decode() for r in rows],
    )
    nudge_relays()


# The oldest unsent rows no other relay holds, marked sent; that commits after the confirms.
CLAIM_BATCH = """UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE seq IN (
        SELECT seq FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $1
        FOR UPDATE SKIP LOCKED)
    RETURNING seq, id, type, payload, headers"""


def _outgoing(row: asyncpg.Record, headers: dict[str, Any]) -> Outgoing:
    """A row as a persistent message; the CloudEvents attributes travel in its headers
    and the event id is also the AMQP message id (a Return is matched by it)."""
    properties = spec.Basic.Properties(
        content_type=CONTENT_TYPE,
        delivery_mode=PERSISTENT,
        message_id=str(row["id"]),
        headers=headers,
    )
    return Outgoing(row["type"], row["payload"], properties)


def _seq(row: asyncpg.Record) -> int:
    return row["seq"]  # type: ignore[no-any-return]


async def unsent_backlog(conn: asyncpg.Connection) -> tuple[int, float | None]:
    """(rows not yet published, age in seconds of the oldest of them or None)."""
    backlog, oldest = await conn.fetchrow(
        """SELECT count(*), extract(epoch FROM now() - min(created_at))::float8
           FROM outbox WHERE sent_at IS NULL"""
    )
    return int(backlog), oldest


class OutboxRelay:
    """Publishes a schema's outbox to the event exchange; run one per replica."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        schema: str,
        service: str,
        amqp_url: str,
        prefix: str,
        batch_size: int = 500,
        idle_poll_seconds: float = 0.5,
        workers: int = 3,
        gather_seconds: float = 0.005,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.service = service
        self.amqp_url = amqp_url
        self.prefix = prefix
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.workers = workers
        self.gather_seconds = gather_seconds
        self._wake = asyncio.Event()
        self._nudged_at = float("-inf")  # time.monotonic() of the last nudge
        self._connection: AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        """Connect and declare the topology; `flush_once` works from here on."""
        self._connection = await aio_pika.connect_robust(
            self.amqp_url, client_properties={"connection_name": f"{self.service} outbox relay"}
        )
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await declare_topology(channel, self.prefix)
        self._channel = channel

    async def start(self) -> None:
        """Connect (unless `connect` did), then publish in the background whenever rows are
        committed."""
        if self._connection is None:
            await self.connect()
        _relays.add(self)
        self._tasks = [
            asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}-{n}")
            for n in range(self.workers)
        ]

    async def stop(self) -> None:
        _relays.discard(self)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = self._exchange = None

    def connected(self) -> bool:
        connection = self._connection
        return connection is not None and connection.connected.is_set()

    def alive(self) -> bool:
        """Whether it can publish: its workers run and its connection is open."""
        running = bool(self._tasks) and not any(task.done() for task in self._tasks)
        return running and self.connected()

    def nudge(self) -> None:
        self._nudged_at = time.monotonic()
        self._wake.set()

    async def _run(self) -> None:
        """One of `workers` loops: while one waits for confirms, another claims rows."""
        empty_looks = 0
        while True:
            try:
                published = await self.flush_once()
            except Exception:
                log.exception("outbox relay: publish failed; retrying")
                published = 0
                await asyncio.sleep(1.0)
            if published >= self.batch_size:
                continue
            empty_looks = 0 if published else empty_looks + 1
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_look(empty_looks))
            # A few milliseconds let a burst of commits travel as one batch.
            await asyncio.sleep(self.gather_seconds)

    def _next_look(self, empty_looks: int) -> float:
        """Seconds to wait for a nudge before looking again anyway."""
        since_nudge = time.monotonic() - self._nudged_at
        if since_nudge > NUDGE_WINDOW_SECONDS:
            return self.idle_poll_seconds
        return min(FIRST_RECHECK_SECONDS * 2 ** min(empty_looks, 16), MAX_RECHECK_SECONDS)

    async def flush_once(self) -> int:
        """Publish one batch of unsent rows; return how many were published."""
        assert self._channel is not None, "connect() first"
        assert self._exchange is not None
        async with self.pool.acquire() as conn, conn.transaction():
            rows = sorted(await conn.fetch(CLAIM_BATCH, self.batch_size), key=_seq)
            if not rows:
                return 0
            # One write and one round of confirms per batch; any failure raises
            # here and the marking is rolled back.
            channel = await self._channel.get_underlay_channel()  # current, after reconnects
            # Each publish is a span of the trace that wrote the event; consumers
            # continue from it.
            spans = [producer_span(f"publish {row['type']}", row["headers"]) for row in rows]
            try:
                await publish_batch(
                    channel,
                    self._exchange.name,
                    [
                        _outgoing(row, headers)
                        for row, (_, headers) in zip(rows, spans, strict=True)
                    ],
                    mandatory=True,
                )
            except Exception as exc:
                for span, _ in spans:
                    span.record_exception(exc)
                    span.set_status(StatusCode.ERROR)
                raise
            finally:
                for span, _ in spans:
                    span.end()
        for row in rows:
            EVENTS_PUBLISHED.labels(self.service, row["type"]).inc()
        return len(rows)

    async def refresh_gauges(self) -> None:
        """Backlog and age of the oldest unsent row; also purges old sent rows."""
        async with self.pool.acquire() as conn:
            backlog, oldest = await unsent_backlog(conn)
            await conn.execute(
                f"DELETE FROM outbox WHERE sent_at < now() - interval '{SENT_RETENTION}'"
            )
        OUTBOX_BACKLOG.labels(self.service).set(backlog)
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(oldest or 0))
