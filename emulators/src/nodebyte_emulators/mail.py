"""A local mail sink: SMTP (STARTTLS, AUTH) and a Resend-compatible HTTP API.

Both record what arrives, for tests to read at `GET /_emulator/messages`.
Usage: `create_mail_app(MailConfig(...))` gives a Litestar app whose lifespan
also runs the SMTP listener; see `python -m nodebyte_emulators mail --help`.
"""

import http
import logging

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException

from .discord_http import BadControlRequest, json_response
from .mail_control import control_router
from .mail_resend import send_email
from .mail_smtp import start_smtp
from .mail_state import MailConfig, MailHub

__all__ = ["MailConfig", "create_mail_app"]
log = logging.getLogger(__name__)


def _bad_control(request: Request, exc: BadControlRequest) -> Response:
    return json_response({"message": str(exc)}, status=400)


def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    body = {"statusCode": status, "message": http.HTTPStatus(status).phrase, "name": "error"}
    return json_response(body, status)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("emulator error on %s %s", request.method, request.url.path, exc_info=exc)
    body = {"statusCode": 500, "message": "Internal Server Error", "name": "internal_server_error"}
    return json_response(body, status=500)


def create_mail_app(config: MailConfig | None = None) -> Litestar:
    hub = MailHub(config or MailConfig())

    async def start() -> None:
        if hub.config.smtp_port is not None:
            hub.smtp_server = await start_smtp(hub)

    async def stop() -> None:
        if hub.smtp_server is not None:
            hub.smtp_server.close()

    return Litestar(
        route_handlers=[send_email, control_router],
        on_startup=[start],
        on_shutdown=[stop],
        exception_handlers={
            BadControlRequest: _bad_control,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        state=State({"hub": hub}),
        openapi_config=None,
        logging_config=None,
    )
