from __future__ import annotations

from nodebyte_common.settings import CommonSettings


class HytaleAuthSettings(CommonSettings, kw_only=True, frozen=True):
    port: int = 8082
