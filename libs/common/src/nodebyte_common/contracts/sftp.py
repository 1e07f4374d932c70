"""SFTP sign-ins and the SSH public keys accounts register for them.

The node-agent-gateway serves SFTP; accounts, passwords and keys are the
gateway's. On each sign-in the node-agent-gateway asks the gateway (internal
`SFTP_ACCESS`) whether the credentials prove the account and which file
permissions it holds; the gateway answers `SftpAccess` (200) or refuses
(401 wrong credentials, 403 disabled or unverified, 423 locked out), counting
failed passwords against the same lockout as the HTTP sign-in. Answers travel
in the shared envelope (`contracts.envelope.Answer`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

# Internal route on the gateway (under /internal/v1): POST an SftpCredentials.
SFTP_ACCESS = "/sftp/access"

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(max_length=1024)]
# One OpenSSH public key line: `<type> <base64> [comment]`.
PublicKeyLine = Annotated[str, msgspec.Meta(min_length=1, max_length=16_384)]
KeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


class SftpCredentials(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """An account's username and one proof: its password or one of its public keys."""

    username: Username
    password: Password | None = None
    public_key: PublicKeyLine | None = None


class SftpAccess(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    """Who signed in and which of `file.read` / `file.write` they hold."""

    user_id: UUID
    permissions: list[str]


class SshKeyCreate(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    name: KeyName
    public_key: PublicKeyLine


class SshKey(msgspec.Struct, rename="camel", frozen=True, kw_only=True):
    id: UUID
    name: str
    fingerprint: str  # `SHA256:<base64>`, as `ssh-keygen -l` prints it
    public_key: str
    created_at: datetime
