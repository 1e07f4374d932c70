"""Server templates (`/api/templates`): the node-agent-gateway owns them.

Bodies are decoded here with the shared Structs (so a malformed one never leaves
the gateway) and the owner's answers are decoded into `TemplateView` before they
are answered. Each change goes to the audit log with the caller and the template.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import decode_body, ok
from nodebyte_common.server_templates import TemplateCreate, TemplateUpdate, TemplateView
from nodebyte_gateway import audit
from nodebyte_gateway.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.node_routes import AGENTS, query, upstream_error

TAGS = ["templates"]


class TemplateAnswer(msgspec.Struct, frozen=True):
    """The envelope: `{"success": true, "data": {…template…}, "message": …}`."""

    data: TemplateView
    message: str | None = None
    success: bool = True


class TemplatesAnswer(msgspec.Struct, frozen=True):
    data: list[TemplateView]
    pagination: dict[str, int]
    success: bool = True


def _decoded(status: int, body: Any, answer: type[msgspec.Struct]) -> Any:
    if status >= 400:
        raise upstream_error(status, body)
    return msgspec.convert(body, answer, strict=False)


def routes(ctx: GatewayContext) -> list[Any]:
    agents = ctx.client(AGENTS)
    read, write = ctx.require(catalogue.TEMPLATE_READ), ctx.require(catalogue.TEMPLATE_WRITE)

    async def audited(
        request: Request, action: str, template_id: UUID, before: Any, after: Any
    ) -> None:
        async with ctx.runtime.pool.acquire() as conn:
            await audit.record(
                conn, caller(request), action, ("template", template_id), before, after, request
            )

    async def current(template_id: UUID) -> TemplateView:
        answer = _decoded(*await agents.call("GET", f"/templates/{template_id}"), TemplateAnswer)
        return answer.data

    @get("/api/templates", guards=[read], tags=TAGS, summary="List server templates")
    async def list_templates(request: Request) -> TemplatesAnswer:
        answer = await agents.call("GET", "/templates", params=query(request))
        found: TemplatesAnswer = _decoded(*answer, TemplatesAnswer)
        return found

    @get("/api/templates/{template_id:uuid}", guards=[read], tags=TAGS, summary="A template")
    async def get_template(template_id: FromPath[UUID]) -> TemplateAnswer:
        return TemplateAnswer(await current(template_id))

    @post(
        "/api/templates",
        guards=[write],
        tags=TAGS,
        status_code=201,
        summary="Create a template: image, {{VAR}} startup, variables, stop command, files",
        opt=audit.in_handler(),  # records the template before and after
    )
    async def create_template(request: Request) -> Response[TemplateAnswer]:
        body = decode_body(await request.body(), TemplateCreate, empty_ok=False)
        status, answer = await agents.call("POST", "/templates", json=msgspec.to_builtins(body))
        created = _decoded(status, answer, TemplateAnswer).data
        after = msgspec.to_builtins(created)
        await audited(request, "template.created", created.id, None, after)
        return Response(TemplateAnswer(created, "Template created"), status_code=201)

    @put(
        "/api/templates/{template_id:uuid}",
        guards=[write],
        tags=TAGS,
        summary="Change a template (fields left out keep their values)",
        opt=audit.in_handler(),  # records the template before and after
    )
    async def update_template(template_id: FromPath[UUID], request: Request) -> TemplateAnswer:
        body = decode_body(await request.body(), TemplateUpdate)
        before = msgspec.to_builtins(await current(template_id))
        path = f"/templates/{template_id}"
        updated = _decoded(
            *await agents.call("PUT", path, json=msgspec.to_builtins(body)), TemplateAnswer
        ).data
        after = msgspec.to_builtins(updated)
        await audited(request, "template.updated", template_id, before, after)
        return TemplateAnswer(updated, "Template updated")

    @delete(
        "/api/templates/{template_id:uuid}",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Delete a template no server uses",
        opt=audit.in_handler(),  # records the template before and after
    )
    async def delete_template(template_id: FromPath[UUID], request: Request) -> Response[Any]:
        before = msgspec.to_builtins(await current(template_id))
        status, answer = await agents.call("DELETE", f"/templates/{template_id}")
        if status >= 400:
            raise upstream_error(status, answer)
        await audited(request, "template.deleted", template_id, before, None)
        return ok(None, message="Template deleted")

    return [list_templates, get_template, create_template, update_template, delete_template]
