"""Page-number pagination and the `pagination` object of list responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Paging:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def pages(self, total: int) -> int:
        return (total + self.limit - 1) // self.limit

    def envelope(self, total: int) -> dict[str, Any]:
        """`{page, limit, total, pages}`, as Catalyst's lists answer."""
        return {"page": self.page, "limit": self.limit, "total": total, "pages": self.pages(total)}
