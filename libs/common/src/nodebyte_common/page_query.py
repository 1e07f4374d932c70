"""Paging a panel-mirror list, and the panel ids its routes take as path parameters.

The lists' queries themselves (`page`, `pageSize`, sort keys, filters) are the
contract's Structs, and so is their `pagination`: see
`nodebyte_common.contracts.panel_mirror` and `SizedPages` in the envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar.params import Parameter, QueryParameter

from nodebyte_common.contracts.panel_mirror import PANEL_ID_MAX

PanelId = Annotated[int, Parameter(ge=1, le=PANEL_ID_MAX)]
PanelUserId = Annotated[int | None, QueryParameter(name="panelUserId", ge=1, le=PANEL_ID_MAX)]


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    page_size: int = 25

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size
