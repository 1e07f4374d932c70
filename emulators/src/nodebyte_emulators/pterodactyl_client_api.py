"""Client API routes (`/api/client/...`) as seen by the user owning the client key."""

from litestar import Request, Response, Router, get, put
from litestar.params import FromPath

from . import pterodactyl_client_views as views
from .laravel_rules import request_input, stored_string, validate
from .pterodactyl_includes import requested
from .pterodactyl_requests import json_body, page_url, panel, query
from .pterodactyl_store import Store
from .pterodactyl_wire import (
    NOT_FOUND_DETAIL,
    ApiError,
    ValidationFailed,
    collection,
    item,
    json_response,
    paginate,
    parse_page,
)

_NOT_INSTALLED = ("installing", "install_failed")


def _viewer(request: Request) -> dict:
    """The key's user; the gate has already refused the key if the user is gone."""
    p = panel(request)
    return p.store.rows["users"][p.config.client_user_id]


def _accessible(store: Store, user: dict) -> set[int]:
    owned = {s["id"] for s in store.related("user.servers", user["id"])}
    return owned | {s["server_id"] for s in store.related("user.subusers", user["id"])}


def _listed(store: Store, user: dict, kind: str | None) -> list[dict]:
    """ClientController::index: what `?type=` selects for this user."""
    servers = store.index.ordered["servers"]
    if kind in ("admin", "admin-all"):
        if not user["root_admin"]:
            return []
        if kind == "admin-all":
            return servers
        mine = _accessible(store, user)
        return [s for s in servers if s["id"] not in mine]
    if kind == "owner":
        return store.related("user.servers", user["id"])
    mine = _accessible(store, user)
    return [s for s in servers if s["id"] in mine]


def _state_conflict(store: Store, server: dict) -> str | None:
    """ServerStateConflictException's message, checked in the panel's order."""
    node = store.get("nodes", server["node"]) or {}
    if server["status"] == "suspended":
        return "This server is currently suspended and the functionality requested is unavailable."
    if node.get("maintenance_mode"):
        return (
            "The node of this server is currently under maintenance and the functionality "
            "requested is unavailable."
        )
    if server["status"] in _NOT_INSTALLED:
        return "This server has not yet completed its installation process, please try again later."
    if server["status"] == "restoring_backup":
        return "This server is currently restoring from a backup, please try again later."
    return None


def _server(request: Request, ref: str, check_state: bool = True) -> dict:
    """AuthenticateServerAccess: 404 without access, 409 when the server cannot act."""
    store, user = panel(request).store, _viewer(request)
    server = store.server_by_ref(ref)
    if server is None or not (user["root_admin"] or server["id"] in _accessible(store, user)):
        raise ApiError(404, NOT_FOUND_DETAIL)
    conflict = _state_conflict(store, server) if check_state else None
    if conflict is not None:
        raise ApiError(409, conflict, "ServerStateConflictException")
    return server


@get("/")
async def list_servers(request: Request) -> Response:
    store, user, params = panel(request).store, _viewer(request), query(request)
    rows = _listed(store, user, params.get("type"))
    # The client listing keeps the whole query string in its links and caps pages at 100.
    pairs = list(request.query_params.items())
    chunk, meta = paginate(rows, parse_page(params, cap=100), page_url(request), pairs)
    includes = requested(params)
    data = [views.server(store, row, user["id"], includes) for row in chunk]
    return json_response({"object": "list", "data": data, "meta": meta})


@get("/servers/{server_ref:str}")
async def view_server(request: Request, server_ref: FromPath[str]) -> Response:
    store, user = panel(request).store, _viewer(request)
    server = _server(request, server_ref, check_state=False)
    document = views.server(store, server, user["id"], requested(query(request)))
    owner = server["user"] == user["id"]
    permissions = views.ADMIN_PERMISSIONS if user["root_admin"] else ["*"] if owner else []
    document["meta"] = {"is_server_owner": owner, "user_permissions": permissions}
    return json_response(document)


@get("/servers/{server_ref:str}/users")
async def list_subusers(request: Request, server_ref: FromPath[str]) -> Response:
    server = _server(request, server_ref)
    return json_response(views.subusers(panel(request).store, server))


@get("/servers/{server_ref:str}/startup")
async def view_startup(request: Request, server_ref: FromPath[str]) -> Response:
    store = panel(request).store
    server = _server(request, server_ref)
    document = collection("egg_variable", views.viewable_variables(store, server))
    egg = store.get("eggs", server["egg"]) or {}
    document["meta"] = {
        "startup_command": views.startup_command(store, server),
        "docker_images": egg.get("docker_images", {}),
        "raw_startup_command": server["container"]["startup_command"],
    }
    return json_response(document)


@get("/servers/{server_ref:str}/resources")
async def view_resources(request: Request, server_ref: FromPath[str]) -> Response:
    """ResourceUtilizationController: 409 like every route but the server view."""
    return json_response(views.stats(_server(request, server_ref)))


@put("/servers/{server_ref:str}/startup/variable")
async def update_variable(request: Request, server_ref: FromPath[str]) -> Response:
    store = panel(request).store
    server = _server(request, server_ref)
    body = await json_body(request)
    _require_key_and_value(body)
    variable = _editable_variable(store, server, body["key"])
    value = request_input(body["value"])
    failures = validate("value", value, variable["rules"])
    if failures:
        raise ValidationFailed(failures)
    store.tables.server_values.setdefault(server["id"], {})[variable["id"]] = stored_string(value)
    store.refresh_server(server)
    # The panel echoes the request value, already trimmed and with "" turned into null.
    document = item("egg_variable", views.variable(variable, value))
    document["meta"] = {
        "startup_command": views.startup_command(store, server),
        "raw_startup_command": server["container"]["startup_command"],
    }
    return json_response(document)


def _require_key_and_value(body: dict) -> None:
    """UpdateStartupVariableRequest's own rules, checked before the variable's."""
    failures = validate("key", body.get("key"), "required|string")
    if "value" not in body:
        failures.append(("value", "present", "The value field must be present."))
    if failures:
        raise ValidationFailed(failures)


def _editable_variable(store: Store, server: dict, key: str) -> dict:
    for variable, _ in store.server_variables(server):
        if variable["env_variable"] != key:
            continue
        if not variable["user_viewable"]:
            break
        if not variable["user_editable"]:
            detail = "The environment variable you are trying to edit is read-only."
            raise ApiError(400, detail)
        return variable
    raise ApiError(400, "The environment variable you are trying to edit does not exist.")


client_router = Router(
    path="/api/client",
    route_handlers=[
        list_servers,
        view_server,
        view_resources,
        list_subusers,
        view_startup,
        update_variable,
    ],
)
