"""Rendering a server's `{{VAR}}` placeholders: startup, stop command, environment, files.

Values come from, in rising precedence: the built-ins (the server's resources and
ids), its environment (each entry rendered once against the built-ins and the
variables), then its template variables. Rendering is one pass: a value that
itself contains `{{…}}` is inserted as it is, never expanded again. Writes refuse
placeholders that nothing would fill (`unresolved`), so what reaches an agent is
always fully rendered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

# Names every server can use without declaring them.
BUILTIN_NAMES = frozenset(
    {
        "SERVER_MEMORY",
        "MEMORY",
        "SERVER_PORT",
        "PORT",
        "SERVER_CPU",
        "SERVER_DISK",
        "SERVER_ID",
        "SERVER_UUID",
    }
)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def render(text: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def builtins(server: Mapping[str, Any]) -> dict[str, str]:
    """The built-in values of a server (a row or the fields it is being created with)."""
    memory, port = server["allocated_memory_mb"], server["primary_port"]
    values = {
        "SERVER_MEMORY": str(memory),
        "MEMORY": f"{memory}M",  # the JVM's -Xmx spelling, as the reference's example
        "SERVER_PORT": str(port),
        "PORT": str(port),
        "SERVER_CPU": str(server["allocated_cpu_cores"]),
        "SERVER_DISK": str(server["allocated_disk_mb"]),
    }
    if server.get("id") is not None:
        values["SERVER_ID"] = values["SERVER_UUID"] = str(server["id"])
    return values


@dataclass(frozen=True)
class Rendered:
    environment: dict[str, str]
    startup_command: str
    stop_command: str
    config_files: list[dict[str, str]]


def _environment(server: Mapping[str, Any], variables: dict[str, str]) -> dict[str, str]:
    first = {**builtins(server), **variables}
    return {k: render(v, first) for k, v in (server.get("environment") or {}).items()}


def render_server(server: Mapping[str, Any], template: Mapping[str, Any] | None) -> Rendered:
    """What the agent is told: every placeholder of the server (and its template) filled.
    A variable the template gained after the server was made takes its default."""
    defaults = {
        v["name"]: v["default"]
        for v in (template["variables"] if template is not None else [])
        if v.get("default") not in (None, "")
    }
    variables = {**defaults, **(server.get("variables") or {})}
    environment = {**_environment(server, variables), **variables}
    values = {**builtins(server), **environment}
    stop = template["stop_command"] if template is not None else "stop"
    files = template["config_files"] if template is not None else []
    return Rendered(
        environment=environment,
        startup_command=render(server["startup_command"], values),
        stop_command=render(stop, values),
        config_files=[{"path": f["path"], "content": render(f["content"], values)} for f in files],
    )


def unresolved(texts: Iterable[str], known: Iterable[str]) -> list[str]:
    """The placeholders in `texts` that none of `known` (nor a built-in) fills, sorted."""
    names = set(known) | BUILTIN_NAMES
    return sorted({name for text in texts for name in placeholders(text)} - names)
