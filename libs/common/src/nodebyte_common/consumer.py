"""Consume one queue of the topology: decode, de-duplicate, apply, ack.

- A delivery that cannot be decoded (no CloudEvents id/type, a type the queue
  does not handle, a body that does not match the catalogue) is rejected to the
  dead-letter queue at once: retrying cannot fix it.
- A handler raising `PermanentFailure` is dead-lettered too.
- Any other exception is transient: the delivery waits a growing delay, is
  returned to the queue and tried again; the quorum queue's delivery limit
  dead-letters it when the retries are spent.
- `on(...)` handlers run in one transaction with the inbox claim, so the effect
  and the record that it happened commit together; a redelivered event is
  acknowledged without running the handler again. `on_long(...)` handlers
  manage their own transactions and call `inbox.claim` in their last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import msgspec
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError
from opentelemetry import trace

from nodebyte_common import inbox
from nodebyte_common.backoff import exponential_delay
from nodebyte_common.cloudevents import EventMeta, MalformedEnvelope, parse_meta
from nodebyte_common.events import Event
from nodebyte_common.observability import (
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_RETRIED,
    count_consumed_from_zero,
    extract_trace_context,
    spans_exported,
    tracer,
)
from nodebyte_common.settings import DEFAULT_CONSUMER_PREFETCH
from nodebyte_common.topology import Subscription

log = logging.getLogger(__name__)

TxHandler = Callable[[asyncpg.Connection, Any, EventMeta], Awaitable[None]]
LongHandler = Callable[[Any, EventMeta], Awaitable[None]]
H = TypeVar("H", TxHandler, LongHandler)


class PermanentFailure(Exception):
    """The event can never be processed; dead-letter it instead of retrying."""


@dataclass(frozen=True)
class _Route:
    event_cls: type[Event]
    handler: TxHandler | LongHandler
    transactional: bool


class EventConsumer:
    """The handlers of one subscription (one queue) of a service."""

    def __init__(
        self,
        subscription: Subscription,
        *,
        prefix: str,
        prefetch: int = DEFAULT_CONSUMER_PREFETCH,
        retry_base_delay: float = 0.2,
    ) -> None:
        self.subscription = subscription
        self.pool: asyncpg.Pool | None = None
        self.queue = subscription.queue(prefix)
        self.name = f"{subscription.service}.{subscription.purpose}"  # inbox consumer name
        self.prefetch = prefetch
        self.retry_base_delay = retry_base_delay
        self._routes: dict[str, _Route] = {}
        # Half the prefetch per batch: the other half arrives while one is applied.
        self._batches = _Batcher(self.apply_batch, max_batch=max(1, prefetch // 2))
        self._acks = _AckCoalescer()
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        count_consumed_from_zero(subscription.service, self.queue, subscription.event_types)

    def on(self, event_cls: type[Event]) -> Callable[[TxHandler], TxHandler]:
        """Register a handler run inside the inbox transaction: `(conn, event, meta)`."""
        return self._register(event_cls, transactional=True)

    def on_long(self, event_cls: type[Event]) -> Callable[[LongHandler], LongHandler]:
        """Register a handler that manages its own transactions: `(event, meta)`."""
        return self._register(event_cls, transactional=False)

    def _register(self, event_cls: type[Event], *, transactional: bool) -> Callable[[H], H]:
        if event_cls.TYPE not in self.subscription.event_types:
            raise ValueError(f"{self.queue} is not bound to {event_cls.TYPE}")

        def decorator(fn: H) -> H:
            self._routes[event_cls.TYPE] = _Route(event_cls, fn, transactional)
            return fn

        return decorator

    async def consume(self, connection: AbstractRobustConnection, pool: asyncpg.Pool) -> None:
        """Consume the queue (declared by the topology) on a channel of its own."""
        self.pool = pool
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        queue = await channel.get_queue(self.queue)  # passive: robust, so restored on reconnect
        self._consumer_tag = await queue.consume(self._deliver)
        self._queue = queue

    async def drain(self, deadline: float) -> None:
        """Take no new deliveries, then wait (until the loop time `deadline`) for those
        being handled to settle, so a stopping service finishes what it started
        instead of leaving half-done work to a redelivery."""
        queue, tag = self._queue, self._consumer_tag
        self._queue = self._consumer_tag = None
        if queue is not None and tag is not None:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        loop = asyncio.get_running_loop()
        # Polled: settlements happen in several places, and a stop is rare.
        while self._acks.unsettled() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def _deliver(self, message: AbstractIncomingMessage) -> None:
        body = message.body
        headers = message.headers or {}
        try:
            attempt = int(headers.get("x-delivery-count", 0)) + 1  # type: ignore[call-overload]
            meta = parse_meta(headers, attempt)
            route = self._routes[meta.type]
            event = msgspec.json.decode(body, type=route.event_cls)
        except (
            MalformedEnvelope,
            KeyError,
            TypeError,
            ValueError,
            msgspec.DecodeError,
            msgspec.ValidationError,
        ) as exc:
            event_type = headers.get("cloudEvents:type", "?")
            await self._dead_letter(message, event_type, "undecodable", exc)
            return
        delivery = _Delivery(message, route, event, meta)
        self._acks.delivered(message)
        if route.transactional:
            self._batches.submit(delivery)  # settled when its batch is applied
        else:
            await self._run_alone(delivery)

    async def _run_alone(self, d: _Delivery) -> None:
        """A long handler: it manages its own transactions and inbox record."""
        try:
            with _span(d):
                await d.route.handler(d.event, d.meta)  # type: ignore[call-arg]
        except Exception as exc:
            await self._failed(d, exc)
            return
        await self._settled(d, "processed")

    async def apply_batch(self, batch: list[_Delivery]) -> None:
        """Apply deliveries in one transaction with one inbox claim for them all.

        A failure rolls the batch back and each delivery is applied alone, so
        one bad event costs its neighbours a retry, never their effect.
        """
        assert self.pool is not None, "consume() first"
        outcomes: list[str] = []
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                fresh = set(await inbox.claim_many(conn, self.name, [d.meta.id for d in batch]))
                for d in batch:
                    if d.meta.id not in fresh:
                        outcomes.append("duplicate")
                        continue
                    fresh.discard(d.meta.id)  # the same id twice in a batch runs once
                    with _span(d):
                        await d.route.handler(conn, d.event, d.meta)  # type: ignore[call-arg]
                    outcomes.append("processed")
        except Exception as exc:
            if len(batch) == 1:
                await self._failed(batch[0], exc)
            else:
                for d in batch:
                    await self.apply_batch([d])
            return
        await self._acks.ack([d.message for d in batch])
        for d, outcome in zip(batch, outcomes, strict=True):
            self._count(d, outcome)

    async def _settled(self, d: _Delivery, outcome: str) -> None:
        await self._acks.ack([d.message])
        self._count(d, outcome)

    def _count(self, d: _Delivery, outcome: str) -> None:
        EVENTS_CONSUMED.labels(self.subscription.service, self.queue, d.meta.type, outcome).inc()

    async def _failed(self, d: _Delivery, exc: Exception) -> None:
        if isinstance(exc, PermanentFailure):
            await self._dead_letter(d.message, d.meta.type, "permanent", exc)
            return
        log.warning(
            "event handler failed; will retry",
            exc_info=exc,
            extra={
                "event_id": str(d.meta.id),
                "event_type": d.meta.type,
                "attempt": d.meta.attempt,
            },
        )
        EVENTS_RETRIED.labels(self.subscription.service, self.queue, d.meta.type).inc()
        await asyncio.sleep(exponential_delay(d.meta.attempt, base=self.retry_base_delay))
        await self._acks.nack(d.message)

    async def _dead_letter(
        self, message: AbstractIncomingMessage, event_type: str, reason: str, exc: BaseException
    ) -> None:
        log.warning(
            "event dead-lettered",
            extra={
                "queue": self.queue,
                "event_type": event_type,
                "reason": reason,
                "detail": str(exc)[:500],
            },
        )
        EVENTS_DEAD_LETTERED.labels(self.subscription.service, self.queue, event_type, reason).inc()
        await self._acks.reject(message)


class _AckCoalescer:
    """Acknowledge settled deliveries together: one `multiple` ack per run of tags.

    An ack with `multiple=True` covers every earlier tag of the channel, so it is
    sent only up to the first delivery still being processed; rejects and nacks
    go out one by one at once. Fewer frames, and fewer socket writes, per event.

    Tags belong to one channel. When the robust connection reopens it, what was
    unsettled on the old one is forgotten: the broker redelivers it, and the
    inbox makes sure it is applied once.
    """

    def __init__(self) -> None:
        self._channel: object | None = None
        self._in_flight: dict[int, AbstractIncomingMessage] = {}
        self._settled: dict[int, AbstractIncomingMessage] = {}

    def delivered(self, message: AbstractIncomingMessage) -> None:
        channel = _open_channel(message)
        if channel is None:
            return
        if channel is not self._channel:
            self._channel = channel
            self._in_flight.clear()
            self._settled.clear()
        self._in_flight[_tag(message)] = message

    def unsettled(self) -> int:
        return len(self._in_flight)

    def _forget(self, message: AbstractIncomingMessage) -> bool:
        """Stop tracking `message`; False when it is not a delivery of the current channel."""
        tag = _tag(message)
        if self._in_flight.get(tag) is not message:
            return False
        del self._in_flight[tag]
        return True

    async def ack(self, messages: list[AbstractIncomingMessage]) -> None:
        """Settle `messages` (a batch settles together, so it costs one frame)."""
        for message in messages:
            if self._forget(message):
                self._settled[_tag(message)] = message
        floor = min(self._in_flight, default=None)
        ready = [t for t in self._settled if floor is None or t < floor]
        if not ready:
            return
        last = self._settled[max(ready)]
        for t in ready:
            del self._settled[t]
        await _send(last.ack(multiple=True))

    async def nack(self, message: AbstractIncomingMessage) -> None:
        if self._forget(message):
            await _send(message.nack(requeue=True))

    async def reject(self, message: AbstractIncomingMessage) -> None:
        self._forget(message)
        await _send(message.reject(requeue=False))


def _tag(message: AbstractIncomingMessage) -> int:
    return message.delivery_tag or 0


def _open_channel(message: AbstractIncomingMessage) -> object | None:
    try:
        return message.channel
    except ChannelInvalidStateError:
        return None


async def _send(settlement: Awaitable[None]) -> None:
    """Send an ack/nack/reject; on a channel that closed meanwhile the broker redelivers."""
    try:
        await settlement
    except AMQPError as exc:
        log.info("settlement not sent; the broker will redeliver", extra={"error": str(exc)})


@dataclass(frozen=True)
class _Delivery:
    message: AbstractIncomingMessage
    route: _Route
    event: Event
    meta: EventMeta


TRACER = tracer()  # a proxy: follows the provider configured at start


def _span(d: _Delivery) -> contextlib.AbstractContextManager[object]:
    """The handler's span, continuing the publisher's trace.

    Without a trace to continue and with nothing exporting spans, a span would
    only cost time: nothing reads it and no event it causes could carry it on.
    """
    if "traceparent" not in d.meta.headers and not spans_exported():
        return contextlib.nullcontext()
    return TRACER.start_as_current_span(
        f"consume {d.meta.type}",
        context=extract_trace_context(d.meta.headers),
        kind=trace.SpanKind.CONSUMER,
    )


class _Batcher:
    """Groups deliveries that arrive while earlier ones are being applied.

    At low load a delivery is applied at once, alone; under load the ones that
    queued up meanwhile go together, so the transaction and inbox round trips
    are paid once per batch instead of once per event. One batch at a time:
    the broker's prefetch bounds how many wait.
    """

    def __init__(
        self, apply: Callable[[list[_Delivery]], Awaitable[None]], *, max_batch: int
    ) -> None:
        self._apply = apply
        self._max_batch = max_batch
        self._pending: list[_Delivery] = []
        self._draining: asyncio.Task[None] | None = None

    def submit(self, delivery: _Delivery) -> None:
        self._pending.append(delivery)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                taken = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._apply(taken)
        finally:
            self._draining = None
