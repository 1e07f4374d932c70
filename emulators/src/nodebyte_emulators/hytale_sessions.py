"""The account-data and session hosts: profiles, game sessions and the session JWKS."""

import uuid

import msgspec
from litestar import Request, Response, delete, get, post

from .hytale_oauth import json_response, world_of
from .hytale_state import SessionApiError, World


def session_error(exc: SessionApiError) -> Response:
    return json_response({"error": exc.error, "message": exc.message}, exc.status)


def bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _injected(world: World, route: str) -> None:
    entry = world.take_injected(route)
    if entry is not None:
        raise SessionApiError(entry.status, entry.error, f"Injected {entry.error}.")


@get("/my-account/get-profiles")
async def get_profiles(request: Request) -> Response:
    world = world_of(request)
    try:
        _injected(world, "profiles")
        account = world.account_of_access(bearer(request))
    except SessionApiError as exc:
        return session_error(exc)
    profiles = [{"uuid": p.uuid, "username": p.username} for p in account.profiles]
    return json_response({"owner": account.account_id, "profiles": profiles})


def _profile_uuid(raw: bytes) -> str:
    try:
        body = msgspec.json.decode(raw or b"null")
        return str(uuid.UUID(str(body["uuid"])))
    except (msgspec.DecodeError, TypeError, KeyError, ValueError):
        raise SessionApiError(
            400, "invalid_request", 'Body must be {"uuid": <profile uuid>}.'
        ) from None


@post("/game-session/new", status_code=201)
async def new_session(request: Request) -> Response:
    world = world_of(request)
    try:
        _injected(world, "session_new")
        account = world.account_of_access(bearer(request))
        profile_uuid = _profile_uuid(await request.body())
        return json_response(world.new_session(account, profile_uuid), 201)
    except SessionApiError as exc:
        return session_error(exc)


@post("/game-session/refresh", status_code=200)
async def refresh_session(request: Request) -> Response:
    world = world_of(request)
    try:
        _injected(world, "session_refresh")
        return json_response(world.refresh_session(bearer(request)))
    except SessionApiError as exc:
        return session_error(exc)


# Declared 200 because Litestar forbids a body on 204 routes; 204 is set per response.
@delete("/game-session", status_code=200)
async def end_session(request: Request) -> Response:
    world = world_of(request)
    try:
        _injected(world, "session_delete")
        world.end_session(bearer(request))
    except SessionApiError as exc:
        return session_error(exc)
    return Response(content=b"", status_code=204)


@get("/.well-known/jwks.json")
async def jwks(request: Request) -> Response:
    world = world_of(request)
    try:
        _injected(world, "jwks")
    except SessionApiError as exc:
        return session_error(exc)
    return json_response(world.keyring.jwks(), headers={"cache-control": "public, max-age=3600"})


SESSION_ROUTES = [get_profiles, new_session, refresh_session, end_session, jwks]
