"""Test-driven changes to the panel: delete with cascades, merge attributes, add rows."""

import copy
import time
import uuid

from .pterodactyl_data import DatasetSpec, atom, generate, micro
from .pterodactyl_store import Store

# Deleting a row deletes these children first, as the panel's foreign keys would.
_CASCADES: dict[str, tuple[tuple[str, str], ...]] = {
    "locations": (("location.nodes", "nodes"),),
    "nodes": (("node.servers", "servers"), ("node.allocations", "allocations")),
    "nests": (("nest.eggs", "eggs"),),
    "eggs": (("egg.servers", "servers"), ("egg.variables", "variables")),
    "servers": (("server.databases", "databases"), ("server.subusers", "subusers")),
    "users": (("user.servers", "servers"), ("user.subusers", "subusers")),
}
# Reference fields of a new row; they default to the lowest existing id of that kind.
_REFERENCES: dict[str, dict[str, str]] = {
    "nodes": {"location_id": "locations"},
    "eggs": {"nest": "nests"},
    "variables": {"egg_id": "eggs"},
    "servers": {"user": "users", "node": "nodes", "egg": "eggs"},
    "databases": {"server": "servers"},
    "subusers": {"server_id": "servers", "user_id": "users"},
}
# A one-of-everything panel whose rows serve as templates for added rows; seed 1 gives
# it a subuser and a database too, so every kind has a template.
_TEMPLATE_SPEC = DatasetSpec(
    seed=1,
    locations=1,
    nodes=1,
    allocations=1,
    nests=1,
    eggs=1,
    servers=1,
    users=2,
    database_ratio=1.0,
    subuser_ratio=1.0,
)


class UnknownRow(LookupError):
    """The kind/id pair names nothing."""


def export(store: Store, kind: str, row: dict) -> dict:
    """A row plus the links its API attributes do not show."""
    tables = store.tables
    if kind == "allocations":
        node, server = (
            tables.allocation_node.get(row["id"]),
            tables.allocation_server.get(row["id"]),
        )
        return {**row, "node_id": node, "server_id": server}
    if kind == "databases":
        return {**row, "password": tables.database_passwords.get(row["id"])}
    return row


def dataset(store: Store) -> dict[str, list]:
    """Everything a sync has to mirror, including server variable values."""
    document: dict[str, list] = {
        kind: [export(store, kind, row) for row in store.index.ordered[kind]] for kind in store.rows
    }
    document["server_variables"] = [
        {
            "server_id": server["id"],
            "variable_id": v["id"],
            "env_variable": v["env_variable"],
            "value": value,
        }
        for server in store.index.ordered["servers"]
        for v, value in store.server_variables(server)
    ]
    return document


def delete(store: Store, kind: str, row_id: int) -> None:
    if store.get(kind, row_id) is None:
        raise UnknownRow(kind, row_id)
    _delete(store, kind, row_id)
    store.changed()


def _delete(store: Store, kind: str, row_id: int) -> None:
    # The index is rebuilt only afterwards; its id lists stay valid while rows vanish.
    for relation, child_kind in _CASCADES.get(kind, ()):
        for child_id in list(store.index.children[relation].get(row_id, ())):
            if store.get(child_kind, child_id) is not None:
                _delete(store, child_kind, child_id)
    store.rows[kind].pop(row_id, None)
    tables = store.tables
    if kind == "allocations":
        _release_allocation(store, row_id)
        tables.allocation_node.pop(row_id, None)
    elif kind == "servers":
        for allocation in store.index.children["server.allocations"].get(row_id, ()):
            tables.allocation_server.pop(allocation, None)
        tables.server_values.pop(row_id, None)
    elif kind == "databases":
        tables.database_passwords.pop(row_id, None)


def _release_allocation(store: Store, allocation_id: int) -> None:
    """Unassign; a server losing its primary falls back to another of its allocations."""
    server = store.get("servers", store.tables.allocation_server.pop(allocation_id, -1))
    if server is None or server["allocation"] != allocation_id:
        return
    others = store.index.children["server.allocations"].get(server["id"], [])
    remaining = [a for a in others if a != allocation_id and store.get("allocations", a)]
    server["allocation"] = remaining[0] if remaining else None


def patch(store: Store, kind: str, row_id: int, changes: dict) -> dict:
    row = store.get(kind, row_id)
    if row is None:
        raise UnknownRow(kind, row_id)
    changes = {k: v for k, v in changes.items() if k != "id"}
    _apply_links(store, kind, row, changes)
    _merge(row, changes)
    if "updated_at" not in changes and "updated_at" in row:
        row["updated_at"] = _now(kind)
    store.changed()
    return export(store, kind, row)


def _apply_links(store: Store, kind: str, row: dict, changes: dict) -> None:
    """Consume change keys that live in side tables rather than in the attributes."""
    tables = store.tables
    if kind == "allocations":
        if "node_id" in changes:
            tables.allocation_node[row["id"]] = changes.pop("node_id")
        if "server_id" in changes:
            server = changes.pop("server_id")
            tables.allocation_server.pop(row["id"], None)
            if server is not None:
                tables.allocation_server[row["id"]] = server
    elif kind == "servers":
        environment = (changes.get("container") or {}).pop("environment", None) or {}
        values = tables.server_values.setdefault(row["id"], {})
        egg = changes.get("egg", row["egg"])
        for variable in store.related("egg.variables", egg):
            if variable["env_variable"] in environment:
                values[variable["id"]] = environment[variable["env_variable"]]
        if changes.get("allocation") is not None:
            tables.allocation_server[changes["allocation"]] = row["id"]
    elif kind == "databases" and "password" in changes:
        tables.database_passwords[row["id"]] = changes.pop("password")


def _merge(target: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _now(kind: str) -> str:
    return micro(time.time()) if kind == "variables" else atom(time.time())


def move(store: Store, kind: str, row_id: int, before: int | None) -> None:
    """List the row just ahead of `before` (last when None). The panel pages without an
    ORDER BY, so the database's order is the listing's, and it may change between two
    page requests (a row rewritten elsewhere on disk, a restored row)."""
    rows = store.rows[kind]
    if row_id not in rows or (before is not None and before not in rows):
        raise UnknownRow(kind, before if row_id in rows else row_id)
    row = rows.pop(row_id)
    order = list(rows.items())
    at = len(order) if before is None else [k for k, _ in order].index(before)
    order.insert(at, (row_id, row))
    rows.clear()
    rows.update(order)
    store.changed()


def add(store: Store, kind: str, attributes: dict) -> dict:
    """Insert a row built from a template, the given attributes merged over it."""
    row_id = store.allocate_id(kind)
    row = _template(store, kind, row_id)
    changes = {k: v for k, v in attributes.items() if k != "id"}
    if kind == "servers" and "egg" in changes and "nest" not in changes:
        egg = store.get("eggs", changes["egg"])
        changes["nest"] = egg["nest"] if egg else row["nest"]
    store.rows[kind][row_id] = row
    _attach(store, kind, row, changes)
    _merge(row, changes)
    store.changed()
    return export(store, kind, row)


def _template(store: Store, kind: str, row_id: int) -> dict:
    source = _template_rows()[kind]
    row = copy.deepcopy(next(iter(source.values())))
    row["id"] = row_id
    if "uuid" in row:
        row["uuid"] = str(uuid.uuid4())
    if kind == "servers":
        row["identifier"] = row["uuid"][:8]
    for stamp in ("created_at", "updated_at"):
        if stamp in row:
            row[stamp] = _now(kind)
    for field, referenced in _REFERENCES.get(kind, {}).items():
        row[field] = next(iter(store.rows[referenced]), None)
    if kind == "servers":
        egg = store.get("eggs", row["egg"])
        row["nest"] = egg["nest"] if egg else None
    return row


def _attach(store: Store, kind: str, row: dict, changes: dict) -> None:
    """Side-table entries a new row needs, before its attributes are merged."""
    tables = store.tables
    if kind == "allocations":
        tables.allocation_node[row["id"]] = changes.pop(
            "node_id", next(iter(store.rows["nodes"]), None)
        )
        server = changes.pop("server_id", None)
        if server is not None:
            tables.allocation_server[row["id"]] = server
    elif kind == "servers":
        node = changes.get("node", row["node"])
        allocation = changes.get("allocation") or _free_allocation(store, node)
        changes["allocation"] = allocation
        tables.allocation_server[allocation] = row["id"]
        egg = changes.get("egg", row["egg"])
        tables.server_values[row["id"]] = {
            v["id"]: v["default_value"] for v in store.related("egg.variables", egg)
        }
        _apply_links(store, kind, row, changes)
    elif kind == "databases":
        tables.database_passwords[row["id"]] = changes.pop("password", "secret")


def _free_allocation(store: Store, node: int) -> int:
    """An unassigned allocation on the node, created if the node has none left."""
    assigned = store.tables.allocation_server
    for allocation in store.related("node.allocations", node):
        if allocation["id"] not in assigned:
            return allocation["id"]
    created = add(store, "allocations", {"node_id": node})
    return created["id"]


_templates: dict[str, dict[int, dict]] = {}


def _template_rows() -> dict[str, dict[int, dict]]:
    if not _templates:
        _templates.update(generate(_TEMPLATE_SPEC).rows)
    return _templates
