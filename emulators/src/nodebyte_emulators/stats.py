"""Request counters exposed at `GET /_emulator/stats`."""

from collections import Counter


class RequestStats:
    def __init__(self) -> None:
        self.total = 0
        self.paths: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()

    def record_path(self, path: str) -> None:
        self.total += 1
        self.paths[path] += 1

    def record_status(self, status: int) -> None:
        self.statuses[status] += 1

    def snapshot(self) -> dict[str, object]:
        return {
            "total": self.total,
            "paths": dict(self.paths),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
        }

    def clear(self) -> None:
        self.total = 0
        self.paths.clear()
        self.statuses.clear()
