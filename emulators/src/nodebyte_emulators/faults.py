"""Failures injected on demand through the control API, shared by every emulator."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated

import msgspec

from .asgi import Receive, hold

Count = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class FaultRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of `POST /_emulator/faults`; absent fields keep their current value."""

    rate_limit_next: Count | None = None
    retry_after: Seconds | None = None
    error_next: Count | None = None
    error_status: Annotated[int, msgspec.Meta(ge=500, le=599)] | None = None
    latency_ms: Seconds | None = None
    hang_next: Count | None = None
    hang_seconds: Seconds | None = None


class Failure(Enum):
    RATE_LIMIT = "rate_limit"
    ERROR = "error"


@dataclass(slots=True)
class Faults:
    """Pending faults. Counters are consumed one per request, latency applies to all."""

    rate_limit_next: int = 0
    retry_after: float = 1.0
    error_next: int = 0
    error_status: int = 500
    latency_ms: float = 0.0
    hang_next: int = 0
    hang_seconds: float = 60.0

    def configure(self, body: bytes) -> None:
        """Merge a JSON fault request; raises msgspec.ValidationError/DecodeError."""
        request = msgspec.json.decode(body or b"{}", type=FaultRequest)
        for field in request.__struct_fields__:
            value = getattr(request, field)
            if value is not None:
                setattr(self, field, value)

    def clear(self) -> None:
        defaults = Faults()
        for field in self.__slots__:
            setattr(self, field, getattr(defaults, field))

    def snapshot(self) -> dict[str, float]:
        return {field: getattr(self, field) for field in self.__slots__}

    def take_hang(self) -> bool:
        if self.hang_next <= 0:
            return False
        self.hang_next -= 1
        return True

    def take_failure(self) -> Failure | None:
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return Failure.RATE_LIMIT
        if self.error_next > 0:
            self.error_next -= 1
            return Failure.ERROR
        return None


async def apply_faults(
    faults: Faults, receive: Receive, respond: Callable[[Failure], Awaitable[None]]
) -> Receive | None:
    """Run one request through latency, hang and failure faults.

    Returns the receive callable to continue with, or None once the request is over
    (a failure was sent, or the client gave up during a hang).
    """
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.take_hang():
        receive, gone = await hold(receive, faults.hang_seconds)
        if gone:
            return None
    failure = faults.take_failure()
    if failure is not None:
        await respond(failure)
        return None
    return receive
