"""Transient failures of the database and the broker, and retrying through them.

A dropped or refused connection, a database out of slots, a server restarting:
these pass, so work that can resume retries them with growing, bounded delays
until a deadline (`TRANSIENT_DEADLINE_SECONDS`, or `STARTUP_DEADLINE_SECONDS` at
start-up), and only an outage that outlasts it fails the work. A caller that
waits on an HTTP answer gets 503 with `Retry-After` instead (webapp.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aio_pika.exceptions import AMQPConnectionError

from nodebyte_common.backoff import exponential_delay

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RETRY_DELAY = 2.0  # seconds between two attempts at most

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # the connection was lost or refused
    asyncpg.TooManyConnectionsError,  # out of slots
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,  # pg_terminate_backend, a restart
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,  # "connection is closed" and the like
    # A connection killed mid-COPY leaves its protocol mid-operation, and the
    # rollback then fails with this instead of the connection error.
    asyncpg.InternalClientError,
    AMQPConnectionError,
    OSError,  # refused, reset, unreachable, timed out
)


# What an HTTP handler answers 503 with Retry-After for: the database or broker
# out of reach right now. Not every OSError: an upstream's is the handler's to map.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InternalClientError,  # a pooled connection the server had closed
    AMQPConnectionError,
    ConnectionRefusedError,
    ConnectionResetError,
)
RETRY_AFTER_SECONDS = 2  # what a caller is told to wait before trying again


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)


async def retry_transient(
    attempt: Callable[[], Awaitable[T]], *, deadline_seconds: float, what: str
) -> T:
    """Run `attempt` until it succeeds, retrying transient errors until the deadline.

    Each attempt must be safe to repeat (a whole transaction, a connect).
    """
    give_up_at = time.monotonic() + deadline_seconds
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except Exception as exc:
            delay = exponential_delay(tries, base=0.1, cap=MAX_RETRY_DELAY)
            if not is_transient(exc) or time.monotonic() + delay > give_up_at:
                raise
            log.warning(
                "transient failure; retrying",
                extra={"what": what, "attempt": tries, "error": type(exc).__name__},
            )
            await asyncio.sleep(delay)
