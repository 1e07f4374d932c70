"""The broker topology, declared in one place by every service at start.

One durable topic exchange carries every event (routing key = event type).
Each consumer has a quorum queue bound to the types it handles; a message it
rejects, or that fails `DELIVERY_LIMIT` times, goes to its own dead-letter
queue. Events no queue is bound to go to the alternate exchange's `unrouted`
queue instead of vanishing. Every service declares the whole table, so an
event published before its consumer first started is still queued for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, ExchangeType

DELIVERY_LIMIT = 6  # deliveries before a transiently failing message is dead-lettered


@dataclass(frozen=True)
class Subscription:
    service: str
    purpose: str
    event_types: tuple[str, ...]

    def queue(self, prefix: str) -> str:
        return f"{prefix}.{self.service}.{self.purpose}"

    def dead_letter_queue(self, prefix: str) -> str:
        return f"{self.queue(prefix)}.dlq"


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(
        "sync",
        "requests",
        ("sync.requested", "sync.cancel_requested", "sync.logs_cleanup_requested", "job.fired"),
    ),
    Subscription(
        "notifier",
        "notifications",
        (
            "sync.completed",
            "sync.failed",
            "sync.cancelled",
            "alert.raised",
            "alert.resolved",
            "node.disconnected",
            "email.requested",
            "webhook.dispatch_requested",
            "webhook.disabled",
            "settings.changed",
        ),
    ),
    Subscription(
        "scheduler",
        "outcomes",
        ("server.command_failed", "server.command_acknowledged", "server.deleted"),
    ),
    Subscription("hytale-auth", "events", ("job.fired", "server.pruned")),
    Subscription("node-agent-gateway", "commands", ("server.command_requested",)),
    Subscription("gateway", "panel-users", ("panel_users.synced",)),
)


# Queues a replica binds for itself (exclusive, auto-deleted): it reads every such event
# as it passes and keeps none; not declared by `declare_topology`.
STREAMS: tuple[Subscription, ...] = (
    Subscription(
        "gateway",
        "sync-progress",
        ("sync.progress", "sync.completed", "sync.failed", "sync.cancelled"),
    ),
)

# Which service publishes which types: the outbox refuses an event its service does not
# declare here, so this is the list of every (producer, type) the code can stage.
PUBLISHES: dict[str, tuple[str, ...]] = {
    "gateway": (
        "sync.requested",
        "sync.cancel_requested",
        "server.command_requested",
        "settings.changed",
        "email.requested",
        "webhook.dispatch_requested",
    ),
    "sync": (
        "sync.progress",
        "sync.completed",
        "sync.failed",
        "sync.cancelled",
        "server.pruned",
        "panel_users.synced",
    ),
    "hytale-auth": ("token.refreshed", "session.created", "session.refreshed", "session.deleted"),
    "notifier": ("email.sent", "email.failed", "webhook.delivered", "webhook.disabled"),
    "scheduler": (
        "job.fired",
        "sync.requested",
        "sync.logs_cleanup_requested",
        "server.command_requested",
    ),
    "node-agent-gateway": (
        "node.connected",
        "node.disconnected",
        "server.state_changed",
        "server.command_requested",
        "server.command_failed",
        "server.command_acknowledged",
        "server.deleted",
        "backup.completed",
        "server.transfer_started",
        "server.transfer_completed",
        "server.transfer_failed",
        "alert.raised",
        "alert.resolved",
    ),
}

# Published types no service of ours consumes, and why they are published anyway.
_FACT = "a fact of the design's event list for subscribers outside these services"
EXTERNAL: dict[str, str] = {
    "token.refreshed": f"{_FACT}; hytale-auth keeps the tokens",
    "session.created": f"{_FACT}; hytale-auth keeps the sessions",
    "session.refreshed": f"{_FACT}; hytale-auth keeps the sessions",
    "session.deleted": f"{_FACT}; hytale-auth keeps the sessions",
    "email.sent": f"{_FACT}; the notifier keeps each email's state",
    "email.failed": f"{_FACT}; the notifier keeps each email's state",
    "webhook.delivered": f"{_FACT}; the notifier keeps each delivery's state",
    "node.connected": f"{_FACT}; the node-agent-gateway keeps the node's state",
    "server.state_changed": f"{_FACT}; browsers follow it live over the agents' exchange",
    "backup.completed": f"{_FACT}; the node-agent-gateway keeps the backup",
    "server.transfer_started": f"{_FACT}; the node-agent-gateway keeps the transfer",
    "server.transfer_completed": f"{_FACT}; the node-agent-gateway keeps the transfer",
    "server.transfer_failed": f"{_FACT}; the node-agent-gateway keeps the transfer",
}

SOURCE_PREFIX = "nodebyte/"  # a service's CloudEvents source: "nodebyte/<service>"


class UndeclaredPublication(ValueError):
    """A service staged an event type `PUBLISHES` does not give it."""


def source_of(service: str) -> str:
    return f"{SOURCE_PREFIX}{service}"


def producers(event_type: str) -> tuple[str, ...]:
    """The services that publish `event_type`."""
    return tuple(service for service, types in PUBLISHES.items() if event_type in types)


def check_publishes(source: str, event_type: str) -> None:
    """Raise UndeclaredPublication unless the service `source` names declares `event_type`."""
    service = source.removeprefix(SOURCE_PREFIX)
    if not source.startswith(SOURCE_PREFIX) or service not in PUBLISHES:
        raise UndeclaredPublication(
            f"source {source!r} names no service of topology.PUBLISHES "
            f"(expected {SOURCE_PREFIX}<{'|'.join(sorted(PUBLISHES))}>)"
        )
    if event_type not in PUBLISHES[service]:
        raise UndeclaredPublication(
            f"{service} does not declare publishing {event_type!r}: "
            "add it to topology.PUBLISHES (and give it a consumer or an EXTERNAL reason)"
        )


def subscription(service: str, purpose: str) -> Subscription:
    for sub in SUBSCRIPTIONS:
        if sub.service == service and sub.purpose == purpose:
            return sub
    raise KeyError(f"no subscription {service}.{purpose} in the topology")


def exchange_name(prefix: str) -> str:
    return f"{prefix}.events"


def dead_letter_exchange_name(prefix: str) -> str:
    return f"{prefix}.dead-letter"


def unrouted_queue_name(prefix: str) -> str:
    return f"{prefix}.unrouted"


async def declare_topology(
    channel: AbstractChannel, prefix: str, subscriptions: tuple[Subscription, ...] = SUBSCRIPTIONS
) -> aio_pika.abc.AbstractExchange:
    """Declare exchanges, queues and bindings (idempotent); return the event exchange."""
    unrouted = await channel.declare_exchange(
        f"{prefix}.unrouted", ExchangeType.FANOUT, durable=True
    )
    unrouted_queue = await channel.declare_queue(
        unrouted_queue_name(prefix), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await unrouted_queue.bind(unrouted)
    events = await channel.declare_exchange(
        exchange_name(prefix),
        ExchangeType.TOPIC,
        durable=True,
        arguments={"alternate-exchange": f"{prefix}.unrouted"},
    )
    dead_letter = await channel.declare_exchange(
        dead_letter_exchange_name(prefix), ExchangeType.DIRECT, durable=True
    )
    for sub in subscriptions:
        await _declare_subscription(channel, prefix, sub, events, dead_letter)
    return events


async def _declare_subscription(
    channel: AbstractChannel,
    prefix: str,
    sub: Subscription,
    events: aio_pika.abc.AbstractExchange,
    dead_letter: aio_pika.abc.AbstractExchange,
) -> None:
    name = sub.queue(prefix)
    dlq = await channel.declare_queue(
        sub.dead_letter_queue(prefix), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dlq.bind(dead_letter, routing_key=name)
    queue = await channel.declare_queue(name, durable=True, arguments=queue_arguments(prefix, name))
    for event_type in sub.event_types:
        await queue.bind(events, routing_key=event_type)


def queue_arguments(prefix: str, name: str) -> dict[str, object]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": dead_letter_exchange_name(prefix),
        "x-dead-letter-routing-key": name,
        # Dead-lettering that cannot lose a message on the way to the DLQ.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def delete_topology(channel: AbstractChannel, prefix: str) -> None:
    """Remove every queue and exchange of `prefix` (test runs clean up with this)."""
    names = [unrouted_queue_name(prefix)]
    for sub in SUBSCRIPTIONS:
        names += [sub.queue(prefix), sub.dead_letter_queue(prefix)]
    for name in names:
        await channel.queue_delete(name)
    for name in (exchange_name(prefix), dead_letter_exchange_name(prefix), f"{prefix}.unrouted"):
        await channel.exchange_delete(name)
