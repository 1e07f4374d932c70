"""The `page`/`pageSize` query of the panel-mirror lists and their `pagination` object.

The gateway checks the public query with these parameter types, and the sync
service, which answers the lists, checks its internal query with the same ones,
so both ends agree on bounds and names:

    async def list_nodes(page: PageNumber = 1, page_size: PageSize = 25, ...)
    ok(rows, pagination=PageRequest(page, page_size).pagination(total))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar.params import FromQuery, Parameter, ParameterKwarg, QueryParameter

PageNumber = Annotated[int, Parameter(ge=1, le=100_000)]
PageSize = Annotated[int, QueryParameter(name="pageSize", ge=1, le=200)]
Search = Annotated[str | None, Parameter(max_length=100)]
SortOrder = FromQuery[Literal["asc", "desc"]]
# The panel's ids are positive bigints; larger numbers are a 400, not a database error.
PANEL_ID_MAX = 9_223_372_036_854_775_807
PanelId = Annotated[int, Parameter(ge=1, le=PANEL_ID_MAX)]


def _panel_id_filter(query: str) -> ParameterKwarg:
    """An optional `?<query>=<panel id>` filter."""
    return QueryParameter(name=query, ge=1, le=PANEL_ID_MAX)


LocationId = Annotated[int | None, _panel_id_filter("locationId")]
NodeId = Annotated[int | None, _panel_id_filter("nodeId")]
NestId = Annotated[int | None, _panel_id_filter("nestId")]
PanelUserId = Annotated[int | None, _panel_id_filter("panelUserId")]


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    page_size: int = 25

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def pagination(self, total: int) -> dict[str, Any]:
        """`{page, pageSize, total, totalPages}` (at least one page, even when empty)."""
        return {
            "page": self.page,
            "pageSize": self.page_size,
            "total": total,
            "totalPages": max(1, -(-total // self.page_size)),
        }
