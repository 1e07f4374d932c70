"""Paged reads of the panel mirror for the admin browsers and the user dashboard.

Every list is one `ListQuery`: a SELECT, the tables it reads, the sort keys it
offers and the filters of the request; `fetch_page` runs it and counts the
matches with the same conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import asyncpg

from nodebyte_common.contracts import panel_mirror as c
from nodebyte_common.page_query import PageRequest


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class Conditions:
    """WHERE conditions and their positional arguments, numbered as they are added."""

    sql: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, template: str, value: Any) -> None:
        """`template` has `{}` where the argument goes; a None value adds nothing."""
        if value is None:
            return
        self.args.append(value)
        self.sql.append(template.replace("{}", f"${len(self.args)}"))

    def search(self, expressions: Sequence[str], text: str | None) -> None:
        """Any of `expressions` contains `text`, ignoring case."""
        if not text:
            return
        self.args.append(f"%{escape_like(text.lower())}%")
        placeholder = f"${len(self.args)}"
        matches = " OR ".join(f"lower({e}) LIKE {placeholder}" for e in expressions)
        self.sql.append(f"({matches})")

    @property
    def where(self) -> str:
        return f"WHERE {' AND '.join(self.sql)}" if self.sql else ""


@dataclass(frozen=True)
class ListQuery:
    select: str  # the SELECT list, without FROM
    source: str  # FROM: the table and the joins the conditions may use
    sorts: dict[str, str]  # public sort key -> SQL expression
    tiebreak: str  # a unique column, so pages never overlap


def sorts(offered: Any, expressions: dict[str, str]) -> dict[str, str]:
    """The SQL of each sort key the contract offers (`offered`, a Literal): one each."""
    if set(expressions) != set(get_args(offered)):
        raise ValueError(f"sort keys {sorted(expressions)} are not {get_args(offered)}")
    return expressions


async def fetch_page(
    conn: asyncpg.Connection,
    query: ListQuery,
    where: Conditions,
    page: PageRequest,
    sort: str = "id",
    order: str = "asc",
) -> tuple[list[asyncpg.Record], int]:
    """One page of `query`'s rows matching `where`, and how many match in all."""
    n = len(where.args)
    direction = "DESC" if order == "desc" else "ASC"
    rows = await conn.fetch(
        f"""{query.select} FROM {query.source} {where.where}
            ORDER BY {query.sorts[sort]} {direction}, {query.tiebreak}
            LIMIT ${n + 1} OFFSET ${n + 2}""",
        *where.args,
        page.page_size,
        page.offset,
    )
    total = await conn.fetchval(f"SELECT count(*) FROM {query.source} {where.where}", *where.args)
    return rows, total


# --- servers ------------------------------------------------------------------

SERVERS = ListQuery(
    select="""SELECT s.*, n.name AS node_name, u.username AS owner_username,
                     u.email AS owner_email, e.name AS egg_name""",
    source="""servers s LEFT JOIN nodes n ON n.id = s.node_id
              LEFT JOIN panel_users u ON u.id = s.owner_id LEFT JOIN eggs e ON e.id = s.egg_id""",
    sorts=sorts(
        c.ServerSort,
        {
            "id": "s.id",
            "name": "lower(s.name)",
            "createdAt": "s.created_at",
            "status": "s.status",
            "node": "s.node_id",
        },
    ),
    tiebreak="s.id",
)


def server_conditions(search: str | None) -> Conditions:
    where = Conditions()
    where.search(("s.name", "s.identifier", "s.uuid::text"), search)
    return where


def owned_server_conditions(search: str | None, owner_id: int | None) -> Conditions:
    """The servers of one panel user; an account linked to none owns nothing."""
    where = server_conditions(search)
    if owner_id is None:
        where.sql.append("false")
    else:
        where.add("s.owner_id = {}", owner_id)
    return where


def server_view(r: asyncpg.Record) -> c.MirrorServer:
    return c.MirrorServer(
        id=r["id"],
        uuid=r["uuid"],
        identifier=r["identifier"],
        name=r["name"],
        description=r["description"],
        status=r["status"],
        suspended=r["suspended"],
        limits=r["limits"],
        feature_limits=r["feature_limits"],
        node=c.Named(id=r["node_id"], name=r["node_name"]),
        owner=c.Owner(id=r["owner_id"], username=r["owner_username"], email=r["owner_email"]),
        egg=c.Named(id=r["egg_id"], name=r["egg_name"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


# --- nodes --------------------------------------------------------------------

NODES = ListQuery(
    select="""SELECT n.*, l.short AS location_short, l.long AS location_long,
                     (SELECT count(*) FROM servers s WHERE s.node_id = n.id) AS server_count,
                     (SELECT count(*) FROM allocations a WHERE a.node_id = n.id)
                         AS allocations_total,
                     (SELECT count(*) FROM allocations a WHERE a.node_id = n.id AND a.assigned)
                         AS allocations_used""",
    source="nodes n LEFT JOIN locations l ON l.id = n.location_id",
    sorts=sorts(
        c.NodeSort,
        {
            "id": "n.id",
            "name": "lower(n.name)",
            "fqdn": "lower(n.fqdn)",
            "createdAt": "n.created_at",
        },
    ),
    tiebreak="n.id",
)


def node_conditions(
    search: str | None, location_id: int | None, maintenance: bool | None
) -> Conditions:
    where = Conditions()
    where.search(("n.name", "n.fqdn"), search)
    where.add("n.location_id = {}", location_id)
    where.add("coalesce(n.maintenance_mode, false) = {}", maintenance)
    return where


async def node(conn: asyncpg.Connection, node_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{NODES.select} FROM {NODES.source} WHERE n.id = $1", node_id)


def node_view(r: asyncpg.Record) -> c.MirrorNode:
    return c.MirrorNode(
        id=r["id"],
        uuid=r["uuid"],
        name=r["name"],
        description=r["description"],
        public=r["public"],
        fqdn=r["fqdn"],
        scheme=r["scheme"],
        behind_proxy=r["behind_proxy"],
        maintenance_mode=bool(r["maintenance_mode"]),
        memory=r["memory"],
        memory_overallocate=r["memory_overallocate"],
        disk=r["disk"],
        disk_overallocate=r["disk_overallocate"],
        allocated_memory=r["allocated_memory"],
        allocated_disk=r["allocated_disk"],
        upload_size=r["upload_size"],
        daemon_listen=r["daemon_listen"],
        daemon_sftp=r["daemon_sftp"],
        daemon_base=r["daemon_base"],
        location=c.NodeLocation(
            id=r["location_id"], short=r["location_short"], long=r["location_long"]
        ),
        server_count=r["server_count"],
        allocations=c.AllocationUse(used=r["allocations_used"], total=r["allocations_total"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        synced_at=r["synced_at"],
    )


# --- allocations --------------------------------------------------------------

ALLOCATIONS = ListQuery(
    select="""SELECT a.*, n.name AS node_name, s.name AS server_name,
                     s.identifier AS server_identifier""",
    source="""allocations a LEFT JOIN nodes n ON n.id = a.node_id
              LEFT JOIN servers s ON s.id = a.server_id""",
    sorts=sorts(c.AllocationSort, {"id": "a.id", "ip": "a.ip", "port": "a.port"}),
    tiebreak="a.id",
)


def allocation_conditions(
    search: str | None, node_id: int | None, assigned: bool | None
) -> Conditions:
    where = Conditions()
    where.search(("a.ip", "a.alias", "a.port::text"), search)
    where.add("a.node_id = {}", node_id)
    where.add("a.assigned = {}", assigned)
    return where


def allocation_view(r: asyncpg.Record) -> c.Allocation:
    server = None
    if r["server_id"] is not None:
        server = c.AllocatedTo(
            id=r["server_id"], name=r["server_name"], identifier=r["server_identifier"]
        )
    return c.Allocation(
        id=r["id"],
        ip=r["ip"],
        alias=r["alias"],
        port=r["port"],
        notes=r["notes"],
        assigned=r["assigned"],
        node=c.Named(id=r["node_id"], name=r["node_name"]),
        server=server,
        synced_at=r["synced_at"],
    )


# --- locations ----------------------------------------------------------------

LOCATIONS = ListQuery(
    select="""SELECT l.*,
                     (SELECT count(*) FROM nodes n WHERE n.location_id = l.id) AS node_count,
                     (SELECT count(*) FROM servers s JOIN nodes n ON n.id = s.node_id
                      WHERE n.location_id = l.id) AS server_count""",
    source="locations l",
    sorts=sorts(
        c.LocationSort, {"id": "l.id", "short": "lower(l.short)", "createdAt": "l.created_at"}
    ),
    tiebreak="l.id",
)


def location_conditions(search: str | None) -> Conditions:
    where = Conditions()
    where.search(("l.short", "l.long"), search)
    return where


def location_view(r: asyncpg.Record) -> c.Location:
    return c.Location(
        id=r["id"],
        short=r["short"],
        long=r["long"],
        node_count=r["node_count"],
        server_count=r["server_count"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


# --- nests and eggs -----------------------------------------------------------

NESTS = ListQuery(
    select="""SELECT t.*,
                     (SELECT count(*) FROM eggs e WHERE e.nest_id = t.id) AS egg_count,
                     (SELECT count(*) FROM servers s WHERE s.nest_id = t.id) AS server_count""",
    source="nests t",
    sorts=sorts(c.NestSort, {"id": "t.id", "name": "lower(t.name)"}),
    tiebreak="t.id",
)


def nest_conditions(search: str | None) -> Conditions:
    where = Conditions()
    where.search(("t.name", "t.author"), search)
    return where


def nest_view(r: asyncpg.Record) -> c.Nest:
    return c.Nest(
        id=r["id"],
        uuid=r["uuid"],
        name=r["name"],
        author=r["author"],
        description=r["description"],
        egg_count=r["egg_count"],
        server_count=r["server_count"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


# Not the install script nor the config: they are large and the browser lists eggs.
EGGS = ListQuery(
    select="""SELECT e.id, e.uuid, e.nest_id, e.name, e.author, e.description, e.docker_image,
                     e.docker_images, e.startup, e.created_at, e.updated_at,
                     t.name AS nest_name,
                     (SELECT count(*) FROM servers s WHERE s.egg_id = e.id) AS server_count,
                     (SELECT count(*) FROM egg_variables v WHERE v.egg_id = e.id)
                         AS variable_count""",
    source="eggs e LEFT JOIN nests t ON t.id = e.nest_id",
    sorts=sorts(c.EggSort, {"id": "e.id", "name": "lower(e.name)"}),
    tiebreak="e.id",
)


def egg_conditions(search: str | None, nest_id: int | None) -> Conditions:
    where = Conditions()
    where.search(("e.name", "e.author", "e.docker_image"), search)
    where.add("e.nest_id = {}", nest_id)
    return where


def egg_view(r: asyncpg.Record) -> c.Egg:
    return c.Egg(
        id=r["id"],
        uuid=r["uuid"],
        name=r["name"],
        author=r["author"],
        description=r["description"],
        nest=c.Named(id=r["nest_id"], name=r["nest_name"]),
        docker_image=r["docker_image"],
        docker_images=r["docker_images"],
        startup=r["startup"],
        server_count=r["server_count"],
        variable_count=r["variable_count"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


# --- the dashboard: one panel user's servers ----------------------------------


async def panel_owner(
    conn: asyncpg.Connection, panel_user_id: int | None, email: str | None
) -> int | None:
    """The panel user an account stands for: its linked panel id, else the panel
    user with the account's (verified) email; None when neither matches."""
    if panel_user_id is not None:
        return panel_user_id
    if not email:
        return None
    return await conn.fetchval(
        "SELECT id FROM panel_users WHERE lower(email) = lower($1) ORDER BY id LIMIT 1", email
    )


async def owner_stats(conn: asyncpg.Connection, owner_id: int | None) -> c.OwnerStats:
    """Counts and limit totals of the servers `owner_id` owns (zeros for None)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS total,
                  count(*) FILTER (WHERE NOT suspended AND status IS NULL) AS active,
                  count(*) FILTER (WHERE suspended) AS suspended,
                  coalesce(sum((limits->>'memory')::numeric), 0)::bigint AS memory,
                  coalesce(sum((limits->>'disk')::numeric), 0)::bigint AS disk,
                  coalesce(sum((limits->>'cpu')::numeric), 0)::bigint AS cpu
           FROM servers WHERE owner_id = $1""",
        owner_id,
    )
    return c.OwnerStats(
        panel_user_id=owner_id,
        total_servers=row["total"],
        active_servers=row["active"],
        suspended_servers=row["suspended"],
        total_memory=row["memory"],
        total_disk=row["disk"],
        total_cpu=row["cpu"],
    )
