"""`filter[...]` and `sort` as spatie/laravel-query-builder applies them in the panel."""

from collections.abc import Callable, Mapping, Sequence

from .pterodactyl_store import Store
from .pterodactyl_wire import ApiError

Field = Callable[[Store, dict], object]


def _attr(name: str) -> Field:
    return lambda store, row: row.get(name)


def _allocation_server(store: Store, row: dict) -> object:
    return store.tables.allocation_server.get(row["id"])


# Per listing: filter name -> (value reader, exact match). Partial filters are
# case-insensitive substring matches, the LIKE %value% spatie issues.
FILTERS: dict[str, dict[str, tuple[Field, bool]]] = {
    "users": {n: (_attr(n), False) for n in ("email", "uuid", "username", "external_id")},
    "servers": {
        "uuid": (_attr("uuid"), False),
        "uuidShort": (_attr("identifier"), False),
        "name": (_attr("name"), False),
        "description": (_attr("description"), False),
        "image": (lambda store, row: row["container"]["image"], False),
        "external_id": (_attr("external_id"), False),
    },
    "nodes": {n: (_attr(n), False) for n in ("uuid", "name", "fqdn")},
    "locations": {n: (_attr(n), False) for n in ("short", "long")},
    "allocations": {
        "ip": (_attr("ip"), True),
        "port": (_attr("port"), True),
        "ip_alias": (_attr("alias"), False),
        "server_id": (_allocation_server, True),
    },
}
SORTS: dict[str, tuple[str, ...]] = {
    "users": ("id", "uuid"),
    "servers": ("id", "uuid"),
    "nodes": ("id", "uuid", "memory", "disk"),
    "locations": ("id",),
    "allocations": (),
}


def apply(
    store: Store, kind: str, rows: Sequence[dict], query: Mapping[str, str]
) -> Sequence[dict]:
    """Filter then sort; listings without a query builder (nests, eggs) ignore both."""
    if kind not in FILTERS:
        return rows
    for name, raw in _requested_filters(kind, query).items():
        rows = _filter(store, rows, name, FILTERS[kind][name], raw)
    return _sort(kind, rows, query.get("sort"))


def _requested_filters(kind: str, query: Mapping[str, str]) -> dict[str, str]:
    requested = {
        key[7:-1]: value
        for key, value in query.items()
        if key.startswith("filter[") and key.endswith("]") and value != ""
    }
    unknown = [name for name in requested if name not in FILTERS[kind]]
    if unknown:
        allowed = ", ".join(FILTERS[kind])
        detail = (
            f"Requested filter(s) `{', '.join(unknown)}` are not allowed. "
            f"Allowed filter(s) are `{allowed}`."
        )
        raise ApiError(400, detail, "InvalidFilterQuery")
    return requested


def _filter(
    store: Store, rows: Sequence[dict], name: str, spec: tuple[Field, bool], raw: str
) -> list[dict]:
    read, exact = spec
    if name == "server_id" and not raw.isdigit():
        # The panel reads a non-numeric server_id as "unassigned".
        return [row for row in rows if read(store, row) is None]
    wanted = [value.lower() for value in raw.split(",")]
    kept = []
    for row in rows:
        value = read(store, row)
        if value is None:
            continue
        text = str(value).lower()
        if any(text == w if exact else w in text for w in wanted):
            kept.append(row)
    return kept


def _sort(kind: str, rows: Sequence[dict], raw: str | None) -> Sequence[dict]:
    if not raw:
        return rows
    fields = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [f for f in fields if f.lstrip("-") not in SORTS[kind]]
    if unknown:
        detail = (
            f"Requested sort(s) `{', '.join(unknown)}` is not allowed. "
            f"Allowed sort(s) are `{', '.join(SORTS[kind])}`."
        )
        raise ApiError(400, detail, "InvalidSortQuery")
    ordered = list(rows)
    for field in reversed(fields):  # stable sorts, least significant key first
        name = field.lstrip("-")
        ordered.sort(key=lambda row, n=name: row[n], reverse=field.startswith("-"))
    return ordered
