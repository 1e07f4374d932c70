"""A circuit breaker: stop calling an upstream that keeps failing, probe it later."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitOpenError(RuntimeError):
    """The breaker is open: the call was not attempted."""

    def __init__(self, name: str, retry_in: float) -> None:
        super().__init__(f"{name} is unavailable (circuit open, next try in {retry_in:.0f}s)")
        self.retry_in = retry_in


@dataclass
class BreakerSnapshot:
    state: State
    consecutive_failures: int
    last_error: str | None
    opened_at: float | None


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `reset_timeout`
    one probe is let through (half-open): success closes it, failure re-opens it."""

    def __init__(self, name: str, *, failure_threshold: int = 5, reset_timeout: float = 30.0):
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._failures = 0
        self._opened_at: float | None = None
        self._last_error: str | None = None
        self._probing = False

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.reset_timeout:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raise CircuitOpenError unless a call may go out now."""
        state = self.state
        if state == "open":
            assert self._opened_at is not None
            remaining = self.reset_timeout - (time.monotonic() - self._opened_at)
            raise CircuitOpenError(self.name, remaining)
        if state == "half-open":
            if self._probing:
                raise CircuitOpenError(self.name, 0)
            self._probing = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self, error: str) -> None:
        self._failures += 1
        self._last_error = error[:500]
        self._probing = False
        if self._failures >= self.failure_threshold:
            self._opened_at = time.monotonic()

    def reset(self) -> None:
        """An operator's reset: close the circuit and forget the failures."""
        self.record_success()
        self._last_error = None

    def snapshot(self) -> BreakerSnapshot:
        return BreakerSnapshot(self.state, self._failures, self._last_error, self._opened_at)
