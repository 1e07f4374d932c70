"""What every route module of the gateway is built with.

A route module exposes `routes(ctx: GatewayContext) -> list[route handlers]`
and is listed in `app.ROUTE_MODULES`. Queries go to the owning service through
`ctx.client("<service>")`; commands become events through the gateway's outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodebyte_common.internal_client import ServiceClient
from nodebyte_common.runtime import Runtime
from nodebyte_gateway.settings import GatewaySettings

Guard = Callable[..., Any]


@dataclass
class GatewayContext:
    runtime: Runtime
    settings: GatewaySettings
    # require("sync.write") -> a Litestar guard admitting callers with that permission
    require: Callable[[str], Guard]
    clients: dict[str, ServiceClient] = field(default_factory=dict)

    def client(self, service: str) -> ServiceClient:
        return self.clients[service]
