"""The notifier's internal API (`/internal/v1`): webhooks, mail status, delivery states."""

from __future__ import annotations

from uuid import UUID

from litestar import Request, delete, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery

from nodebyte_common import events
from nodebyte_common.contracts.envelope import Answer, Deleted
from nodebyte_common.contracts.notify import (
    CreateWebhook,
    Dispatch,
    EmailStatus,
    MailSettings,
    UpdateWebhook,
    Webhook,
    WebhookTest,
)
from nodebyte_common.contracts.probes import ConnectionCheck
from nodebyte_common.envelope import ApiError, decode_body
from nodebyte_common.runtime import Runtime
from nodebyte_notifier import delivery_store, email_store, webhook_store
from nodebyte_notifier.mail_status import MailStatus
from nodebyte_notifier.webhook_admin import WebhookAdmin


def routes(runtime: Runtime, admin: WebhookAdmin, mail: MailStatus) -> list[HTTPRouteHandler]:
    @get("/email/settings")
    async def email_settings() -> Answer[MailSettings]:
        return Answer(data=mail.view())

    @post("/email/test", status_code=200)
    async def test_email_connection() -> Answer[ConnectionCheck]:
        return Answer(data=await mail.probe())

    @get("/webhooks")
    async def list_webhooks(
        type: FromQuery[events.WebhookType | None] = None,
    ) -> Answer[list[Webhook]]:
        async with runtime.pool.acquire() as conn:
            rows = await webhook_store.list_all(conn, type)
        return Answer(data=[webhook_store.view(row) for row in rows])

    @post("/webhooks", status_code=201)
    async def create_webhook(request: Request) -> Answer[Webhook]:
        body = decode_body(await request.body(), CreateWebhook)
        async with runtime.pool.acquire() as conn:
            created = await admin.create(conn, body)
        return Answer(data=created, message="Webhook created")

    @get("/webhooks/{webhook_id:uuid}")
    async def get_webhook(webhook_id: FromPath[UUID]) -> Answer[Webhook]:
        async with runtime.pool.acquire() as conn:
            row = await webhook_store.get(conn, webhook_id)
        if row is None:
            raise ApiError(404, "Webhook not found")
        return Answer(data=webhook_store.view(row))

    @put("/webhooks/{webhook_id:uuid}")
    async def update_webhook(webhook_id: FromPath[UUID], request: Request) -> Answer[Webhook]:
        body = decode_body(await request.body(), UpdateWebhook)
        async with runtime.pool.acquire() as conn, conn.transaction():
            updated = await admin.update(conn, webhook_id, body)
        return Answer(data=updated, message="Webhook updated")

    @delete("/webhooks/{webhook_id:uuid}", status_code=200)
    async def delete_webhook(webhook_id: FromPath[UUID]) -> Answer[Deleted]:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await admin.delete(conn, webhook_id)
        return Answer(data=Deleted(id=webhook_id), message="Webhook deleted")

    @post("/webhooks/{webhook_id:uuid}/test", status_code=200)
    async def test_webhook(webhook_id: FromPath[UUID]) -> Answer[WebhookTest]:
        result = await admin.test(runtime.pool, webhook_id)
        if result.delivered:
            return Answer(data=result, message="Webhook test successful")
        answer = f"status: {result.statusCode}" if result.statusCode else result.error
        return Answer(data=result, message=f"Webhook test failed with {answer}")

    @get("/emails/{email_id:uuid}")
    async def get_email(email_id: FromPath[UUID]) -> Answer[EmailStatus]:
        async with runtime.pool.acquire() as conn:
            found = await email_store.view(conn, email_id)
        if found is None:
            raise ApiError(404, "Email not found")
        return Answer(data=found)

    @get("/dispatches/{dispatch_id:uuid}")
    async def get_dispatch(dispatch_id: FromPath[UUID]) -> Answer[Dispatch]:
        async with runtime.pool.acquire() as conn:
            found = await delivery_store.dispatch_view(conn, dispatch_id)
        if found is None:
            raise ApiError(404, "Webhook dispatch not found")
        return Answer(data=found)

    return [
        email_settings,
        test_email_connection,
        list_webhooks,
        create_webhook,
        get_webhook,
        update_webhook,
        delete_webhook,
        test_webhook,
        get_email,
        get_dispatch,
    ]
