"""Bodies of the operator's view of the bus (`/api/admin/bus/*`)."""

from __future__ import annotations

import msgspec

from nodebyte_gateway.dead_letters import DeadLetter


class DeadLetterQueueCount(msgspec.Struct, kw_only=True, frozen=True):
    queue: str  # pass it as ?queue= to list its dead letters
    deadLetters: int


class OutboxBacklog(msgspec.Struct, kw_only=True, frozen=True):
    service: str
    backlog: int | None  # events written but not yet published; None when unreachable
    oldestUnsentSeconds: float | None
    error: str | None = None  # why the service could not be asked


class DeadLetterQueuesAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: list[DeadLetterQueueCount]


class DeadLettersAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: list[DeadLetter]


class DeadLetterAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: DeadLetter
    message: str | None = None


class OutboxAnswer(msgspec.Struct, kw_only=True, frozen=True):
    success: bool
    data: list[OutboxBacklog]
