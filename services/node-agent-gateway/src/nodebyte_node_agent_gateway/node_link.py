"""This replica's line to the broker for everything addressed to one node or one server.

Each replica declares one exclusive, auto-delete queue and binds it, while it
holds a node's agent, to `node.<node_id>` on the `<prefix>.agents.nodes`
exchange, and, while a user follows a server here, to `server.<server_id>` on
`<prefix>.agents.live`. So:

- a command published to `node.<id>` with `mandatory` reaches exactly the
  replica holding that node's socket, wherever it is; when no replica holds it
  the broker returns it and the sender knows at once that the node is offline;
- when a replica dies its queue and all its bindings die with its connection;
- console lines, state changes and stats go to whichever replicas have
  subscribers for that server, and nowhere (dropped by the broker) otherwise.
  They leave in batches, one socket write each: whatever was handed over
  until the writer's next turn of the event loop (aio-pika's publish costs
  ~0.2 ms of CPU per message; thousands of agents' stats are mostly dropped).

These exchanges are not the event exchange: that one has an alternate exchange
(`unrouted`), which would swallow unroutable commands instead of returning
them, and would keep stale commands for offline nodes. Nothing here is
durable: a command that cannot be delivered now fails; it is never delivered
late (each carries an expiration).

Binding and unbinding are synchronous AMQP methods: one channel carries one at
a time. A fleet connecting (or reconnecting after a restart) means one binding
per node, so they are spread over `BINDING_CHANNELS` channels by routing key
(a key's bind and unbind stay on one channel, in order): thousands of nodes
would otherwise queue behind one channel's lock, one broker round trip each.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from uuid import UUID

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
    DeliveryMode,
    ExchangeType,
)
from aiormq.exceptions import DeliveryError
from pamqp import commands as spec

from nodebyte_common.batch_publish import Outgoing, fire_batch

log = logging.getLogger(__name__)

NodeMessageHandler = Callable[[UUID, str, bytes], Awaitable[None]]
LiveMessageHandler = Callable[[UUID, str, bytes], None]
# (subject of the routing key, type, body, reply_to): file transfers (see file_streams)
FileMessageHandler = Callable[[str, str, bytes, str | None], None]
FILE_KIND_PREFIX = "file_"

NODES = "nodes"
LIVE = "live"
BINDING_CHANNELS = 8


def node_key(node_id: UUID) -> str:
    return f"node.{node_id}"


def server_key(server_id: UUID) -> str:
    return f"server.{server_id}"


def replica_key(replica_id: str) -> str:
    """The key of one replica's own queue (bound at start), for answers addressed to it."""
    return f"replica.{replica_id}"


class NodeLink:
    def __init__(self, amqp_url: str, prefix: str, replica_id: str) -> None:
        self.amqp_url = amqp_url
        self.replica_id = replica_id
        self.exchange_names = {NODES: f"{prefix}.agents.nodes", LIVE: f"{prefix}.agents.live"}
        self.queue_name = f"{prefix}.node-agent-gateway.replica.{replica_id}"
        self.ready = asyncio.Event()
        self.on_node_message: NodeMessageHandler | None = None
        self.on_live_message: LiveMessageHandler | None = None
        self.on_file_message: FileMessageHandler | None = None
        self._queue: AbstractQueue | None = None
        self._binders: list[AbstractQueue] = []  # the queue, on each binding channel
        self._bind_exchanges: dict[str, AbstractExchange] = {}
        self._confirmed: AbstractExchange | None = None  # nodes exchange, publisher confirms
        self._live: AbstractExchange | None = None  # live exchange, fire and forget
        self._firing: AbstractChannel | None = None  # the channel of those without confirms
        self._streaming: AbstractExchange | None = None  # nodes exchange, fire and forget
        self._live_pending: list[Outgoing] = []  # in order, for the live writer
        self._live_writer: asyncio.Task[None] | None = None
        self._refs: dict[tuple[str, str], int] = defaultdict(int)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def run(self) -> None:
        """Connect, declare, consume; hold on until cancelled (a runtime loop)."""
        connection = await aio_pika.connect_robust(self.amqp_url)
        try:
            await self._open(connection)
            self.ready.set()
            log.info("node link ready", extra={"queue": self.queue_name})
            await asyncio.Future()
        finally:
            self.ready.clear()
            self._queue = self._confirmed = self._live = self._streaming = None
            self._firing = None
            self._binders = []
            await connection.close()

    async def _open(self, connection: AbstractRobustConnection) -> None:
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=512)
        confirming = await connection.channel(publisher_confirms=True, on_return_raises=True)
        firing = self._firing = await connection.channel(publisher_confirms=False)
        for kind, name in self.exchange_names.items():
            # Auto-delete: gone once the last replica (and its own binding) is gone.
            self._bind_exchanges[kind] = await consuming.declare_exchange(
                name, ExchangeType.DIRECT, durable=False, auto_delete=True
            )
        queue = await consuming.declare_queue(self.queue_name, exclusive=True, auto_delete=True)
        for exchange in self._bind_exchanges.values():
            await queue.bind(exchange, routing_key=f"replica.{self.replica_id}")
        self._confirmed = await confirming.declare_exchange(
            self.exchange_names[NODES], ExchangeType.DIRECT, durable=False, auto_delete=True
        )
        self._live = await firing.declare_exchange(
            self.exchange_names[LIVE], ExchangeType.DIRECT, durable=False, auto_delete=True
        )
        self._streaming = await firing.declare_exchange(
            self.exchange_names[NODES], ExchangeType.DIRECT, durable=False, auto_delete=True
        )
        # The exclusive queue is the connection's: other channels may bind it. Robust
        # channels re-declare it (passively) and restore their bindings on reconnect.
        self._binders = [
            await (await connection.channel()).declare_queue(self.queue_name, passive=True)
            for _ in range(BINDING_CHANNELS)
        ]
        self._queue = queue
        for (kind, key), count in list(self._refs.items()):
            if count > 0:  # bindings held before a restart of this loop
                await self._binder(key).bind(self.exchange_names[kind], routing_key=key)
        await queue.consume(self._on_message, no_ack=True)

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- bindings (reference-counted: two sessions of one node may overlap briefly) ---

    async def hold_node(self, node_id: UUID) -> None:
        await self._acquire(NODES, node_key(node_id))

    async def release_node(self, node_id: UUID) -> None:
        await self._release(NODES, node_key(node_id))

    async def follow_server(self, server_id: UUID) -> None:
        await self._acquire(LIVE, server_key(server_id))

    async def unfollow_server(self, server_id: UUID) -> None:
        await self._release(LIVE, server_key(server_id))

    def _binder(self, key: str) -> AbstractQueue:
        return self._binders[hash(key) % len(self._binders)]

    def _lock(self, ref: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(ref)
        if lock is None:
            lock = self._locks[ref] = asyncio.Lock()
        return lock

    async def _acquire(self, kind: str, key: str) -> None:
        ref = (kind, key)
        async with self._lock(ref):
            self._refs[ref] += 1
            if self._refs[ref] == 1 and self._queue is not None:
                try:
                    await self._binder(key).bind(self.exchange_names[kind], routing_key=key)
                except BaseException:
                    self._refs[ref] -= 1
                    raise

    async def _release(self, kind: str, key: str) -> None:
        ref = (kind, key)
        async with self._lock(ref):
            self._refs[ref] -= 1
            if self._refs[ref] > 0:
                return
            del self._refs[ref]
            self._locks.pop(ref, None)
            if self._queue is not None:
                try:
                    await self._binder(key).unbind(self.exchange_names[kind], routing_key=key)
                except Exception:
                    log.warning("could not unbind", extra={"routing_key": key}, exc_info=True)

    # --- publishing ---

    async def send_to_node(
        self,
        node_id: UUID,
        kind: str,
        body: bytes,
        *,
        expiration: float | None = None,
        reply_to: str | None = None,
    ) -> bool:
        """Publish to the replica holding `node_id`; False when no replica holds it."""
        if self._confirmed is None:
            raise ConnectionError("the node link is not connected")
        message = aio_pika.Message(
            body,
            type=kind,
            expiration=expiration,
            reply_to=reply_to,
            delivery_mode=DeliveryMode.NOT_PERSISTENT,
        )
        try:
            await self._confirmed.publish(message, routing_key=node_key(node_id), mandatory=True)
        except DeliveryError:
            return False
        return True

    async def send_file_frame(self, routing_key: str, kind: str, body: bytes) -> None:
        """A frame of a file transfer already open (no confirm: the transfer's window and
        timeouts cover a lost one; publishing on one channel keeps their order)."""
        if self._streaming is None:
            raise ConnectionError("the node link is not connected")
        message = aio_pika.Message(body, type=kind, delivery_mode=DeliveryMode.NOT_PERSISTENT)
        await self._streaming.publish(message, routing_key=routing_key, mandatory=False)

    async def publish_live(self, server_id: UUID, kind: str, body: bytes) -> None:
        """Hand a frame to every replica following `server_id` (dropped when none is);
        it leaves with the next batch, in the order handed over."""
        if self._live is None:
            return
        properties = spec.Basic.Properties(message_type=kind, delivery_mode=1)
        self._live_pending.append(Outgoing(server_key(server_id), body, properties))
        if self._live_writer is None or self._live_writer.done():
            self._live_writer = asyncio.create_task(self._write_live())

    async def _write_live(self) -> None:
        while self._live_pending and self._firing is not None:
            batch, self._live_pending = self._live_pending, []
            try:
                channel = await self._firing.get_underlay_channel()
                await fire_batch(channel, self.exchange_names[LIVE], batch)
            except Exception:  # best effort, as the broker's own dropping of them
                log.warning("live frames not published", exc_info=True)

    # --- consuming: keep it free of awaits before hand-off, so frames stay in order ---

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key or ""
        kind = message.type or ""
        if kind.startswith(FILE_KIND_PREFIX):
            if self.on_file_message is not None:
                self.on_file_message(key.split(".", 1)[-1], kind, message.body, message.reply_to)
            return
        try:
            subject = UUID(key.split(".", 1)[1])
        except (IndexError, ValueError):
            return
        if message.exchange == self.exchange_names[LIVE]:
            if self.on_live_message is not None:
                self.on_live_message(subject, kind, message.body)
        elif self.on_node_message is not None:
            await self.on_node_message(subject, kind, message.body)
