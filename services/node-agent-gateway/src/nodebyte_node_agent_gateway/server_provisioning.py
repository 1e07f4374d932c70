"""A new server's fields: from its template (image, startup, resources, variables) or as given.

A template's variables take their values from the request's `environment` (the
reference's spelling); a name there that is neither a variable nor one of the
template's environment entries is refused, like a missing required variable or a
value breaking a rule, all in one 400.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from nodebyte_common.envelope import ApiError
from nodebyte_common.server_templates import VariableProblem
from nodebyte_node_agent_gateway.startup_render import unresolved
from nodebyte_node_agent_gateway.template_variables import declared, refuse, resolve

# What a server without a template must be given (camelCase, as the caller wrote them).
REQUIRED_WITHOUT_TEMPLATE = {
    "docker_image": "dockerImage",
    "allocated_memory_mb": "allocatedMemoryMb",
    "allocated_cpu_cores": "allocatedCpuCores",
    "allocated_disk_mb": "allocatedDiskMb",
}  # primaryPort may be left out: the first free port of the node's pool is allocated
FROM_RESOURCES = {
    "allocated_memory_mb": "memoryMb",
    "allocated_cpu_cores": "cpuCores",
    "allocated_disk_mb": "diskMb",
}


def from_template(fields: dict[str, Any], template: asyncpg.Record) -> dict[str, Any]:
    """`fields` completed from `template`; a 400 naming every variable problem."""
    filled = dict(fields)
    filled.setdefault("docker_image", template["docker_image"])
    filled.setdefault("startup_command", template["start_command"])
    for field, key in FROM_RESOURCES.items():
        if template["resources"].get(key) is not None:
            filled.setdefault(field, template["resources"][key])
    if template["ports"]:
        filled.setdefault("primary_port", template["ports"][0]["external"])
    variables = declared(template["variables"])
    names = {v.name for v in variables}
    given = filled.get("environment", {})
    values, problems = resolve(
        variables,
        {},
        {k: v for k, v in given.items() if k in names or k not in template["environment"]},
        editable_only=False,
    )
    if problems:
        raise refuse(problems)
    overrides = {k: v for k, v in given.items() if k not in names}
    filled["environment"] = {**template["environment"], **overrides}
    filled["variables"] = values
    filled["template_id"] = template["id"]
    return filled


def complete(fields: dict[str, Any]) -> dict[str, Any]:
    """Refuse a server missing what it needs, or whose startup has placeholders nothing fills."""
    missing = [camel for name, camel in REQUIRED_WITHOUT_TEMPLATE.items() if name not in fields]
    if missing:
        raise ApiError(
            400,
            f"Missing fields (give them or a templateId): {', '.join(missing)}",
            "VALIDATION_ERROR",
        )
    check_placeholders(fields)
    return fields


def check_placeholders(server: dict[str, Any]) -> None:
    known = [*server.get("environment", {}), *server.get("variables", {})]
    unknown = unresolved([server.get("startup_command", "")], known)
    if unknown:
        raise refuse(
            [VariableProblem(name, "is not a variable of this server") for name in unknown]
        )
