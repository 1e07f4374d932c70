"""The local stack's secrets, drawn once and kept in `.stack/secrets.json` (mode 0600).

Values sealed or signed by one `make up` (panel settings, API keys, sessions) must
open on the next, so the secrets outlive the processes. An explicit environment
variable always wins over the kept value; `make reset` deletes the file.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from nodebyte_devstack.config import new_jwt_private_key

SECRETS_FILE = "secrets.json"

# The variable that overrides each kept secret.
ENV_NAMES = {
    "encryption_keys": "ENCRYPTION_KEYS",
    "jwt_private_key": "JWT_PRIVATE_KEY",
    "service_token": "SERVICE_TOKEN",
    "api_key": "BACKEND_API_KEY",
}


@dataclass(frozen=True)
class LocalSecrets:
    encryption_keys: str
    jwt_private_key: str
    service_token: str
    api_key: str  # the bootstrap key (BACKEND_API_KEY)

    @classmethod
    def drawn(cls) -> LocalSecrets:
        return cls(
            encryption_keys="dev:" + secrets.token_hex(32),
            jwt_private_key=new_jwt_private_key(),
            service_token=secrets.token_urlsafe(24),
            api_key="nbk_dev_" + secrets.token_urlsafe(24),
        )

    def overridden_by(self, environ: Mapping[str, str]) -> LocalSecrets:
        kept = asdict(self)
        for field, variable in ENV_NAMES.items():
            if environ.get(variable):
                kept[field] = environ[variable]
        return LocalSecrets(**kept)


def load_or_create(stack_dir: Path) -> LocalSecrets:
    """The secrets kept in `stack_dir`, drawn and written (0600) on the first call."""
    path = stack_dir / SECRETS_FILE
    if path.exists():
        return LocalSecrets(**json.loads(path.read_text()))
    stack_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    drawn = LocalSecrets.drawn()
    # O_EXCL with the mode given at creation: the file is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(asdict(drawn), file, indent=2)
    return drawn
