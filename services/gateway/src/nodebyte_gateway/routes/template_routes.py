"""Server templates (`/api/templates`): the node-agent-gateway owns them.

Bodies are decoded here with the shared Structs (so a malformed one never leaves
the gateway) and the owner's answers are decoded into `TemplateView` before they
are answered. Each change goes to the audit log with the caller and the template.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer, Nothing, PagedAnswer
from nodebyte_common.contracts.nodes import PageNumber, PageSize
from nodebyte_common.server_templates import TemplateCreate, TemplateUpdate, TemplateView
from nodebyte_gateway.accounts import audit
from nodebyte_gateway.accounts.auth import caller
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.routes.node_routes import AGENTS

TAGS = ["templates"]
NAME_IN_USE = refusals({409: "Another template has this name"})


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
        answer = await agents.call_as(Answer[TemplateView], "GET", f"/templates/{template_id}")
        return answer.data

    @get("/api/templates", guards=[read], tags=TAGS, summary="List server templates")
    async def list_templates(
        # Litestar's QueryParameter replaces PageNumber's bounds: repeated, or a huge page
        # reaches the node-agent-gateway's OFFSET and fails there (a 502 here).
        page: Annotated[PageNumber, QueryParameter(ge=1, le=1_000_000)] = 1,
        limit: Annotated[PageSize, QueryParameter(ge=1, le=100)] = 100,
    ) -> PagedAnswer[TemplateView]:
        params = {"page": page, "limit": limit}
        return await agents.call_as(PagedAnswer[TemplateView], "GET", "/templates", params=params)

    @get("/api/templates/{template_id:uuid}", guards=[read], tags=TAGS, summary="A template")
    async def get_template(template_id: FromPath[UUID]) -> Answer[TemplateView]:
        return Answer(data=await current(template_id))

    @post(
        "/api/templates",
        guards=[write],
        tags=TAGS,
        status_code=201,
        summary="Create a template: image, {{VAR}} startup, variables, stop command, files",
        opt=audit.in_handler(),  # records the template before and after
        responses=NAME_IN_USE,
    )
    async def create_template(
        data: JSONBody[TemplateCreate], request: Request
    ) -> Answer[TemplateView]:
        made = await agents.call_as(Answer[TemplateView], "POST", "/templates", json=data)
        after = msgspec.to_builtins(made.data)
        await audited(request, "template.created", made.data.id, None, after)
        return Answer(data=made.data, message="Template created")

    @put(
        "/api/templates/{template_id:uuid}",
        guards=[write],
        tags=TAGS,
        summary="Change a template (fields left out keep their values)",
        opt=audit.in_handler(),  # records the template before and after
        responses=NAME_IN_USE,
    )
    async def update_template(
        template_id: FromPath[UUID], request: Request, data: JSONBody[TemplateUpdate | None] = None
    ) -> Answer[TemplateView]:
        before = msgspec.to_builtins(await current(template_id))
        path = f"/templates/{template_id}"
        changed = await agents.call_as(Answer[TemplateView], "PUT", path, json=data)
        after = msgspec.to_builtins(changed.data)
        await audited(request, "template.updated", template_id, before, after)
        return Answer(data=changed.data, message="Template updated")

    @delete(
        "/api/templates/{template_id:uuid}",
        guards=[write],
        tags=TAGS,
        status_code=200,
        summary="Delete a template no server uses",
        opt=audit.in_handler(),  # records the template before and after
    )
    async def delete_template(template_id: FromPath[UUID], request: Request) -> Nothing:
        before = msgspec.to_builtins(await current(template_id))
        await agents.call_as(Nothing, "DELETE", f"/templates/{template_id}")
        await audited(request, "template.deleted", template_id, before, None)
        return Nothing(message="Template deleted")

    return [list_templates, get_template, create_template, update_template, delete_template]
