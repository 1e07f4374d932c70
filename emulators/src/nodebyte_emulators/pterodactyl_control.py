"""`/_emulator/...`: faults, stats, settings and dataset edits for tests (no auth)."""

from typing import Annotated, Literal, TypeVar

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.params import FromPath

from . import pterodactyl_mutations as mutations
from .pterodactyl_data import KINDS
from .pterodactyl_requests import json_body, panel
from .pterodactyl_wire import ApiError, json_response

Limit = Annotated[int, msgspec.Meta(ge=1)]
StructT = TypeVar("StructT", bound=msgspec.Struct)


class SettingsRequest(msgspec.Struct, forbid_unknown_fields=True):
    rate_limit: bool | None = None
    application_limit: Limit | None = None
    client_limit: Limit | None = None
    # "omitted": servers are listed without `relationships.databases` even when
    # `include=databases` asks for it (a panel that leaves it out).
    databases_include: Literal["rendered", "omitted"] | None = None


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ApiError(404, f"Unknown kind `{kind}`; expected one of {', '.join(KINDS)}.")
    return kind


def _decode(raw: bytes, into: type[StructT]) -> StructT:
    try:
        return msgspec.json.decode(raw or b"{}", type=into)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(422, str(exc)) from exc


@post("/faults", status_code=200)
async def set_faults(request: Request) -> Response:
    faults = panel(request).faults
    try:
        faults.configure(await request.body())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(422, str(exc)) from exc
    return json_response(faults.snapshot())


@get("/faults")
async def get_faults(request: Request) -> Response:
    return json_response(panel(request).faults.snapshot())


@delete("/faults")
async def clear_faults(request: Request) -> None:
    panel(request).faults.clear()


@get("/stats")
async def get_stats(request: Request) -> Response:
    return json_response(panel(request).stats.snapshot())


@delete("/stats")
async def clear_stats(request: Request) -> None:
    panel(request).stats.clear()


@post("/settings", status_code=200)
async def update_settings(request: Request) -> Response:
    p = panel(request)
    settings = _decode(await request.body(), SettingsRequest)
    p.limiters["application"].reconfigure(settings.application_limit, None, settings.rate_limit)
    p.limiters["client"].reconfigure(settings.client_limit, None, settings.rate_limit)
    if settings.databases_include is not None:
        p.databases_include = settings.databases_include
    return json_response(_settings(request))


@get("/settings")
async def get_settings(request: Request) -> Response:
    return json_response(_settings(request))


def _settings(request: Request) -> dict:
    limiters = panel(request).limiters
    return {
        "rate_limit": limiters["application"].enabled,
        "application_limit": limiters["application"].limit,
        "client_limit": limiters["client"].limit,
        "databases_include": panel(request).databases_include,
    }


@post("/reset", status_code=200)
async def reset_dataset(request: Request) -> Response:
    """Regenerate the seeded dataset; faults, stats and settings are left alone."""
    store = panel(request).store
    store.reset()
    return json_response({"reset": True, "servers": len(store.rows["servers"])})


@get("/dataset")
async def get_dataset(request: Request) -> Response:
    p = panel(request)
    document: dict[str, object] = {
        "keys": {
            "application": p.config.application_key,
            "client": p.config.client_key,
            "client_user_id": p.config.client_user_id,
        },
        **mutations.dataset(p.store),
    }
    return json_response(document)


@delete("/{kind:str}/{row_id:int}")
async def delete_row(request: Request, kind: FromPath[str], row_id: FromPath[int]) -> None:
    try:
        mutations.delete(panel(request).store, _kind(kind), row_id)
    except mutations.UnknownRow as exc:
        raise ApiError(404, f"No {kind} row {row_id}.") from exc


@patch("/{kind:str}/{row_id:int}")
async def patch_row(request: Request, kind: FromPath[str], row_id: FromPath[int]) -> Response:
    changes = await json_body(request)
    try:
        row = mutations.patch(panel(request).store, _kind(kind), row_id, changes)
    except mutations.UnknownRow as exc:
        raise ApiError(404, f"No {kind} row {row_id}.") from exc
    return json_response(row)


class MoveRequest(msgspec.Struct, forbid_unknown_fields=True):
    before: int | None = None  # the row to list it ahead of; None: last


@post("/{kind:str}/{row_id:int}/move", status_code=204)
async def move_row(request: Request, kind: FromPath[str], row_id: FromPath[int]) -> None:
    """Change where a row comes in its listings (see mutations.move)."""
    body = _decode(await request.body(), MoveRequest)
    try:
        mutations.move(panel(request).store, _kind(kind), row_id, body.before)
    except mutations.UnknownRow as exc:
        raise ApiError(404, f"No {kind} row {exc.args[1]}.") from exc


@post("/{kind:str}")
async def add_row(request: Request, kind: FromPath[str]) -> Response:
    attributes = await json_body(request)
    row = mutations.add(panel(request).store, _kind(kind), attributes)
    return json_response(row, status=201)


control_router = Router(
    path="/_emulator",
    route_handlers=[
        set_faults,
        get_faults,
        clear_faults,
        get_stats,
        clear_stats,
        update_settings,
        get_settings,
        reset_dataset,
        get_dataset,
        delete_row,
        patch_row,
        move_row,
        add_row,
    ],
)
