"""Server templates: the bodies of `/api/templates` and of a server's variables, declared once.

The gateway decodes the public bodies with these Structs and the node-agent-gateway
(which owns templates, beside the servers made from them) decodes the same ones.
Field names follow the Catalyst reference (`dockerImage`, `startCommand`,
`stopCommand`, `environment`, `requiredVariables`, `ports`), with what it leaves
implicit spelled out: each variable's default, whether it is required or
user-editable and its validation rules, the config files written at install,
and the resources a server gets when its creator names none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

VARIABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]
Text = Annotated[str, msgspec.Meta(max_length=1000)]
Image = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^\s]+$")]
Command = Annotated[str, msgspec.Meta(max_length=4096)]
Value = Annotated[str, msgspec.Meta(max_length=4096)]
VariableName = Annotated[str, msgspec.Meta(pattern=VARIABLE_NAME)]
Environment = Annotated[dict[VariableName, Value], msgspec.Meta(max_length=200)]
# A path under the server's directory ("/server.properties" is the reference's spelling).
FilePath = Annotated[
    str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^(?!(.*/)?\.\.(/|$))[^\x00]+$")
]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class VariableRules(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """What a variable's value must be; every rule given must hold."""

    type: Literal["string", "integer", "boolean"] = "string"
    pattern: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    min_length: Count | None = None
    max_length: Count | None = None
    min: int | None = None  # integer variables
    max: int | None = None
    options: Annotated[list[Value], msgspec.Meta(max_length=100)] | None = None


class TemplateVariable(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    name: VariableName
    description: Text | None = None
    default: Value | None = None
    required: bool = False
    user_editable: bool = True
    rules: VariableRules | None = None


class ConfigFile(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """A file the agent writes into the server's directory at install ({{VAR}}s rendered)."""

    path: FilePath
    content: Annotated[str, msgspec.Meta(max_length=65_536)]


class TemplatePort(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    internal: Port
    external: Port


class TemplateResources(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """What a server made from the template gets when its creator does not say."""

    memory_mb: Annotated[int, msgspec.Meta(gt=0, le=2**31 - 1)] | None = None
    cpu_cores: Annotated[int, msgspec.Meta(gt=0, le=4096)] | None = None
    disk_mb: Annotated[int, msgspec.Meta(gt=0, le=2**31 - 1)] | None = None


Variables = Annotated[list[TemplateVariable], msgspec.Meta(max_length=100)]
ConfigFiles = Annotated[list[ConfigFile], msgspec.Meta(max_length=20)]
Ports = Annotated[list[TemplatePort], msgspec.Meta(max_length=20)]
Names = Annotated[list[VariableName], msgspec.Meta(max_length=100)]


class TemplateCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    name: Name
    docker_image: Image
    start_command: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    description: Text | None = None
    stop_command: Command = "stop"
    environment: Environment = {}
    variables: Variables = []
    # The reference's list: each name must be given (declared here or in `variables`).
    required_variables: Names = []
    config_files: ConfigFiles = []
    ports: Ports = []
    resources: TemplateResources = TemplateResources()


class TemplateUpdate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """The fields to change; the others keep their values."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType | None = msgspec.UNSET
    docker_image: Image | msgspec.UnsetType = msgspec.UNSET
    start_command: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | (
        msgspec.UnsetType
    ) = msgspec.UNSET
    stop_command: Command | msgspec.UnsetType = msgspec.UNSET
    environment: Environment | msgspec.UnsetType = msgspec.UNSET
    variables: Variables | msgspec.UnsetType = msgspec.UNSET
    required_variables: Names | msgspec.UnsetType = msgspec.UNSET
    config_files: ConfigFiles | msgspec.UnsetType = msgspec.UNSET
    ports: Ports | msgspec.UnsetType = msgspec.UNSET
    resources: TemplateResources | msgspec.UnsetType = msgspec.UNSET


class TemplateView(msgspec.Struct, rename="camel", frozen=True):
    id: UUID
    name: str
    description: str | None
    docker_image: str
    start_command: str
    stop_command: str
    environment: dict[str, str]
    variables: list[TemplateVariable]
    required_variables: list[str]
    config_files: list[ConfigFile]
    ports: list[TemplatePort]
    resources: TemplateResources
    server_count: int
    created_at: datetime
    updated_at: datetime


class VariablesUpdate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """New values of a server's variables (the others keep theirs)."""

    variables: Annotated[dict[VariableName, Value], msgspec.Meta(min_length=1, max_length=100)]


class ServerVariables(msgspec.Struct, rename="camel", frozen=True):
    """A server's variables and the startup they render to."""

    server_id: UUID
    template_id: UUID | None
    variables: dict[str, str]
    startup_command: str
    rendered_startup_command: str


class StopMarked(msgspec.Struct, rename="camel", frozen=True):
    """A stop on a node that is gone: no agent to tell, the server is recorded as stopped."""

    server_id: UUID
    action: Literal["stop"]
    status: Literal["stopped"]


class DeploymentTarget(msgspec.Struct, rename="camel", frozen=True):
    """Whose deployment token it is (the node-agent-gateway's answer to the gateway)."""

    node_id: UUID
    node_name: str
    expires_at: datetime


class DeploymentTokenLookup(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class VariableProblem(msgspec.Struct, rename="camel", frozen=True):
    """One variable that is missing or whose value breaks a rule (in a 400's details)."""

    name: str
    problem: str
