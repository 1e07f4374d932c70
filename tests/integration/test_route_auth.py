"""Every route of the gateway app, enumerated from `app.routes`: each one that is
not explicitly public refuses a request without credentials and with wrong or
forged ones (401), and a valid user without the permission gets 403 on admin
routes. The public list must name only routes that exist, so it cannot rot.

The Go backend's defects this pins down: bearer JWTs decoded without verifying
the signature; `GET /auth/users/:id` without auth; API-key routes that also
demanded an admin bearer.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nodebyte_common.settings import load_settings
from nodebyte_devstack.accounts import SignedInUser
from nodebyte_devstack.processes import Stack
from nodebyte_gateway.app import build_app
from nodebyte_gateway.settings import GatewaySettings

# (method, path template) answered without credentials. Add a route here only
# when strangers must reach it.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/validate"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/verify-email"),
    ("POST", "/api/v1/auth/forgot-password"),
    ("POST", "/api/v1/auth/reset-password"),
    ("POST", "/api/v1/auth/magic-link"),
    ("POST", "/api/v1/auth/magic-link/verify"),
    ("POST", "/api/v1/auth/unlock"),  # the emailed link's token is the credential
    ("GET", "/api/stats"),  # the reference's public statistics
    ("GET", "/api/panel/counts"),
    ("GET", "/asyncapi"),  # the event catalogue's description
    ("GET", "/api/deploy/{token:str}"),  # the node's deployment token is the credential
}
PUBLIC_PREFIXES = ("/schema",)  # the OpenAPI document and its viewers
SERVICES_ONLY = ("/internal/",)  # other services' calls, with the service token only
REFUSALS = {"UNAUTHORIZED", "INVALID_API_KEY", "INVALID_TOKEN"}
SAMPLE = {"uuid": "0190aaaa-0000-7000-8000-000000000000", "int": "1"}
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str

    @property
    def path(self) -> str:
        return _PARAM.sub(lambda m: SAMPLE.get(m.group(2) or "str", "x"), self.template)

    @property
    def public(self) -> bool:
        return (self.method, self.template) in PUBLIC or self.template.startswith(PUBLIC_PREFIXES)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def endpoints(stack: Stack) -> list[Endpoint]:
    """Every method of every HTTP route the gateway app registers (OPTIONS is CORS)."""
    settings = load_settings(GatewaySettings, stack.config.service_env("gateway"))
    app = build_app(settings)
    found = [
        Endpoint(method, route.path)
        for route in app.routes
        for method in sorted(getattr(route, "methods", ()))
        if method not in ("OPTIONS", "HEAD")
    ]
    assert found, "no routes enumerated"
    return found


def forged_tokens(stack: Stack, user: SignedInUser) -> dict[str, str]:
    """Bearer tokens that must all be refused, most of them well-formed."""
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(user.access_token)["kid"]
    real_key = jwt.algorithms.OKPAlgorithm.from_jwk  # noqa: F841 - documents the key type
    stack_key = _stack_signing_key(stack)
    now = int(time.time())
    admin_claims = {**claims, "roles": ["SUPER_ADMIN"], "perms": ["*"]}
    return {
        "garbage": "not-a-token",
        "three garbage parts": "a.b.c",
        "unsigned alg none": _unsigned(admin_claims),
        "signed by another key": jwt.encode(
            admin_claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
        ),
        "expired": jwt.encode(
            {**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
            stack_key,
            algorithm="EdDSA",
            headers={"kid": kid},
        ),
        "wrong audience": jwt.encode(
            {**claims, "aud": "someone-else"}, stack_key, algorithm="EdDSA", headers={"kid": kid}
        ),
        "tampered payload": _tampered(user.access_token, admin_claims),
    }


def _stack_signing_key(stack: Stack) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(stack.config.jwt_private_key.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unsigned(claims: dict) -> str:
    import json

    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _tampered(token: str, claims: dict) -> str:
    import json

    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


async def _request(
    client: httpx.AsyncClient, endpoint: Endpoint, headers: dict[str, str], params=None
) -> httpx.Response:
    body = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
    return await client.request(
        endpoint.method, endpoint.path, headers=headers, params=params, json=body
    )


def _refused(response: httpx.Response) -> str | None:
    """None when the response is a proper 401 in the envelope; else what is wrong."""
    if response.status_code != 401:
        return f"status {response.status_code}"
    body = response.json()
    if body.get("success") is not False or body.get("code") not in REFUSALS:
        return f"body {body}"
    return None


async def test_public_list_names_only_existing_routes(stack: Stack) -> None:
    registered = {(e.method, e.template) for e in endpoints(stack)}
    assert registered >= PUBLIC, PUBLIC - registered


async def test_every_non_public_route_refuses_missing_and_wrong_credentials(
    stack: Stack, anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    attempts: dict[str, tuple[dict[str, str], dict[str, str] | None]] = {
        "no credentials": ({}, None),
        "wrong X-API-Key": ({"X-API-Key": "nbk_" + uuid.uuid4().hex}, None),
        "empty X-API-Key": ({"X-API-Key": ""}, None),
        "wrong ?api_key=": ({}, {"api_key": "nbk_" + uuid.uuid4().hex}),
        "Basic scheme": ({"Authorization": "Basic YWRtaW46YWRtaW4="}, None),
        **{
            f"bearer {name}": ({"Authorization": f"Bearer {token}"}, None)
            for name, token in forged_tokens(stack, member_user).items()
        },
    }
    failures: list[str] = []
    checked = 0
    for endpoint in endpoints(stack):
        if endpoint.public:
            continue
        checked += 1
        for name, (headers, params) in attempts.items():
            problem = _refused(await _request(anonymous, endpoint, headers, params))
            if problem:
                failures.append(f"{endpoint} with {name}: {problem}")
    assert checked >= 15, "suspiciously few guarded routes"
    assert not failures, "\n".join(failures)


async def test_valid_users_without_permission_are_forbidden_on_admin_routes(
    stack: Stack, anonymous: httpx.AsyncClient, member_user: SignedInUser
) -> None:
    failures: list[str] = []
    for endpoint in endpoints(stack):
        if endpoint.public:
            continue
        response = await _request(anonymous, endpoint, member_user.headers)
        if endpoint.template.startswith(SERVICES_ONLY):
            if _refused(response):  # a user's token is no service token
                failures.append(f"{endpoint}: a user's token got {response.status_code}")
        elif response.status_code == 401 or response.status_code >= 500:
            failures.append(f"{endpoint}: a valid token got {response.status_code}")
        elif endpoint.template.startswith("/api/admin/") and response.status_code != 403:
            failures.append(f"{endpoint}: a MEMBER got {response.status_code}, not 403")
    assert not failures, "\n".join(failures)


async def test_public_routes_answer_strangers(stack: Stack, anonymous: httpx.AsyncClient) -> None:
    for endpoint in endpoints(stack):
        if endpoint.public and not endpoint.template.startswith(PUBLIC_PREFIXES):
            response = await _request(anonymous, endpoint, {})
            assert response.status_code not in (401, 403), (str(endpoint), response.text)
            assert response.status_code < 500, (str(endpoint), response.text)


async def test_a_scoped_key_reaches_its_routes_without_a_bearer(
    anonymous: httpx.AsyncClient, admin_user: SignedInUser
) -> None:
    created = await anonymous.post(
        "/api/admin/api-keys",
        json={"name": "reader", "scopes": ["admin.read"]},
        headers=admin_user.headers,
    )
    key = created.json()["data"]["key"]
    allowed = await anonymous.get("/api/admin/audit-logs", headers={"X-API-Key": key})
    assert allowed.status_code == 200
    forbidden = await anonymous.post("/api/v1/sync/full", json={}, headers={"X-API-Key": key})
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "FORBIDDEN"
