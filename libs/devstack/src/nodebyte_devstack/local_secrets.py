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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from nodebyte_devstack.config import new_jwt_private_key, new_sftp_host_key

SECRETS_FILE = "secrets.json"

# The variable that overrides each kept secret.
ENV_NAMES = {
    "encryption_keys": "ENCRYPTION_KEYS",
    "jwt_private_key": "JWT_PRIVATE_KEY",
    "service_token": "SERVICE_TOKEN",
    "api_key": "BACKEND_API_KEY",
    "sftp_host_key": "SFTP_HOST_KEY",
}


@dataclass(frozen=True)
class LocalSecrets:
    encryption_keys: str
    jwt_private_key: str
    service_token: str
    api_key: str  # the bootstrap key (BACKEND_API_KEY)
    # The SFTP host key: the same across restarts, or clients would cry "host key changed".
    sftp_host_key: str = ""

    @classmethod
    def drawn(cls) -> LocalSecrets:
        return cls(
            encryption_keys="dev:" + secrets.token_hex(32),
            jwt_private_key=new_jwt_private_key(),
            service_token=secrets.token_urlsafe(24),
            api_key="nbk_dev_" + secrets.token_urlsafe(24),
            sftp_host_key=new_sftp_host_key(),
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
        kept = LocalSecrets(**json.loads(path.read_text()))
        if kept.sftp_host_key:
            return kept
        # kept by a release without SFTP: draw the host key once, keep the rest
        completed = replace(kept, sftp_host_key=new_sftp_host_key())
        _write(path, completed, os.O_TRUNC)
        return completed
    stack_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    drawn = LocalSecrets.drawn()
    _write(path, drawn, os.O_EXCL)
    return drawn


def _write(path: Path, kept: LocalSecrets, mode_flag: int) -> None:
    # The mode given at creation: the file is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode_flag, 0o600)
    os.fchmod(fd, 0o600)  # and so is a file kept from before, rewritten
    with os.fdopen(fd, "w") as file:
        json.dump(asdict(kept), file, indent=2)
