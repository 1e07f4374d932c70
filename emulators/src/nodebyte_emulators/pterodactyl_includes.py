"""Application API `?include=` relations, placed inside `attributes.relationships`."""

from collections.abc import Callable, Mapping, Sequence

from .pterodactyl_store import Store
from .pterodactyl_wire import NULL_RESOURCE, collection, item

RESOURCE_NAMES = {
    "locations": "location",
    "nodes": "node",
    "allocations": "allocation",
    "nests": "nest",
    "eggs": "egg",
    "variables": "egg_variable",
    "servers": "server",
    "users": "user",
    "databases": "server_database",
    "subusers": "subuser",
}
# Every generated database lives on this one host.
DATABASE_HOST = {
    "id": 1,
    "name": "Primary MySQL",
    "host": "10.0.0.5",
    "port": 3306,
    "username": "pterodactyl",
    "node": None,
    "created_at": "2023-01-01T00:00:00+00:00",
    "updated_at": "2023-01-01T00:00:00+00:00",
}

Include = Callable[[Store, dict], dict]


def _many(relation: str, resource: str) -> Include:
    return lambda store, row: collection(resource, store.related(relation, row["id"]))


def _one(kind: str, key: str) -> Include:
    resource = RESOURCE_NAMES[kind]

    def include(store: Store, row: dict) -> dict:
        related = store.get(kind, row[key]) if row.get(key) is not None else None
        return NULL_RESOURCE if related is None else item(resource, related)

    return include


def _location_servers(store: Store, location: dict) -> dict:
    servers = [
        server
        for node in store.related("location.nodes", location["id"])
        for server in store.related("node.servers", node["id"])
    ]
    return collection("server", sorted(servers, key=lambda s: s["id"]))


def _allocation_link(kind: str, links: str) -> Include:
    def include(store: Store, allocation: dict) -> dict:
        related_id = getattr(store.tables, links).get(allocation["id"])
        related = None if related_id is None else store.get(kind, related_id)
        return NULL_RESOURCE if related is None else item(RESOURCE_NAMES[kind], related)

    return include


def _server_variables(store: Store, server: dict) -> dict:
    rows = [{**v, "server_value": value} for v, value in store.server_variables(server)]
    return collection("server_variable", rows)


def _server_location(store: Store, server: dict) -> dict:
    node = store.get("nodes", server["node"])
    location = node and store.get("locations", node["location_id"])
    return item("location", location) if location else NULL_RESOURCE


def _database_password(store: Store, database: dict) -> dict:
    password = store.tables.database_passwords.get(database["id"], "")
    return item("database_password", {"password": password})


INCLUDES: dict[str, dict[str, Include]] = {
    "locations": {"nodes": _many("location.nodes", "node"), "servers": _location_servers},
    "nodes": {
        "allocations": _many("node.allocations", "allocation"),
        "location": _one("locations", "location_id"),
        "servers": _many("node.servers", "server"),
    },
    "allocations": {
        "node": _allocation_link("nodes", "allocation_node"),
        "server": _allocation_link("servers", "allocation_server"),
    },
    "nests": {"eggs": _many("nest.eggs", "egg"), "servers": _many("nest.servers", "server")},
    "eggs": {
        "nest": _one("nests", "nest"),
        "servers": _many("egg.servers", "server"),
        "variables": _many("egg.variables", "egg_variable"),
    },
    "servers": {
        "allocations": _many("server.allocations", "allocation"),
        "user": _one("users", "user"),
        "subusers": _many("server.subusers", "subuser"),
        "nest": _one("nests", "nest"),
        "egg": _one("eggs", "egg"),
        "variables": _server_variables,
        "location": _server_location,
        "node": _one("nodes", "node"),
        # The panel really names these items "databases", not "server_database".
        "databases": _many("server.databases", "databases"),
    },
    "users": {"servers": _many("user.servers", "server")},
    "databases": {
        "password": _database_password,
        "host": lambda store, row: item("database_host", DATABASE_HOST),
    },
    "subusers": {"user": _one("users", "user_id"), "server": _one("servers", "server_id")},
}


def requested(query: Mapping[str, str]) -> tuple[str, ...]:
    """Top-level names from `?include=a,b.c`; Fractal ignores names it does not know."""
    raw = query.get("include") or ""
    return tuple(dict.fromkeys(p.strip().split(".")[0] for p in raw.split(",") if p.strip()))


def render(store: Store, kind: str, rows: Sequence[dict], names: tuple[str, ...]) -> list[dict]:
    """Item envelopes for rows, with the requested relations merged into attributes."""
    resource = RESOURCE_NAMES[kind]
    available = INCLUDES[kind]
    wanted = [(name, available[name]) for name in names if name in available]
    if not wanted:
        return [{"object": resource, "attributes": row} for row in rows]
    return [
        {
            "object": resource,
            "attributes": {**row, "relationships": {n: f(store, row) for n, f in wanted}},
        }
        for row in rows
    ]
