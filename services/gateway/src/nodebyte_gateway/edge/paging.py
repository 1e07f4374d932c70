"""Page-number pagination: which rows a page is (its `pagination` object is
`contracts.envelope.Pages.of`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paging:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit
