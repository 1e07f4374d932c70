"""What every route module of the gateway is built with.

A route module exposes `routes(ctx: GatewayContext) -> list[route handlers]`
and is listed in `app.ROUTE_MODULES`. Queries go to the owning service through
`ctx.client("<service>")`; commands become events through the gateway's outbox.

Guards: `ctx.require("sync.write")` admits API keys whose scopes grant the
permission and users whose roles do (401 without valid credentials, 403
without the permission); `ctx.require_user()` admits any signed-in user. In a
handler, `auth.principal_of(request)` is the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nodebyte_common.internal_client import ServiceClient
from nodebyte_common.runtime import Runtime
from nodebyte_gateway.accounts.auth import Authenticator, Guard
from nodebyte_gateway.edge.progress_hub import ProgressHub
from nodebyte_gateway.edge.rate_limit import RateLimiter
from nodebyte_gateway.settings import GatewaySettings


@dataclass
class GatewayContext:
    runtime: Runtime
    settings: GatewaySettings
    # require("sync.write") -> a Litestar guard admitting callers with that permission
    require: Callable[[str], Guard]
    clients: dict[str, ServiceClient] = field(default_factory=dict)
    auth: Authenticator = field(kw_only=True)
    hub: ProgressHub = field(kw_only=True)  # every sync event this replica receives
    limiter: RateLimiter = field(kw_only=True)  # for limits a handler applies (per account)

    def client(self, service: str) -> ServiceClient:
        return self.clients[service]

    def require_user(self) -> Guard:
        return self.auth.require_user()
