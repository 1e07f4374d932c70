"""Email queue, webhook dispatch and Discord webhook admin: the notifier's public face.

Queueing is a command: the gateway checks it, mints its id, records it (so a
poll before the notifier has seen it answers PENDING) and writes the event to
its outbox. Reads and webhook management are the notifier's: the gateway calls
its internal API. Template data is sealed before it enters an event, since
reset and verification links are capabilities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
import uuid6
from litestar import Request, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery

from nodebyte_common import events, outbox
from nodebyte_common import permission_catalogue as catalogue
from nodebyte_common.envelope import ApiError, decode_body, ok
from nodebyte_common.sealing import Sealer, SealingError
from nodebyte_gateway.context import GatewayContext

SOURCE = "nodebyte/gateway"
WEBHOOKS_PATH = "/api/admin/settings/webhooks"
MAX_DATA_KEYS = 100


class EmailQueueBody(msgspec.Struct, forbid_unknown_fields=True):
    to: str | list[str]
    template: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    subject: str = ""
    data: dict[str, Any] = {}


class DispatchBody(msgspec.Struct, forbid_unknown_fields=True):
    event: Annotated[str, msgspec.Meta(pattern=events.EVENT_NAME.pattern, max_length=100)]
    data: dict[str, Any] = {}
    type: str | None = None
    scope: str | None = None


class WebhookIdBody(msgspec.Struct):
    """What PATCH and DELETE need; other fields (PUT's) pass on to the notifier."""

    id: str | None = None


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _webhook_id(raw: str | None) -> UUID:
    if not raw:
        raise ApiError(400, "id is required")
    try:
        return UUID(raw)
    except ValueError:
        raise ApiError(400, "id must be a webhook id (UUID)") from None


def _relayed(status: int, body: Any) -> Any:
    """The notifier's answer: its data, or its error in the envelope with its status."""
    if status < 300:
        return body.get("data") if isinstance(body, dict) else None
    body = body if isinstance(body, dict) else {}
    raise ApiError(
        status, body.get("error") or "Request failed", body.get("code"), body.get("details")
    )


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
        async with runtime.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO notify_requests (id, kind, label) VALUES ($1, $2, $3)",
                request_id,
                kind,
                label,
            )
            await outbox.enqueue(conn, event, source=SOURCE)

    async def accepted(request_id: UUID, kind: str) -> Any:
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
    )
    async def queue_email(request: Request) -> Any:
        body = decode_body(await request.body(), EmailQueueBody)
        to = [body.to] if isinstance(body.to, str) else body.to
        problems = events.email_request_problems(to, body.subject, body.template, body.data)
        if len(body.data) > MAX_DATA_KEYS:
            problems.append(f"data may hold at most {MAX_DATA_KEYS} keys")
        if problems:
            raise ApiError(400, "The email cannot be sent: " + problems[0], details=problems)
        email_id = uuid6.uuid7()
        sealed = sealer_of().seal(
            msgspec.json.encode(body.data).decode(), events.email_data_context(email_id)
        )
        event = events.EmailRequested(
            email_id=email_id,
            to=to,
            subject=body.subject,
            template=body.template,
            sealed_data=sealed,
        )
        await record(email_id, "email", body.template, event)
        return ok(
            {"id": str(email_id), "status": "PENDING"}, message="Email has been queued", status=202
        )

    @get(
        "/api/v1/email/{email_id:uuid}",
        guards=[ctx.require(catalogue.EMAIL_SEND)],
        summary="Delivery of a queued email",
        tags=["email"],
    )
    async def email_status(email_id: FromPath[UUID]) -> Any:
        status, body = await notifier.call("GET", f"/emails/{email_id}")
        if status != 404:
            return ok(_relayed(status, body))
        row = await accepted(email_id, "email")
        if row is None:
            raise ApiError(404, "Email not found")
        pending = {"id": str(email_id), "template": row["label"], "status": "PENDING"}
        return ok(
            {**pending, "attempts": 0, "lastError": None, "createdAt": _iso(row["created_at"])}
        )

    @post(
        "/api/v1/webhook/dispatch",
        guards=[ctx.require(catalogue.WEBHOOK_DISPATCH)],
        status_code=202,
        summary="Send an event to the Discord webhooks that want it",
        tags=["webhooks"],
    )
    async def dispatch(request: Request) -> Any:
        body = decode_body(await request.body(), DispatchBody)
        if body.type is not None and body.type not in events.WEBHOOK_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(events.WEBHOOK_TYPES)}")
        if body.scope is not None and body.scope not in events.WEBHOOK_SCOPES:
            raise ApiError(400, f"scope must be one of {', '.join(events.WEBHOOK_SCOPES)}")
        if len(body.data) > MAX_DATA_KEYS:
            raise ApiError(400, f"data may hold at most {MAX_DATA_KEYS} keys")
        dispatch_id = uuid6.uuid7()
        event = events.WebhookDispatchRequested(
            dispatch_id=dispatch_id,
            event=body.event,
            data=body.data,
            webhook_type=body.type,
            scope=body.scope,
        )
        await record(dispatch_id, "webhook", body.event, event)
        return ok(
            {"id": str(dispatch_id), "status": "PENDING"},
            message="Webhook dispatch has been queued",
            status=202,
        )

    @get(
        "/api/v1/webhook/dispatch/{dispatch_id:uuid}",
        guards=[ctx.require(catalogue.WEBHOOK_DISPATCH)],
        summary="Deliveries of a webhook dispatch",
        tags=["webhooks"],
    )
    async def dispatch_status(dispatch_id: FromPath[UUID]) -> Any:
        status, body = await notifier.call("GET", f"/dispatches/{dispatch_id}")
        if status != 404:
            return ok(_relayed(status, body))
        row = await accepted(dispatch_id, "webhook")
        if row is None:
            raise ApiError(404, "Webhook dispatch not found")
        pending = {"id": str(dispatch_id), "event": row["label"], "status": "PENDING"}
        return ok({**pending, "deliveries": [], "createdAt": _iso(row["created_at"])})

    return [queue_email, email_status, dispatch, dispatch_status, *_admin_routes(ctx)]


def _admin_routes(ctx: GatewayContext) -> list[Any]:
    notifier = ctx.client("notifier")
    read, write = ctx.require(catalogue.ADMIN_READ), ctx.require(catalogue.ADMIN_WRITE)
    tags = ["admin: webhooks"]

    @get(WEBHOOKS_PATH, guards=[read], summary="Discord webhooks", tags=tags)
    async def list_webhooks(type: FromQuery[events.WebhookType | None] = None) -> Any:
        params = {"type": type} if type else None
        return ok(_relayed(*await notifier.call("GET", "/webhooks", params=params)))

    @post(WEBHOOKS_PATH, guards=[write], status_code=201, summary="Add a webhook", tags=tags)
    async def create_webhook(request: Request) -> Any:
        body = decode_body(await request.body(), dict[str, Any], empty_ok=False)
        created = _relayed(*await notifier.call("POST", "/webhooks", json=body))
        return ok(created, message="Webhook created", status=201)

    @put(WEBHOOKS_PATH, guards=[write], summary="Change a webhook", tags=tags)
    async def update_webhook(request: Request) -> Any:
        body = decode_body(await request.body(), dict[str, Any], empty_ok=False)
        webhook_id = _webhook_id(body.get("id") if isinstance(body.get("id"), str) else None)
        updated = _relayed(*await notifier.call("PUT", f"/webhooks/{webhook_id}", json=body))
        return ok(updated, message="Webhook updated")

    @patch(WEBHOOKS_PATH, guards=[write], summary="Send a test message to a webhook", tags=tags)
    async def test_webhook(request: Request) -> Any:
        body = decode_body(await request.body(), WebhookIdBody, empty_ok=False)
        webhook_id = _webhook_id(body.id)
        result = _relayed(*await notifier.call("POST", f"/webhooks/{webhook_id}/test"))
        if result["delivered"]:
            return ok(result, message="Webhook test successful")
        answer = f"status: {result['statusCode']}" if result["statusCode"] else result["error"]
        raise ApiError(502, f"Webhook test failed with {answer}", "WEBHOOK_TEST_FAILED", result)

    @delete(WEBHOOKS_PATH, guards=[write], status_code=200, summary="Remove a webhook", tags=tags)
    async def delete_webhook(request: Request) -> Any:
        raw_id = request.query_params.get("id")
        if raw_id is None:
            raw_id = decode_body(await request.body(), WebhookIdBody).id
        webhook_id = _webhook_id(raw_id)
        deleted = _relayed(*await notifier.call("DELETE", f"/webhooks/{webhook_id}"))
        return ok(deleted, message="Webhook deleted")

    return [list_webhooks, create_webhook, update_webhook, test_webhook, delete_webhook]
