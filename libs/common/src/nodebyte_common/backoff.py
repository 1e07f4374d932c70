"""Growing, jittered, bounded delays for retries."""

from __future__ import annotations

import random


def exponential_delay(
    attempt: int, *, base: float = 0.2, factor: float = 2.0, cap: float = 30.0
) -> float:
    """Delay before retry number `attempt` (1-based): base·factor^(n-1), capped, ±25% jitter.

    Jitter keeps replicas that failed together from retrying together.
    """
    delay = min(cap, base * factor ** max(0, attempt - 1))
    return delay * random.uniform(0.75, 1.25)
