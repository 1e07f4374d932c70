"""The steps of a sync: what each pulls from the panel and which tables it mirrors.

Relationships are read where the panel puts them: inside
`attributes.relationships` (egg variables, server allocations and databases,
client subusers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nodebyte_common.pterodactyl import relationship
from nodebyte_sync.page_fetcher import ListRequest

Row = tuple[Any, ...]
MAPPING_VERSION = 2  # bump when a row function changes what a panel item maps to


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class Mirror:
    """A table fed by a step: the rows one panel item contributes to it."""

    table: str
    columns: tuple[str, ...]
    rows: Callable[[dict[str, Any], int | None], list[Row]]  # (item, parent id)
    key_type: str = "bigint"
    prune_scope: str = ""  # extra condition limiting which rows a prune may delete


@dataclass(frozen=True)
class Step:
    name: str
    requests: Callable[[list[int]], list[ListRequest]]  # given the parent ids, if any
    mirrors: tuple[Mirror, ...]
    parent_table: str | None = None  # ids of this table feed `requests`
    links_allocations: bool = False  # servers: reads the allocation → server links
    reads_databases: bool = False  # servers: their databases, through the include or not
    # allocations: rows written after the servers' links were read get them too
    applies_links: bool = False
    optional: bool = False  # a failure is counted, not fatal (subusers)
    # Steps of the same sync that must have finished before this one starts (its
    # parents), and before it finishes (what its links and prune read).
    starts_after: tuple[str, ...] = ()
    finishes_after: tuple[str, ...] = ()


def _one(path: str, params: dict[str, Any] | None = None) -> Callable[[list[int]], list]:
    return lambda _: [ListRequest(path, params or {})]


def location_rows(a: dict, _parent: int | None = None) -> list[Row]:
    return [(a["id"], a["short"], a.get("long"), ts(a.get("created_at")), ts(a.get("updated_at")))]


def node_rows(a: dict, _parent: int | None = None) -> list[Row]:
    allocated = a.get("allocated_resources") or {}
    return [
        (
            a["id"],
            a.get("uuid"),
            a.get("public"),
            a["name"],
            a.get("description"),
            a.get("location_id"),
            a.get("fqdn"),
            a.get("scheme"),
            a.get("behind_proxy"),
            a.get("maintenance_mode"),
            a.get("memory"),
            a.get("memory_overallocate"),
            a.get("disk"),
            a.get("disk_overallocate"),
            a.get("upload_size"),
            a.get("daemon_listen"),
            a.get("daemon_sftp"),
            a.get("daemon_base"),
            allocated.get("memory"),
            allocated.get("disk"),
            ts(a.get("created_at")),
            ts(a.get("updated_at")),
        )
    ]


def allocation_rows(a: dict, node_id: int | None = None) -> list[Row]:
    return [
        (
            a["id"],
            node_id,
            a["ip"],
            a.get("alias"),
            a["port"],
            a.get("notes"),
            bool(a.get("assigned")),
        )
    ]


def nest_rows(a: dict, _parent: int | None = None) -> list[Row]:
    return [
        (
            a["id"],
            a.get("uuid"),
            a.get("author"),
            a["name"],
            a.get("description"),
            ts(a.get("created_at")),
            ts(a.get("updated_at")),
        )
    ]


def egg_rows(a: dict, _parent: int | None = None) -> list[Row]:
    return [
        (
            a["id"],
            a.get("uuid"),
            a["nest"],
            a["name"],
            a.get("author"),
            a.get("description"),
            a.get("docker_image"),
            a.get("docker_images"),
            a.get("config"),
            a.get("startup"),
            a.get("script"),
            ts(a.get("created_at")),
            ts(a.get("updated_at")),
        )
    ]


def egg_variable_rows(egg: dict, _parent: int | None = None) -> list[Row]:
    return [
        (
            v["id"],
            v.get("egg_id", egg["id"]),
            v["name"],
            v.get("description"),
            v["env_variable"],
            v.get("default_value"),
            v.get("user_viewable"),
            v.get("user_editable"),
            v.get("rules"),
            ts(v.get("created_at")),
            ts(v.get("updated_at")),
        )
        for v in relationship(egg, "variables")
    ]


def server_rows(a: dict, _parent: int | None = None) -> list[Row]:
    return [
        (
            a["id"],
            a.get("external_id"),
            a["uuid"],
            a["identifier"],
            a["name"],
            a.get("description"),
            a.get("status"),
            bool(a.get("suspended")),
            a.get("limits"),
            a.get("feature_limits"),
            a.get("user"),
            a.get("node"),
            a.get("allocation"),
            a.get("nest"),
            a.get("egg"),
            a.get("container"),
            ts(a.get("created_at")),
            ts(a.get("updated_at")),
        )
    ]


def server_database_rows(server: dict, _parent: int | None = None) -> list[Row]:
    return [
        (
            d["id"],
            d.get("server", server["id"]),
            d.get("host"),
            d["database"],
            d.get("username"),
            d.get("remote"),
            d.get("max_connections"),
            ts(d.get("created_at")),
            ts(d.get("updated_at")),
        )
        for d in relationship(server, "databases")
    ]


def user_rows(a: dict, _parent: int | None = None) -> list[Row]:
    return [
        (
            a["id"],
            a.get("external_id"),
            a.get("uuid"),
            a["username"],
            a["email"],
            a.get("first_name"),
            a.get("last_name"),
            a.get("language"),
            bool(a.get("root_admin")),
            bool(a.get("2fa")),
            ts(a.get("created_at")),
            ts(a.get("updated_at")),
        )
    ]


def subuser_rows(server: dict, _parent: int | None = None) -> list[Row]:
    server_id = server["internal_id"]
    return [
        (
            f"{server_id}:{s['uuid']}",
            server_id,
            s["uuid"],
            s.get("username"),
            s.get("email"),
            bool(s.get("2fa_enabled")),
            list(s.get("permissions") or []),
            False,
            ts(s.get("created_at")),
        )
        for s in relationship(server, "subusers")
    ]


LOCATIONS = Step(
    "locations",
    _one("/locations"),
    (Mirror("locations", ("id", "short", "long", "created_at", "updated_at"), location_rows),),
)

NODES = Step(
    "nodes",
    _one("/nodes"),
    (
        Mirror(
            "nodes",
            (
                "id",
                "uuid",
                "public",
                "name",
                "description",
                "location_id",
                "fqdn",
                "scheme",
                "behind_proxy",
                "maintenance_mode",
                "memory",
                "memory_overallocate",
                "disk",
                "disk_overallocate",
                "upload_size",
                "daemon_listen",
                "daemon_sftp",
                "daemon_base",
                "allocated_memory",
                "allocated_disk",
                "created_at",
                "updated_at",
            ),
            node_rows,
        ),
    ),
)

ALLOCATION_COLUMNS = ("id", "node_id", "ip", "alias", "port", "notes", "assigned")

ALLOCATIONS = Step(
    "allocations",
    lambda node_ids: [ListRequest(f"/nodes/{n}/allocations", {}, parent_id=n) for n in node_ids],
    (Mirror("allocations", ALLOCATION_COLUMNS, allocation_rows),),
    parent_table="nodes",
    starts_after=("nodes",),
    applies_links=True,
)

NESTS = Step(
    "nests",
    _one("/nests"),
    (
        Mirror(
            "nests",
            ("id", "uuid", "author", "name", "description", "created_at", "updated_at"),
            nest_rows,
        ),
    ),
)

EGGS = Step(
    "eggs",
    lambda nest_ids: [
        ListRequest(f"/nests/{n}/eggs", {"include": "variables"}, paginated=False, parent_id=n)
        for n in nest_ids
    ],
    (
        Mirror(
            "eggs",
            (
                "id",
                "uuid",
                "nest_id",
                "name",
                "author",
                "description",
                "docker_image",
                "docker_images",
                "config",
                "startup",
                "script",
                "created_at",
                "updated_at",
            ),
            egg_rows,
        ),
        Mirror(
            "egg_variables",
            (
                "id",
                "egg_id",
                "name",
                "description",
                "env_variable",
                "default_value",
                "user_viewable",
                "user_editable",
                "rules",
                "created_at",
                "updated_at",
            ),
            egg_variable_rows,
        ),
    ),
    parent_table="nests",
    starts_after=("nests",),
)

SERVERS = Step(
    "servers",
    _one("/servers", {"include": "allocations,databases"}),
    (
        Mirror(
            "servers",
            (
                "id",
                "external_id",
                "uuid",
                "identifier",
                "name",
                "description",
                "status",
                "suspended",
                "limits",
                "feature_limits",
                "owner_id",
                "node_id",
                "allocation_id",
                "nest_id",
                "egg_id",
                "container",
                "created_at",
                "updated_at",
            ),
            server_rows,
            prune_scope="panel_type = 'pterodactyl'",
        ),
        Mirror(
            "server_databases",
            (
                "id",
                "server_id",
                "host_id",
                "database",
                "username",
                "remote",
                "max_connections",
                "created_at",
                "updated_at",
            ),
            server_database_rows,
        ),
    ),
    links_allocations=True,
    reads_databases=True,
    finishes_after=("allocations",),
)

USERS = Step(
    "users",
    _one("/users"),
    (
        Mirror(
            "panel_users",
            (
                "id",
                "external_id",
                "uuid",
                "username",
                "email",
                "first_name",
                "last_name",
                "language",
                "root_admin",
                "two_factor",
                "created_at",
                "updated_at",
            ),
            user_rows,
        ),
    ),
)

SUBUSERS = Step(
    "subusers",
    lambda _: [ListRequest("", {"type": "admin-all", "include": "subusers"}, api="client")],
    (
        Mirror(
            "server_subusers",
            (
                "id",
                "server_id",
                "user_uuid",
                "username",
                "email",
                "two_factor",
                "permissions",
                "is_owner",
                "created_at",
            ),
            subuser_rows,
            key_type="text",
        ),
    ),
    optional=True,
    finishes_after=("servers", "users"),  # the owners are marked from both
)


def steps_for(kind: str, *, skip_users: bool, subusers: bool) -> tuple[Step, ...]:
    """The steps of a sync of `kind`, in the reference's order.

    They run concurrently where their dependencies allow (the mirror has no
    foreign keys; `starts_after` and `finishes_after` order what reads another
    step's rows).
    """
    if kind == "locations":
        return (LOCATIONS,)
    if kind == "nodes":
        return (NODES, ALLOCATIONS)
    if kind == "servers":
        return (SERVERS,)
    if kind == "users":
        return (USERS,)
    full = [LOCATIONS, NODES, ALLOCATIONS, NESTS, EGGS, SERVERS]
    if not skip_users:
        full.append(USERS)
    if subusers:
        full.append(SUBUSERS)
    return tuple(full)
