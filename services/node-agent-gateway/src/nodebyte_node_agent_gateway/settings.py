from __future__ import annotations

from nodebyte_common.settings import CommonSettings


class NodeAgentGatewaySettings(CommonSettings, kw_only=True, frozen=True):
    port: int = 8085
