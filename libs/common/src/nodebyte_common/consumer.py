"""Consume one queue of the topology with FastStream: decode, de-duplicate, apply, ack.

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
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.message import RabbitMessage
from opentelemetry import trace

from nodebyte_common import inbox
from nodebyte_common.backoff import exponential_delay
from nodebyte_common.cloudevents import EventMeta, MalformedEnvelope, parse_meta
from nodebyte_common.events import Event
from nodebyte_common.observability import (
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_RETRIED,
    extract_trace_context,
    tracer,
)
from nodebyte_common.topology import Subscription

log = logging.getLogger(__name__)

TxHandler = Callable[[asyncpg.Connection, Any, EventMeta], Awaitable[None]]
LongHandler = Callable[[Any, EventMeta], Awaitable[None]]


def new_broker(amqp_url: str, app_id: str = "nodebyte") -> RabbitBroker:
    """A FastStream broker set up for `EventConsumer`: no per-message DI, quiet logs."""
    return RabbitBroker(amqp_url, apply_types=False, log_level=logging.DEBUG, app_id=app_id)


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
        prefetch: int = 128,
        retry_base_delay: float = 0.2,
    ) -> None:
        self.subscription = subscription
        self.pool: asyncpg.Pool | None = None
        self.queue = subscription.queue(prefix)
        self.name = f"{subscription.service}.{subscription.purpose}"  # inbox consumer name
        self.prefetch = prefetch
        self.retry_base_delay = retry_base_delay
        self._routes: dict[str, _Route] = {}
        self._batches = _Batcher(self.apply_batch)
        self._acks = _AckCoalescer()

    def on(self, event_cls: type[Event]) -> Callable[[TxHandler], TxHandler]:
        """Register a handler run inside the inbox transaction: `(conn, event, meta)`."""
        return self._register(event_cls, transactional=True)

    def on_long(self, event_cls: type[Event]) -> Callable[[LongHandler], LongHandler]:
        """Register a handler that manages its own transactions: `(event, meta)`."""
        return self._register(event_cls, transactional=False)

    def _register(self, event_cls: type[Event], *, transactional: bool) -> Callable[[Any], Any]:
        if event_cls.TYPE not in self.subscription.event_types:
            raise ValueError(f"{self.queue} is not bound to {event_cls.TYPE}")

        def decorator(fn: Any) -> Any:
            self._routes[event_cls.TYPE] = _Route(event_cls, fn, transactional)
            return fn

        return decorator

    def attach(self, broker: RabbitBroker, pool: asyncpg.Pool) -> None:
        """Subscribe to the queue (declared by the topology, so not re-declared here)."""
        self.pool = pool
        subscriber = broker.subscriber(
            RabbitQueue(self.queue, declare=False),
            channel=Channel(prefetch_count=self.prefetch),
            ack_policy=AckPolicy.MANUAL,
            decoder=_whole_message,
        )
        subscriber(self._deliver)

    async def _deliver(self, message: RabbitMessage) -> None:
        body = message.body
        headers = message.raw_message.headers or {}
        attempt = int(headers.get("x-delivery-count", 0)) + 1
        try:
            meta = parse_meta(headers, attempt)
            route = self._routes[meta.type]
            event = msgspec.json.decode(body, type=route.event_cls)
        except (MalformedEnvelope, KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            event_type = headers.get("cloudEvents:type", "?")
            await self._dead_letter(message, event_type, "undecodable", exc)
            return
        delivery = _Delivery(message, route, event, meta)
        self._acks.delivered(message)
        if route.transactional:
            await self._batches.submit(delivery)
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
        assert self.pool is not None, "attach() the consumer first"
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
        self, message: RabbitMessage, event_type: str, reason: str, exc: BaseException
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
    """

    def __init__(self) -> None:
        self._in_flight: dict[int, Any] = {}
        self._settled: dict[int, Any] = {}

    @staticmethod
    def _tag(message: Any) -> int:
        return message.raw_message.delivery_tag or 0

    def delivered(self, message: Any) -> None:
        self._in_flight[self._tag(message)] = message

    async def ack(self, messages: list[Any]) -> None:
        """Settle `messages` (a batch settles together, so it costs one frame)."""
        for message in messages:
            tag = self._tag(message)
            self._settled[tag] = self._in_flight.pop(tag, message)
        floor = min(self._in_flight, default=None)
        ready = [t for t in self._settled if floor is None or t < floor]
        if not ready:
            return
        top = max(ready)
        last = self._settled[top]
        for t in ready:
            del self._settled[t]
        await last.raw_message.ack(multiple=True)

    async def nack(self, message: Any) -> None:
        self._in_flight.pop(self._tag(message), None)
        await message.nack(requeue=True)

    async def reject(self, message: Any) -> None:
        self._in_flight.pop(self._tag(message), None)
        await message.reject(requeue=False)


@dataclass(frozen=True)
class _Delivery:
    message: RabbitMessage
    route: _Route
    event: Event
    meta: EventMeta


def _span(d: _Delivery) -> Any:
    return tracer().start_as_current_span(
        f"consume {d.meta.type}",
        context=extract_trace_context(d.meta.headers),
        kind=trace.SpanKind.CONSUMER,
    )


class _Batcher:
    """Groups deliveries that arrive while earlier ones are being applied.

    At low load a delivery is applied at once, alone; under load the ones that
    queued up meanwhile go together, so the transaction and inbox round trips
    are paid once per batch instead of once per event.
    """

    def __init__(
        self,
        apply: Callable[[list[_Delivery]], Awaitable[None]],
        *,
        max_batch: int = 64,
        max_running: int = 1,
    ) -> None:
        self._apply = apply
        self._max_batch = max_batch
        self._max_running = max_running
        self._pending: list[tuple[_Delivery, asyncio.Future[None]]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, delivery: _Delivery) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery, done))
        if self._running < self._max_running:
            self._running += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await done  # FastStream counts the delivery in flight until it is settled

    async def _drain(self) -> None:
        try:
            while self._pending:
                taken = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await self._apply([d for d, _ in taken])
                finally:
                    for _, done in taken:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._running -= 1


async def _whole_message(message: Any) -> Any:
    """Hand the handler the message itself: the catalogue decodes the body into Structs.

    With the broker's `apply_types=False` this spares FastStream's JSON decoding
    and its dependency injection, which ran a thread-pool hop per message.
    """
    return message
