"""Client API transformers: how `/api/client` shows servers, allocations, variables, subusers."""

import hashlib

from .pterodactyl_store import Store
from .pterodactyl_wire import collection, item

# What the panel reports as user_permissions for a root admin viewing any server.
ADMIN_PERMISSIONS = [
    "*",
    "admin.websocket.errors",
    "admin.websocket.install",
    "admin.websocket.transfer",
]
_NOT_INSTALLED = ("installing", "install_failed")


def startup_command(
    store: Store,
    server: dict,
    hide_all: bool = False,
    variables: list[tuple[dict, str | None]] | None = None,
) -> str:
    """StartupCommandService: fill placeholders, masking values users may not see.

    `variables` is `store.server_variables(server)` when the caller has it already.
    """
    primary = store.get("allocations", server["allocation"]) or {}
    replacements = {
        "{{SERVER_MEMORY}}": str(server["limits"]["memory"]),
        "{{SERVER_IP}}": str(primary.get("ip", "")),
        "{{SERVER_PORT}}": str(primary.get("port", "")),
    }
    if variables is None:
        variables = store.server_variables(server)
    for variable, value in variables:
        shown = variable["default_value"] if value is None else value
        visible = variable["user_viewable"] and not hide_all
        replacements["{{" + variable["env_variable"] + "}}"] = shown if visible else "[hidden]"
    command = server["container"]["startup_command"]
    for placeholder, replacement in replacements.items():
        command = command.replace(placeholder, replacement)
    return command


def variable(row: dict, value: str | None) -> dict:
    return {
        "name": row["name"],
        "description": row["description"],
        "env_variable": row["env_variable"],
        "default_value": row["default_value"],
        "server_value": value,
        "is_editable": row["user_editable"],
        "rules": row["rules"],
    }


def viewable_variables(
    store: Store, server: dict, variables: list[tuple[dict, str | None]] | None = None
) -> list[dict]:
    if variables is None:
        variables = store.server_variables(server)
    return [variable(v, value) for v, value in variables if v["user_viewable"]]


def allocation(row: dict, primary: int) -> dict:
    return {
        "id": row["id"],
        "ip": row["ip"],
        "ip_alias": row["alias"],
        "port": row["port"],
        "notes": row["notes"],
        "is_default": row["id"] == primary,
    }


def subuser(store: Store, row: dict) -> dict | None:
    user = store.get("users", row["user_id"])
    if user is None:
        return None
    email_hash = hashlib.md5(user["email"].lower().encode(), usedforsecurity=False).hexdigest()
    return {
        "uuid": user["uuid"],
        "username": user["username"],
        "email": user["email"],
        "image": f"https://gravatar.com/avatar/{email_hash}",
        "2fa_enabled": user["2fa"],
        "created_at": user["created_at"],
        "permissions": row["permissions"],
    }


def subusers(store: Store, server: dict) -> dict:
    rows = [subuser(store, s) for s in store.related("server.subusers", server["id"])]
    return collection("server_subuser", [r for r in rows if r is not None])


def server(store: Store, row: dict, viewer: int, includes: tuple[str, ...]) -> dict:
    """A client `server` item with its always-present and requested relationships."""
    node = store.get("nodes", row["node"]) or {}
    allocations = [
        allocation(a, row["allocation"]) for a in store.related("server.allocations", row["id"])
    ]
    variables = store.server_variables(row)  # read once for the list and the command
    relationships = {
        "allocations": collection("allocation", allocations),
        "variables": collection("egg_variable", viewable_variables(store, row, variables)),
    }
    if "egg" in includes and (egg := store.get("eggs", row["egg"])):
        relationships["egg"] = item("egg", {"uuid": egg["uuid"], "name": egg["name"]})
    if "subusers" in includes:
        relationships["subusers"] = subusers(store, row)
    attributes = {
        "server_owner": row["user"] == viewer,
        "identifier": row["identifier"],
        "internal_id": row["id"],
        "uuid": row["uuid"],
        "name": row["name"],
        "node": node.get("name"),
        "is_node_under_maintenance": bool(node.get("maintenance_mode")),
        "sftp_details": {"ip": node.get("fqdn"), "port": node.get("daemon_sftp")},
        "description": row["description"],
        "limits": row["limits"],
        "invocation": startup_command(store, row, variables=variables),
        "docker_image": row["container"]["image"],
        "egg_features": None,
        "feature_limits": row["feature_limits"],
        "status": row["status"],
        "is_suspended": row["status"] == "suspended",
        "is_installing": row["status"] in _NOT_INSTALLED,
        "is_transferring": False,
        "relationships": relationships,
    }
    return item("server", attributes)


def stats(row: dict) -> dict:
    """StatsTransformer over what Wings reports for a server (`/resources`).

    The emulator has no Wings: a server runs with a steady load derived from its
    id and limits, so an answer can be compared with a second read of the same.
    """
    limits, seed = row["limits"], row["id"]
    return item(
        "stats",
        {
            "current_state": "running",
            "is_suspended": row["suspended"],
            "resources": {
                "memory_bytes": limits["memory"] * 1024 * 1024 * (20 + seed % 60) // 100,
                "cpu_absolute": round((seed * 7.3) % max(limits["cpu"] or 100, 1), 3),
                "disk_bytes": limits["disk"] * 1024 * 1024 * (5 + seed % 40) // 100,
                "network_rx_bytes": seed * 104_729,
                "network_tx_bytes": seed * 52_361,
                "uptime": seed * 61_000,
            },
        },
    )
