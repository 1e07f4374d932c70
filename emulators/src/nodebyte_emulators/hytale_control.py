"""`/_emulator/...` of the Hytale emulator: approve device codes, accounts, keys, tokens, faults."""

import dataclasses
import time
import uuid
from typing import Annotated, Literal, TypeVar

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from .hytale_oauth import json_response, world_of
from .hytale_state import Account, DeviceGrant, InjectedError, World

StructT = TypeVar("StructT", bound=msgspec.Struct)
Positive = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[int, msgspec.Meta(ge=0)]
Route = Literal[
    "device", "token", "profiles", "session_new", "session_refresh", "session_delete", "jwks"
]


class BadControlRequest(Exception):
    """A control call whose body does not decode."""


def _decode(raw: bytes, into: type[StructT]) -> StructT:
    try:
        return msgspec.json.decode(raw or b"{}", type=into)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadControlRequest(str(exc)) from exc


class SettingsRequest(msgspec.Struct, forbid_unknown_fields=True):
    device_expires_in: Positive | None = None
    interval: Seconds | None = None
    access_ttl: Positive | None = None
    refresh_ttl: Positive | None = None
    session_ttl: Positive | None = None
    session_limit: Seconds | None = None
    reuse_revokes_chain: bool | None = None


class AccountRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str | None = None
    profiles: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1
    session_limit: Seconds | None = None
    unlimited: bool = False


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True):
    session_limit: Seconds | None = None
    unlimited: bool | None = None


class ApproveRequest(msgspec.Struct, forbid_unknown_fields=True):
    account_id: str | None = None


class RotateRequest(msgspec.Struct, forbid_unknown_fields=True):
    keep_old: bool = True


class MintRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A token for validator tests; each field bends one property of a genuine token."""

    type: Literal["session", "identity"] = "session"
    sub: str | None = None
    aud: str | None = None
    iss: str | None = None
    exp_in: int = 3600
    iat_in: int = 0
    kid: str | None = None
    with_kid: bool = True
    forged: bool = False  # signed by a key the JWKS does not hold
    scope: str = "hytale:server"


class InjectRequest(msgspec.Struct, forbid_unknown_fields=True):
    route: Route
    status: Annotated[int, msgspec.Meta(ge=400, le=599)]
    error: str
    count: Positive = 1


def account_view(world: World, account: Account) -> dict:
    return {
        "account_id": account.account_id,
        "username": account.username,
        "profiles": [dataclasses.asdict(p) for p in account.profiles],
        "session_limit": world.limit_of(account),
        "unlimited": account.unlimited,
        "active_sessions": len(world.active_sessions(account.account_id)),
        "valid_refresh_tokens": len(world.valid_refresh_tokens(account.account_id)),
    }


def _account(world: World, account_id: str) -> Account:
    account = world.accounts.get(account_id)
    if account is None:
        raise NotFoundException(f"No account {account_id}")
    return account


@post("/settings", status_code=200)
async def update_settings(request: Request) -> Response:
    world = world_of(request)
    changes = _decode(await request.body(), SettingsRequest)
    for name in changes.__struct_fields__:
        value = getattr(changes, name)
        if value is not None:
            setattr(world.config, name, value)
    return json_response(dataclasses.asdict(world.config))


@get("/settings")
async def get_settings(request: Request) -> Response:
    return json_response(dataclasses.asdict(world_of(request).config))


@delete("/settings")
async def reset_settings(request: Request) -> None:
    world = world_of(request)
    world.config = dataclasses.replace(world.defaults)


@post("/accounts", status_code=201)
async def add_account(request: Request) -> Response:
    world = world_of(request)
    body = _decode(await request.body(), AccountRequest)
    account = world.add_account(body.username, body.profiles, body.session_limit)
    account.unlimited = body.unlimited
    return json_response(account_view(world, account), 201)


@get("/accounts")
async def list_accounts(request: Request) -> Response:
    world = world_of(request)
    return json_response([account_view(world, a) for a in world.accounts.values()])


@get("/accounts/{account_id:str}")
async def get_account(request: Request, account_id: FromPath[str]) -> Response:
    world = world_of(request)
    return json_response(account_view(world, _account(world, account_id)))


@patch("/accounts/{account_id:str}")
async def patch_account(request: Request, account_id: FromPath[str]) -> Response:
    world = world_of(request)
    account = _account(world, account_id)
    body = _decode(await request.body(), AccountPatch)
    if body.session_limit is not None:
        account.session_limit = body.session_limit
    if body.unlimited is not None:
        account.unlimited = body.unlimited
    return json_response(account_view(world, account))


@post("/accounts/{account_id:str}/revoke", status_code=200)
async def revoke_account(request: Request, account_id: FromPath[str]) -> Response:
    world = world_of(request)
    world.revoke_account(_account(world, account_id).account_id)
    return json_response(account_view(world, world.accounts[account_id]))


@get("/accounts/{account_id:str}/tokens")
async def account_tokens(request: Request, account_id: FromPath[str]) -> Response:
    """The account's live secrets, for tests proving they leak nowhere."""
    world = world_of(request)
    _account(world, account_id)
    return json_response(
        {
            "refresh_tokens": world.valid_refresh_tokens(account_id),
            "access_token": world.last_access.get(account_id),
        }
    )


@get("/device-codes")
async def list_device_codes(request: Request) -> Response:
    devices = world_of(request).devices.values()
    return json_response(
        [
            {
                "user_code": d.user_code,
                "status": d.status,
                "interval": d.interval,
                "expires_at": d.expires_at,
                "account_id": d.account_id,
            }
            for d in devices
        ]
    )


def _pending(world: World, user_code: str) -> DeviceGrant:
    grant = world.by_user_code(user_code)
    if grant is None:
        raise NotFoundException(f"No device code {user_code}")
    return grant


@post("/device-codes/{user_code:str}/approve", status_code=200)
async def approve(request: Request, user_code: FromPath[str]) -> Response:
    """Authorize a device code as an account (a fresh one unless `account_id` is given)."""
    world = world_of(request)
    grant = _pending(world, user_code)
    body = _decode(await request.body(), ApproveRequest)
    account = _account(world, body.account_id) if body.account_id else world.add_account()
    grant.status, grant.account_id = "approved", account.account_id
    return json_response(account_view(world, account))


@post("/device-codes/{user_code:str}/deny", status_code=200)
async def deny(request: Request, user_code: FromPath[str]) -> Response:
    grant = _pending(world_of(request), user_code)
    grant.status = "denied"
    return json_response({"user_code": user_code, "status": "denied"})


@get("/sessions")
async def list_sessions(request: Request) -> Response:
    world, now = world_of(request), time.time()
    wanted = request.query_params.get("account_id")
    return json_response(
        [
            {
                "session_id": s.session_id,
                "account_id": s.account_id,
                "profile_uuid": s.profile_uuid,
                "expires_at": s.expires_at,
                "active": s.active(now),
                "refreshes": s.refreshes,
                "superseded_by": s.superseded_by,
                "deleted_at": s.deleted_at,
            }
            for s in world.sessions.values()
            if wanted in (None, s.account_id)
        ]
    )


@delete("/sessions/{session_id:str}")
async def end_session(request: Request, session_id: FromPath[str]) -> None:
    session = world_of(request).sessions.get(session_id)
    if session is None:
        raise NotFoundException(f"No session {session_id}")
    session.ended = True


@post("/keys/rotate", status_code=200)
async def rotate_keys(request: Request) -> Response:
    world = world_of(request)
    body = _decode(await request.body(), RotateRequest)
    key = world.keyring.rotate(body.keep_old)
    return json_response({"kid": key.kid, "jwks": world.keyring.jwks()})


@post("/tokens", status_code=201)
async def mint_token(request: Request) -> Response:
    world = world_of(request)
    body = _decode(await request.body(), MintRequest)
    now = int(time.time())
    claims: dict = {
        "iss": body.iss or world.config.issuer,
        "aud": body.aud or world.config.audience,
        "sub": body.sub or str(uuid.uuid4()),
        "iat": now + body.iat_in,
        "exp": now + body.exp_in,
        "jti": uuid.uuid4().hex,
        "scope": body.scope,
    }
    if body.type == "identity":
        claims["profile"] = {"username": "minted", "entitlements": ["game.base"], "skin": "{}"}
    key = Ed25519PrivateKey.generate() if body.forged else None
    token = world.keyring.sign(claims, kid=body.kid, key=key, with_kid=body.with_kid)
    return json_response({"token": token, "claims": claims}, 201)


@post("/errors", status_code=200)
async def inject_error(request: Request) -> Response:
    """The next `count` calls of `route` answer `status` with `error` in the host's format."""
    body = _decode(await request.body(), InjectRequest)
    world_of(request).injected.append(
        InjectedError(body.route, body.status, body.error, body.count)
    )
    return json_response({"injected": msgspec.to_builtins(body)})


@delete("/errors")
async def clear_errors(request: Request) -> None:
    world_of(request).injected.clear()


@post("/faults", status_code=200)
async def set_faults(request: Request) -> Response:
    faults = world_of(request).faults
    try:
        faults.configure(await request.body())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadControlRequest(str(exc)) from exc
    return json_response(faults.snapshot())


@delete("/faults")
async def clear_faults(request: Request) -> None:
    world_of(request).faults.clear()


@get("/stats")
async def get_stats(request: Request) -> Response:
    return json_response(world_of(request).stats.snapshot())


@delete("/stats")
async def clear_stats(request: Request) -> None:
    world_of(request).stats.clear()


control_router = Router(
    path="/_emulator",
    route_handlers=[
        update_settings,
        get_settings,
        reset_settings,
        add_account,
        list_accounts,
        get_account,
        patch_account,
        revoke_account,
        account_tokens,
        list_device_codes,
        approve,
        deny,
        list_sessions,
        end_session,
        rotate_keys,
        mint_token,
        inject_error,
        clear_errors,
        set_faults,
        clear_faults,
        get_stats,
        clear_stats,
    ],
)
