"""Application API writes: a server's startup (environment push) and a node's settings."""

import time

from litestar import Request, Response, patch
from litestar.params import FromPath

from .laravel_rules import Failure, request_input, stored_string, validate, validate_fields
from .pterodactyl_data import atom
from .pterodactyl_includes import render, requested
from .pterodactyl_requests import find, json_body, panel, query
from .pterodactyl_store import Store
from .pterodactyl_wire import ValidationFailed, json_response

# Node::$validationRules as UpdateNodeRequest applies them (snake-cased names).
_NODE_RULES = {
    "name": r"required|regex:/^([\w .-]{1,100})$/",
    "description": "string|nullable",
    "location_id": "required|integer",
    "public": "boolean",
    "fqdn": "required|string",
    "scheme": "required|in:http,https",
    "behind_proxy": "boolean",
    "memory": "required|numeric|min:1",
    "memory_overallocate": "required|numeric|min:-1",
    "disk": "required|numeric|min:1",
    "disk_overallocate": "required|numeric|min:-1",
    "daemon_base": r"sometimes|required|regex:/^([\/][\d\w.\-\/]+)$/",
    "daemon_sftp": "required|numeric|between:1,65535",
    "daemon_listen": "required|numeric|between:1,65535",
    "maintenance_mode": "boolean",
    "upload_size": "int|between:1,1024",
}
_NODE_INTEGERS = {
    "location_id",
    "memory",
    "memory_overallocate",
    "disk",
    "disk_overallocate",
    "daemon_sftp",
    "daemon_listen",
    "upload_size",
}
_NODE_BOOLEANS = {"public", "behind_proxy", "maintenance_mode"}
_TRUE = (True, 1, "1", "true")


def _startup_failures(store: Store, body: dict) -> list[Failure]:
    """UpdateServerStartupRequest: startup, environment, egg, image, skip_scripts."""
    failures = validate("startup", body.get("startup"), "required|string")
    if "environment" not in body:
        failures.append(("environment", "present", "The environment field must be present."))
    elif not isinstance(body["environment"], dict | list):
        failures.append(("environment", "array", "The environment field must be an array."))
    egg = body.get("egg")
    if egg is None or egg == "":
        failures.append(("egg", "required", "The egg field is required."))
    elif not str(egg).isdigit() or store.get("eggs", int(egg)) is None:
        failures.append(("egg", "exists", "The selected egg is invalid."))
    failures += validate("image", body.get("image"), "required|string|max:191")
    if "skip_scripts" not in body:
        failures.append(("skip_scripts", "present", "The skip scripts field must be present."))
    else:
        failures += validate("skip_scripts", body["skip_scripts"], "nullable|boolean")
    return failures


def _variable_failures(store: Store, egg: int, environment: dict) -> list[Failure]:
    """Admin-level VariableValidatorService: every egg variable, absent ones as null."""
    failures: list[Failure] = []
    for variable in store.related("egg.variables", egg):
        env = variable["env_variable"]
        label = f"{variable['name']} variable"
        failures += validate(f"environment.{env}", environment.get(env), variable["rules"], label)
    return failures


def _environment(body: dict) -> dict:
    """The submitted map after input middleware; a JSON list is a PHP array with int keys."""
    raw = body.get("environment") or {}
    pairs = enumerate(raw) if isinstance(raw, list) else raw.items()
    return {str(key): request_input(value) for key, value in pairs}


def _validated_startup(store: Store, body: dict) -> tuple[int, dict]:
    """The target egg and submitted environment, or a 422 for the whole request."""
    failures = _startup_failures(store, body)
    if failures:
        raise ValidationFailed(failures)
    egg, environment = int(body["egg"]), _environment(body)
    failures = _variable_failures(store, egg, environment) if environment else []
    if failures:
        raise ValidationFailed(failures)
    return egg, environment


def _write_variables(store: Store, server: dict, egg: int, environment: dict) -> None:
    """The panel writes every egg variable; a key left out is stored empty."""
    if not environment:  # an empty map leaves the variables untouched
        return
    values = store.tables.server_values.setdefault(server["id"], {})
    for variable in store.related("egg.variables", egg):
        values[variable["id"]] = stored_string(environment.get(variable["env_variable"]))


@patch("/servers/{server_id:str}/startup")
async def update_server_startup(request: Request, server_id: FromPath[str]) -> Response:
    store = panel(request).store
    server = find(request, "servers", server_id)
    body = await json_body(request)
    egg, environment = _validated_startup(store, body)
    _write_variables(store, server, egg, environment)
    egg_changed = egg != server["egg"]
    server.update(egg=egg, nest=store.rows["eggs"][egg]["nest"], updated_at=atom(time.time()))
    server["container"].update(startup_command=body["startup"], image=body["image"])
    # Only a new egg moves the server between index groups; otherwise refresh it alone.
    if egg_changed:
        store.changed()
    else:
        store.refresh_server(server)
    return json_response(render(store, "servers", [server], requested(query(request)))[0])


@patch("/nodes/{node_id:str}")
async def update_node(request: Request, node_id: FromPath[str]) -> Response:
    store = panel(request).store
    node = find(request, "nodes", node_id)
    body = await json_body(request)
    failures = validate_fields(body, _NODE_RULES)
    location = body.get("location_id")
    if not failures and store.get("locations", int(location)) is None:
        failures.append(("location_id", "exists", "The selected location id is invalid."))
    if failures:
        raise ValidationFailed(failures)
    moved = int(location) != node["location_id"]
    for field in _NODE_RULES.keys() & body.keys():
        node[field] = _node_value(field, body[field])
    node["updated_at"] = atom(time.time())
    if moved:  # servers on it now report another P_SERVER_LOCATION
        store.changed()
    return json_response(render(store, "nodes", [node], requested(query(request)))[0])


def _node_value(field: str, value: object) -> object:
    if field in _NODE_INTEGERS:
        return int(float(str(value)))
    if field in _NODE_BOOLEANS:
        return value in _TRUE
    return value


WRITE_ROUTES = [update_server_startup, update_node]
