"""Email queue, webhook dispatch and Discord webhook admin: the notifier's public face.

Queueing is a command: the gateway checks it, mints its id, records it (so a
poll before the notifier has seen it answers PENDING) and writes the event to
its outbox. Reads and webhook management are the notifier's: the gateway calls
its internal API. Template data is sealed before it enters an event, since
reset and verification links are capabilities.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import uuid6
from litestar import Request, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from nodebyte_common import events, outbox
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.contracts.envelope import Answer, Deleted
from nodebyte_common.contracts.notify import (
    CreateWebhook,
    Dispatch,
    DispatchBody,
    EmailQueueBody,
    EmailStatus,
    Queued,
    UpdateWebhook,
    Webhook,
    WebhookId,
    WebhookQuery,
    WebhookTest,
)
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_gateway.context import GatewayContext
from nodebyte_gateway.edge.forward_table import Forward, forward_routes
from nodebyte_gateway.edge.openapi_errors import refusals
from nodebyte_gateway.edge.openapi_links import CREATES, Creates
from nodebyte_gateway.edge.retries import retry_id, retry_key

SOURCE = "nodebyte/gateway"
WEBHOOKS_PATH = "/api/admin/settings/webhooks"
MAX_DATA_KEYS = 100


def _webhook_id(raw: str | None) -> UUID:
    if not raw:
        raise ApiError(400, "id is required")
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(400, "id must be a webhook id (UUID)") from None


def routes(ctx: GatewayContext) -> list[Any]:
    runtime, notifier = ctx.runtime, ctx.client("notifier")
    sealer: list[Sealer] = []

    def sealer_of() -> Sealer:
        if not sealer:
            try:
                sealer.append(
                    Sealer.from_settings(ctx.settings.sealing_keys, ctx.settings.encryption_key_id)
                )
            except SealingError:
                raise ApiError(503, "Email queueing is not configured (ENCRYPTION_KEYS)") from None
        return sealer[0]

    async def record(request_id: UUID, kind: str, label: str, event: events.Event) -> None:
        """Accept the request once: a retry (the same id) finds its row and queues nothing."""
        async with runtime.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                "INSERT INTO notify_requests (id, kind, label) VALUES ($1, $2, $3)"
                " ON CONFLICT (id) DO NOTHING RETURNING true",
                request_id,
                kind,
                label,
            )
            if first:
                await outbox.enqueue(conn, event, source=SOURCE)

    def request_id_of(request: Request, kind: str) -> UUID:
        """A new id, or the one the caller's Idempotency-Key always names."""
        key = retry_key(request)
        return uuid6.uuid7() if key is None else retry_id(key, kind)

    async def accepted(request_id: UUID, kind: str) -> asyncpg.Record | None:
        async with runtime.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT * FROM notify_requests WHERE id = $1 AND kind = $2", request_id, kind
            )

    @post(
        "/api/v1/email/queue",
        guards=[ctx.require(catalogue.EMAIL_SEND)],
        status_code=202,
        summary="Queue an email from a template",
        tags=["email"],
        opt={CREATES: Creates(items=("/api/v1/email/{email_id}",))},
    )
    async def queue_email(request: Request, data: JSONBody[EmailQueueBody]) -> Answer[Queued]:
        to = [data.to] if isinstance(data.to, str) else data.to
        problems = events.email_request_problems(to, data.subject, data.template, data.data)
        if len(data.data) > MAX_DATA_KEYS:
            problems.append(f"data may hold at most {MAX_DATA_KEYS} keys")
        if problems:
            raise ApiError(400, "The email cannot be sent: " + problems[0], details=problems)
        email_id = request_id_of(request, "email")
        sealed = sealer_of().seal(
            msgspec.json.encode(data.data).decode(), events.email_data_context(email_id)
        )
        event = events.EmailRequested(
            email_id=email_id,
            to=to,
            subject=data.subject,
            template=data.template,
            sealed_data=sealed,
        )
        await record(email_id, "email", data.template, event)
        return Answer(data=Queued(id=email_id), message="Email has been queued")

    @get(
        "/api/v1/email/{email_id:uuid}",
        guards=[ctx.require(catalogue.EMAIL_SEND)],
        summary="Delivery of a queued email",
        tags=["email"],
    )
    async def email_status(email_id: FromPath[UUID]) -> Answer[EmailStatus]:
        try:
            return await notifier.call_as(Answer[EmailStatus], "GET", f"/emails/{email_id}")
        except ApiError as refused:
            if refused.status != 404:
                raise
        row = await accepted(email_id, "email")
        if row is None:
            raise ApiError(404, "Email not found")
        pending = EmailStatus(
            id=email_id,
            template=row["label"],
            status="PENDING",
            attempts=0,
            lastError=None,
            createdAt=row["created_at"],
        )
        return Answer(data=pending)

    @post(
        "/api/v1/webhook/dispatch",
        guards=[ctx.require(catalogue.WEBHOOK_DISPATCH)],
        status_code=202,
        summary="Send an event to the Discord webhooks that want it",
        tags=["webhooks"],
    )
    async def dispatch(request: Request, data: JSONBody[DispatchBody]) -> Answer[Queued]:
        if len(data.data) > MAX_DATA_KEYS:
            raise ApiError(400, f"data may hold at most {MAX_DATA_KEYS} keys")
        dispatch_id = request_id_of(request, "webhook")
        event = events.WebhookDispatchRequested(
            dispatch_id=dispatch_id,
            event=data.event,
            data=data.data,
            webhook_type=data.type,
            scope=data.scope,
        )
        await record(dispatch_id, "webhook", data.event, event)
        return Answer(data=Queued(id=dispatch_id), message="Webhook dispatch has been queued")

    @get(
        "/api/v1/webhook/dispatch/{dispatch_id:uuid}",
        guards=[ctx.require(catalogue.WEBHOOK_DISPATCH)],
        summary="Deliveries of a webhook dispatch",
        tags=["webhooks"],
    )
    async def dispatch_status(dispatch_id: FromPath[UUID]) -> Answer[Dispatch]:
        try:
            return await notifier.call_as(Answer[Dispatch], "GET", f"/dispatches/{dispatch_id}")
        except ApiError as refused:
            if refused.status != 404:
                raise
        row = await accepted(dispatch_id, "webhook")
        if row is None:
            raise ApiError(404, "Webhook dispatch not found")
        pending = Dispatch(
            id=dispatch_id,
            event=row["label"],
            status="PENDING",
            deliveries=[],
            createdAt=row["created_at"],
        )
        return Answer(data=pending)

    return [queue_email, email_status, dispatch, dispatch_status, *_admin_routes(ctx)]


def _admin_routes(ctx: GatewayContext) -> list[Any]:
    notifier = ctx.client("notifier")
    write = ctx.require(catalogue.ADMIN_WRITE)
    tags = ["admin: webhooks"]
    table = [
        Forward("GET", WEBHOOKS_PATH, "/webhooks", catalogue.ADMIN_READ, Answer[list[Webhook]],
                "Discord webhooks (of one type with ?type=)", query=WebhookQuery),
        Forward("POST", WEBHOOKS_PATH, "/webhooks", catalogue.ADMIN_WRITE, Answer[Webhook],
                "Add a webhook", body=CreateWebhook, status=201),
    ]  # fmt: skip

    unknown = refusals({404: "No webhook has this id"})

    @put(WEBHOOKS_PATH, guards=[write], summary="Change a webhook", tags=tags, responses=unknown)
    async def update_webhook(data: JSONBody[UpdateWebhook]) -> Answer[Webhook]:
        path, body = f"/webhooks/{data.id}", msgspec.to_builtins(data)
        updated = await notifier.call_as(Answer[Webhook], "PUT", path, json=body)
        return Answer(data=updated.data, message="Webhook updated")

    @patch(
        WEBHOOKS_PATH,
        guards=[write],
        summary="Send a test message to a webhook",
        tags=tags,
        responses=unknown,
    )
    async def test_webhook(data: JSONBody[WebhookId]) -> Answer[WebhookTest]:
        path = f"/webhooks/{data.id}/test"
        result = (await notifier.call_as(Answer[WebhookTest], "POST", path)).data
        if result.delivered:
            return Answer(data=result, message="Webhook test successful")
        answer = f"status: {result.statusCode}" if result.statusCode else result.error
        raise ApiError(
            502,
            f"Webhook test failed with {answer}",
            "WEBHOOK_TEST_FAILED",
            msgspec.to_builtins(result),
        )

    @delete(
        WEBHOOKS_PATH,
        guards=[write],
        status_code=200,
        summary="Remove a webhook (named by ?id= or a body's id)",
        tags=tags,
        responses=unknown,
    )
    async def delete_webhook(request: Request, id: FromQuery[str | None] = None) -> Answer[Deleted]:
        raw_id = id if id is not None else str(decode_body(await request.body(), WebhookId).id)
        path = f"/webhooks/{_webhook_id(raw_id)}"
        deleted = await notifier.call_as(Answer[Deleted], "DELETE", path)
        return Answer(data=deleted.data, message="Webhook deleted")

    forwarded = forward_routes(ctx, "notifier", tags, table)
    return [*forwarded, update_webhook, test_webhook, delete_webhook]
