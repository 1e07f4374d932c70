"""The steps of a sync: what each pulls from the panel and how it is mirrored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nodebyte_sync.store import parse_time


@dataclass(frozen=True)
class Step:
    name: str
    path: str  # Application API list
    table: str
    columns: tuple[str, ...]
    to_row: Callable[[dict[str, Any]], tuple[Any, ...]]


def _location_row(a: dict[str, Any]) -> tuple[Any, ...]:
    return (
        a["id"],
        a["short"],
        a.get("long"),
        parse_time(a.get("created_at")),
        parse_time(a.get("updated_at")),
    )


LOCATIONS = Step(
    "locations",
    "/locations",
    "locations",
    ("id", "short", "long", "created_at", "updated_at"),
    _location_row,
)

# Which steps each kind of sync runs, in the reference's order.
STEPS_BY_KIND: dict[str, tuple[Step, ...]] = {
    "full": (LOCATIONS,),
    "locations": (LOCATIONS,),
}
