"""Secrets in a server's egg environment: masked in every answer, sealed in the mirror.

Eggs keep credentials in environment variables (Hytale's session and identity
tokens, RCON and database passwords, API keys). Which variables are secret is
decided by name: the Hytale token variables always, any name with a secret-looking
part (TOKEN, SECRET, PASSWORD, KEY, …), and the operator's own list
(`MIRROR_SECRET_VARIABLES`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from nodebyte_common.sealing import Sealer, mask

ALWAYS_SECRET = frozenset({"HYTALE_SERVER_SESSION_TOKEN", "HYTALE_SERVER_IDENTITY_TOKEN"})
SECRET_LOOKING = re.compile(
    r"(^|_)(TOKEN|TOKENS|SECRET|SECRETS|PASSWORD|PASSWD|PASS|PWD|KEY|APIKEY|CREDENTIALS?"
    r"|PRIVATE)(_|$)"
    r"|TOKEN|SECRET|PASSWORD"
)


class EnvironmentSecrets:
    def __init__(self, sealer: Sealer, extra_names: Iterable[str] = ()) -> None:
        self.sealer = sealer
        self.names = ALWAYS_SECRET | {n.strip().upper() for n in extra_names if n.strip()}

    def is_secret(self, name: str) -> bool:
        upper = name.upper()
        return upper in self.names or SECRET_LOOKING.search(upper) is not None

    def masked(self, environment: dict[str, Any]) -> dict[str, Any]:
        return {k: self._mask(k, v) for k, v in environment.items()}

    def masked_server(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """A panel server's attributes with its environment's secrets masked."""
        return self._with_environment(attributes, self.masked)

    def sealed_server(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """A panel server's attributes with its environment's secrets sealed (for the mirror)."""
        server = str(attributes.get("uuid", ""))

        def seal(environment: dict[str, Any]) -> dict[str, Any]:
            return {
                k: self.sealer.seal(str(v), context(server, k))
                if self.is_secret(k) and v not in (None, "")
                else v
                for k, v in environment.items()
            }

        return self._with_environment(attributes, seal)

    def _mask(self, name: str, value: Any) -> Any:
        if not self.is_secret(name) or value in (None, ""):
            return value
        return mask(str(value))

    @staticmethod
    def _with_environment(attributes: dict[str, Any], change: Any) -> dict[str, Any]:
        container = attributes.get("container")
        if not isinstance(container, dict) or not isinstance(container.get("environment"), dict):
            return attributes
        environment = change(container["environment"])
        return {**attributes, "container": {**container, "environment": environment}}


def context(server_uuid: str, variable: str) -> str:
    """What a sealed value is bound to: it opens only as that server's variable."""
    return f"sync:server-env:{server_uuid}:{variable}"
