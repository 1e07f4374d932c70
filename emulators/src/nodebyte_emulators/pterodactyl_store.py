"""The live panel: generated tables, lookup indexes rebuilt after changes, derived fields."""

from collections.abc import Callable
from dataclasses import dataclass

from .pterodactyl_data import DatasetSpec, Tables, generate

# relation name -> (child kind, how to read a child's parent id)
_Parent = Callable[[Tables, dict], int | None]
RELATIONS: dict[str, tuple[str, _Parent]] = {
    "location.nodes": ("nodes", lambda t, r: r["location_id"]),
    "node.allocations": ("allocations", lambda t, r: t.allocation_node.get(r["id"])),
    "node.servers": ("servers", lambda t, r: r["node"]),
    "nest.eggs": ("eggs", lambda t, r: r["nest"]),
    "nest.servers": ("servers", lambda t, r: r["nest"]),
    "egg.variables": ("variables", lambda t, r: r["egg_id"]),
    "egg.servers": ("servers", lambda t, r: r["egg"]),
    "server.allocations": ("allocations", lambda t, r: t.allocation_server.get(r["id"])),
    "server.subusers": ("subusers", lambda t, r: r["server_id"]),
    "server.databases": ("databases", lambda t, r: r["server"]),
    "user.servers": ("servers", lambda t, r: r["user"]),
    "user.subusers": ("subusers", lambda t, r: r["user_id"]),
}
_NOT_INSTALLED = ("installing", "install_failed")


@dataclass(slots=True)
class Index:
    ordered: dict[str, list[dict]]
    children: dict[str, dict[int, list[int]]]
    server_refs: dict[str, int]  # 8-char identifier and full uuid -> server id
    external: dict[str, dict[str, int]]  # kind -> external_id -> id


class Store:
    """Panel state. Call `changed()` after any edit so indexes and derived fields follow."""

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.tables = generate(spec)
        self._index: Index | None = None
        self._last_ids: dict[str, int] = {}
        self.refresh_derived()

    def reset(self) -> None:
        """The seeded dataset again. Ids handed out before are not handed out again (a
        panel never reuses one): whoever linked something to an old id (an account to a
        panel user) must not find it pointing at a newcomer."""
        self.tables = generate(self.spec)
        self.changed()

    def allocate_id(self, kind: str) -> int:
        """Next id for a new row; like AUTO_INCREMENT, ids of deleted rows are not reused."""
        last = max(self._last_ids.get(kind, 0), max(self.tables.rows[kind], default=0))
        self._last_ids[kind] = last + 1
        return last + 1

    @property
    def rows(self) -> dict[str, dict[int, dict]]:
        return self.tables.rows

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = self._build_index()
        return self._index

    def changed(self) -> None:
        self._index = None
        self.refresh_derived()

    def get(self, kind: str, row_id: int) -> dict | None:
        return self.tables.rows[kind].get(row_id)

    def related(self, relation: str, parent_id: int) -> list[dict]:
        kind = RELATIONS[relation][0]
        table = self.tables.rows[kind]
        return [table[i] for i in self.index.children[relation].get(parent_id, ())]

    def server_by_ref(self, ref: str) -> dict | None:
        server_id = self.index.server_refs.get(ref)
        return None if server_id is None else self.tables.rows["servers"].get(server_id)

    def by_external_id(self, kind: str, external_id: str) -> dict | None:
        row_id = self.index.external[kind].get(external_id)
        return None if row_id is None else self.tables.rows[kind].get(row_id)

    def _build_index(self) -> Index:
        rows = self.tables.rows
        # Ids are only ever appended in increasing order, so insertion order is id order.
        ordered = {kind: list(table.values()) for kind, table in rows.items()}
        children: dict[str, dict[int, list[int]]] = {}
        for relation, (kind, parent_of) in RELATIONS.items():
            groups: dict[int, list[int]] = {}
            for row in ordered[kind]:
                parent = parent_of(self.tables, row)
                if parent is not None:
                    groups.setdefault(parent, []).append(row["id"])
            children[relation] = groups
        refs = {s["identifier"]: s["id"] for s in ordered["servers"]}
        refs.update({s["uuid"]: s["id"] for s in ordered["servers"]})
        external = {
            kind: {r["external_id"]: r["id"] for r in ordered[kind] if r["external_id"]}
            for kind in ("servers", "users")
        }
        return Index(ordered, children, refs, external)

    def refresh_derived(self) -> None:
        """Recompute every field the panel derives from other rows."""
        rows, assigned = self.tables.rows, self.tables.allocation_server
        for allocation in rows["allocations"].values():
            allocation["assigned"] = allocation["id"] in assigned
        for node in rows["nodes"].values():
            servers = self.related("node.servers", node["id"])
            node["allocated_resources"] = {
                "memory": sum(s["limits"]["memory"] for s in servers),
                "disk": sum(s["limits"]["disk"] for s in servers),
            }
        for server in rows["servers"].values():
            self.refresh_server(server)

    def refresh_server(self, server: dict) -> None:
        server["suspended"] = server["status"] == "suspended"
        server["container"]["installed"] = 0 if server["status"] in _NOT_INSTALLED else 1
        server["container"]["environment"] = self.environment(server)

    def environment(self, server: dict) -> dict[str, object]:
        """Mirror of EnvironmentService::handle: egg variables then the panel's own keys."""
        values = self.tables.server_values.get(server["id"], {})
        environment: dict[str, object] = {}
        for variable in self.related("egg.variables", server["egg"]):
            value = values.get(variable["id"])
            environment[variable["env_variable"]] = (
                variable["default_value"] if value is None else value
            )
        node = self.get("nodes", server["node"])
        location = node and self.get("locations", node["location_id"])
        environment["STARTUP"] = server["container"]["startup_command"]
        environment["P_SERVER_LOCATION"] = location["short"] if location else None
        environment["P_SERVER_UUID"] = server["uuid"]
        environment["P_SERVER_ALLOCATION_LIMIT"] = server["feature_limits"]["allocations"]
        return environment

    def server_variables(self, server: dict) -> list[tuple[dict, str | None]]:
        """The server's egg variables paired with the stored server value."""
        values = self.tables.server_values.get(server["id"], {})
        return [(v, values.get(v["id"])) for v in self.related("egg.variables", server["egg"])]
