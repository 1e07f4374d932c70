"""What a strict upstream counts against a client: requests it sent while it had been
told to wait, and the same content delivered twice.

Shared by the Discord and mail emulators; read at `GET /_emulator/counters`.
"""

import hashlib
import time
from collections import Counter

from .asgi import encode


def content_digest(*parts: object) -> str:
    """One digest for a message's content (JSON-encoded parts, key order kept)."""
    return hashlib.sha256(encode(list(parts))).hexdigest()


class StrictCounters:
    def __init__(self) -> None:
        self.sent_while_limited = 0
        self.duplicates = 0
        self._seen: Counter[str] = Counter()
        self._blocked_until: dict[str, float] = {}  # key -> epoch the client was told to wait to

    def told_to_wait(self, key: str, seconds: float) -> None:
        """A 429 told the client not to send to `key` for `seconds`."""
        until = time.time() + seconds
        self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)

    def waiting_for(self, key: str) -> float:
        """Seconds the client was told to keep away from `key` still (0 when free)."""
        return max(0.0, self._blocked_until.get(key, 0.0) - time.time())

    def limited_request(self) -> None:
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
