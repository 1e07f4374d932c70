"""`/api/admin/bus/*`: the operator's view of the bus.

Dead letters per queue (list, inspect, replay, discard; `admin.bus.read` to
look, `admin.bus.write` to act, each action audited) and every service's
outbox backlog.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from aio_pika.exceptions import AMQPError
from litestar import Request, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Empty
from nodebyte_common.envelope import ApiError
from nodebyte_gateway import bus_outbox
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import caller
from nodebyte_gateway.bus_schemas import (
    DeadLetterAnswer,
    DeadLetterQueueCount,
    DeadLetterQueuesAnswer,
    DeadLettersAnswer,
    OutboxAnswer,
)
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.dead_letters import (
    DeadLetter,
    DeadLetterNotFound,
    DeadLetterQueues,
    QueueName,
    UnknownQueue,
)

PATH = "/api/admin/bus"
TAGS = ["admin"]
MAX_ID_LENGTH = 100

Queue = Annotated[
    QueueName, QueryParameter(description="A subscription's queue, e.g. notifier.notifications")
]


def routes(ctx: GatewayContext) -> list[Any]:
    runtime = ctx.runtime
    letters = DeadLetterQueues(ctx.settings.amqp_url, ctx.settings.amqp_prefix)
    runtime.on_stop(letters.aclose)
    read, write = ctx.require(catalogue.ADMIN_BUS_READ), ctx.require(catalogue.ADMIN_BUS_WRITE)

    async def audited(request: Request, action: str, letter: DeadLetter) -> None:
        summary = {
            "queue": letter.queue,
            "id": letter.id,
            "eventType": letter.eventType,
            "reason": letter.reason,
        }
        async with runtime.pool.acquire() as conn, conn.transaction():
            target = ("dead_letter", f"{letter.queue}/{letter.id}")
            await audit.record(conn, caller(request), action, target, summary, None, request)

    @get(
        f"{PATH}/dead-letters",
        guards=[read],
        tags=TAGS,
        summary="Dead letters of a queue, oldest first (without ?queue=: the count per queue)",
    )
    async def list_dead_letters(
        queue: Annotated[QueueName | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> DeadLettersAnswer | DeadLetterQueuesAnswer:
        if queue is None:
            async with _broker():
                counts = [
                    DeadLetterQueueCount(queue=name, deadLetters=await letters.count(name))
                    for name in letters.names
                ]
            return DeadLetterQueuesAnswer(success=True, data=counts)
        async with _broker(letters, queue):
            found = await letters.list(queue, limit)
        return DeadLettersAnswer(success=True, data=found)

    @get(
        f"{PATH}/dead-letters/{{letter_id:str}}",
        guards=[read],
        tags=TAGS,
        summary="One dead letter: headers, payload, reason, attempts",
    )
    async def show_dead_letter(letter_id: FromPath[str], queue: Queue) -> DeadLetterAnswer:
        async with _broker(letters, queue, letter_id):
            letter = await letters.show(queue, letter_id)
        return DeadLetterAnswer(success=True, data=letter)

    @post(
        f"{PATH}/dead-letters/{{letter_id:str}}/replay",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Republish a dead letter with its original headers and routing key",
    )
    async def replay_dead_letter(
        letter_id: FromPath[str],
        queue: Queue,
        request: Request,
        data: JSONBody[Empty | None] = None,  # takes no input
    ) -> DeadLetterAnswer:
        async with _broker(letters, queue, letter_id):
            letter = await letters.replay(queue, letter_id)
        await audited(request, "bus.dead_letter_replayed", letter)
        return DeadLetterAnswer(success=True, data=letter, message="Dead letter replayed")

    @delete(
        f"{PATH}/dead-letters/{{letter_id:str}}",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Discard a dead letter",
    )
    async def discard_dead_letter(
        letter_id: FromPath[str], queue: Queue, request: Request
    ) -> DeadLetterAnswer:
        async with _broker(letters, queue, letter_id):
            letter = await letters.discard(queue, letter_id)
        await audited(request, "bus.dead_letter_discarded", letter)
        return DeadLetterAnswer(success=True, data=letter, message="Dead letter discarded")

    @get(
        f"{PATH}/outbox",
        guards=[read],
        tags=TAGS,
        summary="Each service's outbox backlog and the age of its oldest unsent event",
    )
    async def outbox() -> OutboxAnswer:
        return OutboxAnswer(success=True, data=await bus_outbox.backlogs(runtime.pool, ctx.clients))

    return [list_dead_letters, show_dead_letter, replay_dead_letter, discard_dead_letter, outbox]


@contextlib.asynccontextmanager
async def _broker(
    letters: DeadLetterQueues | None = None, queue: str | None = None, letter_id: str | None = None
) -> AsyncIterator[None]:
    """Bad names are 400s, a missing letter a 404, a broker that cannot be reached a 503."""
    if letter_id is not None and len(letter_id) > MAX_ID_LENGTH:
        raise ApiError(400, f"A dead letter id has at most {MAX_ID_LENGTH} characters")
    if letters is not None and queue is not None and queue not in letters.names:
        raise ApiError(400, f"Unknown queue {queue!r}", details={"queues": letters.names})
    try:
        yield
    except UnknownQueue:
        raise ApiError(400, f"Unknown queue {queue!r}") from None
    except DeadLetterNotFound:
        raise ApiError(404, f"No dead letter {letter_id} in {queue}") from None
    except (AMQPError, ConnectionError, OSError) as exc:
        raise ApiError(503, "The message broker is unavailable", headers=_retry()) from exc


def _retry() -> dict[str, str]:
    return {"Retry-After": "5"}
