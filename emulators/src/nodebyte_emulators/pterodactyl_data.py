"""Deterministic generation of a Pterodactyl panel's contents from a seed and a set of sizes.

Rows are stored as the exact attribute dicts the Application API transformers emit, so
serving a page is slicing plus encoding. Links the attributes do not carry (which node
and server an allocation belongs to, server variable values, database passwords) live in
side tables. Derived fields (environment, assigned, allocated_resources) are filled in
by the store, not here.
"""

import random
import time
import uuid
from dataclasses import dataclass, field

KINDS = (
    "locations",
    "nodes",
    "allocations",
    "nests",
    "eggs",
    "variables",
    "servers",
    "users",
    "databases",
    "subusers",
)

# Generated rows are dated between this instant (2023-01-01T00:00:00Z) and ~500 days later.
_EPOCH = 1_672_531_200
_SPAN = 500 * 86_400

HYTALE_SESSION_VARIABLES = ("HYTALE_SERVER_SESSION_TOKEN", "HYTALE_SERVER_IDENTITY_TOKEN")

_JAR_RULE = r"required|regex:/^([\w\d._-]+)(\.jar)$/"
# (name, env_variable, default, user_viewable, user_editable, rules)
_VARIABLE_TEMPLATES = (
    ("Server Jar File", "SERVER_JARFILE", "server.jar", True, True, _JAR_RULE),
    ("Minecraft Version", "MC_VERSION", "latest", True, True, "required|string|max:20"),
    ("Build Number", "BUILD_NUMBER", "latest", True, False, "required|string|max:20"),
    ("Max Players", "MAX_PLAYERS", "20", True, True, "required|integer|between:1,500"),
    ("Auto Update", "AUTO_UPDATE", "1", True, True, "required|boolean"),
    ("License Key", "LICENSE_KEY", "", False, False, "nullable|string"),
    ("Query Port", "QUERY_PORT", "27015", True, False, "required|integer"),
    ("Server Name", "SERVER_NAME", "A NodeByte Server", True, True, "required|string|max:64"),
    ("Steam Account Token", "STEAM_ACC", "", True, True, "nullable|string|max:64"),
    ("World Seed", "WORLD_SEED", "", True, True, "nullable|string|max:32"),
)
# The Hytale egg's read-only companion to its session variables.
_PATCHLINE = (
    "Patchline", "HYTALE_PATCHLINE", "release", True, False,
    "required|string|in:release,pre-release",
)  # fmt: skip
_HYTALE_IMAGES = {"Hytale": "ghcr.io/nodebyte/hytale:latest"}
_IMAGES = (
    {
        "Java 17": "ghcr.io/pterodactyl/yolks:java_17",
        "Java 21": "ghcr.io/pterodactyl/yolks:java_21",
    },
    {"Debian": "ghcr.io/pterodactyl/yolks:debian"},
    {"SteamCMD": "ghcr.io/pterodactyl/games:source"},
    {"Node 20": "ghcr.io/pterodactyl/yolks:nodejs_20"},
)
_PERMISSIONS = (
    "control.console", "control.start", "control.stop", "control.restart", "file.read",
    "file.update", "startup.read", "startup.update", "allocation.read",
)  # fmt: skip
_STATUSES = (None,) * 17 + ("installing", "suspended", "install_failed")
_REGIONS = ("us", "eu", "ap", "sa", "af")
_WORDS = (
    "amber", "brisk", "cedar", "delta", "ember", "frost", "granite", "harbor", "iris",
    "juniper", "kestrel", "lumen", "maple", "nova", "onyx", "pine", "quartz", "raven",
)  # fmt: skip
_FIRST = ("Ada", "Ben", "Cleo", "Dan", "Eve", "Finn", "Gia", "Hugo", "Ivy", "Jon", "Kai", "Lea")
_LAST = ("Stone", "Rivers", "Hale", "Marsh", "Wolfe", "Grant", "Frost", "Lane", "Reyes", "Shaw")


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """Sizes and seed of a generated panel; the same spec always yields the same data."""

    seed: int = 1
    locations: int = 3
    nodes: int = 5
    allocations: int = 60
    nests: int = 4
    eggs: int = 10
    servers: int = 40
    users: int = 25
    database_ratio: float = 0.3
    subuser_ratio: float = 0.3
    # Egg 1 is the Hytale egg; its user-editable token variables carry pushed sessions.
    session_variables: tuple[str, ...] = HYTALE_SESSION_VARIABLES

    def validate(self) -> None:
        for name in ("locations", "nodes", "nests", "eggs", "users"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.servers < 0 or self.allocations < self.servers:
            raise ValueError("every server needs an allocation: allocations >= servers >= 0")
        if not 1 <= len(self.session_variables) <= 3:
            raise ValueError("the Hytale egg takes 1 to 3 session variables")


@dataclass(slots=True)
class Tables:
    """Everything a panel holds, keyed by kind then id."""

    rows: dict[str, dict[int, dict]] = field(default_factory=lambda: {k: {} for k in KINDS})
    allocation_node: dict[int, int] = field(default_factory=dict)
    allocation_server: dict[int, int] = field(default_factory=dict)
    # server id -> egg variable id -> stored value; None (no row) means the default applies
    server_values: dict[int, dict[int, str | None]] = field(default_factory=dict)
    database_passwords: dict[int, str] = field(default_factory=dict)


def atom(ts: float) -> str:
    """Timestamp as the transformers format it (Carbon toAtomString in UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def micro(ts: float) -> str:
    """Timestamp as Eloquent's toArray() emits it (egg and server variables)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(ts))


def generate(spec: DatasetSpec) -> Tables:
    spec.validate()
    return _Generator(spec).run()


class _Generator:
    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.tables = Tables()
        self.rows = self.tables.rows
        self._uuids: set[str] = set()
        self.egg_variables: dict[int, list[int]] = {}

    def run(self) -> Tables:
        self._locations()
        self._nodes()
        self._allocations()
        self._nests()
        self._eggs()
        self._users()
        self._servers()
        self._extras()
        return self.tables

    def uuid(self) -> str:
        # Regenerate on a clash so the 8-char identifiers stay unique too.
        while True:
            value = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            if value[:8] not in self._uuids:
                self._uuids.add(value[:8])
                return value

    def stamps(self) -> tuple[int, int]:
        created = _EPOCH + self.rng.randrange(_SPAN)
        return created, created + self.rng.randrange(86_400 * 30)

    def _locations(self) -> None:
        for i in range(1, self.spec.locations + 1):
            created, updated = self.stamps()
            region = _REGIONS[(i - 1) % len(_REGIONS)]
            self.rows["locations"][i] = {
                "id": i,
                "short": f"{region}.dc{i}",
                "long": f"{region.upper()} datacenter {i}",
                "updated_at": atom(updated),
                "created_at": atom(created),
            }

    def _nodes(self) -> None:
        for i in range(1, self.spec.nodes + 1):
            created, updated = self.stamps()
            location = (i - 1) % self.spec.locations + 1
            self.rows["nodes"][i] = {
                "id": i,
                "uuid": self.uuid(),
                "public": True,
                "name": f"node-{i:03d}",
                "description": f"Game node {i}",
                "location_id": location,
                "fqdn": f"node{i}.{self.rows['locations'][location]['short']}.nodebyte.test",
                "scheme": "https",
                "behind_proxy": False,
                "maintenance_mode": self.rng.random() < 0.05,
                "memory": self.rng.choice((32768, 65536, 131072)),
                "memory_overallocate": 0,
                "disk": self.rng.choice((512000, 1024000, 2048000)),
                "disk_overallocate": 0,
                "upload_size": 100,
                "daemon_listen": 8080,
                "daemon_sftp": 2022,
                "daemon_base": "/var/lib/pterodactyl/volumes",
                "created_at": atom(created),
                "updated_at": atom(updated),
                "allocated_resources": {"memory": 0, "disk": 0},
            }

    def _allocations(self) -> None:
        nodes = self.spec.nodes
        for i in range(1, self.spec.allocations + 1):
            node = (i - 1) % nodes + 1
            self.tables.allocation_node[i] = node
            self.rows["allocations"][i] = {
                "id": i,
                "ip": f"10.{node // 256}.{node % 256}.10",
                "alias": None if i % 4 else f"play{i}.nodebyte.test",
                "port": 25565 + (i - 1) // nodes,
                "notes": None,
                "assigned": False,
            }

    def _nests(self) -> None:
        for i in range(1, self.spec.nests + 1):
            created, updated = self.stamps()
            self.rows["nests"][i] = {
                "id": i,
                "uuid": self.uuid(),
                "author": "support@nodebyte.test",
                "name": "Hytale" if i == 1 else f"Nest {i}",
                "description": f"Games of nest {i}",
                "created_at": atom(created),
                "updated_at": atom(updated),
            }

    def _eggs(self) -> None:
        for i in range(1, self.spec.eggs + 1):
            created, updated = self.stamps()
            images = _HYTALE_IMAGES if i == 1 else self.rng.choice(_IMAGES)
            nest = (i - 1) % self.spec.nests + 1
            egg = self.rows["eggs"][i] = _egg(i, nest, self.uuid(), images, created, updated)
            if i == 1:
                egg["name"] = "Hytale Server"
                egg["startup"] = "java -Xmx{{SERVER_MEMORY}}M -jar HytaleServer.jar"
            for template in self._variable_templates(i):
                self._variable(i, template, created)

    def _variable_templates(self, egg: int) -> list[tuple]:
        if egg != 1:
            return self.rng.sample(_VARIABLE_TEMPLATES, self.rng.randint(1, 4))
        session = [
            (name.replace("_", " ").title(), name, "", True, True, "nullable|string")
            for name in self.spec.session_variables
        ]
        return [*session, _PATCHLINE]

    def _variable(self, egg: int, template: tuple, created: int) -> None:
        name, env, default, viewable, editable, rules = template
        variable_id = len(self.rows["variables"]) + 1
        self.egg_variables.setdefault(egg, []).append(variable_id)
        self.rows["variables"][variable_id] = {
            "id": variable_id,
            "egg_id": egg,
            "name": name,
            "description": f"{name} for this server.",
            "env_variable": env,
            "default_value": default,
            "user_viewable": viewable,
            "user_editable": editable,
            "rules": rules,
            "created_at": micro(created),
            "updated_at": micro(created),
        }

    def _users(self) -> None:
        for i in range(1, self.spec.users + 1):
            created, updated = self.stamps()
            first, last = _FIRST[i % len(_FIRST)], _LAST[i % len(_LAST)]
            username = "admin" if i == 1 else f"{first.lower()}.{last.lower()}{i}"
            self.rows["users"][i] = {
                "id": i,
                "external_id": f"nb-user-{i}" if i % 3 == 0 else None,
                "uuid": self.uuid(),
                "username": username,
                "email": f"{username}@nodebyte.test",
                "first_name": first,
                "last_name": last,
                "language": "en",
                "root_admin": i == 1 or i % 50 == 0,
                "2fa": i % 7 == 0,
                "created_at": atom(created),
                "updated_at": atom(updated),
            }

    def _servers(self) -> None:
        pools = self._free_allocations()
        open_nodes = [node for node, pool in pools.items() if pool]
        for i in range(1, self.spec.servers + 1):
            pick = self.rng.randrange(len(open_nodes))
            node = open_nodes[pick]
            primary = pools[node].pop()
            if not pools[node]:
                open_nodes[pick] = open_nodes[-1]
                open_nodes.pop()
            self._server(i, node, primary)
        # Extra allocations come second so that every server got its primary first.
        for i in range(1, self.spec.servers + 1):
            pool = pools[self.rows["servers"][i]["node"]]
            for _ in range(min(self.rng.randint(0, 2), len(pool))):
                self.tables.allocation_server[pool.pop()] = i

    def _free_allocations(self) -> dict[int, list[int]]:
        pools: dict[int, list[int]] = {node: [] for node in self.rows["nodes"]}
        for allocation, node in self.tables.allocation_node.items():
            pools[node].append(allocation)
        for pool in pools.values():
            self.rng.shuffle(pool)
        return pools

    def _server(self, i: int, node: int, allocation: int) -> None:
        rng = self.rng
        created, updated = self.stamps()
        egg = self.rows["eggs"][1 if i % 10 == 1 else rng.randint(1, self.spec.eggs)]
        status = rng.choice(_STATUSES)
        server_uuid = self.uuid()
        self.tables.allocation_server[allocation] = i
        self.rows["servers"][i] = {
            "id": i,
            "external_id": f"nb-server-{i}" if i % 2 == 0 else None,
            "uuid": server_uuid,
            "identifier": server_uuid[:8],
            "name": f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-{i}",
            "description": "",
            "status": status,
            "suspended": status == "suspended",
            "limits": {
                "memory": rng.choice((1024, 2048, 4096, 8192)),
                "swap": 0,
                "disk": rng.choice((5120, 10240, 20480)),
                "io": 500,
                "cpu": rng.choice((0, 100, 200)),
                "threads": None,
                "oom_disabled": True,
            },
            "feature_limits": {"databases": 2, "allocations": 3, "backups": rng.randint(0, 3)},
            "user": rng.randint(1, self.spec.users),
            "node": node,
            "allocation": allocation,
            "nest": egg["nest"],
            "egg": egg["id"],
            "container": {
                "startup_command": egg["startup"],
                "image": next(iter(egg["docker_images"].values())),
                "installed": 1,
                "environment": {},
            },
            "updated_at": atom(updated),
            "created_at": atom(created),
        }
        self.tables.server_values[i] = {
            vid: self.rows["variables"][vid]["default_value"]
            for vid in self.egg_variables[egg["id"]]
        }

    def _extras(self) -> None:
        for server in self.rows["servers"].values():
            if self.rng.random() < self.spec.database_ratio:
                for _ in range(self.rng.randint(1, 2)):
                    self._database(server)
            if self.spec.users > 1 and self.rng.random() < self.spec.subuser_ratio:
                for user in self._subuser_candidates(server["user"]):
                    self._subuser(server, user)

    def _subuser_candidates(self, owner: int) -> set[int]:
        picks = {self.rng.randint(1, self.spec.users) for _ in range(self.rng.randint(1, 2))}
        return picks - {owner}

    def _database(self, server: dict) -> None:
        database_id = len(self.rows["databases"]) + 1
        created, updated = self.stamps()
        self.tables.database_passwords[database_id] = f"pw{self.rng.getrandbits(64):016x}"
        self.rows["databases"][database_id] = {
            "id": database_id,
            "server": server["id"],
            "host": 1,
            "database": f"s{server['id']}_db{database_id}",
            "username": f"u{server['id']}_{self.rng.getrandbits(40):010x}",
            "remote": "%",
            "max_connections": 0,
            "created_at": atom(created),
            "updated_at": atom(updated),
        }

    def _subuser(self, server: dict, user: int) -> None:
        subuser_id = len(self.rows["subusers"]) + 1
        created, updated = self.stamps()
        self.rows["subusers"][subuser_id] = {
            "id": subuser_id,
            "user_id": user,
            "server_id": server["id"],
            "permissions": sorted(self.rng.sample(_PERMISSIONS, self.rng.randint(1, 5))),
            "created_at": atom(created),
            "updated_at": atom(updated),
        }


def _egg(
    egg_id: int, nest: int, egg_uuid: str, images: dict[str, str], created: int, updated: int
) -> dict:
    return {
        "id": egg_id,
        "uuid": egg_uuid,
        "name": f"Egg {egg_id}",
        "nest": nest,
        "author": "support@nodebyte.test",
        "description": f"Generated egg {egg_id}",
        "docker_image": next(iter(images.values())),
        "docker_images": images,
        "config": {
            "files": {},
            "startup": {"done": "Server started"},
            "stop": "stop",
            "logs": {},
            "file_denylist": [],
            "extends": None,
        },
        "startup": "java -Xms128M -Xmx{{SERVER_MEMORY}}M -jar server.jar",
        "script": {
            "privileged": True,
            "install": "#!/bin/bash\necho installing",
            "entry": "bash",
            "container": "ghcr.io/pterodactyl/installers:debian",
            "extends": None,
        },
        "created_at": atom(created),
        "updated_at": atom(updated),
    }
