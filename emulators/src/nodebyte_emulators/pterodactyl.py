"""A local Pterodactyl panel: Application and Client API over a generated dataset.

Usage: `create_pterodactyl_app(PterodactylConfig(...))` gives a Litestar app to run
under uvicorn; see `python -m nodebyte_emulators pterodactyl --help`.
"""

import logging

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware

from .pterodactyl_app_api import application_router
from .pterodactyl_client_api import client_router
from .pterodactyl_control import control_router
from .pterodactyl_data import DatasetSpec
from .pterodactyl_files import ServerFiles, files_control_router, files_router
from .pterodactyl_gate import PterodactylGate
from .pterodactyl_state import (
    DEFAULT_APPLICATION_KEY,
    DEFAULT_CLIENT_KEY,
    Panel,
    PterodactylConfig,
)
from .pterodactyl_wire import (
    GENERIC_DETAIL,
    NOT_FOUND_DETAIL,
    ApiError,
    error_body,
    error_document,
    json_response,
)

__all__ = [
    "DEFAULT_APPLICATION_KEY",
    "DEFAULT_CLIENT_KEY",
    "DatasetSpec",
    "PterodactylConfig",
    "create_pterodactyl_app",
]
log = logging.getLogger(__name__)


def _api_error(request: Request, exc: ApiError) -> Response:
    return Response(content=error_body(exc), status_code=exc.status, media_type="application/json")


def _http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status == 404:
        detail = NOT_FOUND_DETAIL
    elif status == 405:
        detail = f"The {request.method} method is not supported for route {request.url.path[1:]}."
    else:
        detail = exc.detail or GENERIC_DETAIL
    return json_response(error_document(status, detail), status=status)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("emulator error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response(error_document(500, GENERIC_DETAIL), status=500)


def create_pterodactyl_app(config: PterodactylConfig | None = None) -> Litestar:
    """A fresh panel (its own dataset, faults and counters) as a Litestar app."""
    panel = Panel(config or PterodactylConfig())
    return Litestar(
        route_handlers=[
            application_router,
            client_router,
            control_router,
            files_router,
            files_control_router,
        ],
        middleware=[DefineMiddleware(PterodactylGate, panel=panel)],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        state=State({"panel": panel, "files": ServerFiles()}),
        openapi_config=None,
        logging_config=None,  # leave the host process's logging alone
    )
