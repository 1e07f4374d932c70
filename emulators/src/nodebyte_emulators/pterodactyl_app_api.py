"""Application API read routes (`/api/application/...`)."""

from collections.abc import Sequence

from litestar import Request, Response, Router, get
from litestar.params import FromPath

from .pterodactyl_app_write import WRITE_ROUTES
from .pterodactyl_includes import render, requested
from .pterodactyl_query import apply
from .pterodactyl_requests import find, page_url, panel, query
from .pterodactyl_wire import NOT_FOUND_DETAIL, ApiError, json_response, paginate, parse_page


def _includes(request: Request, kind: str) -> tuple[str, ...]:
    """The requested includes the panel renders (a panel may leave servers' databases out)."""
    names = requested(query(request))
    if kind == "servers" and panel(request).databases_include == "omitted":
        return tuple(n for n in names if n != "databases")
    return names


def _listing(request: Request, kind: str, rows: Sequence[dict]) -> Response:
    store, params = panel(request).store, query(request)
    rows = apply(store, kind, rows, params)
    chunk, meta = paginate(rows, parse_page(params), page_url(request))
    data = render(store, kind, chunk, _includes(request, kind))
    return json_response({"object": "list", "data": data, "meta": meta})


def _unpaged(request: Request, kind: str, rows: Sequence[dict]) -> Response:
    data = render(panel(request).store, kind, rows, requested(query(request)))
    return json_response({"object": "list", "data": data})


def _single(request: Request, kind: str, row: dict | None) -> Response:
    if row is None:
        raise ApiError(404, NOT_FOUND_DETAIL)
    return json_response(render(panel(request).store, kind, [row], _includes(request, kind))[0])


def _ordered(request: Request, kind: str) -> list[dict]:
    return panel(request).store.index.ordered[kind]


@get("/locations")
async def list_locations(request: Request) -> Response:
    return _listing(request, "locations", _ordered(request, "locations"))


@get("/locations/{location_id:str}")
async def get_location(request: Request, location_id: FromPath[str]) -> Response:
    return _single(request, "locations", find(request, "locations", location_id))


@get("/nodes")
async def list_nodes(request: Request) -> Response:
    return _listing(request, "nodes", _ordered(request, "nodes"))


@get("/nodes/{node_id:str}")
async def get_node(request: Request, node_id: FromPath[str]) -> Response:
    return _single(request, "nodes", find(request, "nodes", node_id))


@get("/nodes/{node_id:str}/allocations")
async def list_node_allocations(request: Request, node_id: FromPath[str]) -> Response:
    node = find(request, "nodes", node_id)
    allocations = panel(request).store.related("node.allocations", node["id"])
    return _listing(request, "allocations", allocations)


@get("/nests")
async def list_nests(request: Request) -> Response:
    return _listing(request, "nests", _ordered(request, "nests"))


@get("/nests/{nest_id:str}")
async def get_nest(request: Request, nest_id: FromPath[str]) -> Response:
    return _single(request, "nests", find(request, "nests", nest_id))


@get("/nests/{nest_id:str}/eggs")
async def list_nest_eggs(request: Request, nest_id: FromPath[str]) -> Response:
    nest = find(request, "nests", nest_id)
    return _unpaged(request, "eggs", panel(request).store.related("nest.eggs", nest["id"]))


@get("/nests/{nest_id:str}/eggs/{egg_id:str}")
async def get_nest_egg(request: Request, nest_id: FromPath[str], egg_id: FromPath[str]) -> Response:
    nest, egg = find(request, "nests", nest_id), find(request, "eggs", egg_id)
    return _single(request, "eggs", egg if egg["nest"] == nest["id"] else None)


@get("/servers")
async def list_servers(request: Request) -> Response:
    return _listing(request, "servers", _ordered(request, "servers"))


@get("/servers/{server_id:str}")
async def get_server(request: Request, server_id: FromPath[str]) -> Response:
    return _single(request, "servers", find(request, "servers", server_id))


@get("/servers/external/{external_id:str}")
async def get_server_by_external_id(request: Request, external_id: FromPath[str]) -> Response:
    return _single(request, "servers", panel(request).store.by_external_id("servers", external_id))


@get("/servers/{server_id:str}/databases")
async def list_server_databases(request: Request, server_id: FromPath[str]) -> Response:
    server = find(request, "servers", server_id)
    databases = panel(request).store.related("server.databases", server["id"])
    return _unpaged(request, "databases", databases)


@get("/servers/{server_id:str}/databases/{database_id:str}")
async def get_server_database(
    request: Request, server_id: FromPath[str], database_id: FromPath[str]
) -> Response:
    server, database = find(request, "servers", server_id), find(request, "databases", database_id)
    return _single(request, "databases", database if database["server"] == server["id"] else None)


@get("/users")
async def list_users(request: Request) -> Response:
    return _listing(request, "users", _ordered(request, "users"))


@get("/users/{user_id:str}")
async def get_user(request: Request, user_id: FromPath[str]) -> Response:
    return _single(request, "users", find(request, "users", user_id))


@get("/users/external/{external_id:str}")
async def get_user_by_external_id(request: Request, external_id: FromPath[str]) -> Response:
    return _single(request, "users", panel(request).store.by_external_id("users", external_id))


application_router = Router(
    path="/api/application",
    route_handlers=[
        list_locations,
        get_location,
        list_nodes,
        get_node,
        list_node_allocations,
        list_nests,
        get_nest,
        list_nest_eggs,
        get_nest_egg,
        list_servers,
        get_server,
        get_server_by_external_id,
        list_server_databases,
        get_server_database,
        list_users,
        get_user,
        get_user_by_external_id,
        *WRITE_ROUTES,
    ],
)
