"""Internal API for server templates (the reference's `/api/templates`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import uuid6
from litestar import Request, delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from nodebyte_common.contracts.envelope import Answer, Nothing, PagedAnswer, Pages
from nodebyte_common.contracts.nodes import PageNumber, PageSize
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_common.server_templates import (
    ConfigFile,
    TemplateCreate,
    TemplatePort,
    TemplateResources,
    TemplateUpdate,
    TemplateVariable,
    TemplateView,
)
from nodebyte_node_agent_gateway import template_store
from nodebyte_node_agent_gateway.node_api import given_fields
from nodebyte_node_agent_gateway.startup_render import unresolved
from nodebyte_node_agent_gateway.template_variables import check_rules, declared, refuse


def template_view(row: asyncpg.Record) -> TemplateView:
    variables = declared(row["variables"])
    return TemplateView(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        docker_image=row["docker_image"],
        start_command=row["start_command"],
        stop_command=row["stop_command"],
        environment=row["environment"],
        variables=variables,
        required_variables=[v.name for v in variables if v.required],
        config_files=msgspec.convert(row["config_files"], list[ConfigFile]),
        ports=msgspec.convert(row["ports"], list[TemplatePort]),
        resources=msgspec.convert(row["resources"], TemplateResources),
        server_count=row["server_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def with_required(
    variables: list[TemplateVariable], required: list[str], environment: dict[str, str]
) -> list[TemplateVariable]:
    """The reference's `requiredVariables` folded into the variables: each named one is
    required; one not declared becomes a variable, defaulting to its environment value."""
    names = set(required)
    merged = [msgspec.structs.replace(v, required=v.required or v.name in names) for v in variables]
    declared_names = {v.name for v in variables}
    for name in required:
        if name not in declared_names:
            default = environment.get(name)
            if default is not None and "{{" in default:
                default = None  # "{{MEMORY}}" asks for a value; it is not one
            merged.append(TemplateVariable(name=name, default=default, required=True))
            declared_names.add(name)
    return merged


def checked(fields: dict[str, Any]) -> dict[str, Any]:
    """The template's fields as stored, once they make sense together (else a 400)."""
    variables = with_required(
        fields.pop("variables"), fields.pop("required_variables"), fields["environment"]
    )
    problems = check_rules(variables)
    if problems:
        raise refuse(problems)
    texts = [
        fields["start_command"],
        fields["stop_command"],
        *fields["environment"].values(),
        *(f.content for f in fields["config_files"]),
    ]
    unknown = unresolved(texts, [*(v.name for v in variables), *fields["environment"]])
    if unknown:
        raise ApiError(
            400,
            f"Placeholders that no variable fills: {', '.join(unknown)}",
            "UNKNOWN_PLACEHOLDERS",
            {"placeholders": unknown},
        )
    stored = {**fields, "variables": variables}
    return {k: msgspec.to_builtins(v) if k in JSON_FIELDS else v for k, v in stored.items()}


JSON_FIELDS = frozenset({"environment", "variables", "config_files", "ports", "resources"})


def _as_fields(row: asyncpg.Record) -> dict[str, Any]:
    """A stored template as TemplateCreate's fields (to merge an update into)."""
    return {
        "name": row["name"],
        "description": row["description"],
        "docker_image": row["docker_image"],
        "start_command": row["start_command"],
        "stop_command": row["stop_command"],
        "environment": row["environment"],
        "variables": declared(row["variables"]),
        "required_variables": [],
        "config_files": msgspec.convert(row["config_files"], list[ConfigFile]),
        "ports": msgspec.convert(row["ports"], list[TemplatePort]),
        "resources": msgspec.convert(row["resources"], TemplateResources),
    }


def routes(runtime: Runtime) -> list[HTTPRouteHandler]:
    async def load(
        conn: asyncpg.Connection, template_id: UUID, lock: bool = False
    ) -> asyncpg.Record:
        row = await template_store.get(conn, template_id, for_update=lock)
        if row is None:
            raise ApiError(404, "Template not found")
        return row

    @get("/templates")
    async def list_templates(
        page: PageNumber = 1, limit: PageSize = 100
    ) -> PagedAnswer[TemplateView]:
        async with runtime.pool.acquire() as conn:
            rows, total = await template_store.page(conn, (page - 1) * limit, limit)
        return PagedAnswer(
            data=[template_view(r) for r in rows], pagination=Pages.of(page, limit, total)
        )

    @get("/templates/{template_id:uuid}")
    async def get_template(template_id: FromPath[UUID]) -> Answer[TemplateView]:
        async with runtime.pool.acquire() as conn:
            return Answer(data=template_view(await load(conn, template_id)))

    @post("/templates", status_code=201)
    async def create_template(request: Request) -> Answer[TemplateView]:
        body = decode_body(await request.body(), TemplateCreate, empty_ok=False)
        fields = checked({f: getattr(body, f) for f in body.__struct_fields__})
        async with runtime.pool.acquire() as conn, conn.transaction():
            try:
                row = await template_store.insert(conn, uuid6.uuid7(), fields)
            except asyncpg.UniqueViolationError:
                raise ApiError(409, "A template with this name already exists") from None
        return Answer(data=template_view(row), message="Template created")

    @put("/templates/{template_id:uuid}")
    async def update_template(
        template_id: FromPath[UUID], request: Request
    ) -> Answer[TemplateView]:
        body = decode_body(await request.body(), TemplateUpdate)
        async with runtime.pool.acquire() as conn, conn.transaction():
            current = _as_fields(await load(conn, template_id, lock=True))
            fields = checked({**current, **given_fields(body)})
            try:
                row = await template_store.update(conn, template_id, fields)
            except asyncpg.UniqueViolationError:
                raise ApiError(409, "A template with this name already exists") from None
        return Answer(data=template_view(row), message="Template updated")

    @delete("/templates/{template_id:uuid}", status_code=200)
    async def delete_template(template_id: FromPath[UUID]) -> Nothing:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await load(conn, template_id, lock=True)
            if await template_store.in_use(conn, template_id):
                raise ApiError(409, "Servers still use this template", "TEMPLATE_IN_USE")
            await template_store.delete(conn, template_id)
        return Nothing(message="Template deleted")

    return [list_templates, get_template, create_template, update_template, delete_template]
