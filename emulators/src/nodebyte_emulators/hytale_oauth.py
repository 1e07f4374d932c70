"""The OAuth host (`oauth.accounts.hytale.com`): device authorization, token grants, device page."""

import html
from urllib.parse import parse_qs

from litestar import MediaType, Request, Response, get, post

from .asgi import base_url, encode
from .hytale_state import OAuthError, World

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def world_of(request: Request) -> World:
    return request.app.state.world


def json_response(document: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        content=encode(document),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store", **(headers or {})},
    )


def oauth_error(exc: OAuthError) -> Response:
    return json_response({"error": exc.error, "error_description": exc.description}, exc.status)


async def form_of(request: Request) -> dict[str, str]:
    """A form-encoded body (the only kind the token endpoint takes), last value wins."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        raise OAuthError("invalid_request", "The request must be form-encoded.")
    parsed = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def _injected(world: World, route: str) -> None:
    entry = world.take_injected(route)
    if entry is not None:
        raise OAuthError(entry.error, f"Injected {entry.error}.", entry.status)


def _client(world: World, form: dict[str, str]) -> None:
    if form.get("client_id") != world.config.client_id:
        raise OAuthError("invalid_client", "Client authentication failed.", 401)


@post("/oauth2/device/auth", status_code=200)
async def device_authorization(request: Request) -> Response:
    world = world_of(request)
    try:
        _injected(world, "device")
        form = await form_of(request)
        _client(world, form)
    except OAuthError as exc:
        return oauth_error(exc)
    grant = world.new_device_grant()
    page = f"{base_url(request.scope)}/device"
    return json_response(
        {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?user_code={grant.user_code}",
            "expires_in": world.config.device_expires_in,
            "interval": grant.interval,
        }
    )


@post("/oauth2/token", status_code=200)
async def token(request: Request) -> Response:
    world = world_of(request)
    try:
        _injected(world, "token")
        form = await form_of(request)
        _client(world, form)
        grant_type = form.get("grant_type")
        if grant_type == DEVICE_GRANT:
            return json_response(world.poll(_required(form, "device_code")))
        if grant_type == "refresh_token":
            return json_response(world.refresh(_required(form, "refresh_token")))
        raise OAuthError("unsupported_grant_type", f"Grant type {grant_type!r} is not supported.")
    except OAuthError as exc:
        return oauth_error(exc)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise OAuthError("invalid_request", f"The {name} parameter is missing.")
    return value


_PAGE = """<!doctype html><title>Hytale device login (emulator)</title>
<h1>Connect a device</h1><p>{message}</p>
<form method="post" action="/device"><label>Code <input name="user_code" value="{code}"></label>
<button name="action" value="approve">Allow</button>
<button name="action" value="deny">Deny</button></form>"""


@get("/device", media_type=MediaType.HTML)
async def device_page(request: Request) -> str:
    code = html.escape(request.query_params.get("user_code", ""))
    first = next(iter(world_of(request).accounts.values()), None)
    who = html.escape(first.username) if first else "a new account"
    return _PAGE.format(code=code, message=f"Signed in as {who}.")


@post("/device", media_type=MediaType.HTML, status_code=200)
async def device_decision(request: Request) -> str:
    """The user's answer on the verification page: approves as the first demo account."""
    world = world_of(request)
    parsed = parse_qs((await request.body()).decode("utf-8", "replace"))
    code = parsed.get("user_code", [""])[-1].strip()
    grant = world.by_user_code(code)
    if grant is None or grant.status != "pending":
        return _PAGE.format(code=html.escape(code), message="Unknown or used code.")
    if parsed.get("action", ["approve"])[-1] == "deny":
        grant.status = "denied"
        return _PAGE.format(code="", message="Denied. You can close this page.")
    account = next(iter(world.accounts.values()), None) or world.add_account()
    grant.status, grant.account_id = "approved", account.account_id
    return _PAGE.format(code="", message="Device connected. You can close this page.")


OAUTH_ROUTES = [device_authorization, token, device_page, device_decision]
