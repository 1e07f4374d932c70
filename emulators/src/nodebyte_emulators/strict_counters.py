"""What a strict upstream counts against a client: requests it sent while it had been
told to wait, and the same content delivered twice.

Shared by the Discord and mail emulators; read at `GET /_emulator/counters`.
"""

import hashlib
import time
from collections import Counter

from .asgi import encode

# Requests already on their way when a 429 told the client to wait cannot have
# heard it; those arriving this soon after it are refused but not held against it.
IN_FLIGHT_GRACE = 0.5


def content_digest(*parts: object) -> str:
    """One digest for a message's content (JSON-encoded parts, key order kept)."""
    return hashlib.sha256(encode(list(parts))).hexdigest()


class StrictCounters:
    def __init__(self) -> None:
        self.sent_while_limited = 0
        self.duplicates = 0
        self._seen: Counter[str] = Counter()
        self._blocked_until: dict[str, float] = {}  # key -> epoch the client was told to wait to
        self._told_at: dict[str, float] = {}  # key -> epoch of the 429 that first said so

    def told_to_wait(self, key: str, seconds: float) -> None:
        """A 429 told the client not to send to `key` for `seconds`."""
        now = time.time()
        if self.waiting_for(key) == 0:
            self._told_at[key] = now
        self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), now + seconds)

    def waiting_for(self, key: str) -> float:
        """Seconds the client was told to keep away from `key` still (0 when free)."""
        return max(0.0, self._blocked_until.get(key, 0.0) - time.time())

    def limited_request(self, key: str | None = None) -> None:
        """A request sent while limited; with `key`, unless it left before the 429 did."""
        if key is not None and time.time() - self._told_at.get(key, 0.0) < IN_FLIGHT_GRACE:
            return
        self.sent_while_limited += 1

    def delivered(self, digest: str) -> bool:
        """Count a delivered message; True when the same content was delivered before."""
        self._seen[digest] += 1
        if self._seen[digest] > 1:
            self.duplicates += 1
            return True
        return False

    def snapshot(self) -> dict[str, object]:
        return {
            "sent_while_limited": self.sent_while_limited,
            "duplicates": self.duplicates,
            "duplicated_contents": sum(1 for n in self._seen.values() if n > 1),
        }

    def clear(self) -> None:
        self.sent_while_limited = 0
        self.duplicates = 0
        self._seen.clear()
        self._blocked_until.clear()
        self._told_at.clear()
