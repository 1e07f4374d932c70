"""How a service says that its upstream (the panel, Hytale) failed: 424, public status inside.

The gateway's circuit breaker counts a 5xx from a service as that service
failing, and an upstream outage is not that. So the internal API answers 424
with the public status in `details.status`, and the gateway's relay turns it
back into that status.
"""

from __future__ import annotations

from typing import Any

from nodebyte_common.envelope import ApiError

DEPENDENCY_STATUS = 424


def dependency_failure(status: int, message: str, code: str, **details: Any) -> ApiError:
    return ApiError(DEPENDENCY_STATUS, message, code, {"status": status, **details})
